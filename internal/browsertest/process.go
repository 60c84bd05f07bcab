//go:build linux

package browsertest

// This file starts programs in process groups of their own, killed with the
// test, which needs Linux's Pdeathsig.

import (
	"context"
	"net/http"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// StartProcessGroup starts cmd in a process group of its own and registers a
// cleanup that kills the whole group and waits for cmd. The returned channel
// is closed when cmd has exited.
func StartProcessGroup(t *testing.T, cmd *exec.Cmd, name string) <-chan struct{} {
	t.Helper()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Errorf("%s (pid %d) did not exit after SIGKILL", name, cmd.Process.Pid)
		}
	})
	return exited
}

// StartServer starts cmd (a program that serves HTTP) with StartProcessGroup,
// its output going to a TailBuffer that is logged if the test fails, and
// waits, for at most 10 s, until GET pageURL answers 200 OK through client.
// It returns the program's output.
func StartServer(ctx context.Context, t *testing.T, cmd *exec.Cmd, name, pageURL string, client *http.Client) *TailBuffer {
	t.Helper()
	out, _ := StartServerExit(ctx, t, cmd, name, pageURL, client)
	return out
}

// StartServerExit is StartServer that also returns a channel closed when
// the program has exited, after which cmd.ProcessState tells how.
func StartServerExit(ctx context.Context, t *testing.T, cmd *exec.Cmd, name, pageURL string, client *http.Client) (*TailBuffer, <-chan struct{}) {
	t.Helper()
	out := &TailBuffer{Max: 64 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	exited := StartProcessGroup(t, cmd, name)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := GetOK(ctx, client, pageURL)
		if err == nil {
			return out, exited
		}
		select {
		case <-exited:
			t.Fatalf("%s exited before serving: %v\n%s", name, cmd.ProcessState, out.String())
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("%s does not answer GET %s: %v", name, pageURL, err)
		}
		Poll(ctx)
	}
}
