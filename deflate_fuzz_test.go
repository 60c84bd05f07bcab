//go:build !js

package websocket

import (
	"bufio"
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// This file fuzzes the read path of compressed messages: whatever a peer
// sends as a compressed message, a Conn returns it exactly as
// compress/flate inflates it, or fails the connection with the right
// status, within bounded time and memory.

// Flags of FuzzInflate's input.
const (
	fzText     = 1 << iota // a text message, checked as UTF-8
	fzTakeover             // context takeover, primed by a first message
	fzRSVCont              // RSV1 on the second frame too, a rule break
	fzPing                 // a ping after the first frame
)

// fzLimit is the read limit of the Conn under fuzzing.
const fzLimit = 4096

// fzPrime is the message that primes the window under context takeover.
var fzPrime = []byte(strings.Repeat(`{"op":"MESSAGE_CREATE","content":"hello, compressed world"},`, 30))

// FuzzInflate sends payload as the payload of a compressed message (RSV1 on
// its first frame), cut into frames of the sizes that cuts lists, to a
// server Conn with a read limit of fzLimit, and checks the outcome against
// compress/flate (see inflateOutcome): the message itself, or status 1009
// over the limit, 1007 for data that does not inflate, inflates to invalid
// UTF-8 in a text message or goes on past the end of the compressed data,
// 1002 for a rule break. The Conn's error must match the close frame it
// sends, a read must end within testTimeout, and it must allocate a bounded
// amount whatever the data inflates to.
func FuzzInflate(f *testing.F) {
	z := func(p []byte) []byte { return compressed(f, p) }
	bomb := z(make([]byte, 1<<20))
	hello := z([]byte("Hello, compressed world"))
	f.Add(hello, []byte{}, byte(fzText))
	f.Add(hello, []byte{1}, byte(fzText|fzPing))
	f.Add(hello, []byte{3, 0, 200}, byte(fzRSVCont))
	f.Add(z(fzPrime[:500]), []byte{7}, byte(fzTakeover|fzText))
	f.Add(bomb, []byte{}, byte(0))
	f.Add(bomb, []byte{100, 0, 1}, byte(fzTakeover))
	f.Add(z([]byte("ok \xff not ok")), []byte{}, byte(fzText))
	f.Add(z([]byte("caf\xc3\xa9")), []byte{}, byte(fzText))
	f.Add([]byte("\xff\xff\xff\xff"), []byte{}, byte(0))
	f.Add([]byte("\x03\x00"), []byte{}, byte(0))             // a final empty block
	f.Add([]byte("\x03\x00"), []byte{2, 0}, byte(0))         // and an empty frame after it
	f.Add([]byte("\x03\x00junk"), []byte{}, byte(0))         // data after the final block
	f.Add([]byte("\x00"), []byte{}, byte(fzText))            // an empty message as our writer sends it
	f.Add([]byte{}, []byte{}, byte(0))                       // no data at all
	f.Add([]byte("\x01\x05\x00\xfa\xff"), []byte{}, byte(0)) // a stored block cut short by the tail
	f.Add([]byte("\x00\x00\x00\xff\xff"), []byte{}, byte(0)) // an empty stored block
	f.Add([]byte("\x02\x00\x00\x00\xff\xff"), []byte{1, 1, 1, 1}, byte(0))
	f.Fuzz(func(t *testing.T, payload, cuts []byte, flags byte) {
		if len(payload) > 64<<10 {
			payload = payload[:64<<10]
		}
		runInflate(t, payload, cuts, flags)
	})
}

// runInflate runs one input of FuzzInflate.
func runInflate(t *testing.T, payload, cuts []byte, flags byte) {
	op := opBinary
	if flags&fzText != 0 {
		op = opText
	}
	takeover := flags&fzTakeover != 0
	c, a := pipeDeflateConn(t, Options{ReadLimit: fzLimit}, takeover)

	var wire []byte
	if takeover {
		wire = withRSV(clientFrame(true, opBinary, string(compressed(t, fzPrime))), rsv1Bit)
	}
	frames := cutFrames(payload, cuts)
	for i, p := range frames {
		fop := opContinuation
		if i == 0 {
			fop = op
		}
		f := clientFrame(i == len(frames)-1, fop, string(p))
		if i == 0 || i == 1 && flags&fzRSVCont != 0 {
			f[0] |= rsv1Bit
		}
		if i == 1 && flags&fzPing != 0 {
			wire = append(wire, clientFrame(true, opPing, "ping")...)
		}
		wire = append(wire, f...)
	}
	closeCode := make(chan StatusCode, 1)
	go fuzzPeer(a, wire, closeCode)

	if takeover {
		if _, got, err := c.ReadMessage(); err != nil || !bytes.Equal(got, fzPrime) {
			t.Fatalf("priming message: %d bytes, %v", len(got), err)
		}
	}
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	typ, got, err := c.ReadMessage()
	runtime.ReadMemStats(&ms1)
	if alloc := ms1.TotalAlloc - ms0.TotalAlloc; alloc > 1<<20 {
		t.Errorf("reading the message allocated %d bytes", alloc)
	}
	var dict []byte
	if takeover {
		dict = fzPrime
	}
	want, wantCodes := inflateOutcome(payload, dict, op == opText, len(frames) > 1 && flags&fzRSVCont != 0)
	checkInflateOutcome(t, c, typ, got, err, op, want, wantCodes, closeCode)
}

// cutFrames cuts payload into frame payloads of the sizes cuts lists in
// turn, the last frame taking the rest; at most 300 frames, and always one.
func cutFrames(payload, cuts []byte) [][]byte {
	var frames [][]byte
	for i := 0; len(cuts) > 0 && i < 300 && len(payload) > 0; i++ {
		n := min(int(cuts[i%len(cuts)]), len(payload))
		frames, payload = append(frames, payload[:n]), payload[n:]
	}
	return append(frames, payload)
}

// fuzzPeer is the raw client of FuzzInflate: it writes wire to nc and reads
// what the Conn sends until a close frame, whose code it sends on codes (0
// if none came), answering it once wire is written.
func fuzzPeer(nc io.ReadWriter, wire []byte, codes chan<- StatusCode) {
	written := make(chan struct{})
	go func() {
		nc.Write(wire)
		close(written)
	}()
	br := bufio.NewReader(nc)
	for {
		h, p, err := readPMDFrame(br)
		if err != nil {
			codes <- 0
			return
		}
		if h.opcode == opClose {
			code := StatusNoStatusReceived
			if len(p) >= 2 {
				code = StatusCode(int(p[0])<<8 | int(p[1]))
			}
			<-written
			nc.Write(clientFrame(true, opClose, string(closePayload(code, ""))))
			codes <- code
			return
		}
	}
}

// inflateOutcome says what a Conn must make of payload, the compressed data
// of a message, under context takeover with window dict: the message and
// no codes, or the close codes it may fail the connection with. Data that
// inflates past the read limit fails with 1009 unless it already failed
// otherwise; then data that does not inflate, or goes on past the end of
// the compressed data, or is not UTF-8 in a text message fails with 1007.
// A rule break in the frames after the first (ruleBreak) fails with 1002
// unless the data failed before the Conn read that far; it never lets the
// message through.
func inflateOutcome(payload, dict []byte, text, ruleBreak bool) (msg []byte, codes []StatusCode) {
	msg, codes = inflateData(payload, dict, text)
	if ruleBreak {
		return nil, append(codes, StatusProtocolError)
	}
	return msg, codes
}

// inflateData is inflateOutcome without rule breaks.
func inflateData(payload, dict []byte, text bool) (msg []byte, codes []StatusCode) {
	src := bytes.NewReader(append(bytes.Clone(payload), deflateTail...))
	r := flate.NewReaderDict(src, dict)
	buf := make([]byte, 1024)
	for {
		n, err := r.Read(buf)
		msg = append(msg, buf[:n]...)
		switch {
		case len(msg) > fzLimit && text && !utf8.Valid(msg[:fzLimit]):
			return nil, []StatusCode{StatusMessageTooBig, StatusInvalidPayload}
		case len(msg) > fzLimit:
			return nil, []StatusCode{StatusMessageTooBig}
		case err != nil && err != io.EOF:
			return nil, []StatusCode{StatusInvalidPayload}
		case err == nil:
			continue
		}
		// The end of the compressed data.
		if src.Len() > len(deflateTail) || text && !utf8.Valid(msg) {
			return nil, []StatusCode{StatusInvalidPayload}
		}
		return msg, nil
	}
}

// checkInflateOutcome checks what a read of the Conn c gave against
// inflateOutcome, and the close code that the peer received on closeCode.
func checkInflateOutcome(t *testing.T, c *Conn, typ MessageType, got []byte, err error, op opcode, want []byte, wantCodes []StatusCode, closeCode <-chan StatusCode) {
	t.Helper()
	if err == nil {
		if wantCodes != nil {
			t.Fatalf("read a message of %d bytes; want a failure with %v", len(got), wantCodes)
		}
		if typ != MessageType(op) || !bytes.Equal(got, want) {
			t.Fatalf("read %v %q; want %v %q", typ, got, MessageType(op), want)
		}
		c.CloseNow()
		await(t, closeCode, "closeCode")
		return
	}
	var code StatusCode
	switch {
	case errors.Is(err, errBadDeflate), errors.Is(err, errDeflateTrailing), errors.Is(err, errInvalidUTF8):
		code = StatusInvalidPayload
	case errors.Is(err, errRSV1Continuation):
		code = StatusProtocolError
	case strings.Contains(err.Error(), "read limit"):
		code = StatusMessageTooBig
	default:
		t.Fatalf("read failed with %v; want a failure with %v, or the message %q", err, wantCodes, want)
	}
	if wantCodes == nil {
		t.Fatalf("read failed with %v (%v); want the message %q", err, code, want)
	}
	if !slices.Contains(wantCodes, code) {
		t.Fatalf("read failed with %v (%v); want one of %v", err, code, wantCodes)
	}
	if sent := await(t, closeCode, "closeCode"); sent != code {
		t.Fatalf("read failed with %v but the close frame says %v", err, sent)
	}
}
