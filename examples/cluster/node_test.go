package main

import (
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/wsproject/websocket/examples/cluster/internal/proctest"
)

// Without -redis the node is the single-node chat with the in-memory
// backplane: no Redis needed, and SIGTERM still exits with status 0.
func TestSingleNodeWithoutRedis(t *testing.T) {
	bin := buildNode(t)
	p := proctest.Start(t, "node solo", "", bin, "-addr", "127.0.0.1:0", "-node", "solo")
	_, line := p.WaitFor(t, 0, "listening on ", wait)
	addr := line[strings.LastIndex(line, " ")+1:]

	c := dial(t, addr, "ana", "lobby")
	if c.node != "solo" {
		t.Errorf("X-Chat-Node = %q, want solo", c.node)
	}
	c.await(t, "her join", isJoin("ana"))
	c.send(t, "hello")
	c.awaitMessage(t, "ana", "hello")

	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(wait); err != nil {
		t.Errorf("after SIGTERM: %v, want exit status 0", err)
	}
}

// The nginx configuration in README.md is nginx/chat.conf.tmpl, the one
// TestCluster runs, filled in with the README's addresses.
func TestREADMEShowsTheTestedNginxConfig(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	want := renderSite(t, nginxSite{
		Listen:  "8080",
		Nodes:   []string{"127.0.0.1:8081", "127.0.0.1:8082"},
		Timeout: "60s",
	})
	if !strings.Contains(string(readme), "```nginx\n"+want+"```\n") {
		t.Errorf("README.md lacks the nginx configuration of nginx/chat.conf.tmpl; it should read:\n%s", want)
	}
}
