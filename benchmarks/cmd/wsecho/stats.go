package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime/metrics"
)

// serveStats answers GET / on $WSBENCH_STATS_ADDR, if set, with the
// process's allocation, GC and goroutine counters as one JSON object, which
// the shared load generator reads at the edges of its measuring window.
func serveStats() {
	addr := os.Getenv("WSBENCH_STATS_ADDR")
	if addr == "" {
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "stats:", err)
		return
	}
	samples := []metrics.Sample{
		{Name: "/gc/heap/allocs:objects"},
		{Name: "/gc/heap/allocs:bytes"},
		{Name: "/gc/cycles/total:gc-cycles"},
		{Name: "/sched/goroutines:goroutines"},
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s := append([]metrics.Sample(nil), samples...)
		metrics.Read(s)
		fmt.Fprintf(w, `{"allocs_objects":%d,"allocs_bytes":%d,"gc_cycles":%d,"goroutines":%d}`,
			s[0].Value.Uint64(), s[1].Value.Uint64(), s[2].Value.Uint64(), s[3].Value.Uint64())
	}))
}
