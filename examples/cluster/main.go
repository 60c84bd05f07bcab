// Command cluster is one node of the chat of examples/chat scaled out: run
// several behind a load balancer and they share their rooms through Redis
// pub/sub, so that a message sent to one node reaches the clients of every
// node, in one order per room. Without -redis it is the single-node chat
// with the in-memory backplane.
//
// From this directory (a module of its own, so that the library does not
// depend on a Redis client):
//
//	go run . -addr :8081 -redis localhost:6379 -node a
//	go run . -addr :8082 -redis localhost:6379 -node b
//
// and put nginx in front (see README.md). The flag -node names the node in
// its log lines and in the X-Chat-Node header of its responses, the
// handshake's included, so that one can see where the load balancer sent a
// client. -origins, -history, -queue, -rate, -burst and -keepalive set the
// hub's OriginPatterns, History, SendQueue, SendRate, SendBurst and
// KeepAlive (see hub.Config).
//
// When the node loses Redis, its clients get a notice, their messages are
// refused with a notice until Redis is back, and the node reconnects with
// backoff; events published meanwhile are lost. On SIGINT or SIGTERM the
// node stops accepting connections, closes every client with status 1001
// (going away) so that they reconnect, through the load balancer, to
// another node, and exits with status 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/wsproject/websocket/examples/chat/hub"
	"github.com/wsproject/websocket/examples/cluster/redisbackplane"
)

// shutdownTimeout bounds the whole shutdown: stopping the HTTP server and
// closing the clients.
const shutdownTimeout = 10 * time.Second

// The Redis client's timeouts: they bound how long a client's message
// waits when Redis is unreachable before its sender gets a notice.
const (
	redisDialTimeout = 2 * time.Second
	redisIOTimeout   = 2 * time.Second
)

// Check that the backplane fits the hub's interface.
var _ hub.Backplane = (*redisbackplane.Backplane)(nil)

// main parses the flags and runs the node until SIGINT or SIGTERM.
func main() {
	addr := flag.String("addr", ":8080", "TCP `address` to listen on")
	redisAddr := flag.String("redis", "", "Redis `host:port` shared by the nodes; empty: a single node with the in-memory hub")
	node := flag.String("node", defaultNode(), "`name` of this node in logs and in the X-Chat-Node response header")
	origins := flag.String("origins", "", "comma-separated host `patterns` of other sites whose pages may connect")
	history := flag.Int("history", hub.DefaultHistory, "`events` of each room kept for newcomers (negative: none)")
	queue := flag.Int("queue", hub.DefaultSendQueue, "`events` that may wait for a client before it is dropped as too slow")
	keepAlive := flag.Duration("keepalive", hub.DefaultKeepAlive, "ping a client silent this long; the load balancer's idle timeout must be longer")
	rate := flag.Float64("rate", hub.DefaultSendRate, "`messages` a second each client may send on average (negative: no limit)")
	burst := flag.Int("burst", hub.DefaultSendBurst, "`messages` each client may send at once after a pause")
	flag.Parse()

	logger := log.New(os.Stderr, "node "+*node+": ", log.LstdFlags|log.Lmsgprefix)
	cfg := hub.Config{History: *history, SendQueue: *queue, SendRate: *rate, SendBurst: *burst,
		KeepAlive: *keepAlive, Logger: logger}
	if *origins != "" {
		cfg.OriginPatterns = strings.Split(*origins, ",")
	}
	if *redisAddr != "" {
		client := redis.NewClient(redisOptions(*redisAddr))
		defer client.Close()
		cfg.Backplane = &redisbackplane.Backplane{
			Client:      client,
			OnSubscribe: func() { logger.Printf("subscribed to Redis at %s", *redisAddr) },
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal, a second one stops the program at once.
	context.AfterFunc(ctx, stop)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		logger.Fatal(err)
	}
	if err := run(ctx, ln, *node, hub.New(cfg), logger); err != nil {
		logger.Fatal(err)
	}
}

// redisOptions returns the options of the node's Redis client for the
// server at addr. The client does not retry a command: go-redis retries one
// whose answer did not come in time, though Redis may have run it, and a
// PUBLISH run twice delivers its event twice. (The subscriber connection does
// not use retries: the backplane reconnects it.)
func redisOptions(addr string) *redis.Options {
	return &redis.Options{
		Addr:            addr,
		DialTimeout:     redisDialTimeout,
		ReadTimeout:     redisIOTimeout,
		WriteTimeout:    redisIOTimeout,
		MaxRetries:      -1,
		DisableIdentity: true, // CLIENT SETINFO needs Redis 7.2
	}
}

// defaultNode returns the host name and process ID, a name unique enough
// for a node.
func defaultNode() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

// run serves h on ln until ctx is done, then shuts down: the listener
// closes first, so that clients told to go away cannot come back to this
// node, then every client gets 1001, within shutdownTimeout, and the hub's
// backplane loop ends last, once the clients' leave events are published.
// It returns an error only if serving failed.
func run(ctx context.Context, ln net.Listener, node string, h *hub.Hub, logger *log.Logger) error {
	runCtx, stopRun := context.WithCancel(context.Background())
	defer stopRun()
	runDone := make(chan error, 1)
	go func() { runDone <- h.Run(runCtx) }()

	srv := &http.Server{Handler: withNode(node, h), ReadHeaderTimeout: 10 * time.Second, ErrorLog: logger}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	logger.Printf("listening on %s", ln.Addr())

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
	if err := srv.Shutdown(sctx); err != nil {
		logger.Printf("stopping the HTTP server: %v", err)
	}
	if err := h.Shutdown(sctx); err != nil {
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

// withNode returns h with the X-Chat-Node header, naming the node, on every
// response.
func withNode(node string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Chat-Node", node)
		h.ServeHTTP(w, r)
	})
}
