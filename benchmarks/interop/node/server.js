// server.js [OPTIONS] is an echo server on the npm ws package: it listens
// on a free loopback port, prints the port, and echoes every message with
// its type until its stdin ends. OPTIONS, if given, is the JSON of ws's
// perMessageDeflate option (`true` for ws's defaults); without it the
// server declines compression, ws's default.
'use strict';
const { WebSocketServer } = require('ws');

const perMessageDeflate = JSON.parse(process.argv[2] || 'false');
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 64 << 20, perMessageDeflate });
wss.on('listening', () => console.log(wss.address().port));
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});

// Exit when the parent closes stdin, or dies.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
