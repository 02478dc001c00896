#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Independent oracle for test-interop: Python's `websockets` (the sans-I/O
layer of 10.x, Debian's python3-websockets) makes and checks what our codec
reads and writes.

  frames-gen SEED STREAM EXPECT   random client frames (masked, fragmented,
                                  pings between fragments) to STREAM, and
                                  one line per expected event to EXPECT
  frames-parse STREAM EXPECT      parse server frames (unmasked) from
                                  STREAM, one line per event to EXPECT
  client-request KEY OUT          a websockets client's opening handshake
  client-check KEY RESPONSE       that client's verdict on our response
  server-answer REQUEST OUT       a websockets server's response to our
                                  client request

An event line is "<opcode> <length> <sha256 hex>".
"""
import hashlib
import random
import sys

from websockets.client import ClientConnection
from websockets.frames import Frame, Opcode
from websockets.server import ServerConnection
from websockets.streams import StreamReader
from websockets.uri import parse_uri


def line(opcode, data):
    return "%d %d %s\n" % (int(opcode), len(data), hashlib.sha256(data).hexdigest())


def random_text(rng, n):
    alphabet = "abcdefghij κόσμε \U0001F600 \u07ff\uffff\U0010ffff"
    return "".join(rng.choice(alphabet) for _ in range(n)).encode()


def frames_gen(seed, stream_path, expect_path):
    rng = random.Random(int(seed))
    out = bytearray()
    events = []
    for _ in range(rng.randint(5, 30)):
        text = rng.random() < 0.5
        size = rng.choice([0, 1, 125, 126, 127, 65535, 65536, rng.randint(2, 3000)])
        data = random_text(rng, size) if text else bytes(rng.getrandbits(8) for _ in range(size))
        cuts = sorted(rng.randint(0, len(data)) for _ in range(rng.randint(0, 3)))
        pieces = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]
        for i, piece in enumerate(pieces):
            if i == 0:
                opcode = Opcode.TEXT if text else Opcode.BINARY
            else:
                opcode = Opcode.CONT
            fin = i == len(pieces) - 1
            out += Frame(opcode, piece, fin=fin).serialize(mask=True)
            if not fin and rng.random() < 0.5:
                ping = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 125)))
                out += Frame(Opcode.PING, ping).serialize(mask=True)
                events.append(line(Opcode.PING, ping))
        events.append(line(Opcode.TEXT if text else Opcode.BINARY, data))
    out += Frame(Opcode.CLOSE, b"\x03\xe8done").serialize(mask=True)
    events.append(line(Opcode.CLOSE, b"\x03\xe8done"))
    with open(stream_path, "wb") as f:
        f.write(out)
    with open(expect_path, "w") as f:
        f.writelines(events)


def frames_parse(stream_path, expect_path):
    reader = StreamReader()
    with open(stream_path, "rb") as f:
        reader.feed_data(f.read())
    reader.feed_eof()
    events = []
    message = None
    message_opcode = None
    while reader.buffer:
        parser = Frame.parse(reader.read_exact, mask=False, max_size=None, extensions=[])
        try:
            next(parser)
            raise SystemExit("truncated frame")
        except StopIteration as done:
            frame = done.value
        if frame.opcode in (Opcode.PING, Opcode.PONG, Opcode.CLOSE):
            events.append(line(frame.opcode, frame.data))
            continue
        if frame.opcode != Opcode.CONT:
            message, message_opcode = bytearray(), frame.opcode
        message += frame.data
        if frame.fin:
            events.append(line(message_opcode, bytes(message)))
    with open(expect_path, "w") as f:
        f.writelines(events)


def client(key):
    c = ClientConnection(parse_uri("ws://127.0.0.1:8080/echo?x=1"), subprotocols=["v2", "chat"])
    c.key = key
    return c


def client_request(key, out_path):
    c = client(key)
    c.send_request(c.connect())
    with open(out_path, "wb") as f:
        f.write(b"".join(c.data_to_send()))


def client_check(key, response_path):
    c = client(key)
    c.send_request(c.connect())
    c.data_to_send()
    with open(response_path, "rb") as f:
        c.receive_data(f.read())
    events = c.events_received()
    if c.state.name != "OPEN" or not events or events[0].status_code != 101:
        raise SystemExit("handshake refused: %r %r" % (c.state, events))
    print("OPEN subprotocol=%s" % c.subprotocol)


def server_answer(request_path, out_path):
    s = ServerConnection(subprotocols=["chat"])
    with open(request_path, "rb") as f:
        s.receive_data(f.read())
    request = s.events_received()[0]
    response = s.accept(request)
    s.send_response(response)
    with open(out_path, "wb") as f:
        f.write(b"".join(s.data_to_send()))
    if response.status_code != 101:
        raise SystemExit("server refused: %d" % response.status_code)


COMMANDS = {
    "frames-gen": frames_gen,
    "frames-parse": frames_parse,
    "client-request": client_request,
    "client-check": client_check,
    "server-answer": server_answer,
}

if __name__ == "__main__":
    COMMANDS[sys.argv[1]](*sys.argv[2:])
