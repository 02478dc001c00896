// SPDX-License-Identifier: GPL-3.0-or-later
//
// Interop peer for tests/protocol/test-deflate.c: Node's `ws` permessage-
// deflate (the library DESIGN.md benchmarks against) on the other side of
// our codec.  No sockets: negotiation headers and message payloads go
// through stdin/stdout as JSON.
//
//   node deflate-interop.js offer '<ws options JSON>'
//     prints the Sec-WebSocket-Extensions offer a ws client would send.
//   node deflate-interop.js run < request
//     request lines, in order: "role client|server", "options <JSON>",
//     "header <offer or response>", then "inflate <base64>" and
//     "deflate <base64>" lines (payloads to decompress, messages to
//     compress; each kind handled in its own order, inflate first).
//     prints lines: "response <header>" (server role), "inflated <base64>",
//     "deflated <base64>".
'use strict';

const path = require('path');
const wsLib = path.join(__dirname, '..', 'node_modules', 'ws', 'lib');
const PerMessageDeflate = require(path.join(wsLib, 'permessage-deflate'));
const { parse, format } = require(path.join(wsLib, 'extension'));

function call(fn, data) {
  return new Promise((resolve, reject) => {
    fn(data, true, (err, out) => (err ? reject(err) : resolve(out)));
  });
}

async function run(req) {
  const options = Object.assign({}, req.options, {
    isServer: req.role === 'server',
    maxPayload: 64 * 1024 * 1024,
  });
  const pmd = new PerMessageDeflate(options);
  const offers = parse(req.header)[PerMessageDeflate.extensionName];
  const params = pmd.accept(offers);
  const lines = [];

  if (req.role === 'server') {
    lines.push(`response ${format({ [PerMessageDeflate.extensionName]: params })}`);
  }
  for (const b64 of req.inflate) {
    const buf = await call(pmd.decompress.bind(pmd), Buffer.from(b64, 'base64'));
    lines.push(`inflated ${buf.toString('base64')}`);
  }
  for (const b64 of req.deflate) {
    const buf = await call(pmd.compress.bind(pmd), Buffer.from(b64, 'base64'));
    lines.push(`deflated ${buf.toString('base64')}`);
  }
  pmd.cleanup();
  return lines.join('\n') + '\n';
}

function parseRequest(text) {
  const req = { options: {}, inflate: [], deflate: [] };

  for (const line of text.split('\n')) {
    const space = line.indexOf(' ');
    if (space < 0) continue;
    const key = line.slice(0, space);
    const value = line.slice(space + 1);
    if (key === 'role') req.role = value;
    else if (key === 'options') req.options = JSON.parse(value);
    else if (key === 'header') req.header = value;
    else if (key === 'inflate') req.inflate.push(value);
    else if (key === 'deflate') req.deflate.push(value);
  }
  return req;
}

if (process.argv[2] === 'offer') {
  const pmd = new PerMessageDeflate(JSON.parse(process.argv[3] || '{}'));
  process.stdout.write(format({ [PerMessageDeflate.extensionName]: pmd.offer() }));
} else {
  const chunks = [];
  process.stdin.on('data', (c) => chunks.push(c));
  process.stdin.on('end', () => {
    run(parseRequest(Buffer.concat(chunks).toString()))
      .then((out) => process.stdout.write(out))
      .catch((err) => {
        process.stderr.write(`deflate-interop: ${err.stack || err}\n`);
        process.exit(1);
      });
  });
}
