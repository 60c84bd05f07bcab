package interop

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/wsproject/websocket"
)

// This file runs the npm ws package with permessage-deflate against our
// Server and our Dial with compression on; deflate_test.go has the Go
// peers, and the script the Node client follows mirrors deflateScript.

// deflateAnswer is the Sec-WebSocket-Extensions answer our server makes:
// the no-context flags when noContext, then server_max_window_bits and
// client_max_window_bits when their value is not 0.
func deflateAnswer(noContext bool, serverBits, clientBits int) string {
	s := "permessage-deflate"
	if noContext {
		s += "; server_no_context_takeover; client_no_context_takeover"
	}
	if serverBits != 0 {
		s += "; server_max_window_bits=" + strconv.Itoa(serverBits)
	}
	if clientBits != 0 {
		s += "; client_max_window_bits=" + strconv.Itoa(clientBits)
	}
	return s
}

// nodeDeflateClients are the perMessageDeflate options of the Node client
// tests, with the answer our server must make to each offer under each of
// ourCompressions (whose windows are 15 bits, 15 bits and 12 bits).
var nodeDeflateClients = []struct {
	name, options string
	// clientAll: ws's default threshold, 1 KiB, leaves smaller messages
	// uncompressed, the JSON messages among them.
	clientAll bool
	answer    func(co websocket.CompressionOptions) string
}{
	// ws's defaults offer "permessage-deflate; client_max_window_bits":
	// our server limits the client's window only when its own is smaller.
	{"defaults", "true", false, func(co websocket.CompressionOptions) string {
		if co.WindowBits == 12 {
			return deflateAnswer(false, 12, 12)
		}
		return deflateAnswer(co.NoContextTakeover, 0, 0)
	}},
	// "permessage-deflate; server_max_window_bits=10;
	// client_max_window_bits=11": the server's window is the smaller of
	// its own and the offer's; the client's 11 bits are its own promise,
	// smaller than any of ours, and need no answer.
	{"windows", `{"threshold":0,"serverMaxWindowBits":10,"clientMaxWindowBits":11}`, true,
		func(co websocket.CompressionOptions) string { return deflateAnswer(co.NoContextTakeover, 10, 0) }},
	// The smallest windows DEFLATE has, 256 bytes, both ways: zlib cannot
	// compress raw DEFLATE with them, so ws's compressor uses 512 bytes, of
	// which zlib reaches back only 250, within the 256 we keep.
	{"windows-8", `{"threshold":0,"serverMaxWindowBits":8,"clientMaxWindowBits":8}`, true,
		func(co websocket.CompressionOptions) string { return deflateAnswer(co.NoContextTakeover, 8, 0) }},
	// "permessage-deflate; server_no_context_takeover;
	// client_no_context_takeover; client_max_window_bits": granted as
	// asked, whatever our settings.
	{"notakeover", `{"threshold":0,"serverNoContextTakeover":true,"clientNoContextTakeover":true}`, true,
		func(co websocket.CompressionOptions) string {
			if co.WindowBits == 12 {
				return deflateAnswer(true, 12, 12)
			}
			return deflateAnswer(true, 0, 0)
		}},
}

// nodeDeflateResult is the line node/deflate_client.js prints on success.
type nodeDeflateResult struct {
	Extensions string `json:"extensions"`
	Sent       struct {
		All   int64 `json:"all"`
		Noise int64 `json:"noise"`
	} `json:"sent"`
	Wire struct {
		Written int64 `json:"written"`
		Read    int64 `json:"read"`
	} `json:"wire"`
}

// TestDeflateNodeClient runs node/deflate_client.js with each of
// nodeDeflateClients against our echo with each of ourCompressions: the
// answer to ws's offer, every size, 400 JSON messages in a row, a
// fragmented message with a ping inside, compression on the wire, close.
func TestDeflateNodeClient(t *testing.T) {
	node := requireNode(t)
	for i, nc := range nodeDeflateClients {
		ways := serveOnly // Node takes about a second a run: one way is enough
		if i == 0 {
			ways = bothWays // but ws's defaults, Chromium's offer, both
		}
		t.Run(nc.name, func(t *testing.T) {
			ourDeflateServers(t, ways, func(t *testing.T, co websocket.CompressionOptions, url string, ended <-chan error, compressed <-chan bool) {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				out, err := exec.CommandContext(ctx, node, filepath.Join(nodeDir, "deflate_client.js"), url, nc.options).CombinedOutput()
				var res nodeDeflateResult
				if err != nil || json.Unmarshal(out, &res) != nil {
					t.Fatalf("node deflate_client.js %s: %v\n%s", nc.options, err, out)
				}
				if want := nc.answer(co); res.Extensions != want {
					t.Errorf("Sec-WebSocket-Extensions = %q, want %q", res.Extensions, want)
				}
				expectServerCompressed(t, compressed)
				checkWireBytes(t, res.Sent.All, res.Sent.Noise, res.Wire.Written, res.Wire.Read, nc.clientAll, true)
				expectPeerClose(t, ended, 1000)
			})
		})
	}
}

// nodeDeflateServers are the perMessageDeflate options of the Node server
// tests, with the answer ws makes to our offer under each of
// ourCompressions. ws names the parameters in the order of the offer it
// accepts, then those it adds.
var nodeDeflateServers = []struct {
	name, options string
	// serverAll: ws's default threshold, 1 KiB, leaves smaller messages
	// uncompressed, the JSON messages among them.
	serverAll bool
	answer    func(co websocket.CompressionOptions) string
}{
	// ws's defaults take our offer as it is, dropping a valueless
	// client_max_window_bits.
	{"defaults", "true", false, func(co websocket.CompressionOptions) string {
		switch {
		case co.NoContextTakeover:
			return "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
		case co.WindowBits == 12:
			return "permessage-deflate; client_max_window_bits=12"
		}
		return "permessage-deflate"
	}},
	// ws limits both windows: ours to 11 bits, its own to 10.
	{"windows", `{"threshold":0,"serverMaxWindowBits":10,"clientMaxWindowBits":11}`, true,
		func(co websocket.CompressionOptions) string {
			if co.NoContextTakeover {
				return "permessage-deflate; client_max_window_bits=11; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10"
			}
			return "permessage-deflate; client_max_window_bits=11; server_max_window_bits=10"
		}},
	// ws keeps no context either way.
	{"notakeover", `{"threshold":0,"serverNoContextTakeover":true,"clientNoContextTakeover":true}`, true,
		func(co websocket.CompressionOptions) string {
			if co.WindowBits == 12 {
				return "permessage-deflate; client_max_window_bits=12; server_no_context_takeover; client_no_context_takeover"
			}
			return "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
		}},
}

// TestDeflateOurClientNodeServer runs our client with each of
// ourCompressions against node/server.js with each of nodeDeflateServers.
func TestDeflateOurClientNodeServer(t *testing.T) {
	node := requireNode(t)
	for _, ns := range nodeDeflateServers {
		t.Run(ns.name, func(t *testing.T) {
			url := startNodeServer(t, node, ns.options)
			dialDeflate(t, url, ns.serverAll, ns.answer)
		})
	}
}
