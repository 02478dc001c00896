// SPDX-License-Identifier: GPL-3.0-or-later
//
// The browser page served by the real `wirewatch --headless`, in headless
// Chromium: the HTTP headers of the page, two tabs that see the same scores
// and the same UPDATE seq sequence, PING, chat between tabs, and a server
// restart on the same port and state directory after which both tabs
// reconnect and resume without a gap.  With WW_SCREENSHOTS=1 it also saves
// data/screenshots/web-{desktop,desktop-dark,phone}.png.
//
// Usage: node browser.test.mjs /path/to/wirewatch

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, mkdir, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { CSP, Child, requireTestModule, launchChromium, waitFor, watchErrors, hook, assertContiguous } from './lib.mjs';

requireTestModule ('playwright-core');

const sourceRoot = process.env.WW_SOURCE_ROOT ||
  path.resolve (path.dirname (fileURLToPath (import.meta.url)), '..', '..');
const binary = process.argv[2] || process.env.WW_WIREWATCH ||
  path.join (process.env.WW_BUILD_ROOT || path.join (sourceRoot, 'build'), 'src', 'wirewatch');

let stateDir;
let server;
let port = 0;
let base;
let browser;
let tabs = [];
let tabsUp = false;  // the later tests need the two tabs of the second one

async function startServer () {
  assert.ok (existsSync (binary), `no wirewatch binary at ${binary}`);
  const child = new Child ([binary, '--headless', '--bind', '127.0.0.1', '--port', String (port),
    '--state-dir', stateDir, '--seed', '1', '--update-interval', '0.2-0.5']);
  const m = await child.waitForLine (/Listening on wss?:\/\/127\.0\.0\.1:(\d+)\//);
  port = Number (m[1]);
  base = `http://127.0.0.1:${port}/`;
  return child;
}

async function openTab (name) {
  const page = await browser.newPage ({ viewport: { width: 1280, height: 800 } });
  page.setDefaultTimeout (10000);
  const errors = watchErrors (page, name);
  await page.goto (`${base}?retry=250&retrymax=2000`);
  return { name, page, errors };
}

async function allOpenWith (what, pred, timeout = 20000) {
  await waitFor (what, async () => {
    for (const t of tabs) {
      const h = await hook (t.page);
      if (!h || h.state !== 'open' || !pred (h))
        return false;
    }
    return true;
  }, { timeout });
}

before (async () => {
  stateDir = await mkdtemp (path.join (os.tmpdir (), 'ww-browser-'));
  server = await startServer ();
  browser = await launchChromium ();
});

after (async () => {
  await browser?.close ();
  await server?.stop ();
  if (stateDir)
    await rm (stateDir, { recursive: true, force: true });
});

test ('the page and its assets are served with CSP, Content-Type and ETag', { timeout: 20000 }, async () => {
  const res = await fetch (base);
  assert.equal (res.status, 200);
  assert.match (res.headers.get ('content-type') ?? '', /^text\/html/);
  assert.equal (res.headers.get ('content-security-policy'), CSP);
  const etag = res.headers.get ('etag');
  assert.ok (etag, 'an ETag');
  assert.ok (res.headers.get ('cache-control'), 'a Cache-Control');
  assert.match (await res.text (), /<script type="module" src="app.js"><\/script>/);

  const again = await fetch (base, { headers: { 'If-None-Match': etag } });
  assert.equal (again.status, 304, 'a matching If-None-Match gives 304');

  for (const [file, type] of [['app.js', /javascript/], ['feed.js', /javascript/],
    ['chart.js', /javascript/], ['style.css', /^text\/css/], ['icon.svg', /^image\/svg\+xml/]]) {
    const r = await fetch (base + file);
    assert.equal (r.status, 200, file);
    assert.match (r.headers.get ('content-type') ?? '', type, file);
    await r.arrayBuffer ();
  }
});

test ('two tabs show the same scores and the same UPDATE sequence', { timeout: 60000 }, async () => {
  tabs = [await openTab ('tab A'), await openTab ('tab B')];
  await allOpenWith ('both tabs open with 5 events and 10 UPDATEs',
                     (h) => h.events.length === 5 && h.seqs.length >= 10);

  const [a, b] = await Promise.all (tabs.map ((t) => hook (t.page)));
  assert.ok (a.url.endsWith (`127.0.0.1:${port}/ws`), a.url);
  for (const h of [a, b])
    assertContiguous (h.seqs, 'tab');
  // Where both tabs were connected they applied the very same UPDATEs.
  const byA = new Map (a.updates.map ((u) => [u.seq, u]));
  const common = b.updates.filter ((u) => byA.has (u.seq));
  assert.ok (common.length >= 5, `overlap of ${common.length} UPDATEs`);
  for (const u of common)
    assert.deepEqual (u, byA.get (u.seq));

  // At the same seq the two tabs hold the same five events, and show them.
  await waitFor ('both tabs at one seq with equal events', async () => {
    const [x, y] = await Promise.all (tabs.map ((t) => hook (t.page)));
    if (x.lastSeq !== y.lastSeq)
      return false;
    assert.deepEqual (y.events, x.events);
    return true;
  }, { timeout: 20000, interval: 10 });
  for (const t of tabs) {
    const h = await hook (t.page);
    for (const ev of h.events) {
      const card = t.page.locator (`.event-card[data-id="${ev.id}"]`);
      const shown = await card.locator ('.scoreline .visually-hidden').textContent ();
      // The card may already show a newer UPDATE; it must show this one's
      // names and plausible numbers.
      assert.match (shown, new RegExp (`^${ev.home} \\d+, ${ev.away} \\d+$`));
    }
  }

  await waitFor ('PRESENCE of 2 in both tabs', async () => {
    const shown = await Promise.all (tabs.map ((t) => t.page.textContent ('#stat-clients')));
    return shown.every ((s) => s === '2');
  });
  tabsUp = true;
});

test ('PING shows a round-trip time', { timeout: 30000 }, async () => {
  assert.ok (tabsUp, 'the two tabs did not come up');
  const { page } = tabs[0];
  for (let i = 1; i <= 3; i++) {
    await page.click ('#ping');
    await waitFor (`RTT ${i}`, async () => (await hook (page)).rtts.length === i);
  }
  const h = await hook (page);
  assert.ok (h.rtts.every ((v) => v >= 0 && v < 5000), JSON.stringify (h.rtts));
  assert.match (await page.textContent ('#rtt-last'), /^\d+(\.\d+)? ms$/);
  assert.match (await page.textContent ('#rtt-median'), /^\d+(\.\d+)? ms$/);
  assert.equal (await page.locator ('#rtt-chart rect.chart-bar').count (), 3);
  assert.ok (h.counters.sent >= 3);
});

test ('a chat from one tab appears in the other', { timeout: 30000 }, async () => {
  assert.ok (tabsUp, 'the two tabs did not come up');
  const [a, b] = tabs;
  const text = `hello from A ${Date.now ()} <i>not markup</i>`;
  await a.page.fill ('#chat-input', text);
  await a.page.press ('#chat-input', 'Enter');
  for (const t of tabs)
    await waitFor (`the chat in ${t.name}`, async () =>
      (await t.page.locator ('#chat-log .chat-text').allTextContents ()).includes (text));
  assert.match (await a.page.locator ('#chat-log li').last ().textContent (), /^You/);
  assert.match (await b.page.locator ('#chat-log li').last ().textContent (), /^Client /);
});

test ('after a server restart both tabs reconnect and miss no UPDATE', { timeout: 90000 }, async (t) => {
  assert.ok (tabsUp, 'the two tabs did not come up');
  const before = await Promise.all (tabs.map ((tab) => hook (tab.page)));
  for (const tab of tabs) // Chromium logs each refused reconnect while the server is down
    tab.errors.allow (new RegExp (`WebSocket connection to 'ws://127\\.0\\.0\\.1:${port}/ws[^']*' failed`));

  const exit = await server.stop ();
  assert.deepEqual (exit, { code: 0, signal: null }, 'wirewatch exits cleanly on SIGTERM');
  await waitFor ('both tabs waiting to reconnect', async () => {
    const states = await Promise.all (tabs.map ((tab) => tab.page.getAttribute ('body', 'data-state')));
    return states.every ((s) => s === 'waiting' || s === 'connecting');
  });
  // Every UPDATE the server counted (and saved) must have reached the tabs
  // before it closed them: the history is not saved, so one made during the
  // shutdown can never be replayed and shows up below as a gap.
  const saved = JSON.parse (await readFile (path.join (stateDir, 'feed.json'), 'utf8')).seq;
  const seen = Math.max (...(await Promise.all (tabs.map (async (tab) => (await hook (tab.page)).lastSeq))));
  t.diagnostic (`saved seq ${saved} at shutdown; the tabs saw up to ${seen}`);
  assert.ok (saved <= seen,
             `wirewatch saved seq ${saved} at shutdown but sent the tabs only up to ${seen}: ` +
             'the simulator went on after the close frames went out, and those UPDATEs are lost');
  await waitFor ('the countdown', async () =>
    /Reconnecting in \d+ s/.test (await tabs[0].page.textContent ('#status-text')));
  await sleep (1000); // let a few retries fail

  server = await startServer ();
  const marks = before.map ((h) => h.lastSeq);
  await allOpenWith ('both tabs back and 10 UPDATEs further',
                     (h) => h.lastSeq >= Math.max (...marks) + 10, 30000);

  const after = await Promise.all (tabs.map ((tab) => hook (tab.page)));
  after.forEach ((h, i) => {
    t.diagnostic (`${tabs[i].name}: seqs ${h.seqs[0]}..${h.seqs.at (-1)} (${h.seqs.length}), ` +
                  `stopped at ${marks[i]}, reconnects ${h.counters.reconnects}, ` +
                  `resumes ${h.counters.resumes}, duplicates ${h.counters.duplicates}, ` +
                  `initials ${h.counters.initials}`);
    assertContiguous (h.seqs, tabs[i].name);
    assert.ok (h.counters.reconnects >= 1, 'reconnected');
    assert.equal (h.counters.gapsSkipped, 0, 'no gap was given up on');
  });
  const byA = new Map (after[0].updates.map ((u) => [u.seq, u]));
  for (const u of after[1].updates)
    if (byA.has (u.seq))
      assert.deepEqual (u, byA.get (u.seq));
  assert.equal (await tabs[0].page.textContent ('#status-text'), 'Connected');

  // The restarted server hands out client ids afresh; a chat is still
  // "You" only in the tab that wrote it.
  const text = `after the restart ${Date.now ()}`;
  await tabs[1].page.fill ('#chat-input', text);
  await tabs[1].page.press ('#chat-input', 'Enter');
  for (const tab of tabs)
    await waitFor (`the chat in ${tab.name}`, async () =>
      (await tab.page.locator ('#chat-log li').last ().textContent ()).includes (text));
  assert.match (await tabs[0].page.locator ('#chat-log li').last ().textContent (), /^Client /);
  assert.match (await tabs[1].page.locator ('#chat-log li').last ().textContent (), /^You/);
});

test ('with --token the page passes ?token= on and is refused without it', { timeout: 40000 }, async () => {
  const secret = 'br0wser test/token';
  const guarded = new Child ([binary, '--headless', '--bind', '127.0.0.1', '--port', '0',
    '--no-persist', '--seed', '3', '--token', secret]);
  const pages = [];
  try {
    const m = await guarded.waitForLine (/Listening on ws:\/\/127\.0\.0\.1:(\d+)\//);
    const url = `http://127.0.0.1:${m[1]}/?retry=200&retrymax=400`;
    const good = await browser.newPage ();
    const bad = await browser.newPage ();
    pages.push (good, bad);
    const goodErrors = watchErrors (good, 'token tab');
    const badErrors = watchErrors (bad, 'no-token tab');
    // Chromium's words for the 401 the server answers the handshake with.
    badErrors.allow (/WebSocket connection to .* failed: HTTP Authentication failed/);
    await good.goto (`${url}&token=${encodeURIComponent (secret)}`);
    await bad.goto (url);
    await waitFor ('the tab with the token open with events', async () => {
      const h = await hook (good);
      return h?.state === 'open' && h.events.length === 5;
    });
    await waitFor ('three refused attempts without it', async () => (await hook (bad)).counters.reconnects >= 3);
    const h = await hook (bad);
    assert.equal (h.lastSeq, null, 'nothing received without the token');
    assert.equal (h.counters.received, 0);
    assert.match (await bad.textContent ('#status-text'), /check the address or the token/);
    assert.deepEqual (goodErrors.unexpected (), []);
    assert.deepEqual (badErrors.unexpected (), []);
  } finally {
    for (const p of pages)
      await p.close ();
    await guarded.stop ();
  }
});

test ('a burst of UPDATEs (5 events every 10–20 ms) arrives whole and in order', { timeout: 40000 }, async (t) => {
  const fast = new Child ([binary, '--headless', '--bind', '127.0.0.1', '--port', '0',
    '--no-persist', '--seed', '9', '--update-interval', '0.01-0.02']);
  let page;
  try {
    const m = await fast.waitForLine (/Listening on ws:\/\/127\.0\.0\.1:(\d+)\//);
    page = await browser.newPage ();
    const errors = watchErrors (page, 'burst tab');
    await page.goto (`http://127.0.0.1:${m[1]}/`);
    await waitFor ('the page open with events', async () => {
      const h = await hook (page);
      return h?.state === 'open' && h.events.length === 5;
    });
    await waitFor ('1,000 UPDATEs', async () => (await hook (page)).seqs.length >= 1000, { timeout: 30000 });
    const h = await hook (page);
    t.diagnostic (`${h.seqs.length} UPDATEs, ${h.counters.gaps} gaps, ${h.counters.duplicates} duplicates`);
    assertContiguous (h.seqs, 'burst tab');
    assert.equal (h.counters.gapsSkipped, 0);
    assert.equal (h.state, 'open', 'not dropped for falling behind');
    assert.deepEqual (errors.unexpected (), []);
  } finally {
    await page?.close ();
    await fast.stop ();
  }
});

test ('over https the page connects with wss:', { timeout: 40000 }, async () => {
  const dir = await mkdtemp (path.join (os.tmpdir (), 'ww-browser-tls-'));
  let secure;
  let context;
  try {
    const cert = path.join (dir, 'c.pem');
    const key = path.join (dir, 'k.pem');
    const openssl = new Child (['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
      'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert]);
    assert.deepEqual (await Promise.race ([openssl.exitPromise, sleep (15000).then (() => 'timeout')]),
                      { code: 0, signal: null }, openssl.stderr);
    await openssl.stop ();
    secure = new Child ([binary, '--headless', '--bind', '127.0.0.1', '--port', '0',
      '--no-persist', '--seed', '5', '--tls-cert', cert, '--tls-key', key]);
    await waitFor ('wirewatch to listen or exit', () => secure.exited || /Listening on/.test (secure.stderr));
    assert.ok (!secure.exited, `wirewatch exited: ${secure.stderr}`);
    const m = await secure.waitForLine (/Listening on wss:\/\/127\.0\.0\.1:(\d+)\//);
    // The certificate is self-signed: trust it for this context only.
    context = await browser.newContext ({ ignoreHTTPSErrors: true });
    const page = await context.newPage ();
    const errors = watchErrors (page, 'https tab');
    await page.goto (`https://127.0.0.1:${m[1]}/`);
    await waitFor ('the page open with events over wss', async () => {
      const h = await hook (page);
      return h?.state === 'open' && h.events.length === 5;
    });
    assert.match ((await hook (page)).url, new RegExp (`^wss://127\\.0\\.0\\.1:${m[1]}/ws$`));
    assert.deepEqual (errors.unexpected (), []);
  } finally {
    await context?.close ();
    await secure?.stop ();
    await rm (dir, { recursive: true, force: true });
  }
});

// A server of its own at the default pace (an UPDATE every 2–7 s per event),
// so the pictures show one or two highlighted cards rather than all five.
test ('screenshots (WW_SCREENSHOTS=1)', { timeout: 90000, skip: process.env.WW_SCREENSHOTS !== '1' }, async () => {
  const dir = path.join (sourceRoot, 'data', 'screenshots');
  const quiet = new Child ([binary, '--headless', '--bind', '127.0.0.1', '--port', '0',
    '--no-persist', '--seed', '7']);
  try {
    const m = await quiet.waitForLine (/Listening on ws:\/\/127\.0\.0\.1:(\d+)\//);
    const url = `http://127.0.0.1:${m[1]}/`;
    const other = await browser.newPage ();
    const page = await browser.newPage ({ viewport: { width: 1280, height: 800 } });
    const errors = watchErrors (page, 'screenshot tab');
    await other.goto (url);
    await page.goto (url);
    await waitFor ('the page open with events', async () => {
      const h = await hook (page);
      return h?.state === 'open' && h.events.length === 5;
    });
    await mkdir (dir, { recursive: true });
    for (let i = 0; i < 16; i++) {
      const n = (await hook (page)).rtts.length;
      await page.click ('#ping');
      await waitFor ('an RTT', async () => (await hook (page)).rtts.length > n);
      await sleep (150);
    }
    await other.fill ('#chat-input', 'Anyone else watching Harbor City?');
    await other.press ('#chat-input', 'Enter');
    await waitFor ('the first chat', async () => (await page.locator ('#chat-log li').count ()) >= 1);
    await page.fill ('#chat-input', 'Yes, and the latency strip is flat');
    await page.press ('#chat-input', 'Enter');
    await waitFor ('the second chat', async () => (await page.locator ('#chat-log li').count ()) >= 2);
    await waitFor ('a few UPDATEs', async () => (await hook (page)).seqs.length >= 6, { timeout: 30000 });

    const shoot = async (file, viewport, colorScheme) => {
      await page.emulateMedia ({ colorScheme });
      await page.setViewportSize (viewport);
      await page.evaluate (() => { document.activeElement?.blur (); window.scrollTo (0, 0); });
      await sleep (400);
      await page.screenshot ({ path: path.join (dir, file) });
    };
    await shoot ('web-desktop.png', { width: 1280, height: 800 }, 'light');
    await shoot ('web-desktop-dark.png', { width: 1280, height: 800 }, 'dark');
    await shoot ('web-phone.png', { width: 390, height: 844 }, 'light');
    assert.deepEqual (errors.unexpected (), []);
    await other.close ();
    await page.close ();
  } finally {
    await quiet.stop ();
  }
});

test ('no console errors or uncaught exceptions in either tab', () => {
  assert.ok (tabs.length === 2);
  for (const t of tabs)
    assert.deepEqual (t.errors.unexpected (), [], t.name);
});
