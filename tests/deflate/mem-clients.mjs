// SPDX-License-Identifier: GPL-3.0-or-later
// N Node `ws` feed clients for test-deflate-memory: connects them all
// (waiting for each INITIAL), prints "idle", waits, has each send 5 PINGs
// and waits for the PONGs, prints "traffic", then stays quiet for
// RELEASE_MS and prints "released", and exits after a last pause.  The test
// samples the server's heap at each line.
// Usage: node mem-clients.mjs ws://127.0.0.1:PORT N deflate|deflate-nct|plain RELEASE_MS
// (deflate-nct: the clients offer client_no_context_takeover)
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';

const [base, nArg, mode, releaseArg] = process.argv.slice (2);
const N = Number (nArg);
const deflate = mode.startsWith ('deflate');
const pmd = mode === 'deflate-nct' ? { threshold: 0, clientNoContextTakeover: true } : { threshold: 0 };
const guard = setTimeout (() => { console.log ('FAIL: took longer than 120 s'); process.exit (1); }, 120000);

const clients = [];
let negotiated = 0;
try {
  for (let b = 0; b < N; b += 100) {
    const batch = [];
    for (let i = b; i < Math.min (N, b + 100); i++) {
      batch.push (new Promise ((resolve, reject) => {
        const ws = new WebSocket (`${base}/ws`, { perMessageDeflate: deflate ? pmd : false });
        ws.on ('error', reject);
        ws.on ('open', () => { if (/permessage-deflate/.test (ws.extensions)) negotiated++; });
        ws.on ('message', (data) => {
          if (data.toString ().startsWith ('{"type":"INITIAL"')) resolve (ws);
        });
      }));
    }
    clients.push (...await Promise.all (batch));
  }
} catch (e) {
  console.log (`FAIL: ${e.message}`);
  process.exit (1);
}
console.log (`negotiated ${negotiated}`);
await sleep (500);
console.log ('idle');
await sleep (1000);

let pongs = 0;
for (const ws of clients)
  ws.on ('message', (data) => { if (data.toString ().startsWith ('{"type":"PONG"')) pongs++; });
for (let k = 0; k < 5; k++)
  for (const [i, ws] of clients.entries ())
    ws.send (JSON.stringify ({ type: 'PING', id: `p${i}-${k}`, ts: Date.now () }));
for (let i = 0; i < 600 && pongs < 5 * N; i++)
  await sleep (20);
console.log (`pongs ${pongs}`);
console.log ('traffic');
await sleep (1000);
await sleep (Number (releaseArg));
console.log ('released');
await sleep (1000);
for (const ws of clients)
  ws.terminate ();
clearTimeout (guard);
console.log ('PASS');
