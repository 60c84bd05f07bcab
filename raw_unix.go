//go:build unix

package websocket

import (
	"net"
	"syscall"
)

// This file holds the operating-system calls behind a Conn on a plain TCP
// or Unix socket: reading while holding no buffer until data is there, and
// writing without waiting (used in read.go and write.go).

// rawSocket returns the raw socket under nc, or nil if nc is not a plain
// socket (TLS, or any other net.Conn), which then reads and writes only
// through its own methods.
func rawSocket(nc net.Conn) syscall.RawConn {
	var sc syscall.Conn
	switch conn := nc.(type) {
	case *net.TCPConn:
		sc = conn
	case *net.UnixConn:
		sc = conn
	default:
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}

// rawRead makes one read(2) of the socket fd into p, retrying when a signal
// interrupts it. It returns syscall.EAGAIN when no data is there.
func rawRead(fd uintptr, p []byte) (int, error) {
	for {
		n, err := syscall.Read(int(fd), p)
		if err != syscall.EINTR {
			return max(n, 0), err
		}
	}
}

// rawWrite makes one write(2) of p to the socket fd, retrying when a signal
// interrupts it, and never waits for room: it returns errWouldBlock when the
// socket takes nothing, and may write only part of p.
func rawWrite(fd uintptr, p []byte) (int, error) {
	for {
		n, err := syscall.Write(int(fd), p)
		switch err {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return 0, errWouldBlock
		case nil:
			return n, nil
		}
		return 0, err
	}
}
