// SPDX-License-Identifier: GPL-3.0-or-later
//
// The browser page against a scripted feed (mock-feed.mjs): what the real
// server cannot be made to do on cue — a gap, a duplicate, a dropped TCP
// connection, refused reconnects — and the page's own checks (token,
// backoff, chat limit, escaping, server errors).  Runs headless Chromium.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireTestModule, launchChromium, waitFor, watchErrors, hook, assertContiguous } from './lib.mjs';
import { startMockFeed, event } from './mock-feed.mjs';

requireTestModule ('playwright-core');
requireTestModule ('ws');

const sourceRoot = process.env.WW_SOURCE_ROOT ||
  path.resolve (path.dirname (fileURLToPath (import.meta.url)), '..', '..');
const TOKEN = 'tok en/ü?&=';

let browser;
let mock;
let page;
let errors;

function five (seq) {
  return { type: 'INITIAL', seq, events: [0, 1, 2, 3, 4].map ((n) => event (n)) };
}

before (async () => {
  mock = await startMockFeed ({ sourceRoot, token: TOKEN });
  browser = await launchChromium ();
  page = await browser.newPage ({ viewport: { width: 1280, height: 800 } });
  errors = watchErrors (page, 'page');
});

after (async () => {
  await browser?.close ();
  await mock?.close ();
});

test ('token from the page URL reaches the WebSocket URL', { timeout: 30000 }, async () => {
  await page.goto (`${mock.url}?token=${encodeURIComponent (TOKEN)}&retry=200&retrymax=1600`);
  const conn = await mock.nextConnection (0);
  const url = new URL (conn.url, 'http://x');
  assert.equal (url.pathname, '/ws');
  assert.equal (url.searchParams.get ('token'), TOKEN);
  await waitFor ('state open', async () => (await hook (page)).state === 'open');
  // The token is not shown in the page.
  const shown = await page.textContent ('#endpoint');
  assert.match (shown, /\/ws\?token=…$/);
  assert.ok (!/tok(\+| |%20)en/.test (shown), shown);
});

test ('WELCOME, INITIAL and UPDATEs render; a gap sends RESUME; duplicates are ignored',
      { timeout: 30000 }, async () => {
  const conn = mock.conns[0];
  conn.send ({ type: 'WELCOME', clientId: 'c7', server: { name: 'Mock', version: '1' }, heartbeatMs: 15000, seq: 10 });
  conn.send (five (10));
  conn.send ({ type: 'PRESENCE', clients: 3 });
  await waitFor ('five cards', async () => (await page.$$ ('.event-card')).length === 5);
  assert.equal (await page.textContent ('#stat-clients'), '3');
  assert.equal (await page.textContent ('#client-id'), 'c7');

  conn.send ({ type: 'UPDATE', seq: 11, event: event (2, 1, 0, 2), ts: Date.now () });
  await waitFor ('seq 11', async () => (await hook (page)).lastSeq === 11);
  const card = page.locator ('.event-card[data-id="EVENT#02"]');
  assert.match (await card.locator ('.team.home .team-score').textContent (), /^1$/);
  assert.match (await card.locator ('.event-seq').textContent (), /seq 11/);
  assert.match (await card.getAttribute ('class'), /changed/, 'the changed card is highlighted');
  assert.equal (await card.locator ('.scoreline').getAttribute ('aria-live'), 'polite');
  assert.match (await card.locator ('.scoreline').textContent (), /Westfield 1, Oakridge 0/);

  // 13 after 11: the page must hold 13 and ask for what follows 11.
  conn.send ({ type: 'UPDATE', seq: 13, event: event (3, 0, 1, 2), ts: Date.now () });
  const resume = await conn.waitMessage ('RESUME', (m) => m.type === 'RESUME');
  assert.equal (resume.seq, 11);
  let h = await hook (page);
  assert.equal (h.lastSeq, 11, 'a seq after a gap is not applied early');
  assert.equal (h.counters.gaps, 1);

  conn.send ({ type: 'UPDATE', seq: 12, event: event (1, 1, 1, 2), ts: Date.now () });
  conn.send ({ type: 'UPDATE', seq: 13, event: event (3, 0, 1, 2), ts: Date.now () });
  conn.send ({ type: 'UPDATE', seq: 12, event: event (1, 1, 1, 2), ts: Date.now () });
  await waitFor ('seq 13', async () => (await hook (page)).lastSeq === 13);
  await waitFor ('duplicates counted', async () => (await hook (page)).counters.duplicates >= 2);
  h = await hook (page);
  assert.deepEqual (h.seqs, [11, 12, 13]);
  assert.equal (conn.messages.filter ((m) => m.type === 'RESUME').length, 1, 'one RESUME per gap');
  await waitFor ('#stat-seq 13', async () => (await page.textContent ('#stat-seq')) === '13');
});

