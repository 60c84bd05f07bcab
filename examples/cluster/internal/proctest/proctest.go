// Package proctest starts the external programs of the cluster tests
// (redis-server, nginx, chat nodes), each in a process group of its own,
// watches their output, and kills them by process group when the test ends.
// Every wait is bounded.
package proctest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Need returns the path of program, looked up on PATH and then in /usr/sbin
// and /usr/local/sbin (where Debian puts nginx, which is not on a normal
// user's PATH), or skips the test saying how to install it.
func Need(t testing.TB, program, debianPackage string) string {
	t.Helper()
	if p, err := exec.LookPath(program); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, program)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	t.Skipf("%s not found on PATH nor in /usr/sbin: this test needs it (Debian: apt-get install %s; .ci/run installs it)", program, debianPackage)
	return ""
}

// FreeAddr returns a loopback address whose port was free a moment ago,
// for programs that cannot listen on port 0 and report the port.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Proc is a running program whose combined output is kept line by line.
type Proc struct {
	name string
	pid  int

	mu      sync.Mutex
	lines   []string
	changed chan struct{} // closed and replaced when a line arrives or output ends
	ended   bool          // the output has ended

	exited  chan struct{} // closed when the process has exited
	waitErr error         // set before exited is closed
}

// Start runs path with args in dir (the test's working directory if
// empty), in a new process group, with stdout and stderr captured. The
// process group is killed with SIGKILL when the test ends, and the output
// is logged if the test failed.
func Start(t testing.TB, name, dir, path string, args ...string) *Proc {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &Proc{name: name, pid: cmd.Process.Pid, changed: make(chan struct{}), exited: make(chan struct{})}
	go p.readLines(r)
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() { p.cleanup(t) })
	return p
}

// readLines keeps each line of r until it ends.
func (p *Proc) readLines(r *os.File) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		p.mu.Lock()
		p.lines = append(p.lines, sc.Text())
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()
	}
	p.mu.Lock()
	p.ended = true
	close(p.changed)
	p.mu.Unlock()
}

// cleanup kills the process group, waits (bounded) for the process, and
// logs the output if the test failed.
func (p *Proc) cleanup(t testing.TB) {
	syscall.Kill(-p.pid, syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		t.Errorf("%s (pid %d) did not exit after SIGKILL", p.name, p.pid)
	}
	if t.Failed() {
		t.Logf("output of %s (pid %d):\n%s", p.name, p.pid, strings.Join(p.Lines(), "\n"))
	}
}

// Lines returns a copy of the output lines so far.
func (p *Proc) Lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// WaitFor waits up to timeout for an output line, from the from'th on,
// that contains substr, and returns its index and text. It fails the test
// if the output ends (the process exited) first or time runs out.
func (p *Proc) WaitFor(t testing.TB, from int, substr string, timeout time.Duration) (int, string) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		for ; from < len(p.lines); from++ {
			if strings.Contains(p.lines[from], substr) {
				line := p.lines[from]
				p.mu.Unlock()
				return from, line
			}
		}
		changed, ended := p.changed, p.ended
		p.mu.Unlock()
		if ended {
			t.Fatalf("%s ended its output before printing %q", p.name, substr)
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("%s did not print %q within %v", p.name, substr, timeout)
		}
	}
}

// Signal sends sig to the process (not its group).
func (p *Proc) Signal(sig syscall.Signal) error {
	if err := syscall.Kill(p.pid, sig); err != nil {
		return fmt.Errorf("signal %s (pid %d): %w", p.name, p.pid, err)
	}
	return nil
}

// Wait waits up to timeout for the process to exit and returns its exit
// error (nil for status 0).
func (p *Proc) Wait(timeout time.Duration) error {
	select {
	case <-p.exited:
		return p.waitErr
	case <-time.After(timeout):
		return errors.New(p.name + " did not exit within " + timeout.String())
	}
}
