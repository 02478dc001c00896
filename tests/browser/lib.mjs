// SPDX-License-Identifier: GPL-3.0-or-later
//
// Helpers shared by the browser tests: Debian's Chromium through
// playwright-core, bounded waits, console-error collection, and a
// wirewatch process that is always stopped by its PID.

import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import assert from 'node:assert/strict';

export const CSP = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; " +
  "style-src 'self'; script-src 'self'; base-uri 'none'; frame-ancestors 'none'";

// Launch arguments from ENVIRONMENT.md "Browser tests"; never a downloaded
// browser.
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// Resolved from tests/node_modules, where `make deps` runs npm install.
// A missing package fails the test loudly: a skip would hide a broken setup.
export function requireTestModule (name) {
  const require = createRequire (import.meta.url);
  try {
    return require (name);
  } catch (e) {
    const msg = `${name} is not installed in tests/node_modules: run \`make deps\` ` +
                `(it runs npm install in tests/). (${e.code || e.message})`;
    console.error (`Bail out! ${msg}`);
    process.exit (1);
  }
}

export async function launchChromium () {
  const playwright = requireTestModule ('playwright-core');
  return playwright.chromium.launch ({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30000 });
}

// Polls @fn until it returns a truthy value; fails after @timeout ms with
// @what in the message.  Bounded in time and in count.
export async function waitFor (what, fn, { timeout = 15000, interval = 50 } = {}) {
  const deadline = Date.now () + timeout;
  const maxTries = Math.ceil (timeout / interval) + 1;
  let last;
  for (let i = 0; i < maxTries && Date.now () <= deadline; i++) {
    last = await fn ();
    if (last)
      return last;
    await sleep (interval);
  }
  throw new Error (`timed out after ${timeout} ms waiting for ${what} (last: ${JSON.stringify (last)})`);
}

// Records console errors and uncaught exceptions of a page.  @allowed is a
// list of regular expressions for errors the test provokes on purpose.
export function watchErrors (page, name) {
  const errors = [];
  const allowed = [];
  page.on ('console', (msg) => {
    if (msg.type () === 'error')
      errors.push (`${name} console: ${msg.text ()}`);
  });
  page.on ('pageerror', (err) => errors.push (`${name} pageerror: ${err.message}`));
  return {
    allow (re) { allowed.push (re); },
    unexpected () { return errors.filter ((e) => !allowed.some ((re) => re.test (e))); },
    all: errors,
  };
}

export function hook (page) {
  return page.evaluate (() => {
    const w = window.wirewatch;
    if (!w)
      return null;
    return {
      state: w.state, url: w.url, clientId: w.clientId, clients: w.clients,
      lastSeq: w.lastSeq, seqs: w.seqs, received: w.received, counters: w.counters,
      rtts: w.rtts, events: w.events, delays: w.delays, retryMs: w.retryMs,
      retryMaxMs: w.retryMaxMs, updates: w.updates,
    };
  });
}

export function assertContiguous (seqs, name) {
  for (let i = 1; i < seqs.length; i++)
    assert.equal (seqs[i], seqs[i - 1] + 1,
                  `${name}: seq ${seqs[i]} follows ${seqs[i - 1]} (index ${i} of ${seqs.length}: ` +
                  `${seqs.slice (Math.max (0, i - 5), i + 5).join (' ')})`);
}

// A child process that is stopped by its PID, also when the test fails.
export class Child {
  constructor (argv, { env = process.env } = {}) {
    this.argv = argv;
    this.stderr = '';
    this.exited = null;
    this.proc = spawn (argv[0], argv.slice (1), { env, stdio: ['ignore', 'ignore', 'pipe'] });
    this.pid = this.proc.pid;
    this.exitPromise = new Promise ((resolve) => {
      this.proc.on ('exit', (code, signal) => {
        this.exited = { code, signal };
        resolve (this.exited);
      });
      this.proc.on ('error', (err) => {
        this.exited = { code: -1, signal: null, error: err.message };
        resolve (this.exited);
      });
    });
    this.proc.stderr.setEncoding ('utf8');
    this.proc.stderr.on ('data', (chunk) => {
      // Bounded: a chatty child must not grow the test's memory without limit.
      if (this.stderr.length < 1 << 20)
        this.stderr += chunk;
    });
    Child.live.add (this);
  }

  async waitForLine (re, timeout = 15000) {
    return waitFor (`${re} in the stderr of ${this.argv[0]}`, () => {
      if (this.exited)
        throw new Error (`${this.argv[0]} exited early (${JSON.stringify (this.exited)}):\n${this.stderr}`);
      return this.stderr.match (re);
    }, { timeout });
  }

  // SIGTERM, then SIGKILL if it does not go within @grace ms.
  async stop (grace = 5000) {
    if (!this.exited) {
      try { process.kill (this.pid, 'SIGTERM'); } catch { /* already gone */ }
      const t = sleep (grace).then (() => null);
      if (!(await Promise.race ([this.exitPromise, t]))) {
        try { process.kill (this.pid, 'SIGKILL'); } catch { /* already gone */ }
        await Promise.race ([this.exitPromise, sleep (2000)]);
      }
    }
    Child.live.delete (this);
    return this.exited;
  }

  static live = new Set ();

  static killAll () {
    for (const c of Child.live)
      if (!c.exited)
        try { process.kill (c.pid, 'SIGKILL'); } catch { /* gone */ }
  }
}

process.on ('exit', () => Child.killAll ());
for (const sig of ['SIGINT', 'SIGTERM'])
  process.on (sig, () => { Child.killAll (); process.exit (130); });
