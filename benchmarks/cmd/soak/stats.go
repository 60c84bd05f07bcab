package main

// This file holds the counters of a soak run, the classification of errors
// into kinds, the list of incidents worth a closer look, and the readings of
// memory and goroutines.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/metrics"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/wsproject/websocket"
)

// stats counts what a run did. Counters are updated from every goroutine.
type stats struct {
	connsOpened, connsClosed, dialFailed atomic.Int64
	srvAccepted, srvLive                 atomic.Int64

	sent, echoed, lost, aborted, crossed, swallowed atomic.Int64
	bytesSent, bytesEchoed                          atomic.Int64

	cliPings, cliPongs, srvPings, srvPongs atomic.Int64

	unexpected, corrupt, panics atomic.Int64
	shutdowns, shutdownTimeouts atomic.Int64
	slowCloses, slowAfterAbort  atomic.Int64 // Close calls that waited (nearly) the whole close timeout
	closeOutcomes               [numOutcomes]atomic.Int64

	mu        sync.Mutex
	kinds     map[string]int64
	incidents []string
	dropped   int // incidents not kept
}

// maxIncidents bounds the incidents kept for the report.
const maxIncidents = 40

// outcome is how a connection ended, as seen once both sides are done.
type outcome int

const (
	endServerClose outcome = iota // the server's close frame reached the client's reader
	endClientClose                // the client's close frame reached the server's handler
	endBothClose                  // both sides closed at about the same time
	endAborted                    // CloseNow, Shutdown's deadline, or a failure
	endNoSession                  // closed before the server knew the connection
	numOutcomes
)

// outcomeNames names the outcomes in the report.
var outcomeNames = [numOutcomes]string{"server close", "client close", "both closed", "aborted", "before hello"}

// kind counts one error of an operation under its kind, as "client read:
// close 4xxx". Nil errors are not counted.
func (s *stats) kind(op string, err error) {
	if err == nil {
		return
	}
	s.mu.Lock()
	if s.kinds == nil {
		s.kinds = make(map[string]int64)
	}
	s.kinds[op+": "+errKind(err)]++
	s.mu.Unlock()
}

// incident records something unexpected with its details; format and args
// are as for fmt.Sprintf.
func (s *stats) incident(counter *atomic.Int64, format string, args ...any) {
	counter.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.incidents) >= maxIncidents {
		s.dropped++
		return
	}
	s.incidents = append(s.incidents, fmt.Sprintf(format, args...))
}

// errKind names the kind of err: a close code (application codes 3000-4999
// grouped by thousand), one of the library's or the system's well-known
// errors, or "other: " and its text.
func errKind(err error) string {
	var ce *websocket.CloseError
	var errno syscall.Errno
	switch {
	case errors.As(err, &ce):
		if ce.Code >= 3000 {
			return fmt.Sprintf("close %dxxx", ce.Code/1000)
		}
		return fmt.Sprintf("close %d", int(ce.Code))
	case errors.Is(err, websocket.ErrClosed):
		return "ErrClosed"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected EOF"
	case errors.Is(err, io.EOF):
		return "EOF"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.DeadlineExceeded):
		return "context deadline exceeded"
	case errors.Is(err, net.ErrClosed):
		return "use of closed connection"
	case errors.As(err, &errno):
		return errno.Error()
	case isCloseTimeout(err):
		return "close not answered"
	}
	return "other: " + err.Error()
}

// isCloseTimeout reports whether err is Close's error for a peer that did
// not answer its close frame. The library makes it with errors.New, so only
// its text identifies it.
func isCloseTimeout(err error) bool {
	return strings.HasPrefix(err.Error(), "websocket: peer did not answer the close frame")
}

// expectedKind reports whether an error of this kind may end a connection
// that one side closes or drops; any other kind (a protocol error, a close
// code saying something went wrong) is unexpected in this test.
func expectedKind(k string) bool {
	switch k {
	case "close 1000", "close 1001", "close 3xxx", "close 4xxx", "ErrClosed", "unexpected EOF", "EOF",
		"use of closed connection", "connection reset by peer", "broken pipe", "close not answered":
		return true
	}
	return false
}

// kindCount is an error kind under its operation, and its count.
type kindCount struct {
	key string
	n   int64
}

// kindCounts returns the error kinds with their counts, most frequent first.
func (s *stats) kindCounts() []kindCount {
	s.mu.Lock()
	defer s.mu.Unlock()
	kcs := make([]kindCount, 0, len(s.kinds))
	for k, n := range s.kinds {
		kcs = append(kcs, kindCount{k, n})
	}
	sort.Slice(kcs, func(i, j int) bool {
		if kcs[i].n != kcs[j].n {
			return kcs[i].n > kcs[j].n
		}
		return kcs[i].key < kcs[j].key
	})
	return kcs
}

// memory is a reading of the process's memory.
type memory struct {
	heapObjects, heapLive uint64 // runtime/metrics, bytes
	rss, hwm              uint64 // VmRSS and VmHWM, bytes
	goroutines            int
}

// readMemory reads the heap from runtime/metrics and RSS from
// /proc/self/status.
func readMemory() memory {
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/gc/heap/live:bytes"},
	}
	metrics.Read(samples)
	m := memory{goroutines: runtime.NumGoroutine()}
	if samples[0].Value.Kind() == metrics.KindUint64 {
		m.heapObjects = samples[0].Value.Uint64()
	}
	if samples[1].Value.Kind() == metrics.KindUint64 {
		m.heapLive = samples[1].Value.Uint64()
	}
	m.rss, m.hwm = procStatus("VmRSS:"), procStatus("VmHWM:")
	return m
}

// procStatus returns the field of /proc/self/status named key (given in kB
// there) in bytes, or 0 if it cannot be read.
func procStatus(key string) uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), key); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// mib formats a byte count in MiB.
func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
