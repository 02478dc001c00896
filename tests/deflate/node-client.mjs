// SPDX-License-Identifier: GPL-3.0-or-later
// Node `ws` (tests/node_modules) with perMessageDeflate against a Wirewatch
// server started with deflate on: exact echo of text and binary messages
// from 0 B to 1 MiB (compressible and random), then the feed protocol, once
// per set of permessage-deflate options (window bits, no context takeover).
// Usage: node node-client.mjs ws://127.0.0.1:PORT — exit 0 when every check
// passed, otherwise prints what failed and exits 1.
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';

const TIMEOUT_MS = 20000;
const base = process.argv[2];
// --expect-off: the server has deflate off, the offer must be declined.
// --quick: the default options and small messages only.
const expectOff = process.argv.includes ('--expect-off');
const quick = process.argv.includes ('--quick');

const variants = [
  { name: 'default', opts: { threshold: 0 } },
  { name: 'client-window-10', opts: { threshold: 0, clientMaxWindowBits: 10 } },
  { name: 'server-window-9', opts: { threshold: 0, serverMaxWindowBits: 9 },
    expect: /server_max_window_bits=9/ },
  { name: 'no-context-takeover',
    opts: { threshold: 0, clientNoContextTakeover: true, serverNoContextTakeover: true },
    expect: /server_no_context_takeover/ },
];

function fail (msg) {
  console.log (`FAIL: ${msg}`);
  process.exit (1);
}

function open (url, opts) {
  return new Promise ((resolve, reject) => {
    const ws = new WebSocket (url, { perMessageDeflate: opts, maxPayload: 4 << 20 });
    const queue = [];
    const waiters = [];
    let header = '';
    ws.on ('upgrade', (res) => { header = res.headers['sec-websocket-extensions'] || ''; });
    ws.on ('message', (data, isBinary) => {
      const m = { data, isBinary };
      if (waiters.length) waiters.shift () (m); else queue.push (m);
    });
    ws.on ('close', (code) => { while (waiters.length) waiters.shift () (null); ws.closeCode = code; });
    ws.on ('error', reject);
    ws.on ('open', () => {
      ws.header = header;
      ws.next = () => new Promise ((res, rej) => {
        if (queue.length) return res (queue.shift ());
        const t = setTimeout (() => rej (new Error ('timed out waiting for a message')), TIMEOUT_MS);
        waiters.push ((m) => { clearTimeout (t); m ? res (m) : rej (new Error (`closed ${ws.closeCode}`)); });
      });
      resolve (ws);
    });
  });
}

function payloads () {
  const out = [];
  const sizes = quick ? [0, 1, 4096] : [0, 1, 125, 126, 4096, 65535, 65536, 300000, 1 << 20];
  for (const size of sizes) {
    out.push ([`zeros-bin-${size}`, Buffer.alloc (size), true]);
    out.push ([`random-bin-${size}`, randomBytes (size), true]);
    out.push ([`repeat-text-${size}`, 'wirewatch '.repeat (size / 10 + 1).slice (0, size), false]);
    // Random two-byte UTF-8 text: little to compress, and the UTF-8 check
    // runs on the inflated message.
    let s = '';
    for (let i = 0; i < Math.min (size, 100000); i++)
      s += String.fromCharCode (i % 3 ? 0x410 + (Math.random () * 64 | 0) : 32 + (Math.random () * 90 | 0));
    out.push ([`random-text-${size}`, s, false]);
  }
  return out;
}

function checkHeader (ws, v, where) {
  if (expectOff) {
    if (/permessage-deflate/.test (ws.header) || ws.extensions !== '')
      fail (`${v.name} ${where}: negotiated although the server has it off ('${ws.header}')`);
    return;
  }
  if (!/permessage-deflate/.test (ws.header) || !/permessage-deflate/.test (ws.extensions))
    fail (`${v.name} ${where}: not negotiated (header '${ws.header}')`);
  if (v.expect && !v.expect.test (ws.header))
    fail (`${v.name} ${where}: response '${ws.header}' does not match ${v.expect}`);
}

async function echo (v) {
  const ws = await open (`${base}/echo`, v.opts);
  checkHeader (ws, v, '/echo');
  let n = 0;
  for (const [name, data, binary] of payloads ()) {
    ws.send (data, { binary, compress: true });
    const m = await ws.next ();
    if (m.isBinary !== binary) fail (`${v.name} echo ${name}: binary=${m.isBinary}`);
    const want = binary ? data : Buffer.from (data, 'utf8');
    if (!Buffer.from (m.data).equals (want))
      fail (`${v.name} echo ${name}: ${m.data.length} bytes back, not the ${want.length} sent`);
    n++;
  }
  ws.close (1000);
  console.log (`${v.name}: echo ok, ${n} messages, '${ws.header}'`);
}

async function feed (v) {
  const ws = await open (`${base}/ws`, v.opts);
  checkHeader (ws, v, '/ws');
  const json = async () => JSON.parse ((await ws.next ()).data.toString ());
  const welcome = await json ();
  if (welcome.type !== 'WELCOME') fail (`${v.name} feed: first ${JSON.stringify (welcome)}`);
  const initial = await json ();
  if (initial.type !== 'INITIAL' || initial.events.length !== 5)
    fail (`${v.name} feed: second ${JSON.stringify (initial).slice (0, 200)}`);
  let last = initial.seq;
  const text = `chat from ${v.name} `.repeat (50);
  ws.send (JSON.stringify ({ type: 'PING', id: `node-${v.name}`, ts: 7 }));
  ws.send (JSON.stringify ({ type: 'CHAT', text }));
  let updates = 0, pong = 0, chat = 0;
  for (let i = 0; i < 2000 && !(updates >= 20 && pong && chat); i++) {
    const m = await json ();
    if (m.type === 'UPDATE') {
      if (m.seq !== last + 1) fail (`${v.name} feed: UPDATE seq ${m.seq} after ${last}`);
      last = m.seq;
      updates++;
    } else if (m.type === 'PONG') {
      if (m.id !== `node-${v.name}` || m.ts !== 7) fail (`${v.name} feed: PONG ${JSON.stringify (m)}`);
      pong++;
    } else if (m.type === 'CHAT') {
      if (m.text !== text) fail (`${v.name} feed: CHAT ${JSON.stringify (m).slice (0, 200)}`);
      chat++;
    } else if (m.type === 'ERROR') {
      fail (`${v.name} feed: ERROR ${JSON.stringify (m)}`);
    }
  }
  if (updates < 20 || !pong || !chat) fail (`${v.name} feed: ${updates} updates, ${pong} pongs, ${chat} chats`);
  ws.close (1000);
  console.log (`${v.name}: feed ok, ${updates} updates gap-free to ${last}, PONG, CHAT`);
}

const guard = setTimeout (() => fail ('took longer than 120 s'), 120000);
try {
  for (const v of (expectOff || quick) ? variants.slice (0, 1) : variants) {
    await echo (v);
    await feed (v);
  }
} catch (e) {
  fail (e.stack || String (e));
}
clearTimeout (guard);
console.log ('PASS');
