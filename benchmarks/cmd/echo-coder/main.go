// Command echo-coder is the coder/websocket echo server of the comparison
// benchmarks. Like the echo example of coder/websocket it accepts the
// connection with websocket.Accept and streams each message from Reader to
// Writer; one copy buffer is reused per connection. It prints "ready" once
// it listens on -addr.
//
// Compression is disabled and origin verification is skipped. Close frames
// from the peer are answered by the library inside Reader.
// coder/websocket does not check that text messages are valid UTF-8.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"

	"github.com/coder/websocket"
)

var acceptOptions = &websocket.AcceptOptions{
	InsecureSkipVerify: true,
	CompressionMode:    websocket.CompressionDisabled,
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9021", "listen address")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("ready")
	log.Fatal(http.Serve(ln, http.HandlerFunc(serveWS)))
}

// serveWS accepts the WebSocket connection and echoes until it fails.
func serveWS(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, acceptOptions)
	if err != nil {
		return
	}
	defer c.CloseNow()
	c.SetReadLimit(64 << 20)
	ctx := context.Background()
	buf := make([]byte, 32<<10)
	for {
		if err := echoOne(ctx, c, buf); err != nil {
			return
		}
	}
}

// echoOne copies one message from c back to c with the same type.
func echoOne(ctx context.Context, c *websocket.Conn, buf []byte) error {
	typ, r, err := c.Reader(ctx)
	if err != nil {
		return err
	}
	w, err := c.Writer(ctx, typ)
	if err != nil {
		return err
	}
	if _, err := io.CopyBuffer(w, r, buf); err != nil {
		return err
	}
	return w.Close()
}
