// SPDX-License-Identifier: GPL-3.0-or-later
//
// The connection to the Wirewatch feed (DESIGN.md "Wire protocol of the
// feed"): reconnect with backoff, RESUME after a drop or a gap, duplicate
// UPDATEs dropped, PING round trips.  No DOM here; app.js listens to the
// events this dispatches.

export const DEFAULT_RETRY_MS = 3000;
export const DEFAULT_RETRY_MAX_MS = 30000;
const RESUME_TIMEOUT_MS = 3000;
const PING_TIMEOUT_MS = 10000;
const CONNECT_TIMEOUT_MS = 10000;
const DEFAULT_HEARTBEAT_MS = 15000;
export const NO_ANSWER = 4000; // our own close code: the peer went silent
const MAX_HELD = 1024;      // out-of-order UPDATEs kept while a gap is filled
const MAX_SEQS = 50000;     // the test hook's record of applied seqs
const MAX_RTTS = 60;

// Delay before retry number @attempt (0 = the first): @base, doubled per
// attempt up to @max, less up to a quarter at random so that many tabs
// dropped by one restart do not all come back in the same millisecond.
export function backoffDelay (attempt, base, max, rand = Math.random ()) {
  let d = Math.max (1, base);
  const cap = Math.max (d, max);
  for (let i = 0; i < attempt && d < cap; i++)
    d *= 2;
  d = Math.min (d, cap);
  const r = Math.min (Math.max (Number (rand) || 0, 0), 1);
  return Math.max (1, Math.round (d - d * 0.25 * r));
}

