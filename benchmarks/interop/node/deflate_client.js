// deflate_client.js URL OPTIONS talks to an echo server at URL with the npm
// ws client and permessage-deflate on, configured by OPTIONS, the JSON of
// ws's perMessageDeflate option (`true` for ws's defaults). Like the Go
// deflate tests, it echoes messages of every size, text and binary, 400
// JSON messages in a row with 40 KiB of noise every 100th, a fragmented
// text message whose fragments cut characters in two with a ping inside,
// and closes with 1000. On success it prints one JSON line: the
// Sec-WebSocket-Extensions answer, the bytes sent uncompressed (all, and
// those of noise) and the bytes the socket wrote and read. Otherwise it
// prints the first thing that went wrong and exits with status 1.
'use strict';
const assert = require('node:assert/strict');
const { connect, text } = require('./connect');

const url = process.argv[2];
const perMessageDeflate = JSON.parse(process.argv[3] || 'true');

// noise returns n bytes from an xorshift32 generator: they do not compress.
function noise(n, seed) {
  const b = Buffer.alloc(n);
  let x = (seed ^ 0x9e3779b9) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    b[i] = x & 255;
  }
  return b;
}

// json returns message i of a chat-like stream, about 1 KiB, whose keys,
// users and phrases repeat from message to message.
function json(i) {
  const users = ['ana', 'bjørn', 'chloé', 'dmitrij', 'émile', 'fatima', 'gō'];
  const words = ['hello', 'the deploy is green', 'lunch?', 'see the dashboard', 'ship it', '👍',
    'who broke main', 'привет', 'مرحبا', 'looks good to me'];
  let x = (i * 2654435761 + 1) >>> 0 || 1;
  const pick = (a) => {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    return a[x % a.length];
  };
  const u = pick(users);
  const blocks = [];
  for (let j = 0; j < 12; j++) blocks.push({ kind: 'text', text: pick(words), style: { bold: pick([true, false]) } });
  const readBy = [];
  for (let j = 0; j < 6; j++) readBy.push(pick(users));
  return Buffer.from(JSON.stringify({
    type: 'message', id: i, channel: 'general', ts: new Date(Date.UTC(2025, 0, 1 + (i % 28), 12, i % 60)).toISOString(),
    user: { name: u, avatar: `https://cdn.example.com/avatars/${u}/128.png`, status: 'online' },
    blocks, reactions: [{ emoji: '🎉', count: i % 20 }], read_by: readBy,
  }));
}

const sent = { all: 0, noise: 0 };

async function expectEcho(ws, data, isBinary, what, isNoise) {
  sent.all += data.length;
  if (isNoise) sent.noise += data.length;
  ws.send(data, { binary: isBinary });
  const m = await ws.next();
  assert.equal(m.isBinary, isBinary, `${what}: type of the echo of ${data.length} bytes`);
  assert.ok(Buffer.compare(m.data, data) === 0, `${what}: echo of ${data.length} bytes differs`);
}

async function main() {
  const ws = await connect(url, [], { perMessageDeflate });
  assert.equal(ws.extensions, 'permessage-deflate', 'ws says permessage-deflate was not negotiated');

  for (const n of [0, 1, 5, 127, 128, 129]) {
    await expectEcho(ws, text(n), false, 'single text');
    await expectEcho(ws, noise(n, n), true, 'single binary', true);
  }
  await expectEcho(ws, json(0), false, '1 KiB JSON');
  await expectEcho(ws, json(1), true, '1 KiB JSON as binary');
  for (const n of [100 << 10, (1 << 20) + 7]) {
    await expectEcho(ws, text(n), false, 'large text');
    await expectEcho(ws, noise(n, n), true, 'large noise', true);
    await expectEcho(ws, Buffer.concat(Array(Math.ceil(n / 500)).fill(json(n))).subarray(0, n), true, 'large JSON as binary');
  }

  for (let i = 0; i < 400; i++) {
    await expectEcho(ws, json(i), false, `JSON message ${i} in a row`);
    if (i % 100 === 99) await expectEcho(ws, noise(40 << 10, i), true, '40 KiB between the JSON', true);
  }

  // One text message in four fragments: the first ends inside a
  // character; a ping comes between two of them.
  const whole = Buffer.concat([json(1000), text(70000), json(1001)]);
  const cuts = [0, 1, 700, 20003, whole.length];
  const pong = new Promise((res) => ws.once('pong', res));
  for (let k = 0; k + 1 < cuts.length; k++) {
    ws.send(whole.subarray(cuts[k], cuts[k + 1]), { binary: false, fin: k + 2 === cuts.length });
    if (k === 1) ws.ping('mid');
  }
  sent.all += whole.length;
  const m = await ws.next();
  assert.equal(m.isBinary, false, 'type of the fragmented echo');
  assert.ok(Buffer.compare(m.data, whole) === 0, 'the fragmented echo differs');
  assert.equal((await pong).toString(), 'mid', 'pong payload');

  for (let i = 0; i < 20; i++) await expectEcho(ws, json(2000 + i), false, 'JSON after the fragmented message');

  const wire = { written: ws._socket.bytesWritten, read: ws._socket.bytesRead };
  ws.close(1000, 'bye');
  assert.equal((await ws.closed).code, 1000, 'close code echoed');
  console.log(JSON.stringify({ extensions: ws.answer, sent, wire }));
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
