//go:build !js

package hub

// This file serves the chat page, embedded in the program.

import (
	"embed"
	"net/http"
	"strconv"
)

// static holds the chat page.
//
//go:embed index.html
var static embed.FS

// page is the chat page's HTML.
var page = func() []byte {
	b, err := static.ReadFile("index.html")
	if err != nil {
		panic("hub: the embedded page is missing: " + err.Error())
	}
	return b
}()

// pagePolicy is the Content-Security-Policy of the page: it loads nothing
// from elsewhere, and connects only to its own origin.
const pagePolicy = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'"

// servePage answers GET and HEAD of "/" with the chat page.
func servePage(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(page)))
	h.Set("Content-Security-Policy", pagePolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	w.Write(page)
}
