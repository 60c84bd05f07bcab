//go:build linux

package browsertest

// This file starts headless Chromium and speaks CDP to its pages.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wsproject/websocket"
)

// Browser is a headless Chromium that a test started.
type Browser struct {
	// DevToolsHost is the host:port of the browser's DevTools server.
	DevToolsHost string
}

// StartChromium starts headless Chromium on startURL with a DevTools server
// on a port of its choice, read from the line Chromium prints on stderr. The
// test's cleanup kills it; its stderr is logged if the test fails.
func StartChromium(ctx context.Context, t *testing.T, startURL string) *Browser {
	t.Helper()
	cmd := exec.CommandContext(ctx, ChromiumPath,
		"--headless",
		"--no-sandbox",
		"--disable-gpu",
		"--no-first-run",
		"--disable-background-networking",
		"--disable-component-update",
		"--disable-sync",
		"--disable-quic",
		"--ignore-certificate-errors",
		"--user-data-dir="+t.TempDir(),
		"--remote-debugging-port=0",
		startURL,
	)
	// Chromium's child processes share its stderr, so read it from a pipe
	// of our own: its end comes when the last of them has exited.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = w
	t.Cleanup(func() { w.Close(); r.Close() }) // in case the start fails
	stderrLog := &TailBuffer{Max: 64 << 10}
	exited := StartProcessGroup(t, cmd, "Chromium")
	w.Close()

	found := make(chan string, 1)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		sc := bufio.NewScanner(r)
		sc.Buffer(nil, 1<<20)
		const prefix = "DevTools listening on "
		for sc.Scan() {
			line := sc.Text()
			stderrLog.Write([]byte(line + "\n"))
			if u, ok := strings.CutPrefix(line, prefix); ok {
				select {
				case found <- strings.TrimSpace(u):
				default:
				}
			}
		}
		io.Copy(stderrLog, r)
	}()
	// Cleanups run last in, first out: this one runs before the one of
	// StartProcessGroup, and kills the group itself before awaiting the
	// pipe's end.
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-drained:
		case <-time.After(10 * time.Second):
			t.Errorf("Chromium's stderr stayed open 10 s after SIGKILL to its process group")
		}
		r.Close()
		if t.Failed() {
			t.Logf("Chromium's stderr:\n%s", stderrLog.String())
		}
	})

	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	var devtools string
	select {
	case devtools = <-found:
	case <-exited:
		t.Fatalf("Chromium exited before its DevTools server listened: %v\n%s", cmd.ProcessState, stderrLog.String())
	case <-timer.C:
		t.Fatalf("Chromium printed no DevTools URL within 30 s:\n%s", stderrLog.String())
	case <-ctx.Done():
		t.Fatalf("Chromium printed no DevTools URL before the test's deadline:\n%s", stderrLog.String())
	}
	u, err := url.Parse(devtools)
	if err != nil {
		t.Fatalf("bad DevTools URL %q: %v", devtools, err)
	}
	return &Browser{DevToolsHost: u.Host}
}

// devtoolsTarget is an entry of the DevTools server's /json/list.
type devtoolsTarget struct {
	ID                   string `json:"id"`
	Type                 string `json:"type"`
	URL                  string `json:"url"`
	WebSocketDebuggerURL string `json:"webSocketDebuggerUrl"`
}

// Page waits, for a bounded time, until a page target of the browser shows
// pageURL, connects to it and waits until its document has loaded. The
// test's cleanup closes the connection.
func (b *Browser) Page(ctx context.Context, t *testing.T, pageURL string) *Page {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		targets, err := b.targets(ctx, client, http.MethodGet, "/json/list")
		for _, tg := range targets {
			if tg.Type == "page" && tg.URL == pageURL && tg.WebSocketDebuggerURL != "" {
				return b.attach(ctx, t, tg, pageURL)
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("no page target at %s in time; last error %v, last targets %+v", pageURL, err, targets)
		}
		Poll(ctx)
	}
}

// NewPage opens pageURL in a new tab of the browser and returns it once its
// document has loaded, as Page does.
func (b *Browser) NewPage(ctx context.Context, t *testing.T, pageURL string) *Page {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	var tg devtoolsTarget
	if err := b.call(ctx, client, http.MethodPut, "/json/new?"+url.QueryEscape(pageURL), &tg); err != nil {
		t.Fatalf("opening a tab on %s: %v", pageURL, err)
	}
	return b.attach(ctx, t, tg, pageURL)
}

// targets fetches the DevTools server's target list.
func (b *Browser) targets(ctx context.Context, client *http.Client, method, path string) ([]devtoolsTarget, error) {
	var targets []devtoolsTarget
	err := b.call(ctx, client, method, path, &targets)
	return targets, err
}

// call sends one request of the DevTools server's HTTP interface and decodes
// its JSON answer into v.
func (b *Browser) call(ctx context.Context, client *http.Client, method, path string, v any) error {
	u := "http://" + b.DevToolsHost + path
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s", method, u, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("decoding %s: %w", u, err)
	}
	return nil
}

