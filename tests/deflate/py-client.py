# SPDX-License-Identifier: GPL-3.0-or-later
# Python `websockets` (Debian's, compression="deflate" is its default)
# against a Wirewatch server started with deflate on: exact echo of text and
# binary messages from 0 B to 1 MiB (compressible and random), then the feed
# protocol.  Usage: py-client.py ws://127.0.0.1:PORT  — exits 0 when all
# checks pass, prints what failed and exits 1 otherwise.
import asyncio
import json
import os
import random
import sys

import websockets

TIMEOUT = 20


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def check_negotiated(ws, where):
    ext = ws.response_headers.get("Sec-WebSocket-Extensions", "")
    if "permessage-deflate" not in ext:
        fail(f"{where}: permessage-deflate not negotiated (header {ext!r})")
    return ext


def payloads():
    rnd = random.Random(7)
    for size in (0, 1, 125, 126, 4096, 65535, 65536, 300000, 1 << 20):
        yield f"zeros-bin-{size}", bytes(size)
        yield f"random-bin-{size}", os.urandom(size)
        text = ("wirewatch " * (size // 10 + 1))[:size]
        yield f"repeat-text-{size}", text
        yield f"random-text-{size}", "".join(
            chr(rnd.choice((rnd.randrange(32, 127), rnd.randrange(0x400, 0x4ff))))
            for _ in range(min(size, 200000)))


async def echo(base):
    async with websockets.connect(base + "/echo", max_size=4 << 20,
                                  open_timeout=TIMEOUT) as ws:
        ext = check_negotiated(ws, "/echo")
        n = 0
        for name, data in payloads():
            await ws.send(data)
            got = await asyncio.wait_for(ws.recv(), TIMEOUT)
            if type(got) is not type(data):
                fail(f"echo {name}: type {type(got).__name__} != {type(data).__name__}")
            if got != data:
                fail(f"echo {name}: {len(got)} bytes back, not the {len(data)} sent")
            n += 1
        print(f"echo ok: {n} messages, extension {ext}", flush=True)


async def feed(base):
    async with websockets.connect(base + "/ws", open_timeout=TIMEOUT) as ws:
        ext = check_negotiated(ws, "/ws")

        async def next_msg():
            return json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))

        welcome = await next_msg()
        if welcome.get("type") != "WELCOME":
            fail(f"feed: first message {welcome!r}")
        initial = await next_msg()
        if initial.get("type") != "INITIAL" or len(initial.get("events", [])) != 5:
            fail(f"feed: second message {initial!r}")
        last = initial["seq"]
        await ws.send(json.dumps({"type": "PING", "id": "py-1", "ts": 42}))
        chat_text = "deflate " * 100
        await ws.send(json.dumps({"type": "CHAT", "text": chat_text}))
        updates = pong = chat = 0
        for _ in range(2000):
            if updates >= 20 and pong and chat:
                break
            msg = await next_msg()
            t = msg.get("type")
            if t == "UPDATE":
                if msg["seq"] != last + 1:
                    fail(f"feed: UPDATE seq {msg['seq']} after {last}")
                last = msg["seq"]
                updates += 1
            elif t == "PONG":
                if msg.get("id") != "py-1" or msg.get("ts") != 42:
                    fail(f"feed: PONG {msg!r}")
                pong += 1
            elif t == "CHAT":
                if msg.get("text") != chat_text:
                    fail(f"feed: CHAT {msg!r}")
                chat += 1
            elif t == "ERROR":
                fail(f"feed: ERROR {msg!r}")
        if updates < 20 or not pong or not chat:
            fail(f"feed: {updates} updates, {pong} pongs, {chat} chats")
        print(f"feed ok: {updates} updates gap-free to seq {last}, PONG, CHAT, extension {ext}",
              flush=True)


async def main(base):
    await echo(base)
    await feed(base)


if __name__ == "__main__":
    asyncio.run(asyncio.wait_for(main(sys.argv[1]), 120))
    print("PASS", flush=True)
