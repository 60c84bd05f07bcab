package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// WebSocket opcodes used by the load generator.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// acceptGUID is the constant of RFC 6455, section 1.3.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// clientMask is the masking key of every frame the load generator sends:
// frames are built and masked once, before a scenario starts.
var clientMask = [4]byte{0x5c, 0x13, 0xa7, 0xe2}

// maskedFrame returns a complete client frame (FIN set) with the payload
// masked by clientMask.
func maskedFrame(op byte, payload []byte) []byte {
	n := len(payload)
	f := make([]byte, 0, n+14)
	f = append(f, 0x80|op)
	switch {
	case n < 126:
		f = append(f, 0x80|byte(n))
	case n <= 0xffff:
		f = append(f, 0x80|126)
		f = binary.BigEndian.AppendUint16(f, uint16(n))
	default:
		f = append(f, 0x80|127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	f = append(f, clientMask[:]...)
	h := len(f)
	f = f[:h+n]
	for i, b := range payload {
		f[h+i] = b ^ clientMask[i&3]
	}
	return f
}

// upgradeRequest is a prepared opening handshake and the answer it needs.
type upgradeRequest struct {
	raw    []byte
	accept string
}

// newUpgradeRequest builds a GET request for "/" on host with a fresh
// random Sec-WebSocket-Key.
func newUpgradeRequest(host string) upgradeRequest {
	var k [16]byte
	rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	sum := sha1.Sum([]byte(key + acceptGUID))
	raw := "GET / HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	return upgradeRequest{raw: []byte(raw), accept: base64.StdEncoding.EncodeToString(sum[:])}
}

// doUpgrade sends req on c and reads and checks the answer with buf as
// scratch space. It returns how many bytes after the answer's header ended
// up at the start of buf (frames the server sent right away).
func doUpgrade(c net.Conn, req upgradeRequest, buf []byte) (int, error) {
	if _, err := c.Write(req.raw); err != nil {
		return 0, err
	}
	n := 0
	for {
		if n == len(buf) {
			return 0, errors.New("handshake answer too long")
		}
		m, err := c.Read(buf[n:])
		n += m
		if end := bytes.Index(buf[:n], []byte("\r\n\r\n")); end >= 0 {
			if err := checkUpgradeAnswer(string(buf[:end]), req.accept); err != nil {
				return 0, err
			}
			rest := copy(buf, buf[end+4:n])
			return rest, nil
		}
		if err != nil {
			return 0, fmt.Errorf("reading handshake answer: %w", err)
		}
	}
}

// checkUpgradeAnswer checks status line and headers of a 101 answer.
func checkUpgradeAnswer(head, accept string) error {
	lines := strings.Split(head, "\r\n")
	if !strings.HasPrefix(lines[0], "HTTP/1.1 101") {
		return fmt.Errorf("handshake refused: %q", lines[0])
	}
	var upgrade, connection, gotAccept bool
	for _, l := range lines[1:] {
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "upgrade":
			upgrade = strings.EqualFold(value, "websocket")
		case "connection":
			for tok := range strings.SplitSeq(value, ",") {
				if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
					connection = true
				}
			}
		case "sec-websocket-accept":
			if value != accept {
				return fmt.Errorf("wrong Sec-WebSocket-Accept %q", value)
			}
			gotAccept = true
		case "sec-websocket-extensions":
			return fmt.Errorf("server negotiated an extension: %q", value)
		}
	}
	if !upgrade || !connection || !gotAccept {
		return fmt.Errorf("incomplete 101 answer (upgrade=%v connection=%v accept=%v)", upgrade, connection, gotAccept)
	}
	return nil
}

// dialWS connects to addr and performs the opening handshake. It returns
// the connection and a read buffer of bufSize bytes holding n bytes the
// server sent after its answer.
func dialWS(addr string, req upgradeRequest, bufSize int, deadline time.Time) (net.Conn, []byte, int, error) {
	d := net.Dialer{Deadline: deadline}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, nil, 0, err
	}
	c.SetDeadline(deadline)
	buf := make([]byte, bufSize)
	n, err := doUpgrade(c, req, buf)
	if err != nil {
		c.Close()
		return nil, nil, 0, err
	}
	return c, buf, n, nil
}

