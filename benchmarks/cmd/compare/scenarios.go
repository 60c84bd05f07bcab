package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"
)

// settings are the knobs of a run that scenarios read.
type settings struct {
	Duration  time.Duration `json:"duration_ns"`
	Warmup    time.Duration `json:"warmup_ns"`
	IdleConns int           `json:"idle_conns"`
	HSWorkers int           `json:"hs_in_flight"`
	Retries   int           `json:"retries"`
	QuietWait time.Duration `json:"quiet_wait_ns"`

	quietBudget time.Duration // what is left of -quiet-budget
	pin         pinning
}

// quietBusy is the share of a CPU above which it does not count as quiet.
const quietBusy = 0.25

// awaitQuiet waits until the server's and the load generator's CPUs were
// both less than quietBusy busy over 300 ms, at most st.QuietWait and what
// remains of the budget, and returns how long it waited. On a shared
// machine this lets a burst of someone else's work pass before a run.
func (st *settings) awaitQuiet() time.Duration {
	if st.pin.taskset == "" || st.QuietWait <= 0 {
		return 0
	}
	start := time.Now()
	limit := min(st.QuietWait, st.quietBudget)
	const step = 300 * time.Millisecond
	for {
		a1, b1 := cpuBusyTicks(st.pin.serverCPU), cpuBusyTicks(st.pin.loadCPU)
		time.Sleep(step)
		a2, b2 := cpuBusyTicks(st.pin.serverCPU), cpuBusyTicks(st.pin.loadCPU)
		quiet := a1 >= 0 && b1 >= 0 && a2 >= 0 && b2 >= 0 &&
			float64(a2-a1)/clockTicks < quietBusy*step.Seconds() &&
			float64(b2-b1)/clockTicks < quietBusy*step.Seconds()
		if quiet || time.Since(start) >= limit {
			break
		}
	}
	waited := time.Since(start) - step // one sample is always taken
	st.quietBudget = max(0, st.quietBudget-waited)
	return max(0, waited)
}

// column is one numeric column of a scenario's detail table.
type column struct {
	Key    string // metric key
	Label  string // table header
	Digits int    // decimals shown
}

// scenario is one workload.
type scenario struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Metric      string `json:"metric"`       // the main number: charted, summarised
	MetricLabel string `json:"metric_label"` // what it is, with its unit
	Unit        string `json:"unit"`
	columns     []column
	run         func(s *server, st *settings) (map[string]float64, error)
}

// Common columns of the time-window scenarios.
var cpuColumns = []column{
	{"srv_cpu", "srv CPU", 2},
	{"load_cpu", "load CPU", 2},
	{"other_cpu", "other on srv CPU", 2},
	{"max_stall_ms", "longest stall ms", 0},
}

