"""The Linux netlink process connector: open it, and decode its messages.

The kernel multicasts one ``struct proc_event`` (linux/cn_proc.h) per process
event to listeners of the CN_IDX_PROC group of NETLINK_CONNECTOR; listening
needs CAP_NET_ADMIN in the initial namespaces. Each datagram holds netlink
messages: ``nlmsghdr`` (16 bytes), ``cn_msg`` (20 bytes), then ``proc_event``:
``what`` (u32), ``cpu`` (u32), ``timestamp_ns`` (u64, CLOCK_MONOTONIC) and a
union whose layout depends on ``what``. Decoding is pure and tested on bytes.
"""

from __future__ import annotations

import os
import re
import socket
import struct
from dataclasses import dataclass

NETLINK_CONNECTOR = 11
CN_IDX_PROC = 1
CN_VAL_PROC = 1
PROC_CN_MCAST_LISTEN = 1

PROC_EVENT_FORK = 0x00000001
PROC_EVENT_EXEC = 0x00000002
PROC_EVENT_COMM = 0x00000200
PROC_EVENT_NONZERO_EXIT = 0x20000000  # a filter flag (Linux 6.6+): exits with a non-zero status only
PROC_EVENT_EXIT = 0x80000000
# What a crash sensor needs: executables as they start, and exits that were not clean.
CRASH_FILTER = PROC_EVENT_EXEC | PROC_EVENT_NONZERO_EXIT

_NLMSG = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_CN_MSG = struct.Struct("=IIIIHH")  # idx, val, seq, ack, len, flags
_EVENT_HEAD = struct.Struct("=IIQ")  # what, cpu, timestamp_ns
_FORK = struct.Struct("=IIII")  # parent_pid, parent_tgid, child_pid, child_tgid
_EXEC = struct.Struct("=II")  # process_pid, process_tgid
_COMM = struct.Struct("=II16s")  # process_pid, process_tgid, comm
_EXIT = struct.Struct("=IIIi")  # process_pid, process_tgid, exit_code, exit_signal
_EXIT_PARENT = struct.Struct("=II")  # then parent_pid, parent_tgid (Linux 4.18+)
NLMSG_DONE = 3


@dataclass(frozen=True)
class ProcEvent:
    """One decoded process event; fields unused by a kind are 0 or empty."""

    what: int
    timestamp_ns: int
    pid: int
    tgid: int
    parent_tgid: int = 0  # FORK: the process that forked; EXIT: the parent (0 if the kernel does not say)
    exit_code: int = 0  # EXIT: a wait(2) status
    comm: str = ""  # COMM: the new name


def decode(data: bytes) -> list[ProcEvent]:
    """Decode one datagram from the connector into the events it carries."""
    events = []
    offset = 0
    while offset + _NLMSG.size <= len(data):
        length = _NLMSG.unpack_from(data, offset)[0]
        if length < _NLMSG.size:
            break
        body = offset + _NLMSG.size
        event = _decode_event(data, body, offset + length)
        if event is not None:
            events.append(event)
        offset += (length + 3) & ~3  # NLMSG_ALIGN
    return events


def _decode_event(data: bytes, start: int, end: int) -> ProcEvent | None:
    if end - start < _CN_MSG.size + _EVENT_HEAD.size:
        return None
    idx, val = _CN_MSG.unpack_from(data, start)[:2]
    if (idx, val) != (CN_IDX_PROC, CN_VAL_PROC):
        return None
    pos = start + _CN_MSG.size
    what, _cpu, ts = _EVENT_HEAD.unpack_from(data, pos)
    pos += _EVENT_HEAD.size
    if what == PROC_EVENT_FORK and end - pos >= _FORK.size:
        _ppid, ptgid, pid, tgid = _FORK.unpack_from(data, pos)
        return ProcEvent(what, ts, pid, tgid, parent_tgid=ptgid)
    if what == PROC_EVENT_EXEC and end - pos >= _EXEC.size:
        return ProcEvent(what, ts, *_EXEC.unpack_from(data, pos))
    if what == PROC_EVENT_COMM and end - pos >= _COMM.size:
        pid, tgid, comm = _COMM.unpack_from(data, pos)
        return ProcEvent(what, ts, pid, tgid, comm=comm.split(b"\0", 1)[0].decode("utf-8", "replace"))
    if what == PROC_EVENT_EXIT and end - pos >= _EXIT.size:
        pid, tgid, code, _exit_signal = _EXIT.unpack_from(data, pos)
        parent = 0
        if end - pos >= _EXIT.size + _EXIT_PARENT.size:
            parent = _EXIT_PARENT.unpack_from(data, pos + _EXIT.size)[1]
        return ProcEvent(what, ts, pid, tgid, parent_tgid=parent, exit_code=code)
    return None


def wait_status(code: int) -> tuple[int, bool, int]:
    """Split a wait(2) status into (terminating signal or 0, core dumped, exit status)."""
    return code & 0x7F, bool(code & 0x80), (code >> 8) & 0xFF


def supports_event_filter(release: str) -> bool:
    """True if a kernel release (``uname -r``) filters events per listener (Linux 6.6 and later)."""
    m = re.match(r"^(\d+)\.(\d+)", release)
    return bool(m) and (int(m.group(1)), int(m.group(2))) >= (6, 6)


def listen_message(port_id: int, event_filter: int | None = None) -> bytes:
    """The netlink message that subscribes a socket to process events (all, or those in ``event_filter``).

    Kernels before 6.6 ignore a subscription that carries a filter, so pass
    one only where :func:`supports_event_filter` says so.
    """
    op = struct.pack("=I", PROC_CN_MCAST_LISTEN)
    payload = op if event_filter is None else op + struct.pack("=I", event_filter)
    cn = _CN_MSG.pack(CN_IDX_PROC, CN_VAL_PROC, 0, 0, len(payload), 0) + payload
    return _NLMSG.pack(_NLMSG.size + len(cn), NLMSG_DONE, 0, 0, port_id) + cn


def open_socket(rcvbuf: int, event_filter: int | None = None) -> socket.socket:
    """Open, bind and subscribe a connector socket; raises OSError if not allowed."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
    try:
        try:
            sock.setsockopt(socket.SOL_SOCKET, 33, rcvbuf)  # SO_RCVBUFFORCE (root), beyond rmem_max
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.bind((0, CN_IDX_PROC))
        sock.send(listen_message(sock.getsockname()[0], event_filter))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def unavailable_reason() -> str | None:
    """Why the connector cannot be used here (not root, not the initial namespaces), or None."""
    if not hasattr(socket, "AF_NETLINK"):
        return "no netlink on this OS"
    if os.geteuid() != 0:
        return "the process connector needs root (CAP_NET_ADMIN)"
    try:
        open_socket(65536).close()
    except OSError as exc:
        return f"cannot open the process connector: {exc}"
    return None
