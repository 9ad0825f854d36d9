"""A minimal D-Bus client on the standard library: a session bus connection, method calls, signals.

Just what the pulse's notification needs (the org.freedesktop.Notifications
calls and signals, two properties): connection to a ``unix:path=`` or
``unix:abstract=`` address, EXTERNAL authentication (the caller's uid), the
wire format of the D-Bus specification (little-endian marshalling of the basic
types, strings, arrays, dicts, structs and variants), method calls with their
reply and signals received in order. No file descriptors, no TCP, no server
side. Why not a library: docs/pulse.md ("D-Bus client").
"""

from __future__ import annotations

import os
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any

METHOD_CALL, METHOD_RETURN, ERROR, SIGNAL = 1, 2, 3, 4
_NO_REPLY_EXPECTED = 0x1
_FIELDS = {1: "path", 2: "interface", 3: "member", 4: "error_name", 5: "reply_serial", 6: "destination",
           7: "sender", 8: "signature"}
_FIELD_CODES = {name: (code, "g" if name == "signature" else "u" if name == "reply_serial" else
                       "o" if name == "path" else "s") for code, name in _FIELDS.items()}
_FIXED = {"y": "B", "b": "I", "n": "h", "q": "H", "i": "i", "u": "I", "x": "q", "t": "Q", "d": "d", "h": "I"}
_ALIGN = {"y": 1, "b": 4, "n": 2, "q": 2, "i": 4, "u": 4, "x": 8, "t": 8, "d": 8, "h": 4, "s": 4, "o": 4,
          "g": 1, "a": 4, "(": 8, "{": 8, "v": 1}
MAX_MESSAGE = 1 << 20  # bytes: far more than a notification needs, far less than the spec's 128 MiB


class DBusError(Exception):
    """A D-Bus error reply (``name``) or a broken connection (``name`` empty)."""

    def __init__(self, name: str, message: str = ""):
        super().__init__(f"{name}: {message}" if name else message)
        self.name = name


@dataclass(frozen=True)
class Variant:
    """A value to send as a variant, with its signature (received variants are just their values)."""

    signature: str
    value: Any


@dataclass
class Message:
    """One message: its type, header fields and body."""

    type: int
    serial: int = 0
    flags: int = 0
    headers: dict[str, Any] = field(default_factory=dict)
    body: tuple = ()


def split_signature(signature: str) -> list[str]:
    """The complete types of a signature, e.g. 'sa{sv}i' -> ['s', 'a{sv}', 'i']."""
    out, i = [], 0
    while i < len(signature):
        j = _end_of_type(signature, i)
        out.append(signature[i:j])
        i = j
    return out


def _end_of_type(sig: str, i: int) -> int:
    c = sig[i]
    if c == "a":
        return _end_of_type(sig, i + 1)
    if c in "({":
        depth, j = 0, i
        while True:
            if sig[j] in "({":
                depth += 1
            elif sig[j] in ")}":
                depth -= 1
                if depth == 0:
                    return j + 1
            j += 1
            if j >= len(sig):
                raise DBusError("", f"unbalanced signature {sig!r}")
    if c not in _ALIGN:
        raise DBusError("", f"unsupported type {c!r} in signature {sig!r}")
    return i + 1


class _Writer:
    def __init__(self) -> None:
        self.buf = bytearray()

    def pad(self, n: int) -> None:
        self.buf += b"\0" * (-len(self.buf) % n)

    def write(self, sig: str, value: Any) -> None:
        c = sig[0]
        self.pad(_ALIGN[c])
        if c in _FIXED:
            self.buf += struct.pack("<" + _FIXED[c], int(value) if c == "b" else value)
        elif c in "so":
            raw = value.encode()
            self.buf += struct.pack("<I", len(raw)) + raw + b"\0"
        elif c == "g":
            raw = value.encode()
            self.buf += struct.pack("<B", len(raw)) + raw + b"\0"
        elif c == "v":
            self.write("g", value.signature)
            self.write(value.signature, value.value)
        elif c == "a":
            inner = sig[1:]
            at = len(self.buf)
            self.buf += b"\0\0\0\0"
            self.pad(_ALIGN[inner[0]])
            start = len(self.buf)
            items = value.items() if inner[0] == "{" else value
            for item in items:
                self.write(inner, item)
            struct.pack_into("<I", self.buf, at, len(self.buf) - start)
        elif c in "({":
            for t, v in zip(split_signature(sig[1:-1]), value):
                self.write(t, v)


