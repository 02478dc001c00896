// SPDX-License-Identifier: GPL-3.0-or-later
//
// A scripted stand-in for the Wirewatch feed, run inside the test process:
// it serves data/web/ with the same CSP as the real server and lets a test
// send exactly the frames it needs (gaps, duplicates, drops) to check how
// the page reacts.  Loopback and an ephemeral port only.

import http from 'node:http';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { CSP, waitFor, requireTestModule } from './lib.mjs';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

class MockConn {
  constructor (ws, url) {
    this.ws = ws;
    this.url = url;
    this.messages = [];
    ws.on ('message', (data, isBinary) => {
      if (isBinary)
        return;
      try {
        this.messages.push (JSON.parse (data.toString ('utf8')));
      } catch {
        this.messages.push ({ type: '<bad json>' });
      }
    });
  }

  send (obj) {
    this.ws.send (typeof obj === 'string' ? obj : JSON.stringify (obj));
  }

  // Gone without a close frame, as when a server dies.
  drop () {
    this.ws.terminate ();
  }

  waitMessage (what, pred, timeout = 10000) {
    return waitFor (what, () => this.messages.find (pred), { timeout });
  }
}

export async function startMockFeed ({ sourceRoot, token = null }) {
  const { WebSocketServer } = requireTestModule ('ws');
  const web = path.join (sourceRoot, 'data', 'web');
  const files = {
    '/': path.join (web, 'index.html'),
    '/icon.svg': path.join (sourceRoot, 'data/icons/hicolor/scalable/apps/io.github.wirewatch.Wirewatch.svg'),
  };
  for (const f of ['index.html', 'app.js', 'feed.js', 'chart.js', 'style.css'])
    files[`/${f}`] = path.join (web, f);

  const mock = {
    conns: [],
    upgrades: [],       // request URLs of every upgrade attempt, refused ones too
    refuse: false,
    port: 0,
  };

  const wss = new WebSocketServer ({ noServer: true });
  const server = http.createServer (async (req, res) => {
    const url = new URL (req.url, 'http://localhost');
    const file = files[url.pathname];
    if (req.method !== 'GET' || !file) {
      res.writeHead (404, { 'Content-Type': 'application/json' });
      res.end ('{"error":"not found"}');
      return;
    }
    const body = await readFile (file);
    res.writeHead (200, {
      'Content-Type': TYPES[path.extname (file)] || 'application/octet-stream',
      'Content-Security-Policy': CSP,
      'Cache-Control': 'no-cache',
    });
    res.end (body);
  });

  server.on ('upgrade', (req, socket, head) => {
    const url = new URL (req.url, 'http://localhost');
    mock.upgrades.push (req.url);
    const bad = (status) => {
      socket.end (`HTTP/1.1 ${status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    };
    if (mock.refuse)
      return bad ('503 Service Unavailable');
    if (url.pathname !== '/ws' && url.pathname !== '/')
      return bad ('404 Not Found');
    if (token !== null && url.searchParams.get ('token') !== token)
      return bad ('401 Unauthorized');
    wss.handleUpgrade (req, socket, head, (ws) => mock.conns.push (new MockConn (ws, req.url)));
  });

  await new Promise ((resolve, reject) => {
    server.once ('error', reject);
    server.listen (0, '127.0.0.1', resolve);
  });
  mock.port = server.address ().port;
  mock.url = `http://127.0.0.1:${mock.port}/`;

  mock.nextConnection = (after, timeout = 10000) =>
    waitFor (`connection #${after + 1} to the mock feed`, () => mock.conns[after], { timeout });

  mock.close = async () => {
    for (const c of mock.conns)
      c.ws.terminate ();
    wss.close ();
    server.closeAllConnections ();
    await new Promise ((resolve) => server.close (resolve));
  };
  return mock;
}

export function event (n, homeScore = 0, awayScore = 0, version = 1) {
  const teams = [['Harbor City', 'Northgate'], ['Lions', 'Ravens'], ['Westfield', 'Oakridge'],
    ['Riverside', 'Summit'], ['Ironworks', 'Bayview']][n];
  return {
    id: `EVENT#0${n}`, name: `${teams[0]} vs ${teams[1]}`, home: teams[0], away: teams[1],
    homeScore, awayScore, version, updatedAt: Date.now (),
  };
}
