// SPDX-License-Identifier: GPL-3.0-or-later
//
// The Wirewatch browser page: wires the feed connection (feed.js) to the
// DOM.  Query parameters: token (passed on to the WebSocket), retry and
// retrymax (reconnect delays in ms, for tests; defaults 3000 and 30000).

import { Feed, median, DEFAULT_RETRY_MS, DEFAULT_RETRY_MAX_MS } from './feed.js';
import { drawLatency, formatMs } from './chart.js';

const MAX_CHAT_ITEMS = 200;
const MAX_RTT_ITEMS = 8;
const CHAT_MAX_BYTES = 4096;
const FLASH_MS = 1500;  // a little over the CSS animations

const $ = (id) => document.getElementById (id);
const fmtInt = new Intl.NumberFormat ();
const fmtClock = new Intl.DateTimeFormat (undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });

function intParam (params, name, fallback, min, max) {
  const raw = params.get (name);
  if (raw === null || !/^\d+$/.test (raw))
    return fallback;
  return Math.min (max, Math.max (min, Number (raw)));
}

function feedUrl (params) {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const url = new URL (`${scheme}//${location.host}/ws`);
  const token = params.get ('token');
  if (token)
    url.searchParams.set ('token', token);
  return url.toString ();
}

function formatDuration (ms) {
  const s = Math.max (0, Math.floor (ms / 1000));
  const h = Math.floor (s / 3600);
  const m = Math.floor ((s % 3600) / 60);
  const sec = String (s % 60).padStart (2, '0');
  return h > 0 ? `${h}:${String (m).padStart (2, '0')}:${sec}` : `${m}:${sec}`;
}

function formatAgo (ms) {
  const s = Math.max (0, Math.round (ms / 1000));
  if (s < 2)
    return 'just now';
  if (s < 60)
    return `${s} s ago`;
  if (s < 3600)
    return `${Math.floor (s / 60)} min ago`;
  return `${Math.floor (s / 3600)} h ago`;
}

function closeText (close) {
  if (!close)
    return '';
  const names = {
    1000: 'closed normally', 1001: 'server going away', 1006: 'connection lost',
    1008: 'policy violation', 1009: 'message too big', 1011: 'server error',
    1013: 'try again later', 4000: 'no answer',
  };
  const what = names[close.code] || `code ${close.code}`;
  return close.reason ? `${what}: ${close.reason}` : what;
}

// Starts the CSS animation that @cls carries, or starts it over when it is
// running: rewinding the running animations avoids forcing a layout per
// UPDATE as removing and re-adding the class would.
function restartClass (node, cls, also = []) {
  if (!node.classList.contains (cls)) {
    node.classList.add (cls);
    return;
  }
  for (const n of [node, ...also])
    for (const a of n.getAnimations ())
      a.currentTime = 0;
}

// ---- Event cards ------------------------------------------------------------

const cards = new Map ();

function teamRow (side) {
  const row = document.createElement ('div');
  row.className = `team ${side}`;
  const name = document.createElement ('span');
  name.className = 'team-name';
  const score = document.createElement ('span');
  score.className = 'team-score';
  row.append (name, score);
  return { row, name, score };
}

function createCard (id) {
  const li = document.createElement ('li');
  li.className = 'event-card';
  li.dataset.id = id;

  const head = document.createElement ('div');
  head.className = 'event-head';
  const idEl = document.createElement ('span');
  idEl.className = 'event-id';
  idEl.textContent = id;
  const seqEl = document.createElement ('span');
  seqEl.className = 'event-seq';
  head.append (idEl, seqEl);

  const scoreline = document.createElement ('div');
  scoreline.className = 'scoreline';
  scoreline.setAttribute ('aria-live', 'polite');
  scoreline.setAttribute ('aria-atomic', 'true');
  const spoken = document.createElement ('span');
  spoken.className = 'visually-hidden';
  const home = teamRow ('home');
  const away = teamRow ('away');
  home.row.setAttribute ('aria-hidden', 'true');
  away.row.setAttribute ('aria-hidden', 'true');
  scoreline.append (spoken, home.row, away.row);

  const foot = document.createElement ('div');
  foot.className = 'event-foot';
  const version = document.createElement ('span');
  version.className = 'event-version';
  const ago = document.createElement ('span');
  ago.className = 'event-ago';
  foot.append (version, ago);

  // Names the card for screen readers; the team rows say it visually.
  const title = document.createElement ('h3');
  title.className = 'visually-hidden';

  li.append (title, head, scoreline, foot);

  const card = { li, title, seqEl, spoken, home, away, version, ago, event: null, seq: null };
  cards.set (id, card);

  // Keep the cards in id order whatever order they arrive in.
  const list = $('events');
  const after = [...list.children].find ((c) => c.dataset.id > id);
  list.insertBefore (li, after ?? null);
  return card;
}

