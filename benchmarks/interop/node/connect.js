// connect.js holds what client.js and deflate_client.js share: opening a
// connection with the npm ws client that queues its messages, and text
// that exercises UTF-8.
'use strict';
const WebSocket = require('ws');

// connect opens a connection to url and gives it next(), a promise of the
// next message ({data, isBinary}); closed, a promise of the close code and
// reason ({code, reason}); and answer, the server's Sec-WebSocket-Extensions
// header ('' when absent).
function connect(url, protocols, options) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { maxPayload: 64 << 20, ...options });
    const queue = [];
    const waiters = [];
    ws.on('upgrade', (res) => { ws.answer = res.headers['sec-websocket-extensions'] || ''; });
    ws.on('message', (data, isBinary) => {
      const m = { data, isBinary };
      if (waiters.length > 0) waiters.shift().resolve(m);
      else queue.push(m);
    });
    ws.closed = new Promise((done) => {
      ws.on('close', (code, reason) => {
        for (const w of waiters.splice(0)) w.reject(new Error(`closed with ${code} while a message was due`));
        done({ code, reason: reason.toString() });
      });
    });
    ws.next = () => (queue.length > 0
      ? Promise.resolve(queue.shift())
      : new Promise((res, rej) => waiters.push({ resolve: res, reject: rej })));
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

// text returns n bytes of UTF-8 with 2-, 3- and 4-byte characters.
function text(n) {
  return Buffer.from('aé€😀'.repeat(Math.floor(n / 10)) + 'x'.repeat(n % 10));
}

module.exports = { connect, text };