class _Reader:
    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data, self.pos = data, pos

    def align(self, n: int) -> None:
        self.pos += -self.pos % n

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise DBusError("", "truncated message")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def read(self, sig: str) -> Any:
        c = sig[0]
        self.align(_ALIGN[c])
        if c in _FIXED:
            fmt = "<" + _FIXED[c]
            (value,) = struct.unpack(fmt, self.take(struct.calcsize(fmt)))
            return bool(value) if c == "b" else value
        if c in "so":
            (n,) = struct.unpack("<I", self.take(4))
            value = self.take(n + 1)[:-1].decode("utf-8", "replace")
            return value
        if c == "g":
            (n,) = struct.unpack("<B", self.take(1))
            return self.take(n + 1)[:-1].decode("ascii", "replace")
        if c == "v":
            inner = self.read("g")
            if len(split_signature(inner)) != 1:
                raise DBusError("", f"variant of signature {inner!r}")
            return self.read(inner)
        if c == "a":
            inner = sig[1:]
            (n,) = struct.unpack("<I", self.take(4))
            self.align(_ALIGN[inner[0]])
            end = self.pos + n
            if end > len(self.data):
                raise DBusError("", "truncated array")
            items = []
            while self.pos < end:
                items.append(self.read(inner))
            return dict(items) if inner[0] == "{" else items
        if c in "({":
            return tuple(self.read(t) for t in split_signature(sig[1:-1]))
        raise DBusError("", f"unsupported type {c!r}")


def encode(msg: Message) -> bytes:
    """The wire bytes of a message."""
    body = _Writer()
    signature = msg.headers.get("signature", "")
    for t, v in zip(split_signature(signature), msg.body):
        body.write(t, v)
    head = _Writer()
    head.buf += struct.pack("<cBBBII", b"l", msg.type, msg.flags, 1, len(body.buf), msg.serial)
    fields = [(_FIELD_CODES[k][0], Variant(_FIELD_CODES[k][1], v)) for k, v in msg.headers.items() if v != ""]
    head.write("a(yv)", fields)
    head.pad(8)
    return bytes(head.buf + body.buf)


def decode(data: bytes) -> tuple[Message, int] | None:
    """The first message in ``data`` and its length, or None if ``data`` does not hold a whole one yet."""
    if len(data) < 16:
        return None
    if data[:1] != b"l":
        raise DBusError("", "big-endian messages are not supported")
    _, kind, flags, _, body_len, serial, fields_len = struct.unpack_from("<cBBBIII", data)
    header_end = 16 + fields_len + (-(16 + fields_len) % 8)
    total = header_end + body_len
    if total > MAX_MESSAGE:
        raise DBusError("", f"message of {total} bytes")
    if len(data) < total:
        return None
    reader = _Reader(data[:total], 12)
    headers = {_FIELDS[code]: value for code, value in reader.read("a(yv)") if code in _FIELDS}
    reader.pos = header_end
    body = tuple(reader.read(t) for t in split_signature(headers.get("signature", "")))
    return Message(kind, serial, flags, headers, body), total


def parse_address(address: str) -> str | bytes:
    """The socket address of the first usable ``unix:`` entry of a D-Bus address (abstract names as bytes)."""
    for entry in address.split(";"):
        kind, _, params = entry.partition(":")
        if kind != "unix":
            continue
        values = dict(p.split("=", 1) for p in params.split(",") if "=" in p)
        if "path" in values:
            return _unescape(values["path"])
        if "abstract" in values:
            return b"\0" + _unescape(values["abstract"]).encode()
    raise DBusError("", f"no unix: entry in the bus address {address!r}")