// attach connects to a page target's DevTools WebSocket and waits until the
// page's document is pageURL and has loaded.
func (b *Browser) attach(ctx context.Context, t *testing.T, tg devtoolsTarget, pageURL string) *Page {
	t.Helper()
	if tg.WebSocketDebuggerURL == "" {
		t.Fatalf("the page target for %s has no DevTools WebSocket URL: %+v", pageURL, tg)
	}
	conn, resp, err := websocket.Dial(ctx, tg.WebSocketDebuggerURL, nil)
	if err != nil {
		if resp != nil {
			t.Fatalf("connecting to the page target with our client: %v (HTTP %s)", err, resp.Status)
		}
		t.Fatalf("connecting to the page target with our client: %v", err)
	}
	p := &Page{conn: conn, browser: b, targetID: tg.ID}
	t.Cleanup(func() {
		if p.closed {
			return
		}
		if err := conn.Close(websocket.StatusNormalClosure, ""); err != nil {
			t.Logf("closing the DevTools connection: %v", err)
		}
	})
	p.waitLoaded(ctx, t, pageURL)
	return p
}

// waitLoaded polls the page with Runtime.evaluate, for a bounded time, until
// its document is pageURL and has loaded. The target list names the URL a
// navigation goes to before the page's document has changed.
func (p *Page) waitLoaded(ctx context.Context, t *testing.T, pageURL string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var state struct {
		Href       string `json:"href"`
		ReadyState string `json:"readyState"`
	}
	for {
		err := p.Evaluate(ctx, `({href: location.href, readyState: document.readyState})`, &state)
		if err == nil && state.Href == pageURL && state.ReadyState == "complete" {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("the page did not load %s in time: last state %+v, last error %v", pageURL, state, err)
		}
		Poll(ctx)
	}
}

// Page is one page (tab) of the browser, driven over CDP one command at a
// time. Its methods must not be called concurrently.
type Page struct {
	conn     *websocket.Conn
	nextID   int64
	browser  *Browser
	targetID string
	closed   bool // by Close
}

// Close closes the page's tab, as a user closing it would: the page gets
// no chance to clean up beyond what the browser does for every closed tab
// (its WebSockets are closed with 1001, going away). The DevTools
// connection to the page ends with it.
func (p *Page) Close(ctx context.Context) error {
	u := "http://" + p.browser.DevToolsHost + "/json/close/" + url.PathEscape(p.targetID)
	if err := GetOK(ctx, &http.Client{Timeout: 5 * time.Second}, u); err != nil {
		return fmt.Errorf("closing the tab: %w", err)
	}
	p.closed = true
	p.conn.CloseNow()
	return nil
}

// CDPError is an error a CDP command answered with.
type CDPError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    string `json:"data"`
}

// Error says the command's error code and message.
func (e *CDPError) Error() string {
	return fmt.Sprintf("CDP error %d: %s %s", e.Code, e.Message, e.Data)
}

// Call sends the command method with params, waits for its answer while
// skipping events, and decodes the answer's result into result (unless nil).
// ctx bounds the exchange.
func (p *Page) Call(ctx context.Context, method string, params, result any) error {
	p.nextID++
	id := p.nextID
	req, err := json.Marshal(struct {
		ID     int64  `json:"id"`
		Method string `json:"method"`
		Params any    `json:"params,omitempty"`
	}{id, method, params})
	if err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok {
		p.conn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { p.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := p.conn.WriteMessage(websocket.TextMessage, req); err != nil {
		return fmt.Errorf("sending %s: %w", method, err)
	}
	for {
		typ, data, err := p.conn.ReadMessage()
		if err != nil {
			return fmt.Errorf("reading the answer to %s: %w", method, err)
		}
		if typ != websocket.TextMessage {
			return fmt.Errorf("DevTools sent a %v message; CDP uses text", typ)
		}
		var msg struct {
			ID     int64           `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *CDPError       `json:"error"`
		}
		if err := json.Unmarshal(data, &msg); err != nil {
			return fmt.Errorf("decoding a CDP message: %w: %.200q", err, data)
		}
		if msg.ID != id {
			continue // an event, or an answer to nothing we wait for
		}
		if msg.Error != nil {
			return fmt.Errorf("%s: %w", method, msg.Error)
		}
		if result == nil {
			return nil
		}
		if err := json.Unmarshal(msg.Result, result); err != nil {
			return fmt.Errorf("decoding the result of %s: %w: %.500q", method, err, msg.Result)
		}
		return nil
	}
}

// Evaluate runs expression in the page with Runtime.evaluate, awaiting the
// promise it yields, and decodes the value it resolves into v.
func (p *Page) Evaluate(ctx context.Context, expression string, v any) error {
	var res struct {
		Result struct {
			Type  string          `json:"type"`
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception *struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	params := map[string]any{
		"expression":    expression,
		"awaitPromise":  true,
		"returnByValue": true,
	}
	if err := p.Call(ctx, "Runtime.evaluate", params, &res); err != nil {
		return err
	}
	if e := res.ExceptionDetails; e != nil {
		msg := e.Text
		if e.Exception != nil {
			msg += " " + e.Exception.Description
		}
		return errors.New("exception in the page: " + msg)
	}
	if err := json.Unmarshal(res.Result.Value, v); err != nil {
		return fmt.Errorf("decoding the script's %s value: %w: %.500q", res.Result.Type, err, res.Result.Value)
	}
	return nil
}
