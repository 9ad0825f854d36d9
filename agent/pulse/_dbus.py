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

BUS = "org.freedesktop.DBus"  # the bus itself: its name, interface and the sender of its messages
METHOD_CALL, METHOD_RETURN, ERROR, SIGNAL = 1, 2, 3, 4
_NO_REPLY_EXPECTED = 0x1
_FIELDS = {1: "path", 2: "interface", 3: "member", 4: "error_name", 5: "reply_serial", 6: "destination",
           7: "sender", 8: "signature"}
_FIELD_CODES = {name: (code, "g" if name == "signature" else "u" if name == "reply_serial" else
                       "o" if name == "path" else "s") for code, name in _FIELDS.items()}
_FIXED = {"y": "B", "b": "I", "n": "h", "q": "H", "i": "i", "u": "I", "x": "q", "t": "Q", "d": "d", "h": "I"}
_ALIGN = {"y": 1, "b": 4, "n": 2, "q": 2, "i": 4, "u": 4, "x": 8, "t": 8, "d": 8, "h": 4, "s": 4, "o": 4,
          "g": 1, "a": 4, "(": 8, "{": 8, "v": 1}
_BASIC = "ybnqiuxtdsogh"
MAX_MESSAGE = 1 << 20  # bytes: far more than a notification needs, far less than the spec's 128 MiB
MAX_SIGNATURE = 255  # characters (the specification's bound)
MAX_NESTING = 32  # arrays, and structs, nested in one signature (the specification's bound)
MAX_DEPTH = 64  # containers around a value, variants included (the specification's bound)
MAX_QUEUED_SIGNALS = 1024  # signals kept while a reply is awaited; more are dropped


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
    """The complete types of a signature, e.g. 'sa{sv}i' -> ['s', 'a{sv}', 'i']; DBusError if it is not valid."""
    if len(signature) > MAX_SIGNATURE:
        raise DBusError("", f"signature of {len(signature)} characters")
    out, i = [], 0
    while i < len(signature):
        j = _end_of_type(signature, i)
        out.append(signature[i:j])
        i = j
    return out


def _end_of_type(sig: str, i: int, arrays: int = 0, structs: int = 0, in_array: bool = False) -> int:
    """The end of the complete type starting at ``sig[i]``, as the specification's "Valid Signatures" has it: no
    empty struct, dict entries (two fields, a basic key) only as array elements, at most 32 arrays and 32 structs
    or dict entries nested."""
    if i >= len(sig):
        raise DBusError("", f"incomplete type in signature {sig!r:.300}")
    c = sig[i]
    if c in _BASIC or c == "v":
        return i + 1
    if c == "a":
        if arrays == MAX_NESTING:
            raise DBusError("", f"arrays nested over {MAX_NESTING} deep in signature {sig!r:.300}")
        return _end_of_type(sig, i + 1, arrays + 1, structs, in_array=True)
    if c == "(" or (c == "{" and in_array):
        if structs == MAX_NESTING:
            raise DBusError("", f"structs nested over {MAX_NESTING} deep in signature {sig!r:.300}")
        fields, j = 0, i + 1
        while j < len(sig) and sig[j] not in ")}":
            j = _end_of_type(sig, j, arrays, structs + 1)
            fields += 1
        if j == len(sig) or sig[j] != {"(": ")", "{": "}"}[c]:
            raise DBusError("", f"unbalanced signature {sig!r:.300}")
        if fields == 0 or (c == "{" and (fields != 2 or sig[i + 1] not in _BASIC)):
            raise DBusError("", f"empty struct or bad dict entry in signature {sig!r:.300}")
        return j + 1
    raise DBusError("", f"unexpected {c!r} in signature {sig!r:.300}")


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
    def __init__(self, data: bytes, pos: int = 0, order: str = "<") -> None:
        self.data, self.pos, self.order = data, pos, order

    def align(self, n: int) -> None:
        self.pos += -self.pos % n

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise DBusError("", "truncated message")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, code: str) -> Any:
        fmt = self.order + code
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def read(self, sig: str, depth: int = 0) -> Any:
        """The value of the complete type ``sig`` (a valid one), ``depth`` containers deep."""
        c = sig[0]
        self.align(_ALIGN[c])
        if c in _FIXED:
            value = self.unpack(_FIXED[c])
            return bool(value) if c == "b" else value
        if c in "sog":
            n = self.unpack("B" if c == "g" else "I")
            return self.take(n + 1)[:-1].decode("utf-8", "replace")
        if depth == MAX_DEPTH:
            raise DBusError("", f"values nested over {MAX_DEPTH} containers deep")
        if c == "v":
            inner = split_signature(self.read("g"))
            if len(inner) != 1:
                raise DBusError("", f"variant of {len(inner)} types")
            return self.read(inner[0], depth + 1)
        if c == "a":
            inner = sig[1:]
            n = self.unpack("I")
            self.align(_ALIGN[inner[0]])
            end = self.pos + n
            if end > len(self.data):
                raise DBusError("", "truncated array")
            items = []
            while self.pos < end:  # every valid type takes at least one byte
                items.append(self.read(inner, depth + 1))
            if self.pos != end:
                raise DBusError("", "array elements overrun the array's length")
            return dict(items) if inner[0] == "{" else items
        return tuple(self.read(t, depth + 1) for t in split_signature(sig[1:-1]))


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


