package main

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/wsproject/websocket"
	"github.com/wsproject/websocket/examples/chat/hub"
	"github.com/wsproject/websocket/examples/cluster/internal/proctest"
)

// wait bounds every wait of the cluster tests.
const wait = 15 * time.Second

// buildNode builds this directory's command, the chat node, with go build
// into a temporary directory and returns its path.
func buildNode(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "chat-node")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, goTool, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// chatNode is a running chat node.
type chatNode struct {
	name string
	addr string // where it listens
	proc *proctest.Proc
}

// startNode starts the node binary bin named name on a loopback port of its
// choosing, with Redis at redisAddr and the hub's keepalive, and waits until
// it listens and is subscribed.
func startNode(t *testing.T, bin, name, redisAddr string, keepAlive time.Duration, extra ...string) *chatNode {
	t.Helper()
	args := append([]string{"-addr", "127.0.0.1:0", "-redis", redisAddr, "-node", name,
		"-keepalive", keepAlive.String()}, extra...)
	p := proctest.Start(t, "node "+name, "", bin, args...)
	_, line := p.WaitFor(t, 0, "listening on ", wait)
	addr := line[strings.LastIndex(line, " ")+1:]
	p.WaitFor(t, 0, "subscribed to Redis", wait)
	return &chatNode{name: name, addr: addr, proc: p}
}

// nginxSite holds the values of nginx/chat.conf.tmpl.
type nginxSite struct {
	Listen  string   // listen directive's address
	Nodes   []string // the upstream servers
	Timeout string   // proxy_read_timeout and proxy_send_timeout
}

// renderSite returns nginx/chat.conf.tmpl filled in with site.
func renderSite(t *testing.T, site nginxSite) string {
	t.Helper()
	tmpl, err := template.ParseFiles(filepath.Join("nginx", "chat.conf.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, site); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// nginxMain is the test's main nginx configuration around the site: it
// runs in the foreground as the current user, with every file it writes in
// dir and its error log on stderr.
const nginxMain = `{{if .User}}user {{.User}};{{end}}
daemon off;
worker_processes 1;
pid {{.Dir}}/nginx.pid;
error_log stderr notice;

events {
	worker_connections 256;
}

http {
	access_log off;
	client_body_temp_path {{.Dir}}/client_body;
	proxy_temp_path {{.Dir}}/proxy;
	fastcgi_temp_path {{.Dir}}/fastcgi;
	uwsgi_temp_path {{.Dir}}/uwsgi;
	scgi_temp_path {{.Dir}}/scgi;
	include {{.Dir}}/chat.conf;
}
`

// startNginx starts nginx with the site configuration in a temporary
// directory and waits until it has started its worker, which it does once
// it listens. It skips the test when nginx is not installed.
func startNginx(t *testing.T, site nginxSite) *proctest.Proc {
	t.Helper()
	path := proctest.Need(t, "nginx", "nginx")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "chat.conf"), []byte(renderSite(t, site)), 0o644); err != nil {
		t.Fatal(err)
	}
	var vars struct{ User, Dir string }
	vars.Dir = dir
	if os.Geteuid() == 0 { // else nginx's workers would run as nobody
		u, err := user.Current()
		if err != nil {
			t.Fatal(err)
		}
		vars.User = u.Username
	}
	var conf bytes.Buffer
	if err := template.Must(template.New("nginx.conf").Parse(nginxMain)).Execute(&conf, vars); err != nil {
		t.Fatal(err)
	}
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, conf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	p := proctest.Start(t, "nginx", dir, path, "-p", dir, "-e", "stderr", "-c", confPath)
	p.WaitFor(t, 0, "start worker process", wait)
	return p
}

// client is a chat client whose events a goroutine reads.
type client struct {
	name   string
	node   string // the node nginx sent it to
	conn   *websocket.Conn
	events chan hub.Event // closed when reading ends
	err    error          // why reading ended, once events is closed
}

// dial connects a chat client named name to room through the load balancer
// at lb, and starts reading its events. The connection is dropped when the
// test ends.
func dial(t *testing.T, lb, name, room string) *client {
	t.Helper()
	c := connect(t, lb, name, room, nil)
	go c.read()
	return c
}

// connect connects like dial, with opts, but does not read.
func connect(t *testing.T, lb, name, room string, opts *websocket.DialOptions) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	u := "ws://" + lb + "/ws?" + url.Values{"name": {name}, "room": {room}}.Encode()
	conn, resp, err := websocket.Dial(ctx, u, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", u, err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	return &client{name: name, node: resp.Header.Get("X-Chat-Node"), conn: conn,
		events: make(chan hub.Event, maxFlood+100)}
}