test ('PING shows the round trip and the chart', { timeout: 30000 }, async () => {
  const conn = mock.conns[0];
  await page.click ('#ping');
  const ping = await conn.waitMessage ('PING', (m) => m.type === 'PING');
  assert.equal (typeof ping.id, 'string');
  assert.ok (ping.id.length <= 64);
  assert.equal (typeof ping.ts, 'number');
  conn.send ({ type: 'PONG', id: 'unknown', ts: 0, serverTs: Date.now () });
  conn.send ({ type: 'PONG', id: ping.id, ts: ping.ts, serverTs: Date.now () });
  await waitFor ('an RTT', async () => (await hook (page)).rtts.length === 1);
  assert.match (await page.textContent ('#rtt-last'), /\d ms$/);
  assert.match (await page.textContent ('#rtt-median'), /\d ms$/);
  assert.equal (await page.locator ('#rtt-chart rect.chart-bar').count (), 1);
  assert.equal (await page.locator ('#rtt-chart line.chart-median').count (), 1);
  // The keyboard reaches the button.
  await page.focus ('#ping');
  await page.keyboard.press ('Enter');
  const second = await conn.waitMessage ('second PING', (m) => m.type === 'PING' && m.id !== ping.id);
  conn.send ({ type: 'PONG', id: second.id, ts: second.ts, serverTs: Date.now () });
  await waitFor ('two RTTs', async () => (await hook (page)).rtts.length === 2);

  // A slow third answer: the chart keeps its scale and clips that bar.
  await page.click ('#ping');
  const third = await conn.waitMessage ('third PING', (m) => m.type === 'PING' && ![ping.id, second.id].includes (m.id));
  await new Promise ((resolve) => setTimeout (resolve, 400));
  conn.send ({ type: 'PONG', id: third.id, ts: third.ts, serverTs: Date.now () });
  await waitFor ('three RTTs', async () => (await hook (page)).rtts.length === 3);
  const rtts = (await hook (page)).rtts;
  if (rtts[2] > 3 * Math.max (rtts[0], rtts[1])) {
    assert.equal (await page.locator ('#rtt-chart rect.chart-bar.clipped').count (), 1);
    assert.match (await page.textContent ('#rtt-chart title'), /is cut at/);
  }
});

test ('chat is sent, shown as text, and limited to 4 KiB', { timeout: 30000 }, async () => {
  const conn = mock.conns[0];
  await page.fill ('#chat-input', 'hello <b>there</b>');
  await page.press ('#chat-input', 'Enter');
  const chat = await conn.waitMessage ('CHAT', (m) => m.type === 'CHAT');
  assert.equal (chat.text, 'hello <b>there</b>');
  conn.send ({ type: 'CHAT', from: 'c7', text: chat.text, ts: Date.now () });
  conn.send ({ type: 'CHAT', from: 'c9', text: '<img src=x onerror=alert(1)>', ts: Date.now () });
  await waitFor ('two chat lines', async () => (await page.$$ ('#chat-log li')).length === 2);
  const items = page.locator ('#chat-log li');
  assert.match (await items.nth (0).textContent (), /You.*hello <b>there<\/b>/s);
  assert.match (await items.nth (1).textContent (), /Client c9.*<img src=x/s);
  assert.equal (await page.locator ('#chat-log img, #chat-log b').count (), 0, 'chat text is never markup');

  // 2,100 two-byte characters: under the input's 4,096-character limit but
  // over the protocol's 4 KiB of UTF-8.
  const before = conn.messages.length;
  await page.fill ('#chat-input', 'é'.repeat (2100));
  await page.click ('#chat-send');
  await waitFor ('the size error', async () => await page.isVisible ('#chat-error'));
  assert.match (await page.textContent ('#chat-error'), /4096 bytes/);
  assert.equal (conn.messages.length, before, 'nothing sent');
});

