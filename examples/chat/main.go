//go:build !js

// Command chat is a chat server with rooms, built on
// github.com/wsproject/websocket; its hub is the package
// github.com/wsproject/websocket/examples/chat/hub.
//
// Run it from the module root with
//
//	go run ./examples/chat
//
// and open http://localhost:8080/ in a few browser windows: pick a name and
// a room, and what one window sends appears in the others of that room,
// with join and leave notices and the room's last messages for newcomers.
// The flag -addr sets the listening address (default ":8080"), -origins
// admits pages from other hosts (comma-separated patterns such as
// "*.example.com"; by default only pages of the host itself may connect),
// -history and -queue set the history kept per room and the send queue of
// each client, -rate and -burst how fast each client may send (see
// hub.Config).
//
// On SIGINT or SIGTERM it stops accepting, closes every client with status
// 1001 (going away), waits a bounded time for them, and exits with status 0.
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/wsproject/websocket/examples/chat/hub"
)

// shutdownTimeout bounds the whole shutdown: closing the clients and
// stopping the HTTP server.
const shutdownTimeout = 10 * time.Second

// run serves the chat on ln until ctx is done, then shuts down: every client
// gets 1001 while the HTTP server stops, within shutdownTimeout, and the
// hub's backplane loop ends last, once the clients' leave events are
// delivered. It returns an error only if serving failed.
func run(ctx context.Context, ln net.Listener, cfg hub.Config, logger *log.Logger) error {
	h := hub.New(cfg)
	runCtx, stopRun := context.WithCancel(context.Background())
	defer stopRun()
	runDone := make(chan error, 1)
	go func() { runDone <- h.Run(runCtx) }()

	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: logger}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	logger.Printf("listening on %s", pageURL(ln.Addr()))

	select {
	case err := <-serveErr:
		return err
	case err := <-runDone:
		srv.Close()
		return err
	case <-ctx.Done():
	}
	logger.Print("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	hubDone := make(chan error, 1)
	go func() { hubDone <- h.Shutdown(sctx) }()
	if err := srv.Shutdown(sctx); err != nil {
		logger.Printf("stopping the HTTP server: %v", err)
	}
	if err := <-hubDone; err != nil {
		logger.Printf("closing the clients: %v", err)
	}
	stopRun()
	if err := <-runDone; err != nil {
		logger.Printf("backplane: %v", err)
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Print("stopped")
	return nil
}

// pageURL returns the URL of the chat page for a listening address, naming
// localhost when the address is a wildcard.
func pageURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String() + "/"
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}

// main parses the flags and runs the server until SIGINT or SIGTERM.
func main() {
	addr := flag.String("addr", ":8080", "TCP `address` to listen on")
	origins := flag.String("origins", "", "comma-separated host `patterns` of other sites whose pages may connect")
	history := flag.Int("history", hub.DefaultHistory, "`events` of each room kept for newcomers (negative: none)")
	queue := flag.Int("queue", hub.DefaultSendQueue, "`events` that may wait for a client before it is dropped as too slow")
	rate := flag.Float64("rate", hub.DefaultSendRate, "`messages` a second each client may send on average (negative: no limit)")
	burst := flag.Int("burst", hub.DefaultSendBurst, "`messages` each client may send at once after a pause")
	flag.Parse()
	logger := log.New(os.Stderr, "", log.LstdFlags)
	cfg := hub.Config{History: *history, SendQueue: *queue, SendRate: *rate, SendBurst: *burst, Logger: logger}
	if *origins != "" {
		cfg.OriginPatterns = strings.Split(*origins, ",")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal, a second one stops the program at once.
	context.AfterFunc(ctx, stop)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		logger.Fatal(err)
	}
	if err := run(ctx, ln, cfg, logger); err != nil {
		logger.Fatal(err)
	}
}