// connectOn connects like connect until nginx sends the client to node,
// closing the connections that went elsewhere: nginx takes the nodes in
// turn, so a few tries suffice.
func connectOn(t *testing.T, lb, node, name, room string, opts *websocket.DialOptions) *client {
	t.Helper()
	for range 10 {
		c := connect(t, lb, name, room, opts)
		if c.node == node {
			return c
		}
		c.conn.CloseNow()
	}
	t.Fatalf("nginx did not send %s to node %s in 10 tries", name, node)
	return nil
}

// dialOn connects like connectOn and starts reading the client's events.
func dialOn(t *testing.T, lb, node, name, room string) *client {
	t.Helper()
	c := connectOn(t, lb, node, name, room, nil)
	go c.read()
	return c
}

// read decodes the client's events into c.events until the connection ends.
func (c *client) read() {
	defer close(c.events)
	for {
		var e hub.Event
		if c.err = c.conn.ReadJSON(&e); c.err != nil {
			return
		}
		c.events <- e
	}
}

// send sends a chat message.
func (c *client) send(t *testing.T, text string) {
	t.Helper()
	if err := c.conn.WriteJSON(map[string]string{"type": "message", "text": text}); err != nil {
		t.Fatalf("%s sends: %v", c.name, err)
	}
}

// next returns the client's next event, or false once the connection has
// ended, and fails the test if neither comes within wait.
func (c *client) next(t *testing.T, what string) (hub.Event, bool) {
	t.Helper()
	select {
	case e, ok := <-c.events:
		return e, ok
	case <-time.After(wait):
		t.Fatalf("%s (node %s): no %s within %v", c.name, c.node, what, wait)
		return hub.Event{}, false
	}
}

// await returns the client's next event for which match is true, skipping
// the others, and fails the test if the connection ends first.
func (c *client) await(t *testing.T, what string, match func(hub.Event) bool) hub.Event {
	t.Helper()
	for {
		e, ok := c.next(t, what)
		if !ok {
			t.Fatalf("%s (node %s): connection ended (%v) while waiting for %s", c.name, c.node, c.err, what)
		}
		if match(e) {
			return e
		}
	}
}

// awaitMessage waits for the message text from sender.
func (c *client) awaitMessage(t *testing.T, sender, text string) {
	t.Helper()
	c.await(t, "message "+text+" from "+sender, func(e hub.Event) bool {
		return e.Type == hub.TypeMessage && e.Name == sender && e.Text == text
	})
}

// awaitNotice waits for a notice that contains substr.
func (c *client) awaitNotice(t *testing.T, substr string) hub.Event {
	t.Helper()
	return c.await(t, "notice with "+substr, func(e hub.Event) bool {
		return e.Type == hub.TypeNotice && strings.Contains(e.Text, substr)
	})
}

// awaitEnd waits for the connection to end, skipping events, and returns
// why it ended (a *websocket.CloseError if the server closed it).
func (c *client) awaitEnd(t *testing.T) error {
	t.Helper()
	for {
		if _, ok := c.next(t, "end of the connection"); !ok {
			return c.err
		}
	}
}

// closeError returns err as a *websocket.CloseError, or nil.
func closeError(err error) *websocket.CloseError {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce
	}
	return nil
}
