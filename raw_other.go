//go:build !unix

package websocket

// initRaw does nothing where raw socket reads are not implemented: reads
// go through the net.Conn, and a Conn keeps its read buffer while it waits.
func (c *Conn) initRaw() {}

// answerClose reports false where raw socket writes are not implemented:
// the peer's close frame is answered by writeClose.
func (c *Conn) answerClose(StatusCode) bool { return false }
