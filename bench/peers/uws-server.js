// SPDX-License-Identifier: GPL-3.0-or-later
// uWebSockets peer for bench/compare (npm `uwebsockets`, a republish of
// uWebSockets.js): /echo echoes every message with its opcode; /ws relays
// every text message to all /ws clients as {"type":"CHAT",…}, like the feed.
'use strict';

const uWS = require('uwebsockets');

const port = Number(process.argv[2] || 8080);
const host = process.argv[3] || '127.0.0.1';
const decoder = new TextDecoder();

// Timeouts and automatic pings off, and a backpressure bound large enough
// that a busy generator is not silently skipped (the default 64 KiB drops
// messages to slow readers, which would look like loss).
const common = {
  compression: uWS.DISABLED,
  idleTimeout: 0,
  sendPingsAutomatically: false,
  maxPayloadLength: 16 * 1024 * 1024,
  maxBackpressure: 16 * 1024 * 1024,
};

let nextId = 0;
const app = uWS.App()
  .ws('/echo', {
    ...common,
    message: (ws, message, isBinary) => {
      ws.send(message, isBinary);
    },
  })
  .ws('/ws', {
    ...common,
    open: (ws) => {
      ws.getUserData().id = 'c' + (++nextId);
      ws.subscribe('feed');
    },
    message: (ws, message, isBinary) => {
      if (isBinary)
        return;
      let text;
      try {
        const msg = JSON.parse(decoder.decode(message));
        text = typeof msg.text === 'string' ? msg.text : '';
      } catch (e) {
        return;
      }
      // app.publish reaches every subscriber, the sender included.
      app.publish('feed', JSON.stringify({ type: 'CHAT', from: ws.getUserData().id, text, ts: Date.now() }), false);
    },
  })
  .get('/healthz', (res) => {
    res.end('ok');
  })
  .any('/*', (res) => {
    res.writeStatus('404 Not Found').end('not found');
  })
  .listen(host, port, (token) => {
    if (!token) {
      console.error(`uws peer: cannot listen on ${host}:${port}`);
      process.exit(1);
    }
    console.log(`uws peer listening on ${host}:${port}`);
  });

const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
