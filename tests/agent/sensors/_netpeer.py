"""The far side of a connectivity test, run inside the test's peer namespace.

Serves HTTP (fast 200s) and answers DNS A queries for one name with its own
address, on ``ADDRESS``; prints ``ready`` once both sockets are bound.
Usage: python -m tests.agent.sensors._netpeer ADDRESS HTTP_PORT NAME
"""

from __future__ import annotations

import socket
import struct
import sys
import threading

from tests.agent.sensors._http_target import HttpTarget


def answer(query: bytes, name: str, address: str) -> bytes | None:
    """A DNS response to ``query``: the A record for ``name``, empty for other types, NXDOMAIN otherwise."""
    if len(query) < 12:
        return None
    qid, _flags, qdcount = struct.unpack("!HHH", query[:6])
    if qdcount != 1:
        return None
    labels, pos = [], 12
    while pos < len(query) and query[pos]:
        n = query[pos]
        labels.append(query[pos + 1:pos + 1 + n].decode("ascii", "replace"))
        pos += 1 + n
    qtype, _qclass = struct.unpack("!HH", query[pos + 1:pos + 5])
    question = query[12:pos + 5]
    known = ".".join(labels).lower() == name.lower()
    records = b""
    if known and qtype == 1:
        records = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 0, 4) + socket.inet_aton(address)
    flags = 0x8180 | (0 if known else 3)
    return struct.pack("!HHHHHH", qid, flags, 1, 1 if records else 0, 0, 0) + question + records


def _serve_dns(sock: socket.socket, name: str, address: str) -> None:
    while True:
        data, peer = sock.recvfrom(512)
        reply = answer(data, name, address)
        if reply:
            sock.sendto(reply, peer)


def main() -> None:
    address, port, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dns.bind((address, 53))
    threading.Thread(target=_serve_dns, args=(dns, name, address), daemon=True).start()
    with HttpTarget(address, port):
        print("ready", flush=True)
        sys.stdin.read()  # until the test closes our stdin


if __name__ == "__main__":
    main()
