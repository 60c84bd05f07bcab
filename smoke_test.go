package websocket

import "testing"

func TestSmokeEcho(t *testing.T) {
	addr, done := startServer(t, &Server{Handler: echoHandler})
	c := connect(t, addr)
	c.sendFrame(true, opText, []byte("hello"))
	c.expectFrame(opText, "hello")
	c.sendFrame(false, opBinary, []byte("ab"))
	c.sendFrame(true, opPing, []byte("p"))
	c.expectFrame(opPong, "p")
	c.sendFrame(true, opContinuation, []byte("cd"))
	c.expectFrame(opBinary, "abcd")
	c.sendFrame(true, opClose, closePayload(StatusGoingAway, "bye"))
	c.expectFrame(opClose, string(closePayload(StatusGoingAway, "")))
	c.expectEOF()
	waitDone(t, done)
}

func TestSmokeBadUTF8(t *testing.T) {
	addr, done := startServer(t, &Server{Handler: echoHandler})
	c := connect(t, addr)
	c.sendFrame(false, opText, []byte("ok\xf4\x90"))
	c.expectClose(StatusInvalidPayload)
	waitDone(t, done)
}
