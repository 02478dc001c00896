#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Writes the seed corpora of the frame and http fuzz targets.

Run from tests/fuzz/; the inputs follow each target's format (see the
comment at the top of fuzz-frame.c and fuzz-http.c).  Crash inputs found
by a campaign are added next to these by hand, named crash-*.
"""
import os
import struct

KEY = bytes([0x11, 0x22, 0x33, 0x44])


def frame(opcode, payload=b"", fin=True, rsv=0, masked=True):
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    m = 0x80 if masked else 0
    if n < 126:
        head = bytes([b0, m | n])
    elif n <= 0xFFFF:
        head = bytes([b0, m | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, m | 127]) + struct.pack(">Q", n)
    if masked:
        payload = bytes(c ^ KEY[i % 4] for i, c in enumerate(payload))
        head += KEY
    return head + payload


def write(target, name, data):
    os.makedirs(os.path.join("corpus", target), exist_ok=True)
    with open(os.path.join("corpus", target, name), "wb") as f:
        f.write(data)


FRAME_SEEDS = {
    "text-hello": b"\x00\x07" + frame(1, b"Hello"),
    "fragments-ping-close": b"\x00\x03" + frame(1, b"Hel", fin=False) + frame(9, b"p")
    + frame(0, b"lo", fin=False) + frame(0, "κόσμε".encode(), fin=True)
    + frame(8, b"\x03\xe8bye"),
    "client-binary": b"\x01\x05" + frame(2, bytes(range(40)), masked=False) + frame(10, b"", masked=False),
    "deflate-rsv1": b"\x02\x01" + frame(1, b"\xf2\x48\xcd\xc9\xc9\x07\x00", rsv=4),
    "small-limits": b"\x08\x02" + frame(2, b"x" * 250),
    "len16": b"\x00\x09" + frame(2, b"y" * 200),
    "len64-header": b"\x00\x00" + bytes([0x82, 0xFF]) + struct.pack(">Q", 70000) + KEY + b"z" * 20,
    "bad-utf8": b"\x00\x04" + frame(1, b"ok \xed\xa0\x80 no"),
    "close-reason": b"\x00\x0b" + frame(8, b"\x0f\xa0going away"),
    "reserved-opcode": b"\x00\x01" + frame(3, b""),
    "no-utf8-check": b"\x04\x02" + frame(1, b"\xff\xfe"),
}

H = b"Host: 127.0.0.1:8080\r\n"
HTTP_SEEDS = {
    "handshake": b"\x00GET /ws HTTP/1.1\r\n" + H + b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Protocol: chat, v1.feed\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n",
    "get-event": b"\x00GET /events/EVENT%2300?token=a+b&x HTTP/1.1\r\n" + H + b"\r\n",
    "http10-keepalive": b"\x00GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "version-8": b"\x00GET /ws HTTP/1.1\r\n" + H + b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
    "post": b"\x00POST /ws HTTP/1.1\r\n" + H + b"Content-Length: 0\r\n\r\n",
    "obs-fold": b"\x00GET / HTTP/1.1\r\n" + H + b"X-A: a\r\n b\r\n\r\n",
    "absolute": b"\x00GET http://h/a%2Fb?q=1 HTTP/1.1\r\n" + H + b"\r\n",
    "small-limit": b"\x02GET /" + b"a" * 80 + b" HTTP/1.1\r\n" + H + b"\r\n",
    "response-101": b"\x01HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
    "response-404": b"\x01HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
}

for name, data in FRAME_SEEDS.items():
    write("frame", name, data)
for name, data in HTTP_SEEDS.items():
    write("http", name, data)
