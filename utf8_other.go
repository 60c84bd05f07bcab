//go:build !amd64 || purego

package websocket

// haveVectorUTF8 is false where there is no vector UTF-8 check.
var haveVectorUTF8 = false

// validBlocks is never called where haveVectorUTF8 is false.
func validBlocks(p []byte) bool { return true }