// scenarios returns all scenarios in their run order.
func scenarios() []*scenario {
	small := func(size int) []byte { return randomBytes(size, uint64(size)) }
	return []*scenario{
		{
			Name:        "tp32",
			Description: "64 connections × 16 messages in flight, 32 B binary",
			Metric:      "srv_us_per_msg", MetricLabel: "server CPU per message", Unit: "µs",
			columns: append([]column{{"msgs_per_s", "msgs/s", 0}, {"srv_us_per_msg", "srv µs/msg", 3}}, cpuColumns...),
			run:     echoRunner(echoParams{conns: 64, window: 16, op: opBinary, payload: small(32)}),
		},
		{
			Name:        "tp1k",
			Description: "64 connections × 16 messages in flight, 1 KiB binary",
			Metric:      "srv_us_per_msg", MetricLabel: "server CPU per message", Unit: "µs",
			columns: append([]column{{"msgs_per_s", "msgs/s", 0}, {"mb_per_s", "MB/s", 1}, {"srv_us_per_msg", "srv µs/msg", 3}}, cpuColumns...),
			run:     echoRunner(echoParams{conns: 64, window: 16, op: opBinary, payload: small(1024)}),
		},
		{
			Name:        "big_bin",
			Description: "4 connections × 1 message in flight, 1 MiB binary",
			Metric:      "srv_ms_per_mb", MetricLabel: "server CPU per MB echoed", Unit: "ms",
			columns: append([]column{{"msgs_per_s", "msgs/s", 1}, {"mb_per_s", "MB/s", 1}, {"srv_ms_per_mb", "srv ms/MB", 3}}, cpuColumns...),
			run:     echoRunner(echoParams{conns: 4, window: 1, op: opBinary, payload: randomBytes(1<<20, 7)}),
		},
		{
			Name:        "big_text",
			Description: "4 connections × 1 message in flight, 1 MiB JSON-like text (mostly ASCII, with 2-, 3- and 4-byte UTF-8)",
			Metric:      "srv_ms_per_mb", MetricLabel: "server CPU per MB echoed", Unit: "ms",
			columns: append([]column{{"msgs_per_s", "msgs/s", 1}, {"mb_per_s", "MB/s", 1}, {"srv_ms_per_mb", "srv ms/MB", 3}}, cpuColumns...),
			run:     echoRunner(echoParams{conns: 4, window: 1, op: opText, payload: jsonLikeText(1 << 20)}),
		},
		{
			Name:        "idle",
			Description: "idle upgraded connections (-idle-conns), then one 1 KiB echo on each",
			Metric:      "idle_kib_per_conn", MetricLabel: "server VmRSS per idle connection", Unit: "KiB",
			columns: []column{{"conns", "conns", 0}, {"rss_base_mib", "base RSS MiB", 1}, {"idle_kib_per_conn", "KiB/conn idle", 1}, {"echo_kib_per_conn", "KiB/conn after 1 echo", 1}},
			run:     runIdle,
		},
		{
			Name:        "hs",
			Description: "connect, upgrade, masked close 1000, await server close frame and TCP close; 32 in flight",
			Metric:      "srv_us_per_hs", MetricLabel: "server CPU per handshake", Unit: "µs",
			columns: append([]column{{"hs_per_s", "handshakes/s", 0}, {"srv_us_per_hs", "srv µs/handshake", 1}}, cpuColumns...),
			run:     runHandshakes,
		},
	}
}

// randomBytes returns n pseudo-random bytes from a fixed seed.
func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// jsonLikeText returns exactly n bytes of valid UTF-8 that look like a JSON
// array of records: mostly ASCII, with 2-byte (é, ł), 3-byte (€, 日本) and
// 4-byte (emoji, 𝄞) characters in some fields.
func jsonLikeText(n int) []byte {
	names := []string{"Zoë", "Łukasz", "Renée", "Ödön", "Ana", "Jiří", "Kai"}
	cities := []string{"Kraków", "Zürich", "東京", "Αθήνα", "São Paulo", "Reykjavík", "Oslo"}
	notes := []string{"ok", "paid €12.50", "日本語のテキスト", "🙂 thanks", "clef 𝄞 and ♪", "plain ascii note here", "naïve café"}
	r := rand.New(rand.NewPCG(42, 43))
	var b bytes.Buffer
	b.WriteString("[")
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `{"id":%d,"name":%q,"city":%q,"score":%d.%02d,"active":%t,"note":%q,"tags":["alpha","beta","gamma"]},`,
			i, names[r.IntN(len(names))], cities[r.IntN(len(cities))], r.IntN(1000), r.IntN(100), r.IntN(2) == 0, notes[r.IntN(len(notes))])
		b.WriteByte('\n')
	}
	out := b.Bytes()[:n-1]
	for !utf8.Valid(out) { // do not cut a character in two
		out = out[:len(out)-1]
	}
	out = append(out, bytes.Repeat([]byte(" "), n-1-len(out))...)
	return append(out, ']')
}

// window is what is read at each edge of a measuring window.
type window struct {
	t     time.Time
	count int64         // messages or handshakes completed
	srv   int64         // server CPU ticks
	load  time.Duration // load generator CPU
	busy  int64         // server CPU's busy ticks, -1 if unknown
}

