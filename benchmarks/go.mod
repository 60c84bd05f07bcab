module github.com/wsproject/websocket/benchmarks

go 1.26

require github.com/wsproject/websocket v0.0.0

replace github.com/wsproject/websocket => ../