test ('a server ERROR is shown and the connection stays', { timeout: 30000 }, async () => {
  const conn = mock.conns[0];
  conn.send ({ type: 'ERROR', code: 'bad_request', message: 'Unknown message type' });
  conn.send ('not json');
  conn.send ({ type: 'SOMETHING_NEW' });
  await waitFor ('the toast', async () => await page.isVisible ('#toast'));
  assert.match (await page.textContent ('#toast'), /Unknown message type/);
  assert.equal ((await hook (page)).state, 'open');
});

test ('a dropped connection is retried with a countdown and resumed without a gap',
      { timeout: 40000 }, async () => {
  mock.conns[0].drop ();
  await waitFor ('state waiting', async () => (await hook (page)).state === 'waiting');
  assert.match (await page.textContent ('#status-text'), /Reconnecting in \d+ s/);
  assert.equal (await page.getAttribute ('body', 'data-state'), 'waiting');
  assert.ok (await page.isDisabled ('#ping'), 'PING is off while disconnected');

  const conn = await mock.nextConnection (1);
  await waitFor ('state open', async () => (await hook (page)).state === 'open');
  // The server moved on to 16 while we were away.
  conn.send ({ type: 'WELCOME', clientId: 'c8', server: 'Mock', heartbeatMs: 15000, seq: 16 });
  conn.send (five (16));
  const resume = await conn.waitMessage ('RESUME', (m) => m.type === 'RESUME');
  assert.equal (resume.seq, 13);
  for (const s of [14, 15, 16])
    conn.send ({ type: 'UPDATE', seq: s, event: event (s % 5, s, 0, s), ts: Date.now () });
  await waitFor ('seq 16', async () => (await hook (page)).lastSeq === 16);
  const h = await hook (page);
  assert.deepEqual (h.seqs, [11, 12, 13, 14, 15, 16]);
  assertContiguous (h.seqs, 'page');
  assert.equal (h.counters.initials, 1, 'the INITIAL sent before the replay was held back');
  // The replayed UPDATE for EVENT#04 is shown, not the stale snapshot.
  assert.equal (await page.textContent ('.event-card[data-id="EVENT#04"] .team.home .team-score'), '14');
});

test ('refused reconnects back off exponentially with jitter up to the cap',
      { timeout: 40000 }, async () => {
  // Chromium reports each refused handshake on the console; that is the
  // browser, not the page.
  errors.allow (/WebSocket connection to .* failed: Error during WebSocket handshake: Unexpected response code: 503/);
  mock.refuse = true;
  const before = mock.upgrades.length;
  const known = (await hook (page)).delays.length;
  mock.conns[1].drop ();
  // retry=200, retrymax=1600: 200, 400, 800, 1600, 1600 less up to 25 %.
  await waitFor ('five refused attempts', () => mock.upgrades.length >= before + 5, { timeout: 20000 });
  const h = await hook (page);
  const delays = h.delays.slice (known, known + 5);
  assert.equal (delays.length, 5, JSON.stringify (h.delays));
  [200, 400, 800, 1600, 1600].forEach ((full, i) => {
    assert.ok (delays[i] <= full && delays[i] >= full * 0.75, `delay ${i}: ${delays[i]} for ${full}`);
  });
  // Going back online skips the countdown.
  await waitFor ('online while waiting starts an attempt at once', () => page.evaluate (() => {
    if (window.wirewatch.state !== 'waiting')
      return false;
    window.dispatchEvent (new Event ('online'));
    return window.wirewatch.state === 'connecting';
  }));
  await waitFor ('that attempt refused', async () => (await hook (page)).state === 'waiting');

  // "Retry now" skips the countdown.
  mock.refuse = false;
  await waitFor ('state waiting', async () => (await hook (page)).state === 'waiting');
  const n = mock.conns.length;
  await page.click ('#retry-now');
  const conn = await mock.nextConnection (n, 5000);
  conn.send ({ type: 'WELCOME', clientId: 'c10', server: 'Mock', heartbeatMs: 15000, seq: 16 });
  conn.send (five (16));
  await waitFor ('state open', async () => (await hook (page)).state === 'open');
  assert.equal (conn.messages.filter ((m) => m.type === 'RESUME').length, 0,
                'no RESUME when the server is where we left it');
});

