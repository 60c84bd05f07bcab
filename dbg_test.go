package websocket
import "testing"
func TestDbgEmpty(t *testing.T) {
	c, done := streamConn(nil, &Options{ReadLimit: fuzzReadLimit, CloseTimeout: fuzzCloseTimeout})
	defer done()
	for i := 0; i < 2; i++ {
		_, _, err := c.ReadMessage()
		t.Logf("%d: %v (readErr %v)", i, err, c.readErr)
	}
}
