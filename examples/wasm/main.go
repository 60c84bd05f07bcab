//go:build js && wasm

// Command wasm is a program for the browser (GOOS=js GOARCH=wasm) that
// talks to the echo server of examples/echo with
// github.com/wsproject/websocket, whose Dial runs over the browser's own
// WebSocket there. It dials the server of the page's own host, exchanges
// text, binary, large and JSON messages, checks that what the browser
// cannot do fails with an error matching websocket.ErrNotSupported, closes
// with a code and a reason, and reports every check to the page: it calls
// the page's function wasmReport with a JSON array of
// {"name", "ok", "detail"} objects, then exits.
//
// Build it with
//
//	GOOS=js GOARCH=wasm go build -o main.wasm ./examples/wasm
//
// and serve main.wasm, index.html and wasm_exec.js (from
// $(go env GOROOT)/lib/wasm) from the host of an echo server that serves
// its WebSockets at "/"; the test TestWasmClient of examples/echo does so.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"syscall/js"
	"time"
)

// checkTimeout bounds each check, so that a bug fails a check instead of
// hanging the page.
const checkTimeout = 20 * time.Second

// result is the outcome of one check, as the page receives it.
type result struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// main runs every check against the echo server at the page's own host and
// reports the results to the page.
func main() {
	loc := js.Global().Get("location")
	scheme := "ws://"
	if loc.Get("protocol").String() == "https:" {
		scheme = "wss://"
	}
	url := scheme + loc.Get("host").String() + "/"
	var results []result
	for _, ch := range checks {
		ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
		start := time.Now()
		detail, err := ch.run(ctx, url)
		cancel()
		r := result{Name: ch.name, OK: err == nil, Detail: detail}
		if err != nil {
			r.Detail = err.Error()
		}
		r.Detail = fmt.Sprintf("%s (%d ms)", r.Detail, time.Since(start).Milliseconds())
		results = append(results, r)
	}
	report, err := json.Marshal(results)
	if err != nil {
		report = []byte(fmt.Sprintf(`[{"name": "report", "detail": %q}]`, err))
	}
	js.Global().Call("wasmReport", string(report))
}
