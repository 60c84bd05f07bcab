//go:build linux

package main

import (
	"context"
	"net/http"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/wsproject/websocket/internal/browsertest"
)

// TestProgram builds the real program, runs it, and checks that SIGINT
// (Ctrl-C) and SIGTERM each close a live client with 1001 and end the
// program with status 0.
func TestProgram(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the program; skipped in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin := browsertest.BuildProgram(ctx, t, ".", "chat")
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) { stopProgram(ctx, t, bin, sig) })
	}
}

// stopProgram runs the program bin with a client, sends it sig, and checks
// that the client gets 1001 and the program exits with status 0.
func stopProgram(ctx context.Context, t *testing.T, bin string, sig syscall.Signal) {
	addr := browsertest.FreeAddr(t)
	cmd := exec.CommandContext(ctx, bin, "-addr", addr)
	logs, exited := browsertest.StartServerExit(ctx, t, cmd, "the chat program", "http://"+addr+"/", &http.Client{Timeout: time.Second})

	c := joinChat(t, addr, "ana", "lobby")
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	expectGoingAway(t, c)
	select {
	case <-exited:
	case <-time.After(testTimeout):
		t.Fatalf("the program did not exit after %v:\n%s", sig, logs)
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("the program exited with %v, want status 0:\n%s", cmd.ProcessState, logs)
	}
}
