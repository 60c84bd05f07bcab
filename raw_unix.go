//go:build unix

package websocket

import (
	"net"
	"os"
	"syscall"
	"time"
)

// This file lets a Conn over a TCP or Unix socket wait for data without
// holding a read buffer (the buffer is taken from the pool only once bytes
// are there to read), and lets a server send its close frame with a write
// that does not wait.

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
// buffer, reads into it (advancing rend) and reports true, or gives the
// buffer back and reports false to wait for readability. The caller holds
// readMu and, when it called raw.Read, held no buffer.
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

// writeCloseNow is writeClose's first step on a server: it sends the close
// frame, after any queued frames, in one write that does not wait. The
// socket almost always takes a close frame at once, so it needs no write
// deadline, whose timer costs more than the write; should the socket take
// only part, the rest goes out within the close timeout. It reports whether
// it dealt with the frame (sent it, or found that none may be sent) and the
// error for writeClose to return; it does nothing when it cannot: a client
// (whose frames are masked), no raw socket, a writer holding the write
// lock, or a full output queue.
func (c *Conn) writeCloseNow(code StatusCode, reason string) (bool, error) {
	if !c.server || c.raw == nil || !c.writeMu.TryLock() {
		return false, nil
	}
	defer c.writeMu.Unlock()
	if err := c.writeAllowed(); err != nil {
		return true, err
	}
	var frame [2 + maxControlPayload]byte // a header and the payload
	p := appendClosePayload(frame[2:2], code, reason)
	out := frame[:putHeader(frame[:], c.newHeader(true, opClose, len(p)))+len(p)]
	if c.outp != nil {
		if len(*c.outp)+len(out) > cap(*c.outp) {
			return false, nil
		}
		out = append(*c.outp, out...)
	}
	c.closeSent = true
	var n int
	var err error
	c.raw.Write(func(fd uintptr) bool {
		for {
			n, err = syscall.Write(int(fd), out)
			if err != syscall.EINTR {
				return true // never wait for writability here
			}
		}
	})
	switch {
	case err == syscall.EAGAIN || err == nil && n < len(out):
		c.conn.SetWriteDeadline(time.Now().Add(c.closeTimeout))
		_, err = c.conn.Write(out[max(n, 0):])
	case err != nil:
		err = os.NewSyscallError("write", err)
	}
	if c.outp != nil {
		c.releaseQueue()
	}
	return true, c.setWriteErr(err)
}
