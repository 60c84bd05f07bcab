//go:build !js

package websocket_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/wsproject/websocket"
)

// A Handler runs a function on each connection and closes the connection
// with status 1000 when the function returns. This one echoes messages; a
// client made with Dial talks to it.
func ExampleHandler() {
	echo := websocket.Handler(func(c *websocket.Conn) {
		var buf []byte
		for {
			typ, msg, err := c.AppendMessage(buf[:0])
			if err != nil {
				return
			}
			if err := c.WriteMessage(typ, msg); err != nil {
				return
			}
			buf = msg
		}
	})
	srv := httptest.NewServer(echo)
	defer srv.Close()

	c, _, err := websocket.Dial(context.Background(), "ws://"+srv.Listener.Addr().String(), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(websocket.StatusNormalClosure, "")
	if err := c.WriteMessage(websocket.TextMessage, []byte("hello")); err != nil {
		log.Fatal(err)
	}
	typ, msg, err := c.ReadMessage()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(typ, string(msg))
	// Output: text hello
}

// A Server carries the Options for its connections.
func ExampleServer() {
	srv := &websocket.Server{
		Options: websocket.Options{
			// Pick "v2.chat" if the client offers it, else "v1.chat".
			Subprotocols: []string{"v2.chat", "v1.chat"},
			// Also admit pages from the site's other hosts.
			OriginPatterns: []string{"*.example.com"},
			ReadLimit:      1 << 20,
		},
		Handler: func(c *websocket.Conn) {
			log.Printf("%s connected, speaking %q", c.RemoteAddr(), c.Subprotocol())
			// ...
		},
	}
	http.Handle("/chat", srv)
}

// Upgrade lets a handler deal with the request before the handshake, and
// leaves the connection to the caller afterwards.
func ExampleUpgrade() {
	http.HandleFunc("/updates", func(w http.ResponseWriter, r *http.Request) {
		// Before the handshake, the request is an HTTP request like any
		// other: refuse it with an HTTP error if need be.
		topic := r.URL.Query().Get("topic")
		if topic == "" {
			http.Error(w, "no topic", http.StatusBadRequest)
			return
		}
		c, err := websocket.Upgrade(w, r, &websocket.Options{Subprotocols: []string{"updates.v1"}})
		if err != nil {
			// Upgrade has answered with an HTTP error already.
			log.Printf("handshake: %v", err)
			return
		}
		// After it, w is not to be used, and closing c is up to us.
		if c.Subprotocol() == "" {
			c.Close(websocket.StatusPolicyViolation, "subprotocol updates.v1 required")
			return
		}
		err = c.WriteMessage(websocket.TextMessage, []byte("subscribed to "+topic))
		// ...
		if err != nil {
			c.CloseNow()
			return
		}
		c.Close(websocket.StatusNormalClosure, "")
	})
}

// A read loop that passes the previous message's slice back to
// AppendMessage stops allocating once the buffer has grown to the largest
// message.
func ExampleConn_AppendMessage() {
	handle := func(c *websocket.Conn) {
		buf := make([]byte, 0, 4096)
		for {
			typ, msg, err := c.AppendMessage(buf[:0])
			if err != nil {
				var ce *websocket.CloseError
				if !errors.As(err, &ce) {
					log.Printf("read: %v", err)
				}
				return
			}
			// msg is valid until the next read reuses it.
			log.Printf("%v message of %d bytes", typ, len(msg))
			buf = msg
		}
	}
	http.Handle("/ingest", websocket.Handler(handle))
}

// NextReader reads a message as a stream, here into a file, without
// holding it whole.
func ExampleConn_NextReader() {
	http.Handle("/upload", websocket.Handler(func(c *websocket.Conn) {
		typ, r, err := c.NextReader()
		if err != nil {
			return
		}
		if typ != websocket.BinaryMessage {
			c.Close(websocket.StatusUnsupportedData, "send the file as a binary message")
			return
		}
		f, err := os.CreateTemp("", "upload-*")
		if err != nil {
			c.Close(websocket.StatusInternalError, "")
			return
		}
		defer f.Close()
		n, err := io.Copy(f, r)
		if err != nil {
			log.Printf("upload: %v", err)
			return
		}
		c.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, "stored %d bytes", n))
	}))
}