// sample reads a window edge.
func sample(s *server, count *atomic.Int64, cpu int) (window, error) {
	w := window{t: time.Now(), count: count.Load(), load: selfCPU(), busy: -1}
	ticks, err := procCPUTicks(s.pid)
	if err != nil {
		return w, err
	}
	w.srv = ticks
	if cpu >= 0 {
		w.busy = cpuBusyTicks(cpu)
	}
	return w, nil
}

// errNothingDone means that no message or handshake completed in the
// measuring window: on a shared machine, usually a server starved of CPU.
var errNothingDone = errors.New("nothing completed in the measuring window")

// windowMetrics turns two window edges into rates; per is the key of the
// per-event CPU metric, in µs.
func windowMetrics(a, b window, per string) (map[string]float64, float64, float64, error) {
	dt := b.t.Sub(a.t).Seconds()
	n := float64(b.count - a.count)
	if n <= 0 {
		return nil, 0, 0, errNothingDone
	}
	srv := float64(b.srv-a.srv) / clockTicks
	m := map[string]float64{
		"window_s": dt,
		"count":    n,
		"srv_cpu":  srv / dt,
		"load_cpu": (b.load - a.load).Seconds() / dt,
		per:        srv * 1e6 / n,
	}
	if a.busy >= 0 && b.busy >= 0 {
		m["other_cpu"] = max(0, float64(b.busy-a.busy)/clockTicks-srv) / dt
	}
	return m, n, dt, nil
}

// watchStalls polls count every 5 ms until the returned function is
// called, which returns the longest time count did not move.
func watchStalls(count *atomic.Int64) func() time.Duration {
	quit := make(chan struct{})
	result := make(chan time.Duration, 1)
	go func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		last, since := count.Load(), time.Now()
		var longest time.Duration
		for {
			select {
			case <-quit:
				result <- max(longest, time.Since(since))
				return
			case now := <-t.C:
				if c := count.Load(); c != last {
					longest = max(longest, now.Sub(since))
					last, since = c, now
				}
			}
		}
	}()
	return func() time.Duration {
		close(quit)
		return <-result
	}
}

// measureWindow runs a load scenario's warm-up and measuring window: its
// loops count completed operations in done and report errors on fail, and
// halt stops them. It returns the window's metrics, with the server's CPU
// time per operation under perOp and the longest stall, and the number of
// operations and the window's length in seconds.
func measureWindow(s *server, st *settings, done *atomic.Int64, fail <-chan error, halt func(), perOp string) (map[string]float64, float64, float64, error) {
	if err := waitOrFail(st.Warmup, fail, s); err != nil {
		halt()
		return nil, 0, 0, err
	}
	a, err := sample(s, done, st.pin.serverCPU)
	if err != nil {
		halt()
		return nil, 0, 0, err
	}
	stall := watchStalls(done)
	if err := waitOrFail(st.Duration, fail, s); err != nil {
		stall()
		halt()
		return nil, 0, 0, err
	}
	b, err := sample(s, done, st.pin.serverCPU)
	longest := stall()
	halt()
	if err != nil {
		return nil, 0, 0, err
	}
	select {
	case err := <-fail:
		return nil, 0, 0, err
	default:
	}
	m, n, dt, err := windowMetrics(a, b, perOp)
	if err != nil {
		return nil, 0, 0, err
	}
	m["max_stall_ms"] = longest.Seconds() * 1e3
	return m, n, dt, nil
}

// waitOrFail sleeps for d unless a load goroutine reports an error or the
// server exits first.
func waitOrFail(d time.Duration, fail <-chan error, s *server) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return s.alive()
	case err := <-fail:
		return err
	case <-s.done:
		return s.alive()
	}
}

// report records the first error of many goroutines.
func report(fail chan<- error, err error) {
	select {
	case fail <- err:
	default:
	}
}

