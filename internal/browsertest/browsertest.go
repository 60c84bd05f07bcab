// Package browsertest runs programs and headless Chromium for the end-to-end
// tests of this module's examples, and drives the browser's pages with the
// Chrome DevTools Protocol (CDP) over this module's own WebSocket client.
// Only tests import it. Every wait in it is bounded, and every process it
// starts runs in a process group of its own that the test's cleanup kills.
package browsertest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// ChromiumPath is where Debian's chromium package installs the browser. The
// tests never download one.
const ChromiumPath = "/usr/bin/chromium"

// SkipWithoutChromium skips the test, saying how to get the browser, when
// Chromium is not installed at ChromiumPath.
func SkipWithoutChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(ChromiumPath); err != nil {
		t.Skip("headless Chromium not installed at /usr/bin/chromium (Debian package chromium); .ci/run installs it")
	}
}

// BuildProgram builds the main package in dir (relative to the test's
// working directory, "." for the test's own package) into a temporary
// directory, with env added to the environment, and returns the binary's path.
func BuildProgram(ctx context.Context, t *testing.T, dir, name string, env ...string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("finding the go command to build %s: %v", name, err)
	}
	bin := filepath.Join(t.TempDir(), name)
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go build of %s: %v\n%s", name, err, out)
	}
	return bin
}

// FreeAddr returns a loopback address with a port that was free a moment
// ago.
func FreeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TailBuffer is a bytes.Buffer safe for concurrent use, which keeps at most
// its last Max bytes (all of them when Max is 0).
type TailBuffer struct {
	Max int

	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p, dropping the oldest bytes beyond the limit.
func (b *TailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - b.Max; b.Max > 0 && over > 0 {
		b.buf.Next(over)
	}
	return len(p), nil
}

// String returns the bytes kept.
func (b *TailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// GetOK fetches u and reports an error unless the answer is 200 OK.
func GetOK(ctx context.Context, client *http.Client, u string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return nil
}

// Poll pauses between two attempts of a bounded polling loop.
func Poll(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(50 * time.Millisecond):
	}
}
