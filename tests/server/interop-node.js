// SPDX-License-Identifier: GPL-3.0-or-later
// Interop: Node's ws as a client of /echo.  Run by test-interop with the
// server's port; exits 0 when every check passed.
'use strict';

const WebSocket = require('ws');
const crypto = require('crypto');

const port = process.argv[2];
const deflate = process.argv[3] === 'deflate';
const ws = new WebSocket(`ws://127.0.0.1:${port}/echo`, { perMessageDeflate: deflate, maxPayload: 0 });
const messages = ['hello', '', 'é✓'.repeat(1000), Buffer.alloc(0), crypto.randomBytes(1 << 20),
                  'y'.repeat(70 * 1024)];
let index = 0;

function fail (why) {
  console.error('node ws interop: ' + why);
  process.exit(1);
}

setTimeout(() => fail('timed out'), 20000).unref();

function sendNext () {
  if (index === messages.length) {
    ws.ping(Buffer.from('node'));
    return;
  }
  const m = messages[index];
  ws.send(m, { binary: Buffer.isBuffer(m) });
}

ws.on('open', () => {
  const agreed = ws.extensions.includes('permessage-deflate');
  if (agreed !== deflate) fail(`permessage-deflate agreed: ${agreed}`);
  sendNext();
});
ws.on('message', (data, isBinary) => {
  const m = messages[index];
  const expected = Buffer.isBuffer(m) ? m : Buffer.from(m, 'utf8');
  if (isBinary !== Buffer.isBuffer(m)) fail(`message ${index}: wrong opcode`);
  if (!Buffer.from(data).equals(expected)) fail(`message ${index}: echo differs`);
  index++;
  sendNext();
});
ws.on('pong', (data) => {
  if (data.toString() !== 'node') fail('pong payload differs');
  ws.close(1000, 'done');
});
ws.on('close', (code) => {
  if (code !== 1000) fail(`closed with ${code}`);
  if (index !== messages.length) fail('closed early');
  console.error('node ws interop' + (deflate ? ' (permessage-deflate)' : '') + ': ok');
  process.exit(0);
});
ws.on('error', (e) => fail(e.message));
