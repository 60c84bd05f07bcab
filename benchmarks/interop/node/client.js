// client.js URL talks to an echo server at URL with the npm ws client:
// every length form as text and binary, a fragmented message, a ping, a
// close with a code, and, on a second connection, text that is not UTF-8,
// which the server must refuse with close code 1007. It prints "ok", or
// the first thing that went wrong and exits with status 1.
'use strict';
const assert = require('node:assert/strict');
const { connect, text } = require('./connect');

const url = process.argv[2];

function binary(n) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}

async function expectEcho(ws, data, isBinary) {
  ws.send(data, { binary: isBinary });
  const m = await ws.next();
  assert.equal(m.isBinary, isBinary, `type of the echo of ${data.length} bytes`);
  assert.ok(Buffer.compare(m.data, data) === 0, `echo of ${data.length} bytes differs`);
}

async function main() {
  const ws = await connect(url, ['chat']);
  assert.equal(ws.protocol, 'chat', 'subprotocol');
  for (const n of [0, 1, 125, 126, 65535, 65536, 1 << 20]) {
    await expectEcho(ws, text(n), false);
    await expectEcho(ws, binary(n), true);
  }

  // One text message in two fragments, a ping between them.
  ws.send('héllo ', { binary: false, fin: false });
  const pong = new Promise((res) => ws.once('pong', res));
  ws.ping('mid');
  ws.send('wörld', { binary: false, fin: true });
  const m = await ws.next();
  assert.equal(m.isBinary, false);
  assert.equal(m.data.toString(), 'héllo wörld', 'fragmented echo');
  assert.equal((await pong).toString(), 'mid', 'pong payload');

  ws.close(4000, 'bye');
  assert.equal((await ws.closed).code, 4000, 'close code echoed');

  const bad = await connect(url, []);
  bad.send(Buffer.from([0x68, 0x69, 0xc0, 0xaf]), { binary: false }); // overlong '/'
  assert.equal((await bad.closed).code, 1007, 'close code for invalid UTF-8');
  console.log('ok');
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
