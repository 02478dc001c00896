// SPDX-License-Identifier: GPL-3.0-or-later
//
// Server memory per connection with and without permessage-deflate (not a
// test: a measurement for the report).  Starts `wirewatch --headless`,
// connects N Node `ws` feed clients, and reads the server's VmRSS from
// /proc/<pid>/status: with no client, once all have their INITIAL (idle),
// after each sent PINGs (traffic both ways), and after the idle release
// (one heartbeat later).  The server is stopped by its PID.
//
// Usage (raise the descriptor limit first):
//   ulimit -n 20000; node memory.mjs /path/to/wirewatch N deflate|plain
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';

const [binary, nArg, mode] = process.argv.slice (2);
const N = Number (nArg || 1000);
const deflate = mode !== 'plain';
const HEARTBEAT_S = 3;

const argv = ['--headless', '--bind', '127.0.0.1', '--port', '0', '--no-persist', '--seed', '1',
  '--heartbeat', String (HEARTBEAT_S)];
if (deflate)
  argv.push ('--deflate');
const server = spawn (binary, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
const stop = () => { try { process.kill (server.pid, 'SIGKILL'); } catch { /* gone */ } };
process.on ('exit', stop);
const guard = setTimeout (() => { console.error ('took longer than 300 s'); process.exit (1); }, 300000);

let stderr = '';
server.stderr.setEncoding ('utf8');
server.stderr.on ('data', (c) => { if (stderr.length < 1 << 16) stderr += c; });
let port = 0;
for (let i = 0; i < 200 && !port; i++) {
  const m = stderr.match (/Listening on ws:\/\/127\.0\.0\.1:(\d+)\//);
  if (m) port = Number (m[1]); else await sleep (50);
}
if (!port) { console.error (`no port:\n${stderr}`); process.exit (1); }

function rssKiB () {
  const m = readFileSync (`/proc/${server.pid}/status`, 'utf8').match (/VmRSS:\s+(\d+)/);
  return Number (m[1]);
}

await sleep (500);
const base = rssKiB ();
const clients = [];
let negotiated = 0;
for (let b = 0; b < N; b += 100) {
  const batch = [];
  for (let i = b; i < Math.min (N, b + 100); i++) {
    batch.push (new Promise ((resolve, reject) => {
      const ws = new WebSocket (`ws://127.0.0.1:${port}/ws`,
        { perMessageDeflate: deflate ? { threshold: 0 } : false });
      ws.on ('error', reject);
      ws.on ('open', () => { if (/permessage-deflate/.test (ws.extensions)) negotiated++; });
      ws.on ('message', (data) => {
        if (data.toString ().startsWith ('{"type":"INITIAL"')) resolve (ws);
      });
    }));
  }
  clients.push (...await Promise.all (batch));
}
await sleep (1000);
const idle = rssKiB ();

// Traffic: every client sends 5 PINGs (compressed when deflate is on) and
// gets 5 PONGs back; the feed's UPDATEs keep flowing meanwhile.
let pongs = 0;
for (const ws of clients)
  ws.on ('message', (data) => { if (data.toString ().startsWith ('{"type":"PONG"')) pongs++; });
for (let k = 0; k < 5; k++)
  for (const [i, ws] of clients.entries ())
    ws.send (JSON.stringify ({ type: 'PING', id: `p${i}-${k}`, ts: Date.now () }));
for (let i = 0; i < 600 && pongs < 5 * N; i++)
  await sleep (50);
const traffic = rssKiB ();

await sleep ((2 * HEARTBEAT_S + 1) * 1000);
const released = rssKiB ();

const per = (v) => ((v - base) * 1024 / N).toFixed (0);
console.log (JSON.stringify ({ mode: deflate ? 'deflate' : 'plain', clients: N, negotiated, pongs,
  rssKiB: { base, idle, traffic, released },
  bytesPerConnection: { idle: per (idle), traffic: per (traffic), released: per (released) } }));
for (const ws of clients)
  ws.terminate ();
clearTimeout (guard);
stop ();
process.exit (0);
