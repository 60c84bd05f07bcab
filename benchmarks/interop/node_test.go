package interop

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsproject/websocket"
)

// This file runs the npm ws package, Node's most used WebSocket library,
// against our Server and our Dial. The scripts are in node/; .ci/run
// installs the package there with npm ci.

// nodeDir holds the Node scripts and their node_modules.
const nodeDir = "node"

// requireNode returns the node command, or skips the test when Node or the
// ws package is not installed.
func requireNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; the Node ws interop tests need it")
	}
	if _, err := os.Stat(filepath.Join(nodeDir, "node_modules", "ws")); err != nil {
		t.Skip("the npm ws package is not installed: run npm ci in benchmarks/interop/node (.ci/run does)")
	}
	return node
}

// TestNodeClient runs node/client.js against our echo: every length form
// as text and binary, a fragmented message with a ping inside, close 4000,
// and text that is not UTF-8 on a second connection, refused with 1007.
func TestNodeClient(t *testing.T) {
	node := requireNode(t)
	ourServers(t, func(t *testing.T, url string, ended <-chan error) { nodeClient(t, node, url, ended) })
}

// nodeClient runs node/client.js against the echo at url.
func nodeClient(t *testing.T, node, url string, ended <-chan error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, filepath.Join(nodeDir, "client.js"), url).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("node client.js: %v\n%s", err, out)
	}
	expectPeerClose(t, ended, 4000)
	select {
	case err := <-ended:
		var ce *websocket.CloseError
		if err == nil || errors.As(err, &ce) || !strings.Contains(err.Error(), "UTF-8") {
			t.Fatalf("handler of the invalid text ended with %v, want an invalid UTF-8 error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("handler of the invalid text did not end")
	}
}

// TestOurClientNodeServer runs our client against node/server.js.
func TestOurClientNodeServer(t *testing.T) {
	node := requireNode(t)
	dialAndEcho(t, startNodeServer(t, node))
}

// startNodeServer runs node/server.js with args and returns its URL.
func startNodeServer(t *testing.T, node string, args ...string) string {
	t.Helper()
	cmd := exec.Command(node, append([]string{filepath.Join(nodeDir, "server.js")}, args...)...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// The server exits when its stdin ends, so it does not outlive a test
	// binary that dies before its cleanup runs.
	if _, err := cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	// A server that never prints its port is killed, which ends the read.
	watchdog := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	port, err := bufio.NewReader(stdout).ReadString('\n')
	watchdog.Stop()
	if err != nil {
		t.Fatalf("node server.js printed no port: %v", err)
	}
	return "ws://127.0.0.1:" + strings.TrimSpace(port)
}
