package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc; it is 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// serverSpec names a server and the command that starts it; the runner
// appends "-addr 127.0.0.1:PORT" to Argv.
type serverSpec struct {
	Name string   `json:"name"`
	Argv []string `json:"argv"`
}

// server is a running server process.
type server struct {
	spec serverSpec
	cmd  *exec.Cmd
	pid  int
	addr string
	log  *os.File
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, valid once done is closed
	once sync.Once     // stop runs once
}

// pinning describes how processes are placed on CPUs.
type pinning struct {
	taskset   string // path of taskset, "" when not pinning
	serverCPU int
	loadCPU   int
	note      string
}

var (
	currentMu     sync.Mutex
	currentServer *server
)

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startServer starts spec with GOMAXPROCS=1, pinned to the server CPU when
// pin allows, and waits up to 10 s for its "ready" line. Its output goes to
// logPath.
func startServer(spec serverSpec, pin pinning, logPath string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	argv := append(append([]string(nil), spec.Argv...), "-addr", addr)
	if pin.taskset != "" {
		argv = append([]string{pin.taskset, "-c", strconv.Itoa(pin.serverCPU)}, argv...)
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	cmd.Stdout = pw
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		logf.Close()
		return nil, err
	}
	pw.Close()
	s := &server{spec: spec, cmd: cmd, pid: cmd.Process.Pid, addr: addr, log: logf, done: make(chan struct{})}
	currentMu.Lock()
	currentServer = s
	currentMu.Unlock()
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	ready := make(chan struct{})
	go func() {
		defer pr.Close()
		sc := bufio.NewScanner(pr)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if !signalled && strings.TrimSpace(line) == "ready" {
				signalled = true
				close(ready)
			}
		}
		io.Copy(io.Discard, pr)
	}()
	select {
	case <-ready:
		return s, nil
	case <-s.done:
		s.stop()
		return nil, fmt.Errorf("%s exited before printing ready (%v); see %s", spec.Name, s.err, logPath)
	case <-time.After(10 * time.Second):
		s.stop()
		return nil, fmt.Errorf("%s did not print ready within 10s; see %s", spec.Name, logPath)
	}
}

// alive reports an error if the server process has exited.
func (s *server) alive() error {
	select {
	case <-s.done:
		return fmt.Errorf("server process exited: %v", s.err)
	default:
		return nil
	}
}

// stop kills the server's process group (its own PID, as it was started
// with Setpgid) and waits up to 5 s for the process to be reaped.
func (s *server) stop() {
	if s == nil {
		return
	}
	s.once.Do(func() {
		select {
		case <-s.done:
			// Already reaped: its PID may belong to someone else now.
		default:
			syscall.Kill(-s.pid, syscall.SIGKILL)
		}
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			fmt.Fprintf(os.Stderr, "warning: server %s (pid %d) not reaped after SIGKILL\n", s.spec.Name, s.pid)
		}
		s.log.Close()
		currentMu.Lock()
		if currentServer == s {
			currentServer = nil
		}
		currentMu.Unlock()
	})
}

// stopCurrent kills the server that is running, if any (used on signals).
func stopCurrent() {
	currentMu.Lock()
	s := currentServer
	currentMu.Unlock()
	s.stop()
}

// procCPUTicks returns utime+stime of all threads of pid, in clock ticks.
func procCPUTicks(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc/PID/stat")
	}
	// After the command name come fields 3 (state) onwards; utime and stime
	// are fields 14 and 15.
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc/PID/stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("bad CPU times in /proc/PID/stat")
	}
	return ut + st, nil
}

// procRSSKiB returns VmRSS of pid in KiB.
func procRSSKiB(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, errors.New("no VmRSS in /proc/PID/status")
}

// cpuBusyTicks returns the busy time (user, nice, system, irq, softirq) of
// one CPU from /proc/stat, in clock ticks, or -1 if it cannot be read.
func cpuBusyTicks(cpu int) int64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return -1
	}
	prefix := "cpu" + strconv.Itoa(cpu) + " "
	for line := range strings.SplitSeq(string(b), "\n") {
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 8 {
			return -1
		}
		var sum int64
		for _, idx := range []int{1, 2, 3, 6, 7} {
			v, err := strconv.ParseInt(f[idx], 10, 64)
			if err != nil {
				return -1
			}
			sum += v
		}
		return sum
	}
	return -1
}

// selfCPU returns the CPU time used so far by this process (the load
// generator), user plus system.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineInfo describes the machine a run happened on.
type machineInfo struct {
	CPUModel  string `json:"cpu_model"`
	Cores     int    `json:"cores"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go_version"`
	MemTotal  string `json:"mem_total"`
	LoadAvg   string `json:"loadavg_at_start"`
	Pinning   string `json:"pinning"`
}

// readMachineInfo collects CPU model, core count, kernel and Go version.
func readMachineInfo() machineInfo {
	m := machineInfo{GoVersion: runtime.Version(), CPUModel: "unknown", Kernel: "unknown"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			switch strings.TrimSpace(k) {
			case "processor":
				m.Cores++
			case "model name":
				m.CPUModel = strings.TrimSpace(v)
			}
		}
	}
	if m.Cores == 0 {
		m.Cores = runtime.NumCPU()
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				f := strings.Fields(rest)
				if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					m.MemTotal = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	return m
}