// echoChecker parses the frames a server sends back and compares every
// message with the one sent, without holding a whole message: payload is
// compared as it arrives, so fragmented and very large messages are fine.
type echoChecker struct {
	want []byte // the payload every message must have
	op   byte   // and its opcode

	buf  []byte // read buffer; unparsed bytes are buf[r:w]
	r, w int

	inFrame bool   // a frame header has been parsed, payload pending
	remain  uint64 // payload bytes of the current frame not yet seen
	fin     bool   // the current frame ends its message
	inMsg   bool   // a message has started and not yet ended
	off     int    // bytes of the current message checked so far
}

// errServerClose is returned when the server sends a close frame while
// messages are expected.
type errServerClose struct{ code int }

func (e errServerClose) Error() string {
	return fmt.Sprintf("server sent a close frame (code %d)", e.code)
}

// readSome reads once from c and returns how many complete, correct
// messages that finished.
func (k *echoChecker) readSome(c net.Conn) (int, error) {
	if k.r == k.w {
		k.r, k.w = 0, 0
	} else if k.r > 0 && len(k.buf)-k.w < 4096 {
		k.w = copy(k.buf, k.buf[k.r:k.w])
		k.r = 0
	}
	n, err := c.Read(k.buf[k.w:])
	k.w += n
	done, perr := k.parse()
	if perr != nil {
		return done, perr
	}
	return done, err
}

// parse consumes what it can of buf[r:w].
func (k *echoChecker) parse() (int, error) {
	done := 0
	for {
		if !k.inFrame {
			avail := k.w - k.r
			if avail < 2 {
				return done, nil
			}
			b0, b1 := k.buf[k.r], k.buf[k.r+1]
			if b1&0x80 != 0 {
				return done, errors.New("server sent a masked frame")
			}
			if b0&0x70 != 0 {
				return done, errors.New("server set RSV bits (an extension was not negotiated)")
			}
			hl, plen := 2, uint64(b1&0x7f)
			switch plen {
			case 126:
				hl = 4
			case 127:
				hl = 10
			}
			if avail < hl {
				return done, nil
			}
			switch plen {
			case 126:
				plen = uint64(binary.BigEndian.Uint16(k.buf[k.r+2:]))
			case 127:
				plen = binary.BigEndian.Uint64(k.buf[k.r+2:])
			}
			op, fin := b0&0x0f, b0&0x80 != 0
			switch {
			case op >= 8:
				if plen > 125 || !fin {
					return done, errors.New("malformed control frame")
				}
				if uint64(avail) < uint64(hl)+plen {
					return done, nil
				}
				if op == opClose {
					code := 0
					if plen >= 2 {
						code = int(binary.BigEndian.Uint16(k.buf[k.r+hl:]))
					}
					return done, errServerClose{code}
				}
				if op != opPing && op != opPong {
					return done, fmt.Errorf("unknown control opcode %#x", op)
				}
				k.r += hl + int(plen)
				continue
			case op == opContinuation:
				if !k.inMsg {
					return done, errors.New("continuation frame outside a message")
				}
			default:
				if k.inMsg {
					return done, errors.New("new message inside a fragmented one")
				}
				if op != k.op {
					return done, fmt.Errorf("echo has opcode %#x, sent %#x", op, k.op)
				}
				k.inMsg, k.off = true, 0
			}
			if plen > uint64(len(k.want)-k.off) {
				return done, fmt.Errorf("echo longer than the %d bytes sent", len(k.want))
			}
			k.r += hl
			k.remain, k.fin, k.inFrame = plen, fin, true
		}
		if n := min(k.remain, uint64(k.w-k.r)); n > 0 {
			got := k.buf[k.r : k.r+int(n)]
			if !bytes.Equal(got, k.want[k.off:k.off+int(n)]) {
				return done, fmt.Errorf("echo differs from the message sent within bytes %d..%d", k.off, k.off+int(n))
			}
			k.r += int(n)
			k.off += int(n)
			k.remain -= n
		}
		if k.remain > 0 {
			return done, nil
		}
		k.inFrame = false
		if k.fin {
			if k.off != len(k.want) {
				return done, fmt.Errorf("echo has %d bytes, sent %d", k.off, len(k.want))
			}
			k.inMsg, k.off = false, 0
			done++
		}
	}
}
