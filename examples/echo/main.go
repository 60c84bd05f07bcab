//go:build !js

// Command echo is a WebSocket echo server with a test page, built on
// github.com/wsproject/websocket.
//
// Run it from the module root with
//
//	go run ./examples/echo
//
// and open http://localhost:8080/ in a browser. A plain GET of "/" returns
// a page that connects back to the same address; a WebSocket handshake at
// "/" is answered by the echo, which sends every message back with the same
// type. The flag -addr sets the listening address (default ":8080").
//
// The echo accepts permessage-deflate (RFC 7692), which browsers offer, with
// context takeover at the default 32 KiB window: each connection keeps up
// to 64 KiB of compression history while it lives, in exchange for much
// smaller repetitive messages. The flag -compress=false turns it off. The
// log line of each new connection says whether it was negotiated.
//
// With -cert and -key (PEM files of a certificate and its key) it serves
// HTTPS instead, with HTTP/2, and accepts WebSockets over HTTP/2 (RFC 8441)
// when extended CONNECT is on: on Go 1.26 start it with
// GODEBUG=http2xconnect=1 in the environment. Browsers then open wss://
// connections as streams of the HTTP/2 connection that loaded the page.
// Each handshake is logged with its protocol ("HTTP/2.0 CONNECT" or
// "HTTP/1.1 GET").
//
// The server offers the subprotocols "chat" and "superchat", preferring
// "chat", accepts messages up to 64 MiB, and allows only pages from its own
// host to connect (the library's default origin check). On SIGINT or
// SIGTERM it stops accepting, closes every WebSocket connection with status
// 1001 (going away), waits a bounded time for the handlers to return, and
// exits with status 0.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/wsproject/websocket"
)

// page is the test page served for a plain GET of "/".
//
//go:embed index.html
var page []byte

const (
	// readLimit is the largest message the echo accepts; a longer one
	// closes the connection with status 1009.
	readLimit = 64 << 20

	// keepBuffer is the largest read buffer a connection keeps between
	// messages. Messages up to this size are echoed without allocating
	// once the buffer has grown; a buffer grown beyond it for a larger
	// message is dropped, so that idle connections do not pin memory.
	keepBuffer = 1 << 20

	// shutdownTimeout bounds the whole shutdown: stopping the HTTP server
	// and closing the WebSocket connections.
	shutdownTimeout = 10 * time.Second
)

// echoServer serves the test page and the WebSocket echo at "/".
type echoServer struct {
	logger *log.Logger
	ws     websocket.Server
}

// newServer returns the echo server's handler, which logs to logger and
// accepts permessage-deflate if compress is set.
func newServer(logger *log.Logger, compress bool) *echoServer {
	s := &echoServer{logger: logger}
	s.ws = websocket.Server{
		Options: websocket.Options{
			// The server's preference order: "chat" wins when a client
			// offers both, as in the example of RFC 6455 section 1.2.
			Subprotocols: []string{"chat", "superchat"},
			ReadLimit:    readLimit,
		},
		Handler: s.echo,
	}
	if compress {
		// The defaults: context takeover, a 32 KiB window, level 1, and
		// messages under 128 bytes sent as they are.
		s.ws.Options.Compression = &websocket.CompressionOptions{}
	}
	return s
}

// ServeHTTP answers a WebSocket handshake at "/" with the echo and any other
// GET or HEAD of "/" with the test page.
func (s *echoServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	if websocket.IsWebSocketUpgrade(r) {
		s.logger.Printf("handshake %s %s from %s", r.Proto, r.Method, r.RemoteAddr)
		s.ws.ServeHTTP(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(page)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.Write(page)
}

// echo is the WebSocket handler: it sends every message back until the
// connection ends, and logs the connection's opening, with its subprotocol
// and whether it compresses, and its end.
func (s *echoServer) echo(c *websocket.Conn) {
	addr := c.RemoteAddr()
	s.logger.Printf("open %s subprotocol=%q permessage-deflate=%v", addr, c.Subprotocol(), c.Compressed())
	err := echoMessages(c)
	s.logger.Printf("closed %s: %v", addr, err)
}

// echoMessages echoes messages on c, reusing one buffer, and returns the
// error that ended the connection. When the peer closed it, that is a
// *websocket.CloseError with the peer's code and reason.
func echoMessages(c *websocket.Conn) error {
	var buf []byte
	for {
		typ, msg, err := c.AppendMessage(buf[:0])
		if err != nil {
			return err
		}
		if err := c.WriteMessage(typ, msg); err != nil {
			return err
		}
		buf = msg
		if cap(buf) > keepBuffer {
			buf = nil
		}
	}
}

// Shutdown closes every live WebSocket connection with status 1001 (going
// away), and any connection upgraded from now on as soon as it opens. It
// waits for the close handshakes and the handlers to finish, or for ctx to
// be done; then it closes the remaining connections at once and returns
// ctx.Err(). Connections upgraded after it began are closed at once.
func (s *echoServer) Shutdown(ctx context.Context) error {
	return s.ws.Shutdown(ctx)
}

// run serves the echo on addr, with permessage-deflate if compress is set,
// until ctx is done, over HTTPS if certFile and keyFile are set, then shuts
// down: it closes the WebSocket connections with status 1001 while the HTTP
// server stops accepting and waits for plain HTTP requests (and, over
// HTTP/2, for the streams of WebSockets), all within shutdownTimeout. It
// returns an error only if serving failed.
func run(ctx context.Context, addr, certFile, keyFile string, compress bool, logger *log.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	echo := newServer(logger, compress)
	srv := &http.Server{
		Handler:           echo,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          logger,
	}
	scheme := "http"
	serveErr := make(chan error, 1)
	if certFile != "" || keyFile != "" {
		scheme = "https"
		if err := websocket.EnableExtendedConnect(srv); err != nil {
			logger.Printf("WebSockets over HTTP/2 are off: %v", err)
		}
		go func() { serveErr <- srv.ServeTLS(ln, certFile, keyFile) }()
	} else {
		go func() { serveErr <- srv.Serve(ln) }()
	}
	logger.Printf("listening on %s", pageURL(scheme, ln.Addr()))

	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	logger.Print("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	wsDone := make(chan error, 1)
	go func() { wsDone <- echo.Shutdown(sctx) }()
	if err := srv.Shutdown(sctx); err != nil {
		logger.Printf("stopping the HTTP server: %v", err)
	}
	if err := <-wsDone; err != nil {
		logger.Printf("closing WebSocket connections: %v", err)
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Print("stopped")
	return nil
}

// pageURL returns the URL of the test page for a listening address and
// scheme, naming localhost when the address is a wildcard.
func pageURL(scheme string, addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return scheme + "://" + addr.String() + "/"
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/"
}

// main parses the flags and runs the server until SIGINT or SIGTERM.
func main() {
	addr := flag.String("addr", ":8080", "TCP `address` to listen on")
	compress := flag.Bool("compress", true, "accept permessage-deflate compression, with context takeover")
	certFile := flag.String("cert", "", "PEM `file` of the TLS certificate; with -key, serve HTTPS and HTTP/2")
	keyFile := flag.String("key", "", "PEM `file` of the TLS certificate's private key")
	flag.Parse()
	logger := log.New(os.Stderr, "", log.LstdFlags)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal, a second one stops the program at once.
	context.AfterFunc(ctx, stop)

	if err := run(ctx, *addr, *certFile, *keyFile, *compress, logger); err != nil {
		logger.Fatal(err)
	}
}