// waitGroupFor waits for wg at most d.
func waitGroupFor(wg *sync.WaitGroup, d time.Duration) bool {
	ch := make(chan struct{})
	go func() { wg.Wait(); close(ch) }()
	select {
	case <-ch:
		return true
	case <-time.After(d):
		return false
	}
}

// echoParams describe a message echo workload.
type echoParams struct {
	conns, window int
	op            byte
	payload       []byte
}

// inlineLimit is the most bytes in flight per connection for which one
// goroutine both reads and writes; above it a separate writer goroutine
// keeps a blocked write from stalling the reads that would unblock it.
const inlineLimit = 64 << 10

func echoRunner(p echoParams) func(*server, *settings) (map[string]float64, error) {
	return func(s *server, st *settings) (map[string]float64, error) { return runEcho(s, st, p) }
}

// runEcho keeps p.window messages in flight on each of p.conns connections
// and measures the server over a window after the warm-up.
func runEcho(s *server, st *settings, p echoParams) (map[string]float64, error) {
	deadline := time.Now().Add(st.Warmup + st.Duration + 30*time.Second)
	frame := maskedFrame(p.op, p.payload)
	batch := bytes.Repeat(frame, p.window)
	conns := make([]net.Conn, 0, p.conns)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	checkers := make([]*echoChecker, 0, p.conns)
	for range p.conns {
		c, buf, n, err := dialWS(s.addr, newUpgradeRequest(s.addr), 256<<10, deadline)
		if err != nil {
			return nil, fmt.Errorf("connect: %w", err)
		}
		conns = append(conns, c)
		checkers = append(checkers, &echoChecker{want: p.payload, op: p.op, buf: buf, w: n})
	}
	var done atomic.Int64
	var stop atomic.Bool
	fail := make(chan error, 1)
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := pump(c, checkers[i], len(frame), batch, p.window, &done, &stop); err != nil && !stop.Load() {
				report(fail, err)
			}
		}()
	}
	halt := func() {
		stop.Store(true)
		now := time.Now()
		for _, c := range conns {
			c.SetDeadline(now)
		}
		if !waitGroupFor(&wg, 10*time.Second) {
			fmt.Println("    warning: load goroutines did not stop within 10s")
		}
	}
	m, n, dt, err := measureWindow(s, st, &done, fail, halt, "srv_us_per_msg")
	if err != nil {
		return nil, err
	}
	mb := n * float64(len(p.payload)) / 1e6
	m["msgs_per_s"] = n / dt
	m["mb_per_s"] = mb / dt
	m["srv_ms_per_mb"] = m["srv_cpu"] * dt * 1e3 / mb // server CPU seconds over the window, per MB
	return m, nil
}

// pump sends window messages on c, then one more for each echo that comes
// back correct, until stop is set and the connection's deadline passes.
func pump(c net.Conn, ck *echoChecker, flen int, batch []byte, window int, done *atomic.Int64, stop *atomic.Bool) error {
	var credits chan int
	werr := make(chan error, 1)
	if len(batch) <= inlineLimit {
		if _, err := c.Write(batch); err != nil {
			return err
		}
	} else {
		credits = make(chan int, window)
		defer close(credits)
		go func() {
			for k := range credits {
				if _, err := c.Write(batch[:k*flen]); err != nil {
					werr <- err
					return
				}
			}
		}()
		credits <- window
	}
	out := window
	for {
		n, err := ck.readSome(c)
		if n > 0 {
			done.Add(int64(n))
			out -= n
			if out < 0 {
				return errors.New("more echoes than messages sent")
			}
		}
		if err != nil {
			return err
		}
		if n == 0 || stop.Load() {
			continue
		}
		if credits == nil {
			if _, err := c.Write(batch[:n*flen]); err != nil {
				return err
			}
		} else {
			select {
			case err := <-werr:
				return err
			default:
			}
			credits <- n
		}
		out += n
	}
}

