package main

// This file holds the final report of a run and its verdict.

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"time"
)

// report waits for goroutines to settle, reads memory, prints everything
// and returns the verdict: true if nothing was lost or corrupted, nothing
// panicked, no unexpected error occurred, and no goroutine leaked.
func (r *runner) report(start time.Time, before memory, drained bool) bool {
	s, out := r.s, r.out
	elapsed := time.Since(start)
	goroutines := settleGoroutines(before.goroutines, 10*time.Second)
	runtime.GC() // a sync.Pool's contents survive one collection
	runtime.GC()
	after := readMemory()
	if r.cfg.memProfile != "" {
		writeHeapProfile(r.cfg.memProfile, out)
	}
	debug.FreeOSMemory()
	released := readMemory()

	fmt.Fprintf(out, "\n==== soak report: %d conns, %v of traffic, %v in all ====\n", r.cfg.conns, r.cfg.duration, elapsed.Round(time.Millisecond))
	fmt.Fprintf(out, "connections: opened %d, closed %d, dials failed %d; server handlers %d, live at the end %d\n",
		s.connsOpened.Load(), s.connsClosed.Load(), s.dialFailed.Load(), s.srvAccepted.Load(), s.srvLive.Load())
	fmt.Fprintf(out, "endings:")
	for i, name := range outcomeNames {
		fmt.Fprintf(out, " %s %d;", name, s.closeOutcomes[i].Load())
	}
	fmt.Fprintf(out, " server shutdowns %d (timed out %d)\n", s.shutdowns.Load(), s.shutdownTimeouts.Load())
	fmt.Fprintf(out, "messages: sent %d, echoed %d, LOST %d, aborted %d, crossed a server close %d, swallowed by client Close %d\n",
		s.sent.Load(), s.echoed.Load(), s.lost.Load(), s.aborted.Load(), s.crossed.Load(), s.swallowed.Load())
	fmt.Fprintf(out, "bytes: sent %.1f MB, echoed %.1f MB (%.2f MB/s each way)\n",
		float64(s.bytesSent.Load())/1e6, float64(s.bytesEchoed.Load())/1e6, float64(s.bytesEchoed.Load())/1e6/r.cfg.duration.Seconds())
	fmt.Fprintf(out, "pings: client %d (pongs %d), server %d (pongs %d)\n", s.cliPings.Load(), s.cliPongs.Load(), s.srvPings.Load(), s.srvPongs.Load())
	protocol := r.printKinds()
	r.printIncidents()
	fmt.Fprintf(out, "goroutines: before %d, after %d (difference %d)\n", before.goroutines, goroutines, goroutines-before.goroutines)
	leaked := goroutines-before.goroutines > leakSlack
	if leaked {
		fmt.Fprintf(out, "goroutines still running:\n%s", groupedStacks(30))
	}
	fmt.Fprintf(out, "heap objects: before %s, after %s; live heap before %s, after %s\n",
		mib(before.heapObjects), mib(after.heapObjects), mib(before.heapLive), mib(after.heapLive))
	fmt.Fprintf(out, "RSS: before %s, after %s, after FreeOSMemory %s, max %s\n",
		mib(before.rss), mib(after.rss), mib(released.rss), mib(released.hwm))
	return r.verdict(protocol, leaked, drained)
}

// verdict prints and returns the outcome of the run.
func (r *runner) verdict(protocol int64, leaked, drained bool) bool {
	s := r.s
	var fails []string
	for _, c := range []struct {
		bad  bool
		what string
	}{
		{s.lost.Load() > 0, fmt.Sprintf("%d messages lost", s.lost.Load())},
		{s.corrupt.Load() > 0, fmt.Sprintf("%d corrupt messages or pongs", s.corrupt.Load())},
		{s.panics.Load() > 0, fmt.Sprintf("%d panics", s.panics.Load())},
		{s.unexpected.Load() > 0, fmt.Sprintf("%d unexpected events", s.unexpected.Load())},
		{protocol > 0, fmt.Sprintf("%d unexpected errors", protocol)},
		{leaked, "goroutines leaked"},
		{!drained, "the drain did not finish"},
	} {
		if c.bad {
			fails = append(fails, c.what)
		}
	}
	if n := s.shutdownTimeouts.Load() + s.slowCloses.Load(); n > 0 {
		fmt.Fprintf(r.out, "WARNING: %d Shutdowns timed out; %d Close calls waited 90 %% of the close timeout or more, %d of them on a connection the peer had dropped with CloseNow\n",
			s.shutdownTimeouts.Load(), s.slowCloses.Load(), s.slowAfterAbort.Load())
	}
	if len(fails) > 0 {
		fmt.Fprintf(r.out, "FAIL: %s\n", strings.Join(fails, ", "))
		return false
	}
	fmt.Fprintln(r.out, "PASS")
	return true
}

// printKinds prints the errors by operation and kind and returns how many
// were of an unexpected kind.
func (r *runner) printKinds() int64 {
	var unexpected int64
	fmt.Fprintln(r.out, "errors by operation and kind (expected ones end connections that a side closed or dropped):")
	for _, kc := range r.s.kindCounts() {
		mark := ""
		if unexpectedKey(kc.key) {
			unexpected += kc.n
			mark = "   <- unexpected"
		}
		fmt.Fprintf(r.out, "%9d  %s%s\n", kc.n, kc.key, mark)
	}
	return unexpected
}

// unexpectedKey reports whether errors counted under key ("op: kind") are
// unexpected: of a kind that no closing or dropping explains. Besides, a
// dial may be refused while the server is being replaced, and a Shutdown
// that times out is reported on its own (with the shutdowns).
func unexpectedKey(key string) bool {
	op, kind, _ := strings.Cut(key, ": ")
	switch {
	case expectedKind(kind):
		return false
	case op == "dial" && kind == "connection refused":
		return false
	case strings.HasSuffix(op, "Shutdown") && kind == "context deadline exceeded":
		return false
	}
	return true
}

// printIncidents prints the recorded incidents.
func (r *runner) printIncidents() {
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.incidents) == 0 {
		return
	}
	fmt.Fprintf(r.out, "incidents (%d, %d more not kept):\n", len(s.incidents), s.dropped)
	for _, in := range s.incidents {
		fmt.Fprintln(r.out, "  - "+strings.ReplaceAll(in, "\n", "\n    "))
	}
}

// writeHeapProfile writes the heap profile to the named file.
func writeHeapProfile(name string, out io.Writer) {
	f, err := os.Create(name)
	if err == nil {
		err = pprof.Lookup("heap").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintln(out, "soak: heap profile:", err)
	}
}

// settleGoroutines waits up to wait for the goroutine count to come back to
// baseline (plus leakSlack) and returns the last count.
func settleGoroutines(baseline int, wait time.Duration) int {
	deadline := time.Now().Add(wait)
	for {
		n := runtime.NumGoroutine()
		if n <= baseline+leakSlack || time.Now().After(deadline) {
			return n
		}
		time.Sleep(50 * time.Millisecond)
	}
}