export function median (values) {
  if (values.length === 0)
    return null;
  const s = [...values].sort ((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function isSeq (v) {
  return Number.isSafeInteger (v) && v >= 0;
}

function isEvent (v) {
  return v !== null && typeof v === 'object' && typeof v.id === 'string';
}

export class Feed extends EventTarget {
  constructor ({ url, retryMs = DEFAULT_RETRY_MS, retryMaxMs = DEFAULT_RETRY_MAX_MS } = {}) {
    super ();
    this.url = url;
    this.retryMs = retryMs;
    this.retryMaxMs = retryMaxMs;

    this.ws = null;
    this.state = 'idle';      // connecting | open | waiting | closed
    this.attempt = 0;
    this.retryAt = 0;
    this.retryTimer = 0;
    this.connectTimer = 0;
    this.watchdog = 0;
    this.lastRx = 0;
    this.probed = false;
    this.delays = [];         // the reconnect delays chosen, newest last
    this.openedAt = 0;
    this.everOpened = false;
    this.lastClose = null;    // { code, reason }

    this.clientId = null;
    this.server = null;
    this.heartbeatMs = null;
    this.clients = null;

    this.events = new Map ();
    this.lastSeq = null;
    this.held = new Map ();
    this.resumePending = false;
    this.resumeTimer = 0;
    this.deferInitial = 0;
    this.pendingInitial = null;

    this.seqs = [];
    this.updates = [];        // { seq, id, homeScore, awayScore } as applied
    this.received = [];
    this.pings = new Map ();
    this.pingCounter = 0;
    this.rtts = [];
    this.counters = {
      received: 0, sent: 0, bytesIn: 0, bytesOut: 0,
      updates: 0, initials: 0, duplicates: 0, gaps: 0, gapsSkipped: 0,
      resumes: 0, reconnects: 0, errors: 0, pingsLost: 0,
    };
  }

  emit (type, detail = null) {
    this.dispatchEvent (new CustomEvent (type, { detail }));
  }

  setState (state) {
    this.state = state;
    this.emit ('state', state);
  }

  start () {
    this.stopped = false;
    this.connect ();
  }

  stop () {
    this.stopped = true;
    clearTimeout (this.retryTimer);
    this.retryTimer = 0;
    if (this.ws)
      this.ws.close (1000, 'bye');
    this.ws = null;
    clearTimeout (this.connectTimer);
    clearInterval (this.watchdog);
    this.setState ('closed');
  }

  // Skip the rest of the countdown.
  retryNow () {
    if (this.state !== 'waiting')
      return;
    clearTimeout (this.retryTimer);
    this.retryTimer = 0;
    this.connect ();
  }

  connect () {
    let ws;

    this.retryTimer = 0;
    clearTimeout (this.connectTimer);
    this.setState ('connecting');
    try {
      ws = new WebSocket (this.url);
    } catch (e) {
      // Only a malformed URL throws; retrying cannot fix that.
      this.lastClose = { code: 0, reason: String (e.message || e) };
      this.setState ('closed');
      return;
    }
    this.ws = ws;
    // A handshake that never completes (a black-holed address) would
    // otherwise keep the page "connecting" for minutes.
    this.connectTimer = setTimeout (() => {
      if (this.ws === ws && ws.readyState === WebSocket.CONNECTING)
        this.abandon ('no answer to the handshake');
    }, CONNECT_TIMEOUT_MS);
    ws.addEventListener ('open', () => {
      if (this.ws !== ws)
        return;
      clearTimeout (this.connectTimer);
      this.openedAt = Date.now ();
      this.lastRx = performance.now ();
      this.probed = false;
      this.watchdog = setInterval (() => this.checkAlive (), 250);
      this.everOpened = true;
      this.lastClose = null;
      this.setState ('open');
    });
    ws.addEventListener ('message', (ev) => {
      if (this.ws === ws)
        this.onMessage (ev.data);
    });
    ws.addEventListener ('close', (ev) => {
      if (this.ws === ws)
        this.onClose (ev.code, ev.reason);
    });
  }

  // The peer is gone without a close frame (the browser cannot see the
  // server's heartbeat pings).  Quiet for a heartbeat: send a PING, which
  // any feed answers; quiet for two: give up on this connection.
  checkAlive () {
    const quiet = performance.now () - this.lastRx;
    const beat = this.heartbeatMs > 0 ? Math.max (200, this.heartbeatMs) : DEFAULT_HEARTBEAT_MS;

    if (quiet > 2 * beat) {
      this.abandon ('');
    } else if (quiet > beat && !this.probed) {
      this.probed = true;
      this.send ({ type: 'PING', id: `k${++this.pingCounter}`, ts: performance.now () });
    }
  }

  // Drops the connection now, without waiting for a close handshake that
  // cannot happen, and goes on as for any other drop.
  abandon (reason) {
    const ws = this.ws;
    if (!ws)
      return;
    this.ws = null;
    try {
      ws.close (NO_ANSWER, 'no answer');
    } catch { /* already closing */ }
    this.onClose (NO_ANSWER, reason);
  }

  onClose (code, reason) {
    this.ws = null;
    clearTimeout (this.connectTimer);
    clearInterval (this.watchdog);
    this.watchdog = 0;
    this.openedAt = 0;
    this.lastClose = { code, reason };
    this.clients = null;
    this.stopResume ();
    this.held.clear ();
    this.pendingInitial = null;
    this.counters.pingsLost += this.pings.size;
    this.pings.clear ();
    this.emit ('presence', null);

    if (this.stopped) {
      this.setState ('closed');
      return;
    }
    const delay = backoffDelay (this.attempt, this.retryMs, this.retryMaxMs);
    this.attempt++;
    this.counters.reconnects++;
    this.delays.push (delay);
    if (this.delays.length > 32)
      this.delays.shift ();
    this.retryAt = Date.now () + delay;
    this.retryTimer = setTimeout (() => this.connect (), delay);
    this.setState ('waiting');
  }

  send (msg) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN)
      return false;
    const text = JSON.stringify (msg);
    this.ws.send (text);
    this.counters.sent++;
    this.counters.bytesOut += text.length;
    this.emit ('counters');
    return true;
  }

  ping () {
    const id = `p${++this.pingCounter}`;
    const sent = performance.now ();

    if (!this.send ({ type: 'PING', id, ts: sent }))
      return false;
    this.pings.set (id, sent);
    // A PONG that never comes must not keep its entry for ever.
    setTimeout (() => {
      if (this.pings.delete (id))
        this.counters.pingsLost++;
    }, PING_TIMEOUT_MS);
    return true;
  }

  chat (text) {
    return this.send ({ type: 'CHAT', text });
  }

  onMessage (data) {
    let msg;

    this.counters.received++;
    this.lastRx = performance.now ();
    this.probed = false;
    this.counters.bytesIn += typeof data === 'string' ? data.length : (data.size || data.byteLength || 0);
    this.emit ('counters');
    if (typeof data !== 'string')
      return;
    try {
      msg = JSON.parse (data);
    } catch {
      return; // not our protocol; counted above
    }
    if (msg === null || typeof msg !== 'object' || typeof msg.type !== 'string')
      return;

    switch (msg.type) {
    case 'WELCOME': this.onWelcome (msg); break;
    case 'INITIAL': this.onInitial (msg); break;
    case 'UPDATE': this.onUpdate (msg); break;
    case 'PONG': this.onPong (msg); break;
    case 'CHAT':
      if (typeof msg.text === 'string')
        this.emit ('chat', {
          from: typeof msg.from === 'string' ? msg.from : '',
          text: msg.text,
          ts: Number.isFinite (msg.ts) ? msg.ts : Date.now (),
          // Only this connection's id: ids are reused after a server restart.
          mine: this.clientId !== null && msg.from === this.clientId,
        });
      break;
    case 'PRESENCE':
      if (isSeq (msg.clients)) {
        this.clients = msg.clients;
        this.emit ('presence', msg.clients);
      }
      break;
    case 'ERROR':
      this.counters.errors++;
      this.emit ('server-error', {
        code: typeof msg.code === 'string' ? msg.code : 'error',
        message: typeof msg.message === 'string' ? msg.message : '',
      });
      break;
    default:
      break;
    }
  }

  onWelcome (msg) {
    // A WELCOME means a real feed answered: the backoff starts over.
    this.attempt = 0;
    this.clientId = typeof msg.clientId === 'string' || typeof msg.clientId === 'number'
      ? String (msg.clientId) : null;
    this.server = msg.server ?? null;
    this.heartbeatMs = Number.isFinite (msg.heartbeatMs) ? msg.heartbeatMs : null;
    this.emit ('welcome', msg);

    // Back with state in hand: ask for what was missed.  Not needed when the
    // server is where we left it, nor when it went backwards (it lost its
    // state): its INITIAL then replaces ours.
    if (this.lastSeq !== null && (!isSeq (msg.seq) || msg.seq > this.lastSeq)) {
      this.beginResume ();
      this.deferInitial = 1;
    }
  }

  onInitial (msg) {
    if (!isSeq (msg.seq) || !Array.isArray (msg.events))
      return;
    // Right after a reconnect the server sends its snapshot before it has
    // read our RESUME: hold it back so that the replayed UPDATEs arrive as
    // UPDATEs, and fall back to it if the replay does not come.
    if (this.resumePending && this.deferInitial > 0 && this.lastSeq !== null &&
        msg.seq > this.lastSeq) {
      this.deferInitial--;
      this.pendingInitial = { seq: msg.seq, events: msg.events };
      return;
    }
    this.applyInitial (msg.seq, msg.events);
  }

  applyInitial (seq, events) {
    this.events.clear ();
    for (const ev of events)
      if (isEvent (ev))
        this.events.set (ev.id, ev);
    if (this.lastSeq !== null && seq < this.lastSeq)
      this.held.clear ();
    this.lastSeq = seq;
    this.pendingInitial = null;
    this.stopResume ();
    this.counters.initials++;
    this.emit ('initial', { seq, events: [...this.events.values ()] });
    this.drainHeld ();
  }

  onUpdate (msg) {
    if (!isSeq (msg.seq) || !isEvent (msg.event))
      return;
    const seq = msg.seq;
    const ts = Number.isFinite (msg.ts) ? msg.ts : null;

    if (this.received.length < MAX_SEQS)
      this.received.push (seq);
    if (this.lastSeq === null) {
      this.applyUpdate (seq, msg.event, ts);
      return;
    }
    if (seq <= this.lastSeq) {
      this.counters.duplicates++;
      this.emit ('counters');
      return;
    }
    if (seq === this.lastSeq + 1) {
      this.applyUpdate (seq, msg.event, ts);
      this.drainHeld ();
      return;
    }
    // A gap: hold this one and ask for what is missing, once per gap.
    if (this.held.size < MAX_HELD)
      this.held.set (seq, { event: msg.event, ts });
    if (!this.resumePending) {
      this.counters.gaps++;
      this.beginResume ();
    }
  }

  applyUpdate (seq, event, ts) {
    this.events.set (event.id, event);
    this.lastSeq = seq;
    this.counters.updates++;
    if (this.seqs.length < MAX_SEQS) {
      this.seqs.push (seq);
      this.updates.push ({ seq, id: event.id, homeScore: event.homeScore, awayScore: event.awayScore });
    }
    this.emit ('update', { seq, event, ts });
  }

  drainHeld () {
    while (this.held.size > 0) {
      const first = Math.min (...this.held.keys ());
      if (first <= this.lastSeq) {
        this.held.delete (first);
        this.counters.duplicates++;
        continue;
      }
      if (first !== this.lastSeq + 1)
        break;
      const h = this.held.get (first);
      this.held.delete (first);
      this.applyUpdate (first, h.event, h.ts);
    }
    if (this.pendingInitial && this.lastSeq >= this.pendingInitial.seq)
      this.pendingInitial = null;
    if (this.resumePending && this.held.size === 0 && this.pendingInitial === null &&
        this.deferInitial === 0)
      this.stopResume ();
  }

  beginResume () {
    if (this.lastSeq === null)
      return;
    this.send ({ type: 'RESUME', seq: this.lastSeq });
    this.counters.resumes++;
    this.resumePending = true;
    clearTimeout (this.resumeTimer);
    this.resumeTimer = setTimeout (() => this.onResumeTimeout (), RESUME_TIMEOUT_MS);
  }

  stopResume () {
    this.resumePending = false;
    this.deferInitial = 0;
    clearTimeout (this.resumeTimer);
    this.resumeTimer = 0;
  }

  // The server did not fill the gap: take its snapshot if there is one,
  // else go on from what is held, and count the gap as skipped.
  onResumeTimeout () {
    this.resumeTimer = 0;
    this.resumePending = false;
    this.deferInitial = 0;
    if (this.pendingInitial) {
      const p = this.pendingInitial;
      this.pendingInitial = null;
      this.applyInitial (p.seq, p.events);
    } else if (this.held.size > 0) {
      this.counters.gapsSkipped++;
      this.lastSeq = Math.min (...this.held.keys ()) - 1;
      this.drainHeld ();
    }
  }

  onPong (msg) {
    const id = typeof msg.id === 'string' ? msg.id : null;
    if (id === null || !this.pings.has (id))
      return;
    // Timed against our own record, not the echoed ts, which the peer
    // could have changed.
    const rtt = performance.now () - this.pings.get (id);
    this.pings.delete (id);
    this.rtts.push (rtt);
    if (this.rtts.length > MAX_RTTS)
      this.rtts.shift ();
    this.emit ('pong', { id, rtt });
  }
}