function renderEvent (event, seq, flash) {
  const card = cards.get (event.id) ?? createCard (event.id);
  const old = card.event;
  const homeName = String (event.home ?? 'Home');
  const awayName = String (event.away ?? 'Away');
  const hs = Number.isFinite (event.homeScore) ? event.homeScore : 0;
  const as = Number.isFinite (event.awayScore) ? event.awayScore : 0;

  card.event = event;
  if (seq !== null)
    card.seq = seq;
  card.title.textContent = String (event.name ?? `${homeName} vs ${awayName}`);
  card.home.name.textContent = homeName;
  card.away.name.textContent = awayName;
  card.home.score.textContent = String (hs);
  card.away.score.textContent = String (as);
  card.spoken.textContent = `${homeName} ${hs}, ${awayName} ${as}`;
  card.seqEl.textContent = card.seq !== null ? `seq ${fmtInt.format (card.seq)}` : '';
  card.version.textContent = Number.isFinite (event.version) ? `version ${event.version}` : '';
  card.li.dataset.seq = card.seq ?? '';
  updateAgo (card, Date.now ());

  if (flash && old) {
    restartClass (card.li, 'changed', [card.seqEl]);
    if (old.homeScore !== event.homeScore)
      restartClass (card.home.row, 'bumped', [card.home.score]);
    if (old.awayScore !== event.awayScore)
      restartClass (card.away.row, 'bumped', [card.away.score]);
    clearTimeout (card.flashTimer);
    card.flashTimer = setTimeout (() => {
      card.li.classList.remove ('changed');
      card.home.row.classList.remove ('bumped');
      card.away.row.classList.remove ('bumped');
    }, FLASH_MS);
  }
}

function updateAgo (card, now) {
  const at = card.event?.updatedAt;
  card.ago.textContent = Number.isFinite (at) ? `updated ${formatAgo (now - at)}` : '';
}

// ---- Page -------------------------------------------------------------------

const params = new URLSearchParams (location.search);
const feed = new Feed ({
  url: feedUrl (params),
  retryMs: intParam (params, 'retry', DEFAULT_RETRY_MS, 10, 600000),
  retryMaxMs: intParam (params, 'retrymax', DEFAULT_RETRY_MAX_MS, 10, 600000),
});

function shownUrl () {
  const u = new URL (feed.url);
  if (u.searchParams.has ('token'))
    u.searchParams.set ('token', '…');
  return u.toString ().replace ('%E2%80%A6', '…');
}

function renderStatus () {
  const text = $('status-text');
  const retry = $('retry-now');
  const open = feed.state === 'open';

  document.body.dataset.state = feed.state;
  retry.hidden = feed.state !== 'waiting';
  $('ping').disabled = !open;
  $('chat-input').disabled = !open;
  $('chat-send').disabled = !open;

  switch (feed.state) {
  case 'connecting':
    text.textContent = feed.counters.reconnects > 0 ? 'Reconnecting…' : 'Connecting…';
    break;
  case 'open':
    text.textContent = 'Connected';
    break;
  case 'waiting': {
    const s = Math.max (0, Math.ceil ((feed.retryAt - Date.now ()) / 1000));
    // A browser is not told why a handshake failed (a wrong token looks
    // like a refused connection), so say what to check.
    const why = !feed.everOpened && feed.attempt >= 2
      ? 'Cannot connect (check the address or the token)' : closeText (feed.lastClose);
    text.textContent = `${why ? why[0].toUpperCase () + why.slice (1) + ' · ' : ''}Reconnecting in ${s} s`;
    break;
  }
  default:
    text.textContent = feed.lastClose ? `Disconnected (${closeText (feed.lastClose)})` : 'Disconnected';
    break;
  }
}

function renderCounters () {
  $('stat-received').textContent = fmtInt.format (feed.counters.received);
  $('stat-sent').textContent = fmtInt.format (feed.counters.sent);
  $('stat-seq').textContent = feed.lastSeq === null ? '—' : fmtInt.format (feed.lastSeq);
}

function renderUptime () {
  $('stat-uptime').textContent = feed.state === 'open' && feed.openedAt
    ? formatDuration (Date.now () - feed.openedAt) : '—';
}

function renderLatency () {
  const med = median (feed.rtts);
  const last = feed.rtts.length ? feed.rtts[feed.rtts.length - 1] : null;
  $('rtt-last').textContent = formatMs (last);
  $('rtt-median').textContent = formatMs (med);
  $('rtt-count').textContent = fmtInt.format (feed.rtts.length);
  drawLatency ($('rtt-chart'), feed.rtts, med);

  const list = $('rtt-list');
  list.replaceChildren (...feed.rtts.slice (-MAX_RTT_ITEMS).reverse ().map ((v, i) => {
    const li = document.createElement ('li');
    li.textContent = formatMs (v);
    if (i === 0)
      li.className = 'latest';
    return li;
  }));
}

let toastTimer = 0;
function toast (message) {
  const t = $('toast');
  t.textContent = message;
  t.hidden = false;
  clearTimeout (toastTimer);
  toastTimer = setTimeout (() => { t.hidden = true; }, 5000);
}

