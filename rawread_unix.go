//go:build unix

package websocket

import (
	"net"
	"syscall"
)

// This file lets a Conn over a TCP or Unix socket wait for data without
// holding a read buffer: the buffer is taken from the pool only once bytes
// are there to read.

// initRaw sets up raw reads when the connection is a plain socket. Wrapped
// connections (TLS, or any other net.Conn) keep reading through Read.
func (c *Conn) initRaw() {
	var sc syscall.Conn
	switch conn := c.conn.(type) {
	case *net.TCPConn:
		sc = conn
	case *net.UnixConn:
		sc = conn
	default:
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	c.raw = raw
	c.rawRead = c.readRaw
}

// readRaw is called by raw.Read when the socket may be readable. It takes a
// buffer, reads into it (advancing rend) and reports true, or gives the buffer back and
// reports false to wait for readability. The caller holds readMu and, when
// it called raw.Read, held no buffer.
func (c *Conn) readRaw(fd uintptr) bool {
	if c.rbufp == nil {
		c.takeReadBuffer()
	}
	for {
		n, err := syscall.Read(int(fd), c.rbuf[c.rend:])
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			c.releaseReadBuffer()
			return false
		case err != nil:
			c.rawErrno, c.rawEOF = err.(syscall.Errno), false
		case n == 0:
			c.rawErrno, c.rawEOF = 0, true
		default:
			c.rend += n
			c.rawErrno, c.rawEOF = 0, false
		}
		return true
	}
}
