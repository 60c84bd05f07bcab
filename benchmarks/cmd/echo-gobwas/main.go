// Command echo-gobwas is the gobwas/ws echo server of the comparison
// benchmarks. It upgrades raw connections from a net.Listener with
// ws.Upgrade (the library's zero-copy upgrade, which ignores the request
// path and Origin) and echoes with the wsutil helpers of the gobwas/ws
// README: ReadClientData, which answers ping and close frames and checks
// UTF-8 of text messages, and WriteServerMessage. It prints "ready" once it
// listens on -addr.
//
// As in the README, the helpers read from and write to the connection
// without a buffer in between. No extension is negotiated.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9022", "listen address")
	flag.Parse()
	wsutil.SetMaxMessageSize(64 << 20)
	wsutil.SetCheckUTF8(true)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("ready")
	for {
		conn, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go serve(conn)
	}
}

// serve performs the handshake on conn and echoes until it fails.
func serve(conn net.Conn) {
	defer conn.Close()
	if _, err := ws.Upgrade(conn); err != nil {
		return
	}
	for {
		msg, op, err := wsutil.ReadClientData(conn)
		if err != nil {
			return
		}
		if err := wsutil.WriteServerMessage(conn, op, msg); err != nil {
			return
		}
	}
}