def _frame(data: bytes) -> tuple[str, int] | None:
    """The byte order and length of the message at the start of ``data``, None while its fixed header is incomplete;
    DBusError if the stream is not D-Bus."""
    if len(data) < 16:
        return None
    order = {b"l": "<", b"B": ">"}.get(data[:1])
    if order is None:
        raise DBusError("", f"not a D-Bus message (byte order {data[:1]!r})")
    body_len, _, fields_len = struct.unpack_from(order + "III", data, 4)
    return order, 16 + fields_len + (-(16 + fields_len) % 8) + body_len


def decode(data: bytes) -> tuple[Message, int] | None:
    """The first message in ``data`` and its length, or None if ``data`` does not hold a whole one yet; DBusError
    for a message that breaks the specification or is over MAX_MESSAGE."""
    frame = _frame(data)
    if frame is None:
        return None
    order, total = frame
    if total > MAX_MESSAGE:
        raise DBusError("", f"message of {total} bytes")
    if len(data) < total:
        return None
    kind, flags, version, body_len, serial = struct.unpack_from(order + "BBBII", data, 1)
    if version != 1:
        raise DBusError("", f"protocol version {version}")
    reader = _Reader(data[:total], 12, order)
    try:
        headers = {_FIELDS[code]: value for code, value in reader.read("a(yv)") if code in _FIELDS}
        for name, value in headers.items():
            if type(value) is not (int if name == "reply_serial" else str):
                raise DBusError("", f"header field {name} of type {type(value).__name__}")
        reader.align(8)
        body = tuple(reader.read(t) for t in split_signature(headers.get("signature", "")))
        if reader.pos != total:
            raise DBusError("", "body shorter than its length")
    except (IndexError, ValueError, TypeError, RecursionError, struct.error) as exc:  # none expected: bounded anyway
        raise DBusError("", f"malformed message: {type(exc).__name__}") from None
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
        self._skip = 0  # bytes still to drop of a message over MAX_MESSAGE
        self._signals: list[Message] = []
        try:
            self._sock.connect(parse_address(address))
            self._auth()
            self.unique_name = self.call(BUS, "/org/freedesktop/DBus", BUS, "Hello", timeout_s=timeout_s)[0]
        except (OSError, DBusError) as exc:
            self._sock.close()
            raise DBusError("", f"cannot connect to the bus: {exc}") from None

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
        try:
            self._sock.sendall(encode(msg))
        except OSError as exc:
            raise DBusError("", f"bus connection lost: {exc}") from None
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
                    raise DBusError(msg.headers.get("error_name", "error"), str(msg.body[0])[:300] if msg.body else "")
                return msg.body
            if msg.type == SIGNAL and len(self._signals) < MAX_QUEUED_SIGNALS:
                self._signals.append(msg)

    def get_property(self, destination: str, path: str, interface: str, name: str) -> Any:
        """org.freedesktop.DBus.Properties.Get."""
        return self.call(destination, path, "org.freedesktop.DBus.Properties", "Get", "ss", (interface, name))[0]

    def add_match(self, rule: str) -> None:
        self.call(BUS, "/org/freedesktop/DBus", BUS, "AddMatch", "s", (rule,))

    def name_owner(self, name: str) -> str:
        """The unique name of the connection that owns the well-known ``name`` now; DBusError if none does."""
        return self.call(BUS, "/org/freedesktop/DBus", BUS, "GetNameOwner", "s", (name,))[0]

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
        """The next well-formed message, or None at ``deadline``; one that breaks the specification, or is too big,
        is dropped (any client of the bus can send us one)."""
        while time.monotonic() < deadline:
            if self._skip:
                dropped = min(self._skip, len(self._buf))
                self._buf, self._skip = self._buf[dropped:], self._skip - dropped
            frame = None if self._skip else _frame(self._buf)
            if frame and frame[1] > MAX_MESSAGE:
                self._skip = frame[1]
                continue
            if frame and len(self._buf) >= frame[1]:
                message, self._buf = self._buf[:frame[1]], self._buf[frame[1]:]
                try:
                    return decode(message)[0]
                except DBusError:
                    continue
            self._sock.settimeout(max(deadline - time.monotonic(), 0.001))
            try:
                chunk = self._sock.recv(65536)
            except socket.timeout:
                return None
            except OSError as exc:
                raise DBusError("", f"bus connection lost: {exc}") from None
            if not chunk:
                raise DBusError("", "bus closed the connection")
            self._buf += chunk
        return None
