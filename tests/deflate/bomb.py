# SPDX-License-Identifier: GPL-3.0-or-later
# A raw client that negotiates permessage-deflate and sends one compressed
# "zip bomb" message (a small frame that inflates to far more than the
# endpoint's message limit).  Prints "close CODE" for the close frame the
# server answers with (or "close none" if the connection just ended).
# Usage: bomb.py HOST PORT PATH INFLATED_BYTES [text|binary]
import base64
import os
import socket
import struct
import sys
import zlib


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def main():
    host, port, path, inflated = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    opcode = 0x2 if len(sys.argv) > 5 and sys.argv[5] == "binary" else 0x1
    sock = socket.create_connection((host, port), timeout=20)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n"
                  "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            print("FAIL: no handshake response", flush=True)
            return 1
        head += chunk
    head, rest = head.split(b"\r\n\r\n", 1)
    if not head.startswith(b"HTTP/1.1 101") or b"permessage-deflate" not in head.lower():
        print(f"FAIL: handshake {head!r}", flush=True)
        return 1

    # Zeros compress about 1000:1; JSON-looking text for the feed endpoint.
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = (b" " * 65536) if opcode == 0x1 else bytes(65536)
    body = bytearray()
    for _ in range(inflated // len(block)):
        body += comp.compress(block)
    body += comp.flush(zlib.Z_SYNC_FLUSH)
    assert body[-4:] == b"\x00\x00\xff\xff"
    body = bytes(body[:-4])  # RFC 7692 §7.2.1: the tail is left off

    mask = os.urandom(4)
    n = len(body)
    hdr = bytes([0x80 | 0x40 | opcode])  # FIN, RSV1 (compressed)
    if n < 126:
        hdr += bytes([0x80 | n])
    elif n < 65536:
        hdr += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        hdr += bytes([0x80 | 127]) + struct.pack("!Q", n)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(body))
    print(f"sending {n} compressed bytes that inflate to {inflated}", flush=True)
    try:
        sock.sendall(hdr + mask + masked)
    except OSError as e:
        print(f"send stopped: {e}", flush=True)

    buf = rest
    sock.settimeout(20)
    while True:
        while len(buf) < 2:
            try:
                chunk = sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                print("close none", flush=True)
                return 0
            buf += chunk
        b0, b1 = buf[0], buf[1]
        ln = b1 & 0x7F
        off = 2
        if ln == 126:
            need = 4
        elif ln == 127:
            need = 10
        else:
            need = 2
        while len(buf) < need:
            chunk = sock.recv(65536)
            if not chunk:
                print("close none", flush=True)
                return 0
            buf += chunk
        if ln == 126:
            ln = struct.unpack("!H", buf[2:4])[0]
            off = 4
        elif ln == 127:
            ln = struct.unpack("!Q", buf[2:10])[0]
            off = 10
        while len(buf) < off + ln:
            chunk = sock.recv(65536)
            if not chunk:
                print("close none", flush=True)
                return 0
            buf += chunk
        payload = buf[off:off + ln]
        buf = buf[off + ln:]
        if b0 & 0x0F == 0x8:
            code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
            print(f"close {code} {payload[2:].decode('utf-8', 'replace')}", flush=True)
            return 0


if __name__ == "__main__":
    sys.exit(main())
