#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Interop: Python's websockets (Debian's) as a client of /echo.

Run by test-interop with the server's port; exits 0 when every check
passed, prints what failed otherwise."""

import asyncio
import os
import sys

import websockets


async def deflate(port):
    """permessage-deflate (RFC 7692): negotiated, and every message still
    comes back exactly, compressible or not."""
    url = f"ws://127.0.0.1:{port}/echo"
    async with websockets.connect(url, max_size=None, compression="deflate") as ws:
        names = [e.name for e in ws.extensions]
        assert names == ["permessage-deflate"], names
        for message in ["short", "compress me " * 5000, os.urandom(100000),
                        "é✓" * 30000, b"\x00" * (2 << 20)]:
            await ws.send(message)
            echoed = await asyncio.wait_for(ws.recv(), 10)
            assert echoed == message, f"echo of {len(message)} bytes differs"
        await ws.close(code=1000)
        assert ws.close_code == 1000, ws.close_code
    print("python websockets permessage-deflate interop: ok", file=sys.stderr)


async def main(port):
    url = f"ws://127.0.0.1:{port}/echo"
    async with websockets.connect(url, max_size=None, compression=None) as ws:
        for message in ["hello", "", "é✓" * 1000, b"", b"\x00\xff" * 50000,
                        os.urandom(1 << 20), "x" * (70 * 1024)]:
            await ws.send(message)
            echoed = await asyncio.wait_for(ws.recv(), 10)
            assert echoed == message, f"echo of {len(message)} bytes differs"
        # A fragmented message (an iterable is sent as fragments).
        await ws.send(["frag", "ment", "ed"])
        assert await asyncio.wait_for(ws.recv(), 10) == "fragmented"
        await asyncio.wait_for(await ws.ping(b"python"), 10)
        await ws.close(code=1000, reason="done")
        assert ws.close_code == 1000, ws.close_code
    # Invalid UTF-8 from a raw frame is not possible through the library;
    # an oversized message is: the server must answer 1009.
    async with websockets.connect(url, max_size=None, compression=None) as ws:
        try:
            await ws.send(b"\x00" * (16 * 1024 * 1024 + 1))
            await asyncio.wait_for(ws.recv(), 10)
        except websockets.exceptions.ConnectionClosed:
            pass
        assert ws.close_code == 1009, ws.close_code
    print("python websockets interop: ok", file=sys.stderr)


if len(sys.argv) > 2 and sys.argv[2] == "deflate":
    asyncio.run(deflate(int(sys.argv[1])))
else:
    asyncio.run(main(int(sys.argv[1])))
