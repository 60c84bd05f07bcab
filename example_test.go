package websocket_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
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
