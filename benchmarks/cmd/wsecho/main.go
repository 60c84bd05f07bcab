// Command wsecho is the echo server that the side-by-side benchmarks run for
// this library: it upgrades every request on "/", echoes each message with
// its type, and prints "ready" once it listens. With WSBENCH_STATS_ADDR set
// it also serves allocation counters there (see stats.go). On "/broadcast"
// it runs the fanout scenario's hub (see hub.go).
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"

	"github.com/wsproject/websocket"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9010", "listen address")
	viaHTTP := flag.Bool("http", false, "upgrade through net/http (Server as an http.Handler) instead of Server.Serve")
	flag.Parse()
	serveStats()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := &websocket.Server{
		Options: websocket.Options{ReadLimit: 64 << 20, InsecureSkipOriginCheck: true},
		Handler: echo,
	}
	fmt.Println("ready")
	if *viaHTTP {
		log.Fatal(http.Serve(ln, broadcastMux(srv)))
	}
	log.Fatal(srv.Serve(routeBroadcast(ln, srv)))
}

// echo sends every message back with the same type, reusing one buffer.
func echo(c *websocket.Conn) {
	var buf []byte
	for {
		typ, msg, err := c.AppendMessage(buf[:0])
		if err != nil {
			return
		}
		buf = msg
		if err := c.WriteMessage(typ, msg); err != nil {
			return
		}
	}
}
