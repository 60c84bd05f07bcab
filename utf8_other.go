//go:build !amd64 || purego

package websocket

// This file stands in for utf8_amd64.go where there is no vector UTF-8
// check: the automaton in utf8.go validates every byte.

// haveVectorUTF8 is false where there is no vector UTF-8 check.
const haveVectorUTF8 = false

// validBlocks is unreachable here, since haveVectorUTF8 is false.
func validBlocks([]byte) bool { panic("websocket: validBlocks without a vector UTF-8 check") }
