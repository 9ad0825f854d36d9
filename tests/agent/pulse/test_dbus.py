"""The stdlib D-Bus client against hostile bytes: any client of the session bus can send the ask child a message.

Every decode runs under a time limit (SIGALRM): a malformed message must give a DBusError, never hang the child,
exhaust its stack or raise anything else.
"""

from __future__ import annotations

import contextlib
import random
import signal
import socket
import struct
import tempfile
import threading

import pytest

from agent.pulse._dbus import (METHOD_CALL, SIGNAL, Connection, DBusError, Message, Variant, _Writer, decode, encode,
                               split_signature)
from tests.agent.pulse._desktop import MISSING, start_bus


@contextlib.contextmanager
def time_limit(seconds: float):
    def expired(*_):
        raise TimeoutError(f"no result within {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def raw(signature: str, body: bytes, kind: int = SIGNAL, destination: str = "") -> bytes:
    """A message whose header says ``signature`` and whose body is ``body`` as given, valid or not."""
    w = _Writer()
    w.buf += struct.pack("<cBBBII", b"l", kind, 0, 1, len(body), 7)
    fields = [(1, Variant("o", "/x")), (2, Variant("s", "i.x")), (3, Variant("s", "M")), (8, Variant("g", signature))]
    w.write("a(yv)", fields + ([(6, Variant("s", destination))] if destination else []))
    w.pad(8)
    return bytes(w.buf) + body


def decoded(data: bytes):
    with time_limit(1):
        return decode(data)


def refused(data: bytes) -> str:
    with time_limit(1), pytest.raises(DBusError) as info:
        decode(data)
    return str(info.value)


NESTED_VARIANTS = b"\x01v\0" * 2000 + b"\x01y\0\x01"


@pytest.mark.parametrize("signature, body", [
    ("a", b""),  # an array of nothing: not a complete type
    ("a()", struct.pack("<I", 8) + b"\0" * 12),  # an empty struct takes no bytes: the array never ends
    ("a{}", struct.pack("<I", 8) + b"\0" * 12),
    ("()", b""),
    ("{sv}", b""),  # a dict entry outside an array
    ("a{vs}", struct.pack("<I", 0)),  # a key that is not a basic type
    ("a{sss}", struct.pack("<I", 0)),
    ("a{s}", struct.pack("<I", 0)),
    ("(s", b""),
    ("s)", b""),
    ("a" * 33 + "y", struct.pack("<I", 0)),  # arrays nested deeper than 32
    ("(" * 33 + "y" + ")" * 33, b"\1"),  # structs nested deeper than 32
    ("v", NESTED_VARIANTS),  # 2,000 variants in each other: the stack
    ("v", b"\x02yy\0\1\1"),  # a variant of two types
    ("v", b"\x01z\0\1"),  # an unknown type
    ("s", struct.pack("<I", 0xFFFFFFF0) + b"abc\0"),  # a string far longer than the message
    ("ay", struct.pack("<I", 0xFFFFFFF0)),
    ("at", struct.pack("<I", 4) + b"\0" * 12),  # elements that overrun the array's length
    ("u", b"\1\0"),  # a body shorter than its signature
    ("y", b"\1\2\3"),  # a body longer than its signature
])
def test_hostile_messages_are_refused_in_time(signature, body):
    assert refused(raw(signature, body))


def test_header_fields_of_the_wrong_type_or_a_broken_header_are_refused():
    w = _Writer()
    w.buf += struct.pack("<cBBBII", b"l", SIGNAL, 0, 1, 0, 7)
    w.write("a(yv)", [(8, Variant("u", 5))])  # a signature that is a number
    w.pad(8)
    assert "header field signature" in refused(bytes(w.buf))
    good = raw("u", b"\1\0\0\0")
    assert refused(good[:12] + struct.pack("<I", 9999) + good[16:] + b"\0" * 10000)  # fields overrun the message
    assert refused(b"B" + good[1:])  # big-endian lengths: the message is not what it says
    assert refused(good[:3] + b"\2" + good[4:])  # protocol version 2
    assert "byte order" in refused(b"x" + good[1:])
    assert "bytes" in refused(good[:4] + struct.pack("<I", 2 << 20) + good[8:])  # over MAX_MESSAGE


def test_the_specification_bounds_are_accepted():
    assert split_signature("a" * 32 + "y") == ["a" * 32 + "y"]
    assert split_signature("(" * 32 + "y" + ")" * 32 + "a{sv}") == ["(" * 32 + "y" + ")" * 32, "a{sv}"]
    body = b"\x01v\0" * 63 + b"\x01y\0\x05"  # 64 variants: the deepest a value may be
    msg, _ = decoded(raw("v", body))
    assert msg.body == (5,)
    assert "nested" in refused(raw("v", b"\x01v\0" + body))


def big_endian_action(nid: int, key: str, destination: str = "") -> bytes:
    """An ActionInvoked signal in big-endian byte order, marshalled here by hand."""
    def align(buf: bytearray, n: int) -> None:
        buf += b"\0" * (-len(buf) % n)

    fields = bytearray(b"\0" * 16)  # offsets count from the message's start
    for code, sig, value in ((1, "o", "/org/freedesktop/Notifications"), (2, "s", "org.freedesktop.Notifications"),
                             (3, "s", "ActionInvoked"), (6, "s", destination), (8, "g", "us")):
        if not value:
            continue
        align(fields, 8)
        fields += bytes([code, 1]) + sig.encode() + b"\0"
        if sig == "g":
            fields += bytes([len(value)]) + value.encode() + b"\0"
        else:
            align(fields, 4)
            fields += struct.pack(">I", len(value)) + value.encode() + b"\0"
    body = struct.pack(">II", nid, len(key)) + key.encode() + b"\0"
    head = struct.pack(">cBBBIII", b"B", SIGNAL, 0, 1, len(body), 3, len(fields) - 16)
    align(fields, 8)
    return head + bytes(fields[16:]) + body


def test_a_big_endian_message_is_read():
    """The specification lets each sender choose its byte order; the bus passes the message on as it came."""
    data = big_endian_action(42, "lost_work")
    msg, n = decoded(data)
    assert n == len(data) and msg.headers["member"] == "ActionInvoked" and msg.body == (42, "lost_work")


def test_random_damage_gives_a_message_none_or_dbuserror():
    msg = Message(METHOD_CALL, 5, 0, {"path": "/org/freedesktop/Notifications", "member": "Notify",
                                      "interface": "org.freedesktop.Notifications", "signature": "susssasa{sv}i"},
                  ("app", 1, "", "title", "body", ["a", "b"], {"v": Variant("v", Variant("a(ii)", [(1, 2)]))}, 5))
    good = encode(msg)
    back, n = decoded(good)
    assert n == len(good) and back.headers == msg.headers
    assert back.body == ("app", 1, "", "title", "body", ["a", "b"], {"v": [(1, 2)]}, 5)  # variants: their values
    rng = random.Random(14)
    with time_limit(10):
        for _ in range(3000):
            data = bytearray(good)
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            try:
                decode(bytes(data[:rng.randint(len(data) - 8, len(data))]))
            except DBusError:
                pass


@contextlib.contextmanager
def fake_bus(answer: bytes):
    """A unix socket that answers the client's first line with ``answer``; yields (address, ended), ``ended`` set
    once the client closed its end."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/bus"
        server.bind(path)
        server.listen(1)
        ended = threading.Event()

        def serve():
            conn, _ = server.accept()
            conn.recv(4096)
            conn.sendall(answer)
            conn.settimeout(5)
            with contextlib.suppress(OSError), conn:
                while conn.recv(4096):
                    pass
                ended.set()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            yield f"unix:path={path}", ended
        finally:
            server.close()


@pytest.mark.parametrize("answer", [b"REJECTED EXTERNAL\r\n", b"OK 0123456789abcdef\r\n" + b"x" * 16])
def test_a_refused_authentication_or_hello_closes_the_socket(answer):
    with fake_bus(answer) as (address, ended):
        with pytest.raises(DBusError) as info:
            Connection(address, timeout_s=1)
        assert ended.wait(3), "the client kept its socket open"
        assert "cannot connect" in str(info.value)


@pytest.mark.skipif("dbus-daemon" in MISSING, reason="needs dbus-daemon")
def test_a_send_on_a_dead_bus_is_a_dbuserror(tmp_path):
    daemon, address = start_bus(tmp_path)
    try:
        bus = Connection(address)
        daemon.kill()
        daemon.wait(10)
        with pytest.raises(DBusError, match="connection lost"):
            for _ in range(3):  # the first write may still reach the socket's buffer
                bus.send("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetId")
        bus.close()
    finally:
        if daemon.poll() is None:
            daemon.kill()
        daemon.wait(10)
