// Command soak runs this library's server and thousands of its clients in
// one process, on 127.0.0.1, for a while, with mixed traffic and every way a
// connection can end, and checks that no message is lost, nothing is
// corrupted, nothing panics, and goroutines and memory come back down.
//
// Each client connection sends text and binary messages of 16 B to 256 KiB
// (mostly small), whole and through NextWriter in fragments, from several
// goroutines at once, and pings; the server echoes every message, by
// AppendMessage, ReadMessage or NextReader to NextWriter, and pings too.
// Every message carries an id and a CRC-32C. Connections end by the
// client's Close (with a code, while still writing or not), the server's
// Close (from the handler or during a read), the handler returning,
// CloseNow by either side, and periodic Server.Shutdown, after which a new
// Server on a new port (alternately Server.Serve and an http.Server) takes
// the clients that reconnect.
//
// See benchmarks/README.md for what is counted and when the exit status is
// not zero.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// config holds the flags.
type config struct {
	conns           int
	duration        time.Duration
	rate            float64 // messages per second per connection
	writers         int
	life, srvLife   time.Duration
	shutdownEvery   time.Duration
	shutdownTimeout time.Duration
	closeTimeout    time.Duration
	pingEvery       time.Duration
	ramp, progress  time.Duration
	maxSize         int
	tap             float64
	memProfile      string // file for a heap profile taken after the run
}

// runner is one soak run.
type runner struct {
	cfg    config
	s      *stats
	bodies *bodies
	cur    atomic.Pointer[epoch] // the epoch clients dial
	nextID atomic.Uint64
	ctx    context.Context // ends at -duration
	end    time.Time       // ctx's deadline
	logs   *logCounter
	out    io.Writer
}

// leakSlack is how many goroutines above the baseline still count as none
// leaked: the runtime and net/http may keep one or two briefly.
const leakSlack = 3

func main() {
	var cfg config
	flag.IntVar(&cfg.conns, "conns", 2000, "client connections kept open (each reconnects after it ends)")
	flag.DurationVar(&cfg.duration, "duration", time.Minute, "how long the traffic runs; the drain after it is bounded")
	flag.Float64Var(&cfg.rate, "rate", 1, "messages per second per connection, on average")
	flag.IntVar(&cfg.writers, "writers", 2, "concurrent writer goroutines per client connection")
	flag.DurationVar(&cfg.life, "life", 20*time.Second, "mean lifetime of a client connection before the client ends it")
	flag.DurationVar(&cfg.srvLife, "srv-life", 40*time.Second, "mean lifetime of a connection before the server ends it")
	flag.DurationVar(&cfg.shutdownEvery, "shutdown-every", 25*time.Second, "interval between server shutdowns")
	flag.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 3*time.Second, "timeout of each Server.Shutdown")
	flag.DurationVar(&cfg.closeTimeout, "close-timeout", 5*time.Second, "Options.CloseTimeout of both sides")
	flag.DurationVar(&cfg.pingEvery, "ping-every", 5*time.Second, "mean interval of the server's pings on each connection")
	flag.DurationVar(&cfg.ramp, "ramp", 2*time.Second, "clients start spread over this time")
	flag.DurationVar(&cfg.progress, "progress", 10*time.Second, "interval of progress lines")
	flag.IntVar(&cfg.maxSize, "max-size", 256<<10, "largest message in bytes")
	flag.Float64Var(&cfg.tap, "tap", 0.5, "fraction of client connections whose incoming frames are counted on the wire")
	flag.StringVar(&cfg.memProfile, "memprofile", "", "write a heap profile, taken after everything is closed, to this file")
	flag.Parse()
	if cfg.conns < 1 || cfg.rate <= 0 || cfg.writers < 1 || cfg.maxSize < hdrLen || cfg.pingEvery <= 0 {
		fmt.Fprintln(os.Stderr, "soak: -conns, -rate, -writers and -ping-every must be positive, -max-size at least 16")
		os.Exit(2)
	}
	if _, ok := run(cfg, os.Stdout); !ok {
		os.Exit(1)
	}
}

// run runs the soak test and prints its progress and report to out. It
// reports whether the run passed.
func run(cfg config, out io.Writer) (*stats, bool) {
	if err := raiseFileLimit(2*cfg.conns + 256); err != nil {
		fmt.Fprintln(out, "soak:", err)
	}
	r := &runner{cfg: cfg, s: new(stats), bodies: newBodies(cfg.maxSize + 1), out: out}
	r.logs = &logCounter{s: r.s}
	prevLog := log.Writer()
	log.SetOutput(r.logs)
	defer log.SetOutput(prevLog)
	runtime.GC()
	before := readMemory()

	hard := cfg.duration + 4*cfg.closeTimeout + cfg.shutdownTimeout + 60*time.Second
	watchdog := time.AfterFunc(hard, func() {
		fmt.Fprintf(out, "soak: still running %v after the start; goroutines:\n%s", hard, groupedStacks(40))
		os.Exit(3)
	})
	defer watchdog.Stop()

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.duration)
	defer cancel()
	r.ctx, r.end = ctx, start.Add(cfg.duration)
	ep, err := r.startEpoch(0)
	if err != nil {
		fmt.Fprintln(out, "soak:", err)
		return r.s, false
	}
	r.cur.Store(ep)
	managed := make(chan struct{})
	go r.epochs(managed)
	stopProgress, progressed := make(chan struct{}), make(chan struct{})
	go r.progressLoop(start, stopProgress, progressed)

	var clients sync.WaitGroup
	for range cfg.conns {
		clients.Go(r.clientLoop)
	}
	<-ctx.Done()
	drained := r.drain(&clients, managed)
	r.cur.Load().shutdown(cfg.shutdownTimeout)
	close(stopProgress)
	<-progressed
	return r.s, r.report(start, before, drained)
}