test ('a silent server is probed with a PING, then dropped and retried', { timeout: 30000 }, async () => {
  const n = mock.conns.length;
  mock.conns[n - 1].drop ();
  const conn = await mock.nextConnection (n);
  // heartbeatMs 300: quiet for 300 ms → PING; quiet for 600 ms → give up.
  conn.send ({ type: 'WELCOME', clientId: 'c11', server: 'Mock', heartbeatMs: 300, seq: 16 });
  conn.send (five (16));
  const probe = await conn.waitMessage ('a liveness PING', (m) => m.type === 'PING');
  assert.match (probe.id, /^k/);
  const next = await mock.nextConnection (n + 1, 10000);
  assert.equal ((await hook (page)).rtts.length, 3, 'a liveness PING is not charted');
  next.send ({ type: 'WELCOME', clientId: 'c12', server: 'Mock', heartbeatMs: 15000, seq: 16 });
  next.send (five (16));
  await waitFor ('state open', async () => (await hook (page)).state === 'open');
});

test ('accessible names, live regions and keyboard order', { timeout: 30000 }, async () => {
  assert.equal (await page.getByRole ('button', { name: 'Send PING' }).count (), 1);
  assert.equal (await page.getByRole ('button', { name: 'Send', exact: true }).count (), 1);
  assert.equal (await page.getByLabel ('Message', { exact: true }).count (), 1);
  assert.equal (await page.getByRole ('log', { name: 'Chat messages' }).count (), 1);
  assert.equal (await page.getByRole ('heading', { name: 'Harbor City vs Northgate' }).count (), 1);
  assert.equal (await page.getAttribute ('#status-text', 'role'), 'status');
  assert.equal (await page.locator ('.scoreline[aria-live="polite"]').count (), 5);
  assert.equal (await page.getAttribute ('#rtt-chart', 'role'), 'img');
  assert.match (await page.textContent ('#rtt-chart title'), /median/);

  // Tab walks skip link → PING → chat log → input → Send.
  await page.focus ('.skip-link');
  const order = ['skip-link'];
  for (let i = 0; i < 5; i++) {
    await page.keyboard.press ('Tab');
    order.push (await page.evaluate (() => document.activeElement?.id || document.activeElement?.className));
  }
  const want = ['skip-link', 'ping', 'chat-log', 'chat-input', 'chat-send'];
  assert.deepEqual (order.filter ((x) => want.includes (x)), want, order.join (' '));
  // A visible focus ring on a focused button.
  await page.focus ('#ping');
  await page.keyboard.press ('Shift+Tab');
  await page.keyboard.press ('Tab');
  const outline = await page.evaluate (() => getComputedStyle (document.activeElement).outlineStyle);
  assert.equal (outline, 'solid');
});

test ('phone width has no horizontal scrolling; dark preference is followed', { timeout: 30000 }, async () => {
  await page.setViewportSize ({ width: 390, height: 844 });
  const widths = await page.evaluate (() => [document.documentElement.scrollWidth, window.innerWidth]);
  assert.ok (widths[0] <= widths[1], `page ${widths[0]} px wide in a ${widths[1]} px window`);
  const columns = await page.evaluate (() =>
    getComputedStyle (document.getElementById ('events')).gridTemplateColumns.split (' ').length);
  assert.equal (columns, 2);

  await page.emulateMedia ({ colorScheme: 'dark' });
  assert.equal (await page.evaluate (() => getComputedStyle (document.body).backgroundColor), 'rgb(36, 36, 36)');
  await page.emulateMedia ({ colorScheme: 'light' });
  assert.equal (await page.evaluate (() => getComputedStyle (document.body).backgroundColor), 'rgb(250, 250, 250)');
  await page.setViewportSize ({ width: 1280, height: 800 });
});

test ('no console errors or uncaught exceptions', () => {
  assert.deepEqual (errors.unexpected (), []);
});

test ('the reconnect delays default to 3 s and 30 s', { timeout: 30000 }, async () => {
  const other = await browser.newPage ();
  try {
    await other.goto (`${mock.url}?retry=abc&retrymax=-5`);
    const h = await waitFor ('the hook', () => hook (other));
    assert.equal (h.retryMs, 3000);
    assert.equal (h.retryMaxMs, 30000);
  } finally {
    await other.close ();
  }
});
