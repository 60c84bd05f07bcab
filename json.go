package websocket

import (
	"bytes"
	"encoding/json"
	"sync"
)

// This file holds the JSON helpers: a message per value, encoded and
// decoded with encoding/json in pooled buffers.

// maxPooledJSON bounds the buffers the JSON helpers keep for reuse, so that
// one huge message does not stay in the pool.
const maxPooledJSON = 64 << 10

// jsonReadBuffers pools ReadJSON's message buffers (*[]byte).
var jsonReadBuffers = sync.Pool{New: func() any { return new([]byte) }}

// jsonEncoder is WriteJSON's pooled encoder with the buffer it writes to.
type jsonEncoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

// jsonEncoders pools jsonEncoders.
var jsonEncoders = sync.Pool{New: func() any {
	e := new(jsonEncoder)
	e.enc = json.NewEncoder(&e.buf)
	return e
}}

// ReadJSON reads the next data message, text or binary, and decodes it as
// one JSON value into v with json.Unmarshal (so data after the value is an
// error). The message is read into a pooled buffer, so the cost beyond
// AppendMessage is json.Unmarshal's: at least one allocation, plus what v's
// strings, slices and maps need. Read errors are AppendMessage's; decoding
// errors are encoding/json's and leave the Conn usable.
func (c *Conn) ReadJSON(v any) error {
	bp := jsonReadBuffers.Get().(*[]byte)
	_, msg, err := c.AppendMessage((*bp)[:0])
	if err == nil {
		err = json.Unmarshal(msg, v)
	}
	if cap(msg) <= maxPooledJSON {
		*bp = msg[:0]
		jsonReadBuffers.Put(bp)
	}
	return err
}

// WriteJSON encodes v with encoding/json, as json.Marshal would but
// without the newline json.Encoder adds, into a pooled buffer, and sends it
// as one text message with WriteMessage (compressed as WriteMessage
// decides). For values without maps or custom marshalers it allocates
// nothing in the steady state. An encoding error sends nothing.
func (c *Conn) WriteJSON(v any) error {
	e := jsonEncoders.Get().(*jsonEncoder)
	e.buf.Reset()
	err := e.enc.Encode(v)
	if err == nil {
		b := e.buf.Bytes()
		err = c.WriteMessage(TextMessage, b[:len(b)-1])
	}
	if e.buf.Cap() <= maxPooledJSON {
		jsonEncoders.Put(e)
	}
	return err
}
