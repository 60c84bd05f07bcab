// Command wsecho is the echo server that the side-by-side benchmarks run for
// this library: it upgrades every request on "/", echoes each message with
// its type, and prints "ready" once it listens. With WSBENCH_STATS_ADDR set
// it also serves allocation counters there (see stats.go). On "/broadcast"
// it runs the fanout scenario's hub (see hub.go).
//
// It follows the shared bench contract (shared/bench/bench/README.md):
//
//   - WSBENCH_DEFLATE=takeover enables permessage-deflate with context
//     takeover and a 4 KiB window (12 bits, gws's default with takeover, for
//     a fair comparison); WSBENCH_DEFLATE=notakeover enables it without
//     context takeover (32 KiB window, which then matters little). Unset,
//     compression stays off. WSBENCH_WINDOW_BITS (8 to 15) overrides the
//     window in both modes, to show the default 15 bits too. Level and
//     threshold are the library's defaults (1, and 128 bytes).
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"

	"github.com/wsproject/websocket"
)

// main reads the flags and the environment, listens, prints "ready" and
// serves until the process is killed.
func main() {
	addr := flag.String("addr", "127.0.0.1:9010", "listen address")
	viaHTTP := flag.Bool("http", false, "upgrade through net/http (Server as an http.Handler) instead of Server.Serve")
	flag.Parse()
	compression, err := compressionFromEnv(os.Getenv("WSBENCH_DEFLATE"), os.Getenv("WSBENCH_WINDOW_BITS"))
	if err != nil {
		log.Fatal(err)
	}
	if level := os.Getenv("WSBENCH_LEVEL"); level != "" && compression != nil {
		// Not part of the bench contract: for comparing our levels.
		if compression.Level, err = strconv.Atoi(level); err != nil {
			log.Fatal(err)
		}
	}
	serveStats()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := &websocket.Server{
		Options: websocket.Options{ReadLimit: 64 << 20, InsecureSkipOriginCheck: true, Compression: compression},
		Handler: echo,
	}
	fmt.Println("ready")
	if *viaHTTP {
		log.Fatal(http.Serve(ln, broadcastMux(srv)))
	}
	log.Fatal(srv.Serve(routeBroadcast(ln, srv)))
}

// compressionFromEnv returns the compression settings that the values of
// WSBENCH_DEFLATE and WSBENCH_WINDOW_BITS ask for: nil for no compression.
func compressionFromEnv(mode, windowBits string) (*websocket.CompressionOptions, error) {
	var co *websocket.CompressionOptions
	switch mode {
	case "":
		return nil, nil
	case "takeover":
		co = &websocket.CompressionOptions{WindowBits: 12}
	case "notakeover":
		co = &websocket.CompressionOptions{NoContextTakeover: true}
	default:
		return nil, fmt.Errorf("WSBENCH_DEFLATE=%q: want takeover, notakeover or nothing", mode)
	}
	if windowBits != "" {
		bits, err := strconv.Atoi(windowBits)
		if err != nil || bits < 8 || bits > 15 {
			return nil, fmt.Errorf("WSBENCH_WINDOW_BITS=%q: want a number from 8 to 15", windowBits)
		}
		co.WindowBits = bits
	}
	return co, nil
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
