// SPDX-License-Identifier: GPL-3.0-or-later
//
// permessage-deflate with a real browser: `wirewatch --headless --deflate`
// and headless Chromium.  The WebSocket handshake response as the browser
// saw it (Chrome DevTools Protocol, Network domain) carries
// permessage-deflate, and the page works over it: live UPDATEs without a
// gap, PING with a round-trip time.  Without --deflate the browser's offer
// is declined and the page works the same.
//
// Usage: node deflate.test.mjs /path/to/wirewatch

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Child, requireTestModule, launchChromium, waitFor, watchErrors, hook, assertContiguous } from './lib.mjs';

requireTestModule ('playwright-core');

const sourceRoot = process.env.WW_SOURCE_ROOT ||
  path.resolve (path.dirname (fileURLToPath (import.meta.url)), '..', '..');
const binary = process.argv[2] || process.env.WW_WIREWATCH ||
  path.join (process.env.WW_BUILD_ROOT || path.join (sourceRoot, 'build'), 'src', 'wirewatch');

let browser;

before (async () => {
  browser = await launchChromium ();
});

after (async () => {
  await browser?.close ();
});

async function startServer (deflate) {
  assert.ok (existsSync (binary), `no wirewatch binary at ${binary}`);
  const argv = [binary, '--headless', '--bind', '127.0.0.1', '--port', '0', '--no-persist',
    '--seed', '5', '--update-interval', '0.1-0.3'];
  if (deflate)
    argv.push ('--deflate');
  const child = new Child (argv);
  const m = await child.waitForLine (/Listening on wss?:\/\/127\.0\.0\.1:(\d+)\//);
  return { child, base: `http://127.0.0.1:${m[1]}/` };
}

// Opens the page with the DevTools Network domain on before navigation, so
// the handshake of the page's WebSocket is seen.
async function openPage (base) {
  const page = await browser.newPage ();
  page.setDefaultTimeout (10000);
  const errors = watchErrors (page, 'deflate');
  const cdp = await page.context ().newCDPSession (page);
  const handshakes = [];
  const requests = [];
  let compressedFrames = 0;
  cdp.on ('Network.webSocketWillSendHandshakeRequest', (e) => requests.push (e.request.headers));
  cdp.on ('Network.webSocketHandshakeResponseReceived', (e) => handshakes.push (e.response));
  cdp.on ('Network.webSocketFrameReceived', () => compressedFrames++);
  await cdp.send ('Network.enable');
  await page.goto (`${base}?retry=250&retrymax=2000`);
  return { page, errors, cdp, handshakes, requests, frames: () => compressedFrames };
}

function header (headers, name) {
  for (const [k, v] of Object.entries (headers || {}))
    if (k.toLowerCase () === name)
      return v;
  return '';
}

async function checkPage (t, { deflate }) {
  const { child, base } = await startServer (deflate);
  let tab;
  try {
    tab = await openPage (base);
    const { page } = tab;
    await waitFor ('the page open', async () => (await hook (page))?.state === 'open');
    await waitFor ('a handshake response in DevTools', () => tab.handshakes.length > 0);

    // Chromium always offers it; the server answers according to --deflate.
    const offer = header (tab.requests[0], 'sec-websocket-extensions');
    assert.match (offer, /permessage-deflate/, `Chromium's offer: '${offer}'`);
    const res = tab.handshakes[0];
    assert.equal (res.status, 101);
    const ext = header (res.headers, 'sec-websocket-extensions');
    if (deflate)
      assert.match (ext, /^permessage-deflate/, `the 101 said '${ext}'`);
    else
      assert.doesNotMatch (ext, /permessage-deflate/, `the 101 said '${ext}'`);
    t.diagnostic (`${deflate ? 'with' : 'without'} --deflate: offer '${offer}', answer '${ext}'`);

    // Live UPDATEs, in order and without a gap.
    await waitFor ('15 live UPDATEs', async () => (await hook (page)).seqs.length >= 15, { timeout: 30000 });
    const h = await hook (page);
    assert.ok (h.seqs.length >= 15, `seqs ${h.seqs.length}`);
    assertContiguous (h.seqs, 'deflate page');
    assert.equal (h.events.length, 5);

    for (let i = 1; i <= 2; i++) {
      await page.click ('#ping');
      await waitFor (`RTT ${i}`, async () => (await hook (page)).rtts.length === i);
    }
    assert.match (await page.textContent ('#rtt-last'), /^\d+(\.\d+)? ms$/);
    assert.ok (tab.frames () >= 15, `DevTools saw ${tab.frames ()} frames`);
    assert.equal ((await hook (page)).state, 'open');
    assert.deepEqual (tab.errors.unexpected (), []);
  } finally {
    await tab?.page.close ();
    const exit = await child.stop ();
    assert.equal (exit?.code, 0, `wirewatch exit ${JSON.stringify (exit)}:\n${child.stderr}`);
  }
}

test ('with --deflate Chromium negotiates permessage-deflate and the page works', { timeout: 60000 },
  (t) => checkPage (t, { deflate: true }));

test ('without --deflate the offer is declined and the page works', { timeout: 60000 },
  (t) => checkPage (t, { deflate: false }));