// runIdle opens st.IdleConns upgraded connections and reads the server's
// VmRSS before, 1 s after they are all open, and 1 s after one 1 KiB echo
// on each.
func runIdle(s *server, st *settings) (map[string]float64, error) {
	deadline := time.Now().Add(2 * time.Minute)
	time.Sleep(300 * time.Millisecond)
	base, err := procRSSKiB(s.pid)
	if err != nil {
		return nil, err
	}
	conns := make([]net.Conn, st.IdleConns)
	bufs := make([][]byte, st.IdleConns)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	// forEach runs f for every connection index on 16 goroutines.
	forEach := func(f func(i int) error) error {
		var next atomic.Int64
		fail := make(chan error, 1)
		var wg sync.WaitGroup
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1) - 1)
					if i >= len(conns) {
						return
					}
					if err := f(i); err != nil {
						report(fail, err)
						return
					}
				}
			}()
		}
		if !waitGroupFor(&wg, time.Until(deadline)) {
			return errors.New("idle scenario timed out")
		}
		select {
		case err := <-fail:
			return err
		default:
			return s.alive()
		}
	}
	err = forEach(func(i int) error {
		c, buf, n, err := dialWS(s.addr, newUpgradeRequest(s.addr), 4096, deadline)
		if err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
		if n != 0 {
			c.Close()
			return errors.New("server sent data on an idle connection")
		}
		conns[i], bufs[i] = c, buf
		return nil
	})
	if err != nil {
		return nil, err
	}
	time.Sleep(time.Second)
	idle, err := procRSSKiB(s.pid)
	if err != nil {
		return nil, err
	}
	payload := randomBytes(1024, 11)
	frame := maskedFrame(opBinary, payload)
	err = forEach(func(i int) error {
		c := conns[i]
		if _, err := c.Write(frame); err != nil {
			return err
		}
		ck := &echoChecker{want: payload, op: opBinary, buf: bufs[i]}
		for got := 0; got == 0; {
			n, err := ck.readSome(c)
			if err != nil {
				return fmt.Errorf("echo on connection %d: %w", i, err)
			}
			got += n
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	time.Sleep(time.Second)
	after, err := procRSSKiB(s.pid)
	if err != nil {
		return nil, err
	}
	n := float64(st.IdleConns)
	return map[string]float64{
		"conns":             n,
		"rss_base_mib":      float64(base) / 1024,
		"idle_kib_per_conn": float64(idle-base) / n,
		"echo_kib_per_conn": float64(after-base) / n,
	}, nil
}

// runHandshakes runs st.HSWorkers loops of complete connection lifetimes.
func runHandshakes(s *server, st *settings) (map[string]float64, error) {
	deadline := time.Now().Add(st.Warmup + st.Duration + 30*time.Second)
	reqs := make([]upgradeRequest, 64)
	for i := range reqs {
		reqs[i] = newUpgradeRequest(s.addr)
	}
	closeFrame := maskedFrame(opClose, []byte{0x03, 0xe8}) // 1000
	var done atomic.Int64
	var stop atomic.Bool
	fail := make(chan error, 1)
	var wg sync.WaitGroup
	for w := range st.HSWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4096)
			for i := w; !stop.Load(); i++ {
				if time.Now().After(deadline) {
					report(fail, errors.New("handshake loop ran past its deadline"))
					return
				}
				if err := oneHandshake(s.addr, reqs[i%len(reqs)], closeFrame, buf); err != nil {
					if !stop.Load() {
						report(fail, err)
					}
					return
				}
				done.Add(1)
			}
		}()
	}
	halt := func() {
		stop.Store(true)
		if !waitGroupFor(&wg, 10*time.Second) {
			fmt.Println("    warning: handshake loops did not stop within 10s")
		}
	}
	m, n, dt, err := measureWindow(s, st, &done, fail, halt, "srv_us_per_hs")
	if err != nil {
		return nil, err
	}
	m["hs_per_s"] = n / dt
	return m, nil
}

