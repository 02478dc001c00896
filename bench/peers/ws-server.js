// SPDX-License-Identifier: GPL-3.0-or-later
// Node `ws` peer for bench/compare: /echo echoes every message with its
// opcode; /ws relays every text message to all /ws clients as
// {"type":"CHAT","from":…,"text":…,"ts":…}, the shape Wirewatch's feed uses.
'use strict';

const http = require('http');
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2] || 8080);
const host = process.argv[3] || '127.0.0.1';

const server = http.createServer((req, res) => {
  res.writeHead(req.url === '/healthz' ? 200 : 404, { 'Content-Type': 'text/plain' });
  res.end(req.url === '/healthz' ? 'ok' : 'not found');
});

// Defaults otherwise: no permessage-deflate (ws 8 default), 100 MiB max payload.
// A third argument `deflate` turns permessage-deflate on the way Wirewatch's
// --deflate does: no context takeover either way, level 6, messages under
// 64 bytes uncompressed (ws still compresses each client's copy separately).
const deflate = process.argv[4] === 'deflate' ? {
  serverNoContextTakeover: true,
  clientNoContextTakeover: true,
  zlibDeflateOptions: { level: 6 },
  threshold: 64,
} : false;
const echo = new WebSocketServer({ noServer: true, perMessageDeflate: deflate });
const feed = new WebSocketServer({ noServer: true, perMessageDeflate: deflate, clientTracking: true });

echo.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});

let nextId = 0;
feed.on('connection', (ws) => {
  const id = 'c' + (++nextId);
  ws.on('message', (data, isBinary) => {
    if (isBinary)
      return;
    let text;
    try {
      const msg = JSON.parse(data.toString());
      text = typeof msg.text === 'string' ? msg.text : '';
    } catch (e) {
      return;
    }
    // Encoded once, sent to all (ws frames it per client).
    const out = JSON.stringify({ type: 'CHAT', from: id, text, ts: Date.now() });
    for (const client of feed.clients)
      client.send(out);
  });
  ws.on('error', () => {});
});

server.on('upgrade', (req, socket, head) => {
  const path = req.url.split('?')[0];
  const wss = path === '/echo' ? echo : (path === '/ws' || path === '/') ? feed : null;
  if (!wss) {
    socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
});

server.listen({ port, host, backlog: 4096 }, () => {
  console.log(`ws peer listening on ${host}:${server.address().port}`);
});

const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