// NextWriter streams a message: here a JSON document, encoded straight into
// the connection's write buffer, which goes out in fragments as it fills.
func ExampleConn_NextWriter() {
	type row struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
	}
	send := func(c *websocket.Conn, rows []row) error {
		w, err := c.NextWriter(websocket.TextMessage)
		if err != nil {
			return err
		}
		if err := json.NewEncoder(w).Encode(rows); err != nil {
			w.Close() // always close the writer: other messages wait for it
			return err
		}
		return w.Close() // sends the last fragment
	}
	http.Handle("/rows", websocket.Handler(func(c *websocket.Conn) {
		send(c, []row{{1, "one"}, {2, "two"}})
	}))
}

// The Conn sends no pings by itself. A server that wants to notice clients
// that have vanished pings them on a timer and gives up when no pong, or
// message, arrives in time: each pong extends the read deadline.
func ExampleConn_Ping() {
	const pongWait = time.Minute
	opts := &websocket.Options{OnPong: func(c *websocket.Conn, _ []byte) {
		c.SetReadDeadline(time.Now().Add(pongWait))
	}}
	http.HandleFunc("/live", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Upgrade(w, r, opts)
		if err != nil {
			return
		}
		c.SetReadDeadline(time.Now().Add(pongWait))

		done := make(chan struct{})
		defer close(done)
		go func() {
			t := time.NewTicker(pongWait / 2)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					if c.Ping(nil) != nil {
						return
					}
				case <-done:
					return
				}
			}
		}()

		for {
			_, _, err := c.ReadMessage()
			if err != nil {
				// A timeout means the client is gone.
				break
			}
			c.SetReadDeadline(time.Now().Add(pongWait))
			// ...
		}
		c.Close(websocket.StatusGoingAway, "")
	})
}

// AcceptKey computes the Sec-WebSocket-Accept value of the handshake, here
// for the sample key of RFC 6455 section 1.3.
func ExampleAcceptKey() {
	fmt.Println(websocket.AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="))
	// Output: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
}

// Once the peer has closed the connection, reads return a *CloseError with
// its status code and reason.
func ExampleCloseError() {
	srv := httptest.NewServer(websocket.Handler(func(c *websocket.Conn) {
		c.Close(4000, "game over")
	}))
	defer srv.Close()

	c, _, err := websocket.Dial(context.Background(), "ws://"+srv.Listener.Addr().String(), nil)
	if err != nil {
		log.Fatal(err)
	}
	_, _, err = c.ReadMessage()
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		fmt.Println("code:", ce.Code)
		fmt.Println("reason:", ce.Reason)
	}
	fmt.Println(err)
	// Output:
	// code: 4000
	// reason: game over
	// websocket: peer closed: 4000: game over
}

// A StatusCode prints with its name when it has one.
func ExampleStatusCode_String() {
	fmt.Println(websocket.StatusGoingAway)
	fmt.Println(websocket.StatusCode(4001))
	// Output:
	// 1001 (going away)
	// 4001
}