// oneHandshake connects, upgrades, sends a close frame, reads the server's
// close frame and waits for the server to close the TCP connection.
func oneHandshake(addr string, req upgradeRequest, closeFrame, buf []byte) error {
	d := net.Dialer{Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	n, err := doUpgrade(c, req, buf)
	if err != nil {
		return err
	}
	if _, err := c.Write(closeFrame); err != nil {
		return err
	}
	for {
		if n >= 2 {
			op, plen := buf[0]&0x0f, int(buf[1]&0x7f)
			if op != opClose || buf[1]&0x80 != 0 || plen > 125 {
				return fmt.Errorf("expected an unmasked close frame, got header %#x %#x", buf[0], buf[1])
			}
			if n >= 2+plen {
				if plen >= 2 {
					if code := int(buf[2])<<8 | int(buf[3]); code != 1000 {
						return fmt.Errorf("server answered close 1000 with %d", code)
					}
				}
				break
			}
		}
		m, err := c.Read(buf[n:])
		n += m
		if err != nil && n < 2 {
			return fmt.Errorf("awaiting the close frame: %w", err)
		}
		if err != nil && n >= 2 && n < 2+int(buf[1]&0x7f) {
			return fmt.Errorf("awaiting the close frame: %w", err)
		}
	}
	for {
		if _, err := c.Read(buf); err != nil {
			if err == io.EOF {
				return nil
			}
			return fmt.Errorf("awaiting the server's TCP close: %w", err)
		}
	}
}

// checkResult records what a server did in the one-off checks.
type checkResult struct {
	Server      string `json:"server"`
	InvalidUTF8 string `json:"invalid_utf8"`
	Big64MiB    string `json:"big_64mib"`
	OK          bool   `json:"ok"` // the 64 MiB echo worked
}

// checkInvalidUTF8 sends a text message that is not UTF-8 and describes
// the server's reaction.
func checkInvalidUTF8(s *server) string {
	deadline := time.Now().Add(5 * time.Second)
	c, buf, n, err := dialWS(s.addr, newUpgradeRequest(s.addr), 4096, deadline)
	if err != nil {
		return "connect failed: " + err.Error()
	}
	defer c.Close()
	payload := []byte("{\"note\":\"caf\xc3\xa9 \xff\xfe bad\"}")
	if _, err := c.Write(maskedFrame(opText, payload)); err != nil {
		return "write failed: " + err.Error()
	}
	ck := &echoChecker{want: payload, op: opText, buf: buf, w: n}
	for {
		got, err := ck.readSome(c)
		if got > 0 {
			return "echoed it (no validation)"
		}
		var sc errServerClose
		switch {
		case err == nil:
			continue
		case errors.As(err, &sc):
			if sc.code == 1007 {
				return "close 1007"
			}
			return fmt.Sprintf("close %d", sc.code)
		case errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET):
			return "dropped the connection without a close frame"
		default:
			return "error: " + err.Error()
		}
	}
}

// checkBig echoes one 64 MiB binary message.
func checkBig(s *server) (string, bool) {
	start := time.Now()
	deadline := start.Add(60 * time.Second)
	c, buf, n, err := dialWS(s.addr, newUpgradeRequest(s.addr), 256<<10, deadline)
	if err != nil {
		return "connect failed: " + err.Error(), false
	}
	defer c.Close()
	payload := randomBytes(64<<20, 64)
	frame := maskedFrame(opBinary, payload)
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(frame)
		werr <- err
	}()
	ck := &echoChecker{want: payload, op: opBinary, buf: buf, w: n}
	for {
		got, err := ck.readSome(c)
		if got == 1 {
			return fmt.Sprintf("ok (%.2f s)", time.Since(start).Seconds()), true
		}
		if err != nil {
			select {
			case e := <-werr:
				if e != nil {
					return fmt.Sprintf("failed: %v (write: %v)", err, e), false
				}
			default:
			}
			return "failed: " + err.Error(), false
		}
	}
}
