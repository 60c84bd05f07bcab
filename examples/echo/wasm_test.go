//go:build linux

package main

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsproject/websocket/internal/browsertest"
)

// This file runs the library's Dial for the browser (GOOS=js GOARCH=wasm)
// in headless Chromium against the echo handler: it builds examples/wasm,
// serves it with Go's wasm_exec.js from the echo server's own host (so
// that the echo's origin check admits the page), and reads the results the
// program reports to the page.

// wasmTestTimeout bounds the whole test, building the program included.
const wasmTestTimeout = 3 * time.Minute

// wasmChecks are the names of the checks the program must report, in order.
var wasmChecks = []string{
	"subprotocol and compression",
	"text, binary and JSON echoes",
	"1 MiB binary and text echoes",
	"streamed writer and reader",
	"burst of messages",
	"deadlines and contexts",
	"NetConn",
	"pings, close codes and uncompressed writes are refused",
	"dial options the browser cannot honour are refused",
	"read limit: binary",
	"read limit: binary, refused before it is copied",
	"read limit: text longer than the limit in UTF-16 units",
	"read limit: text longer than the limit in UTF-8 only",
	"unread messages up to the read limit",
	"dial cut short by its context",
	"handshake the browser refuses",
	"close with a code and a reason",
	"CloseNow",
	"CloseNow drops the messages not read",
	"close timeout drops the messages not read",
	"write after the peer's close frame, before the close event",
}

// wasmResult is one check's outcome, as the program reports it.
type wasmResult struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// TestWasmClient runs examples/wasm in headless Chromium: the library's
// js/wasm Conn, over the browser's own WebSocket, talks to the echo
// handler, and every check the program reports must pass. The echo's log
// must show the close code and reason the program sent.
func TestWasmClient(t *testing.T) {
	browsertest.SkipWithoutChromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), wasmTestTimeout)
	defer cancel()
	start := time.Now()
	phase := func(what string) { t.Logf("%6.2fs %s", time.Since(start).Seconds(), what) }

	wasm := browsertest.BuildProgram(ctx, t, "../wasm", "main.wasm", "GOOS=js", "GOARCH=wasm")
	phase("built examples/wasm for js/wasm")
	pageURL, logs := serveWasm(t, wasm, wasmExecJS(ctx, t))
	browser := browsertest.StartChromium(ctx, t, pageURL)
	page := browser.Page(ctx, t, pageURL)
	phase("page loaded")

	var results []wasmResult
	const wait = `Promise.race([wasmDone, new Promise((_, reject) =>
		setTimeout(() => reject(new Error("no report from the Go program within 120 s")), 120000))])`
	if err := page.Evaluate(ctx, wait, &results); err != nil {
		t.Fatalf("waiting for the program's report: %v", err)
	}
	phase("the program reported")
	for i, r := range results {
		t.Logf("%v %s: %s", map[bool]string{true: "ok", false: "FAILED"}[r.OK], r.Name, r.Detail)
		if !r.OK {
			t.Errorf("check %q failed: %s", r.Name, r.Detail)
		}
		if i < len(wasmChecks) && r.Name != wasmChecks[i] {
			t.Errorf("check %d is %q, want %q", i, r.Name, wasmChecks[i])
		}
	}
	if len(results) != len(wasmChecks) {
		t.Errorf("the program reported %d checks, want %d", len(results), len(wasmChecks))
	}
	if want := "peer closed: 4000: bye"; !strings.Contains(logs.String(), want) {
		t.Errorf("the echo's log lacks %q, the close the program sent:\n%s", want, logs)
	}
}

// serveWasm serves, on a loopback server that the test's cleanup closes,
// the page and the program at /wasm/, the echo handler, with compression,
// at "/", and two peers of rawPeer: at /unanswered one that sends a text
// message and answers no close frame, and at /closing one that sends a
// close frame and keeps the connection open. It returns the page's URL and
// the echo's log.
func serveWasm(t *testing.T, wasm, execJS string) (string, *browsertest.TailBuffer) {
	t.Helper()
	files := map[string]string{
		"/wasm/":             "../wasm/index.html",
		"/wasm/wasm_exec.js": execJS,
		"/wasm/main.wasm":    wasm,
	}
	logs := &browsertest.TailBuffer{Max: 64 << 10}
	echo := newServer(log.New(logs, "", 0), true)
	mux := http.NewServeMux()
	for path, file := range files {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != path {
				http.NotFound(w, r)
				return
			}
			http.ServeFile(w, r, file)
		})
	}
	mux.Handle("/", echo)
	mux.Handle("/unanswered", rawPeer(textFrame("unread"), 3*time.Second))
	mux.Handle("/closing", rawPeer([]byte{0x88, 2, 0x03, 0xe8}, 3*time.Second)) // close 1000
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := echo.Shutdown(ctx); err != nil {
			t.Errorf("shutting the echo down: %v", err)
		}
		srv.Close()
		if t.Failed() {
			t.Logf("echo log:\n%s", logs)
		}
	})
	return srv.URL + "/wasm/", logs
}

// wasmExecJS returns the path of the wasm_exec.js of the Go installation
// that builds the program: lib/wasm since Go 1.24, misc/wasm before.
func wasmExecJS(ctx context.Context, t *testing.T) string {
	t.Helper()
	out, err := exec.CommandContext(ctx, "go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	root := strings.TrimSpace(string(out))
	for _, dir := range []string{"lib/wasm", "misc/wasm"} {
		path := filepath.Join(root, dir, "wasm_exec.js")
		if _, err := os.Stat(path); err == nil {
			return path
		}
	}
	t.Fatalf("no wasm_exec.js in %s/lib/wasm or %s/misc/wasm", root, root)
	return ""
}

// rawPeer returns a handler that plays a WebSocket peer the library's
// server cannot: it answers the handshake by hand, without extensions or
// subprotocol, writes frames, then holds the connection open for hold,
// reading and dropping what the browser sends and answering nothing, not
// even a close frame.
func rawPeer(frames []byte, hold time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Sec-WebSocket-Key")
		if key == "" {
			http.Error(w, "not a WebSocket handshake", http.StatusBadRequest)
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		accept := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"+
			"Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
			base64.StdEncoding.EncodeToString(accept[:]))
		rw.Write(frames)
		if rw.Flush() != nil {
			return
		}
		conn.SetReadDeadline(time.Now().Add(hold))
		io.Copy(io.Discard, conn)
	}
}

// textFrame returns an unmasked text frame, as a server sends, of a
// payload shorter than 126 bytes.
func textFrame(payload string) []byte {
	return append([]byte{0x81, byte(len(payload))}, payload...)
}
