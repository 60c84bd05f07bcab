//go:build !unix

package websocket

// initRaw does nothing where raw socket reads are not implemented: reads
// go through the net.Conn, and a Conn keeps its read buffer while it waits.
func (c *Conn) initRaw() {}

// writeCloseNow does nothing where raw socket writes are not implemented:
// writeClose sends the frame the general way.
func (c *Conn) writeCloseNow(StatusCode, string) (bool, error) { return false, nil }