function addChat ({ from, text, ts, mine }) {
  const log = $('chat-log');
  const nearBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  const li = document.createElement ('li');
  li.className = mine ? 'chat-msg mine' : 'chat-msg';

  const meta = document.createElement ('div');
  meta.className = 'chat-meta';
  const who = document.createElement ('span');
  who.className = 'chat-from';
  who.textContent = mine ? 'You' : (from ? `Client ${from}` : 'Someone');
  const when = document.createElement ('time');
  const date = new Date (ts);
  when.dateTime = date.toISOString ();
  when.textContent = fmtClock.format (date);
  meta.append (who, when);

  const body = document.createElement ('p');
  body.className = 'chat-text';
  body.textContent = text;

  li.append (meta, body);
  log.append (li);
  while (log.children.length > MAX_CHAT_ITEMS)
    log.firstElementChild.remove ();
  $('chat-empty').hidden = true;
  if (nearBottom || mine)
    log.scrollTop = log.scrollHeight;
}

function chatError (message) {
  const e = $('chat-error');
  e.textContent = message;
  e.hidden = !message;
}

feed.addEventListener ('state', () => {
  renderStatus ();
  renderUptime ();
  if (feed.state !== 'open')
    $('stat-clients').textContent = '—';
});
// Counters change with every frame; draw them at most once per display frame.
let countersQueued = false;
feed.addEventListener ('counters', () => {
  if (countersQueued)
    return;
  countersQueued = true;
  requestAnimationFrame (() => {
    countersQueued = false;
    renderCounters ();
  });
});
feed.addEventListener ('welcome', () => {
  $('client-id').textContent = feed.clientId ?? '—';
  const s = feed.server;
  const name = typeof s === 'string' ? s
    : s && typeof s === 'object' ? [s.name, s.version].filter (Boolean).join (' ') : '';
  $('server-name').textContent = name || 'Wirewatch';
});
feed.addEventListener ('initial', (ev) => {
  for (const event of ev.detail.events)
    renderEvent (event, null, true);
  $('events-note').textContent = `Snapshot at seq ${fmtInt.format (ev.detail.seq)}; scores flash when they change.`;
  renderCounters ();
});
feed.addEventListener ('update', (ev) => {
  renderEvent (ev.detail.event, ev.detail.seq, true);
  renderCounters ();
});
feed.addEventListener ('presence', (ev) => {
  $('stat-clients').textContent = ev.detail === null ? '—' : fmtInt.format (ev.detail);
});
feed.addEventListener ('pong', renderLatency);
feed.addEventListener ('chat', (ev) => addChat (ev.detail));
feed.addEventListener ('server-error', (ev) => {
  const { code, message } = ev.detail;
  toast (message ? `Server: ${message} (${code})` : `Server error: ${code}`);
});

$('ping').addEventListener ('click', () => feed.ping ());
$('retry-now').addEventListener ('click', () => feed.retryNow ());
// Back on the network (a laptop waking up): no need to sit out the countdown.
window.addEventListener ('online', () => feed.retryNow ());
$('chat-form').addEventListener ('submit', (ev) => {
  ev.preventDefault ();
  const input = $('chat-input');
  const text = input.value.trim ();
  if (!text)
    return;
  if (new TextEncoder ().encode (text).length > CHAT_MAX_BYTES) {
    chatError (`A message can be at most ${CHAT_MAX_BYTES} bytes.`);
    return;
  }
  if (!feed.chat (text)) {
    chatError ('Not connected; the message was not sent.');
    return;
  }
  chatError ('');
  input.value = '';
  input.focus ();
});

// One ticker for everything that moves with the clock.
setInterval (() => {
  const now = Date.now ();
  if (feed.state === 'waiting')
    renderStatus ();
  renderUptime ();
  for (const card of cards.values ())
    updateAgo (card, now);
}, 500);

// Read-only hook for tests and curious users: copies, never live state.
window.wirewatch = Object.freeze ({
  get state () { return feed.state; },
  get url () { return feed.url; },
  get clientId () { return feed.clientId; },
  get clients () { return feed.clients; },
  get lastSeq () { return feed.lastSeq; },
  get seqs () { return [...feed.seqs]; },
  get received () { return [...feed.received]; },
  get updates () { return feed.updates.map ((u) => ({ ...u })); },
  get counters () { return { ...feed.counters }; },
  get rtts () { return [...feed.rtts]; },
  get retryAt () { return feed.retryAt; },
  get retryMs () { return feed.retryMs; },
  get retryMaxMs () { return feed.retryMaxMs; },
  get delays () { return [...feed.delays]; },
  get events () { return [...feed.events.values ()].map ((e) => ({ ...e })); },
});

$('endpoint').textContent = shownUrl ();
new ResizeObserver (renderLatency).observe ($('rtt-chart'));
renderStatus ();
feed.start ();
