# SPDX-License-Identifier: GPL-3.0-or-later
# A one-connection WebSocket server that agrees to permessage-deflate and
# sends what libsoup's own clients rarely meet, for the client tests:
#   fragments  - a compressed text message split over three frames (RSV1 on
#                the first only), then a compressed binary message that
#                refers back to the first (context takeover);
#   bomb N     - one compressed frame that inflates to N bytes of zeros.
# Prints the port, then "offer <header>" and, when the client closes,
# "close <code>" (or "eof").
import base64
import hashlib
import socket
import struct
import sys
import zlib

TEXT = ("fragmented and compressed " * 400).encode()
BINARY = bytes(range(256)) * 64 + TEXT[:1000]


def frame(first_byte, payload):
    n = len(payload)
    if n < 126:
        return bytes([first_byte, n]) + payload
    if n < 65536:
        return bytes([first_byte, 126]) + struct.pack("!H", n) + payload
    return bytes([first_byte, 127]) + struct.pack("!Q", n) + payload


def compress(comp, data):
    out = comp.compress(data) + comp.flush(zlib.Z_SYNC_FLUSH)
    assert out[-4:] == b"\x00\x00\xff\xff"
    return out[:-4]


def main():
    mode = sys.argv[1]
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    print(ls.getsockname()[1], flush=True)
    ls.settimeout(30)
    c, _ = ls.accept()
    c.settimeout(30)
    req = b""
    while b"\r\n\r\n" not in req:
        chunk = c.recv(4096)
        if not chunk:
            return
        req += chunk
    lines = req.split(b"\r\n")
    offer = [l.split(b":", 1)[1].strip() for l in lines if l.lower().startswith(b"sec-websocket-extensions")]
    print("offer", offer[0].decode() if offer else "", flush=True)
    key = [l.split(b":", 1)[1].strip() for l in lines if l.lower().startswith(b"sec-websocket-key")][0]
    accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Accept: " + accept + b"\r\n"
              b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n")

    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    try:
        if mode == "fragments":
            body = compress(comp, TEXT)
            a, b = len(body) // 3, 2 * len(body) // 3
            c.sendall(frame(0x40 | 0x1, body[:a]) + frame(0x0, body[a:b]) + frame(0x80, body[b:]))
            c.sendall(frame(0x80 | 0x40 | 0x2, compress(comp, BINARY)))
        else:
            size = int(sys.argv[2])
            body = bytearray()
            block = bytes(1 << 20)
            for _ in range(size >> 20):
                body += comp.compress(block)
            body += comp.flush(zlib.Z_SYNC_FLUSH)
            c.sendall(frame(0x80 | 0x40 | 0x2, bytes(body[:-4])))
    except OSError:
        # A client that refused the handshake has closed (or reset) the
        # connection while we were still writing: that is its end too.
        print("eof", flush=True)
        return

    buf = b""
    while True:
        try:
            chunk = c.recv(65536)
        except OSError:
            chunk = b""
        if not chunk:
            print("eof", flush=True)
            return
        buf += chunk
        while len(buf) >= 6:
            n = buf[1] & 0x7F
            off = 2
            if n == 126:
                if len(buf) < 4:
                    break
                n = struct.unpack("!H", buf[2:4])[0]
                off = 4
            if len(buf) < off + 4 + n:
                break
            mask = buf[off:off + 4]
            payload = bytes(x ^ mask[i % 4] for i, x in enumerate(buf[off + 4:off + 4 + n]))
            if buf[0] & 0x0F == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                print("close", code, flush=True)
                return
            buf = buf[off + 4 + n:]


if __name__ == "__main__":
    main()
