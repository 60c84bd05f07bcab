// Command echo-gws is the lxzan/gws echo server of the comparison
// benchmarks. It runs gws.NewServer on a listener, as in the gws README,
// with an event handler whose OnMessage writes the message back with its
// opcode. It prints "ready" once it listens on -addr.
//
// Compression is off, UTF-8 of text messages is checked (CheckUtf8Enabled),
// messages up to 64 MiB are accepted, and messages are handled in order on
// the connection's read loop (ParallelEnabled is off). gws answers ping and
// close frames itself; the server upgrades requests on any path and does
// not look at Origin.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"

	"github.com/lxzan/gws"
)

// handler echoes messages; the other events keep the built-in behaviour.
type handler struct {
	gws.BuiltinEventHandler
}

// OnMessage sends the message back and returns its buffer to gws.
func (handler) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	_ = c.WriteMessage(m.Opcode, m.Bytes())
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9023", "listen address")
	flag.Parse()
	srv := gws.NewServer(handler{}, &gws.ServerOption{
		CheckUtf8Enabled:    true,
		ReadMaxPayloadSize:  64 << 20,
		WriteMaxPayloadSize: 64 << 20,
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("ready")
	log.Fatal(srv.RunListener(ln))
}
