//go:build !unix && !js

package websocket

import (
	"net"
	"syscall"
)

// This file stands in for raw_unix.go where raw socket calls are not
// implemented: a Conn then reads and writes only through its net.Conn, and
// keeps its read buffer while it waits.

// rawSocket returns nil: no raw socket is used here.
func rawSocket(net.Conn) syscall.RawConn { return nil }

// rawRead is never called, since rawSocket returns nil.
func rawRead(uintptr, []byte) (int, error) { panic("websocket: rawRead without a raw socket") }

// rawWrite is never called, since rawSocket returns nil.
func rawWrite(uintptr, []byte) (int, error) { panic("websocket: rawWrite without a raw socket") }