// Server.Accept sees the request before the handshake, here to
// authenticate the client from a cookie; its value reaches the handler
// through Conn.Value.
func ExampleServer_accept() {
	srv := &websocket.Server{
		Accept: func(r *http.Request) (any, error) {
			cookie, err := r.Cookie("session")
			if err != nil || cookie.Value != "s3cret" {
				return nil, &websocket.HTTPError{Status: http.StatusUnauthorized, Message: "log in first"}
			}
			return "alice", nil // the user the session belongs to
		},
		Handler: func(c *websocket.Conn) {
			c.WriteMessage(websocket.TextMessage, []byte("hello, "+c.Value().(string)))
		},
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()

	_, resp, err := websocket.Dial(context.Background(), "ws://"+ts.Listener.Addr().String(), nil)
	fmt.Println(resp.StatusCode, err != nil)
	c, _, err := websocket.Dial(context.Background(), "ws://"+ts.Listener.Addr().String(), &websocket.DialOptions{
		Header: http.Header{"Cookie": {"session=s3cret"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	_, msg, _ := c.ReadMessage()
	fmt.Println(string(msg))
	// Output:
	// 401 true
	// hello, alice
}

// Server.Upgrade is Upgrade for handlers that upgrade themselves but want
// Server.Shutdown to close their connections with 1001 and wait for them.
func ExampleServer_Upgrade() {
	ws := &websocket.Server{Options: websocket.Options{KeepAlive: 30 * time.Second}}
	http.HandleFunc("/feed", func(w http.ResponseWriter, r *http.Request) {
		c, err := ws.Upgrade(w, r)
		if err != nil {
			return // refused, or shutting down
		}
		go func() {
			defer c.Close(websocket.StatusNormalClosure, "")
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return // the peer closed, or Shutdown did
				}
			}
		}()
	})
	// On SIGTERM: first the http.Server's Shutdown, then ws.Shutdown(ctx).
}

// With Options.KeepAlive the Conn pings a quiet peer and fails the
// connection when no answer comes: the read returns ErrKeepAliveTimeout.
// No ticker, pong handler or deadline bookkeeping is needed.
func ExampleOptions_keepAlive() {
	srv := &websocket.Server{
		Options: websocket.Options{KeepAlive: 25 * time.Second, KeepAliveTimeout: 10 * time.Second},
		Handler: func(c *websocket.Conn) {
			for {
				_, _, err := c.ReadMessage()
				if errors.Is(err, websocket.ErrKeepAliveTimeout) {
					log.Printf("%v stopped answering", c.RemoteAddr())
				}
				if err != nil {
					return
				}
			}
		},
	}
	http.Handle("/live", srv)
}

// A read bounded by a context that ends while the connection is quiet
// leaves the connection usable: here a loop wakes up every second to do
// other work.
func ExampleConn_AppendMessageContext() {
	work := func(c *websocket.Conn) {
		var buf []byte
		for {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			typ, msg, err := c.AppendMessageContext(ctx, buf[:0])
			cancel()
			switch {
			case errors.Is(err, context.DeadlineExceeded):
				log.Print("quiet second; doing housekeeping")
				continue
			case err != nil:
				return
			}
			buf = msg
			log.Printf("%v message of %d bytes", typ, len(msg))
		}
	}
	http.Handle("/work", websocket.Handler(work))
}

// WriteMessageContext bounds a write in one call, and returns once the
// message has been handed to the operating system.
func ExampleConn_WriteMessageContext() {
	notify := func(c *websocket.Conn, event []byte) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return c.WriteMessageContext(ctx, websocket.TextMessage, event)
	}
	_ = notify
}

// PingRTT measures the round trip to the peer while another goroutine reads.
func ExampleConn_PingRTT() {
	srv := httptest.NewServer(websocket.Handler(func(c *websocket.Conn) { c.ReadMessage() }))
	defer srv.Close()
	c, _, err := websocket.Dial(context.Background(), "ws://"+srv.Listener.Addr().String(), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	go c.ReadMessage() // pongs are received by reads
	rtt, err := c.PingRTT(context.Background())
	fmt.Println(err == nil, rtt > 0)
	// Output: true true
}

// Compression is negotiated when both sides enable it; WriteMessageCompressed
// keeps one message out of it.
func ExampleCompressionOptions() {
	co := &websocket.CompressionOptions{WindowBits: 12} // 4 KiB windows per direction
	srv := httptest.NewServer(&websocket.Server{
		Options: websocket.Options{Compression: co},
		Handler: func(c *websocket.Conn) {
			c.WriteMessage(websocket.TextMessage, []byte(`{"greeting":"hello","greeting2":"hello"}`))
			c.WriteMessageCompressed(websocket.TextMessage, []byte(`{"token":"secret"}`), false)
			c.ReadMessage()
		},
	})
	defer srv.Close()
	c, resp, err := websocket.Dial(context.Background(), "ws://"+srv.Listener.Addr().String(), &websocket.DialOptions{
		Options: websocket.Options{Compression: co},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	fmt.Println(resp.Header.Get("Sec-WebSocket-Extensions"))
	_, a, _ := c.ReadMessage()
	_, b, _ := c.ReadMessage()
	fmt.Println(string(a), string(b))
	// Output:
	// permessage-deflate; server_max_window_bits=12
	// {"greeting":"hello","greeting2":"hello"} {"token":"secret"}
}

// chatHub is the hub of ExamplePreparedMessage: each member has a bounded
// queue and a goroutine that writes from it, so that broadcast never waits
// for a slow reader.
type chatHub struct {
	mu      sync.Mutex
	members map[*websocket.Conn]chan *websocket.PreparedMessage
	joined  chan struct{} // for the example's output order only
}

// serve runs one member: it joins, writes what its queue receives on a
// goroutine of its own, and reads until the connection ends.
func (h *chatHub) serve(c *websocket.Conn) {
	queue := make(chan *websocket.PreparedMessage, 64)
	h.mu.Lock()
	h.members[c] = queue
	h.mu.Unlock()
	h.joined <- struct{}{}
	go func() {
		for pm := range queue {
			if c.WritePreparedMessage(pm) != nil {
				c.CloseNow()
				return
			}
		}
	}()
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			break
		}
	}
	h.drop(c)
}

// broadcast puts pm on every member's queue without waiting; a member whose
// queue is full is too slow to keep up and is dropped with status 1013.
func (h *chatHub) broadcast(pm *websocket.PreparedMessage) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c, queue := range h.members {
		select {
		case queue <- pm:
		default:
			h.dropLocked(c)
			go c.Close(websocket.StatusTryAgainLater, "too slow")
		}
	}
}

// drop removes c, if still a member, and ends its writer.
func (h *chatHub) drop(c *websocket.Conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dropLocked(c)
}

// dropLocked is drop with h.mu held.
func (h *chatHub) dropLocked(c *websocket.Conn) {
	if queue, ok := h.members[c]; ok {
		delete(h.members, c)
		close(queue)
	}
}

// A PreparedMessage is framed once and sent to many connections. The hub
// here never waits for a member: each has a bounded queue and a writer
// goroutine, and a member that falls behind by a whole queue is dropped.
func ExamplePreparedMessage() {
	h := &chatHub{members: make(map[*websocket.Conn]chan *websocket.PreparedMessage), joined: make(chan struct{})}
	srv := httptest.NewServer(websocket.Handler(h.serve))
	defer srv.Close()

	var clients []*websocket.Conn
	for range 3 {
		c, _, err := websocket.Dial(context.Background(), "ws://"+srv.Listener.Addr().String(), nil)
		if err != nil {
			log.Fatal(err)
		}
		defer c.Close(websocket.StatusNormalClosure, "")
		clients = append(clients, c)
		<-h.joined
	}
	pm, err := websocket.NewPreparedMessage(websocket.TextMessage, []byte("hello, everyone"))
	if err != nil {
		log.Fatal(err)
	}
	h.broadcast(pm)
	for i, c := range clients {
		_, msg, err := c.ReadMessage()
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("client %d: %s\n", i, msg)
	}
	// Output:
	// client 0: hello, everyone
	// client 1: hello, everyone
	// client 2: hello, everyone
}

// WriteJSON sends a value as one text message of JSON; ReadJSON decodes
// the next message into a value.
func ExampleConn_WriteJSON() {
	type move struct {
		Piece string `json:"piece"`
		To    string `json:"to"`
	}
	srv := httptest.NewServer(websocket.Handler(func(c *websocket.Conn) {
		var m move
		for c.ReadJSON(&m) == nil {
			m.To = "e5" // the server's answer
			if c.WriteJSON(m) != nil {
				return
			}
		}
	}))
	defer srv.Close()

	c, _, err := websocket.Dial(context.Background(), "ws://"+srv.Listener.Addr().String(), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(websocket.StatusNormalClosure, "")
	if err := c.WriteJSON(move{Piece: "pawn", To: "e4"}); err != nil {
		log.Fatal(err)
	}
	var answer move
	if err := c.ReadJSON(&answer); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v\n", answer)
	// Output: {Piece:pawn To:e5}
}

// NetConn turns a connection into a byte stream for a protocol that
// brings its own framing: here lines of text, read with bufio.
func ExampleNetConn() {
	srv := httptest.NewServer(websocket.Handler(func(c *websocket.Conn) {
		stream := websocket.NetConn(c, websocket.BinaryMessage)
		lines := bufio.NewScanner(stream)
		for lines.Scan() {
			fmt.Fprintf(stream, "%s!\n", strings.ToUpper(lines.Text()))
		}
	}))
	defer srv.Close()

	c, _, err := websocket.Dial(context.Background(), "ws://"+srv.Listener.Addr().String(), nil)
	if err != nil {
		log.Fatal(err)
	}
	stream := websocket.NetConn(c, websocket.BinaryMessage)
	defer stream.Close()
	// One message may carry several lines, or part of one.
	io.WriteString(stream, "hel")
	io.WriteString(stream, "lo\nworld\n")
	answers := bufio.NewReader(stream)
	for range 2 {
		line, err := answers.ReadString('\n')
		if err != nil {
			log.Fatal(err)
		}
		fmt.Print(line)
	}
	// Output:
	// HELLO!
	// WORLD!
}
