// Command echo-gorilla is the gorilla/websocket echo server of the
// comparison benchmarks. It follows the echo example of gorilla/websocket:
// an Upgrader on "/" (any path), then ReadMessage and WriteMessage in a loop.
// It prints "ready" once it listens on -addr.
//
// Compression is off (the Upgrader's default) and any Origin is accepted.
// gorilla/websocket does not check that text messages are valid UTF-8, so
// this server echoes invalid text unchanged.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"

	"github.com/gorilla/websocket"
)

var upgrader = websocket.Upgrader{
	CheckOrigin: func(*http.Request) bool { return true },
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9020", "listen address")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("ready")
	log.Fatal(http.Serve(ln, http.HandlerFunc(serveWS)))
}

// serveWS upgrades the request and echoes messages until the peer closes
// the connection or an error occurs. A close frame from the peer is answered
// by the library's default close handler before ReadMessage fails.
func serveWS(w http.ResponseWriter, r *http.Request) {
	c, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.Close()
	c.SetReadLimit(64 << 20)
	for {
		mt, msg, err := c.ReadMessage()
		if err != nil {
			return
		}
		if err := c.WriteMessage(mt, msg); err != nil {
			return
		}
	}
}
