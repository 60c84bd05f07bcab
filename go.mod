module github.com/wsproject/websocket

go 1.25