// ending reports whether the traffic is over. Dial judges a context's
// deadline by the clock, a little before the context's own timer ends it,
// so the clock is checked as well.
func (r *runner) ending() bool { return r.ctx.Err() != nil || !time.Now().Before(r.end) }

// drain waits, bounded, for the clients to end their sessions and for the
// epoch manager to return; it reports whether they did.
func (r *runner) drain(clients *sync.WaitGroup, managed chan struct{}) bool {
	done := make(chan struct{})
	go func() {
		clients.Wait()
		<-managed
		close(done)
	}()
	bound := 4*r.cfg.closeTimeout + r.cfg.shutdownTimeout + 15*time.Second
	select {
	case <-done:
		return true
	case <-time.After(bound):
		r.s.incident(&r.s.unexpected, "clients still running %v after the end; goroutines:\n%s", bound, groupedStacks(20))
		return false
	}
}

// epochs replaces the server every shutdownEvery until the run ends: a new
// Server on a new listener first, so that clients can reconnect at once,
// then Shutdown of the old one.
func (r *runner) epochs(done chan struct{}) {
	defer close(done)
	defer r.recoverPanic("epoch manager")
	t := time.NewTicker(r.cfg.shutdownEvery)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
		next, err := r.startEpoch(n)
		if err != nil {
			r.s.incident(&r.s.unexpected, "epoch %d: %v", n, err)
			continue
		}
		old := r.cur.Swap(next)
		old.shutdown(r.cfg.shutdownTimeout)
	}
}

// progressLoop prints a progress line every cfg.progress until stopped.
func (r *runner) progressLoop(start time.Time, stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(r.cfg.progress)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			fmt.Fprintln(r.out, r.progressLine(start))
		}
	}
}

// progressLine summarises the counters so far.
func (r *runner) progressLine(start time.Time) string {
	s, m := r.s, readMemory()
	return fmt.Sprintf("[%4.0fs] conns open %d opened %d closed %d dial-fail %d | msgs sent %d echoed %d lost %d aborted %d crossed %d swallowed %d"+
		" | MB out %.1f in %.1f | unexpected %d corrupt %d panics %d | shutdowns %d | goroutines %d heap %s (live %s) rss %s",
		time.Since(start).Seconds(), s.connsOpened.Load()-s.connsClosed.Load(), s.connsOpened.Load(), s.connsClosed.Load(), s.dialFailed.Load(),
		s.sent.Load(), s.echoed.Load(), s.lost.Load(), s.aborted.Load(), s.crossed.Load(), s.swallowed.Load(),
		float64(s.bytesSent.Load())/1e6, float64(s.bytesEchoed.Load())/1e6,
		s.unexpected.Load(), s.corrupt.Load(), s.panics.Load(), s.shutdowns.Load(), m.goroutines, mib(m.heapObjects), mib(m.heapLive), mib(m.rss))
}

// raiseFileLimit raises the soft limit on open files to the hard limit and
// complains if that is less than need.
func raiseFileLimit(need int) error {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return err
	}
	l.Cur = l.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return err
	}
	if l.Cur < uint64(need) {
		return fmt.Errorf("open files limited to %d, the run needs about %d", l.Cur, need)
	}
	return nil
}

// logCounter takes the log package's output and the http.Servers' error
// logs: a line there is a handler panic the library caught, or some other
// server error, and is recorded as such.
type logCounter struct{ s *stats }

// Write records one log line.
func (l *logCounter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	if strings.Contains(line, "panic") {
		l.s.incident(&l.s.panics, "logged: %s", line)
	} else {
		l.s.incident(&l.s.unexpected, "logged: %s", line)
	}
	return len(p), nil
}

// groupedStacks returns the stacks of all goroutines, identical ones
// grouped with a count, the largest groups first, at most limit groups.
func groupedStacks(limit int) string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) || len(buf) >= 64<<20 {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	counts := make(map[string]int)
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		_, body, _ := bytes.Cut(g, []byte("\n")) // drop "goroutine N [state]:"
		counts[stripOffsets(string(body))]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return counts[keys[i]] > counts[keys[j]] })
	var b strings.Builder
	for i, k := range keys {
		if i == limit {
			fmt.Fprintf(&b, "... and %d more kinds\n", len(keys)-limit)
			break
		}
		fmt.Fprintf(&b, "%d goroutine(s):\n%s\n\n", counts[k], k)
	}
	return b.String()
}

// stripOffsets removes the " +0x..." offsets and argument values from a
// stack, so that goroutines in the same place compare equal.
func stripOffsets(stack string) string {
	lines := strings.Split(stack, "\n")
	for i, l := range lines {
		if j := strings.LastIndex(l, " +0x"); j >= 0 {
			l = l[:j]
		}
		if j := strings.LastIndex(l, "("); j >= 0 && !strings.HasPrefix(l, "\t") {
			l = l[:j] + "(...)"
		}
		lines[i] = l
	}
	return strings.Join(lines, "\n")
}
