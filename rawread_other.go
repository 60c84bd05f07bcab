//go:build !unix

package websocket

// initRaw does nothing where raw socket reads are not implemented: reads
// go through the net.Conn, and a Conn keeps its read buffer while it waits.
func (c *Conn) initRaw() {}