def _unescape(value: str) -> str:
    """A D-Bus address value with its %XX escapes decoded."""
    out, i = bytearray(), 0
    while i < len(value):
        if value[i] == "%" and i + 3 <= len(value):
            try:
                out.append(int(value[i + 1:i + 3], 16))
            except ValueError:
                raise DBusError("", f"bad escape in bus address value {value!r}") from None
            i += 3
        else:
            out += value[i].encode()
            i += 1
    return out.decode("utf-8", "replace")


class Connection:
    """One authenticated connection to a bus; ``call`` waits for the reply, ``signals`` are kept in order."""

    def __init__(self, address: str, timeout_s: float = 10.0):
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout_s)
        self._buf = b""
        self._serial = 0
        self._signals: list[Message] = []
        try:
            self._sock.connect(parse_address(address))
            self._auth()
        except OSError as exc:
            self._sock.close()
            raise DBusError("", f"cannot connect to the bus: {exc}") from None
        self.unique_name = self.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                     "Hello")[0]

    def _auth(self) -> None:
        self._sock.sendall(b"\0AUTH EXTERNAL " + str(os.getuid()).encode().hex().encode() + b"\r\n")
        line = self._line()
        if not line.startswith(b"OK "):
            raise DBusError("", f"bus refused authentication: {line[:80]!r}")
        self._sock.sendall(b"BEGIN\r\n")

    def _line(self) -> bytes:
        while b"\r\n" not in self._buf:
            chunk = self._sock.recv(4096)
            if not chunk or len(self._buf) > 4096:
                raise DBusError("", "bus closed the connection during authentication")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\r\n", 1)
        return line

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def send(self, destination: str, path: str, interface: str, member: str, signature: str = "",
             body: tuple = (), expect_reply: bool = True) -> int:
        """Send a method call; its serial."""
        self._serial += 1
        headers = {"path": path, "interface": interface, "member": member, "destination": destination,
                   "signature": signature}
        msg = Message(METHOD_CALL, self._serial, 0 if expect_reply else _NO_REPLY_EXPECTED, headers, body)
        self._sock.sendall(encode(msg))
        return self._serial

    def call(self, destination: str, path: str, interface: str, member: str, signature: str = "",
             body: tuple = (), timeout_s: float = 10.0) -> tuple:
        """Call a method and return its reply's body; DBusError for an error reply."""
        serial = self.send(destination, path, interface, member, signature, body)
        deadline = time.monotonic() + timeout_s
        while True:
            msg = self._receive(deadline)
            if msg is None:
                raise DBusError("", f"no reply to {interface}.{member} within {timeout_s:g} s")
            if msg.type in (METHOD_RETURN, ERROR) and msg.headers.get("reply_serial") == serial:
                if msg.type == ERROR:
                    raise DBusError(msg.headers.get("error_name", "error"), str(msg.body[0]) if msg.body else "")
                return msg.body
            if msg.type == SIGNAL:
                self._signals.append(msg)

    def get_property(self, destination: str, path: str, interface: str, name: str) -> Any:
        """org.freedesktop.DBus.Properties.Get."""
        return self.call(destination, path, "org.freedesktop.DBus.Properties", "Get", "ss", (interface, name))[0]

    def add_match(self, rule: str) -> None:
        self.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch", "s", (rule,))

    def next_signal(self, deadline: float) -> Message | None:
        """The next signal received, or None at ``deadline`` (time.monotonic())."""
        while not self._signals:
            msg = self._receive(deadline)
            if msg is None:
                return None
            if msg.type == SIGNAL:
                self._signals.append(msg)
        return self._signals.pop(0)

    def _receive(self, deadline: float) -> Message | None:
        while True:
            found = decode(self._buf)
            if found:
                msg, n = found
                self._buf = self._buf[n:]
                return msg
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._sock.settimeout(left)
            try:
                chunk = self._sock.recv(65536)
            except socket.timeout:
                return None
            except OSError as exc:
                raise DBusError("", f"bus connection lost: {exc}") from None
            if not chunk:
                raise DBusError("", "bus closed the connection")
            self._buf += chunk
