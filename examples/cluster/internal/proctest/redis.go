// Redis for the tests: a redis-server without persistence on a loopback port.

package proctest

import (
	"net"
	"testing"
	"time"
)

// StartRedis starts redis-server on addr (a loopback host:port), keeping
// nothing on disk (its working directory is a fresh temporary directory),
// and waits until it accepts connections. It skips the test when
// redis-server is not installed. Calling it again with the same addr after
// the first one was killed restarts Redis, empty, where it was.
func StartRedis(t testing.TB, addr string) *Proc {
	t.Helper()
	path := Need(t, "redis-server", "redis-server")
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p := Start(t, "redis-server "+addr, t.TempDir(), path,
		"--bind", host, "--port", port,
		"--save", "", "--appendonly", "no", // no persistence
		"--daemonize", "no", "--logfile", "")
	p.WaitFor(t, 0, "Ready to accept connections", 10*time.Second)
	return p
}
