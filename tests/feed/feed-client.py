#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Runs the feed protocol once with Debian's python3-websockets, against
ws://127.0.0.1:PORT/ws: WELCOME, INITIAL, an UPDATE, PING/PONG, CHAT,
an ERROR for bad JSON.  Exit status 0 means every step checked out."""

import asyncio
import json
import sys

import websockets

TIMEOUT = 10.0


def fail(message):
    print("feed-client.py: " + message, file=sys.stderr)
    sys.exit(1)


async def next_of(ws, kind, seen):
    """Returns the next message of type @kind; records UPDATE seqs in @seen."""
    while True:
        raw = await asyncio.wait_for(ws.recv(), TIMEOUT)
        if not isinstance(raw, str):
            fail("a binary frame from the feed")
        msg = json.loads(raw)
        if msg.get("type") == "UPDATE":
            seen.append(msg["seq"])
        if msg.get("type") == kind:
            return msg


async def main(port):
    seen = []
    async with websockets.connect("ws://127.0.0.1:%d/ws" % port, open_timeout=TIMEOUT,
                                  close_timeout=2) as ws:
        welcome = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        if welcome.get("type") != "WELCOME":
            fail("first message is not WELCOME: %r" % welcome)
        for key in ("clientId", "server", "heartbeatMs", "seq"):
            if key not in welcome:
                fail("WELCOME without %s" % key)
        initial = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        if initial.get("type") != "INITIAL" or initial.get("seq") != welcome["seq"]:
            fail("second message is not the INITIAL at the WELCOME's seq: %r" % initial)
        ids = [e["id"] for e in initial["events"]]
        if ids != ["EVENT#%02d" % i for i in range(5)]:
            fail("INITIAL events are %r" % ids)

        update = await next_of(ws, "UPDATE", seen)
        if update["seq"] != initial["seq"] + 1 or update["event"]["id"] not in ids:
            fail("first UPDATE does not follow INITIAL: %r" % update)

        # The ts comes back exactly as written.
        await ws.send('{"type":"PING","id":"py-1","ts":1234.5000}')
        while True:
            raw = await asyncio.wait_for(ws.recv(), TIMEOUT)
            msg = json.loads(raw)
            if msg.get("type") == "UPDATE":
                seen.append(msg["seq"])
            if msg.get("type") == "PONG":
                break
        if msg["id"] != "py-1" or '"ts":1234.5000' not in raw or "serverTs" not in msg:
            fail("bad PONG: %s" % raw)

        await ws.send(json.dumps({"type": "CHAT", "text": "hallo från python ✓"}))
        chat = await next_of(ws, "CHAT", seen)
        if chat["text"] != "hallo från python ✓" or chat["from"] != welcome["clientId"]:
            fail("bad CHAT relay: %r" % chat)

        await ws.send("{not json")
        error = await next_of(ws, "ERROR", seen)
        if error["code"] != "bad_json":
            fail("bad JSON gave %r" % error)

        # Still usable after the error.
        await ws.send('{"type":"PING","id":"py-2","ts":7}')
        pong = await next_of(ws, "PONG", seen)
        if pong["id"] != "py-2" or pong["ts"] != 7:
            fail("no PONG after the ERROR: %r" % pong)

        for a, b in zip(seen, seen[1:]):
            if b != a + 1:
                fail("UPDATE seqs not consecutive: %r" % seen)
    print("ok %d updates" % len(seen))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        fail("usage: feed-client.py PORT")
    asyncio.run(main(int(sys.argv[1])))
