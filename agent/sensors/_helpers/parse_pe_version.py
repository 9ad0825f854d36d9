"""The file version of a Windows executable (PE/COFF), from its version resource, read in bounded steps.

Microsoft's PE format: the DOS header's ``e_lfanew`` (offset 0x3C) points to ``PE\\0\\0``, the COFF header
and the optional header (magic 0x10B for PE32, 0x20B for PE32+), whose data directory 2 locates the resource
table by RVA; the section table maps RVAs to file offsets. The resource tree has three levels (type, name,
language): type 16 (``RT_VERSION``) leads to a data entry holding ``VS_VERSIONINFO``: ``wLength``,
``wValueLength``, ``wType``, the key ``"VS_VERSION_INFO"`` in UTF-16 with its NUL, padding to 32 bits, then
``VS_FIXEDFILEINFO`` whose ``dwSignature`` is 0xFEEF04BD and whose ``dwFileVersionMS``/``LS`` give
"a.b.c.d", the version Windows' crash events call ``AppVersion``.

Every offset is checked against the file's size and every read is small: a truncated or hostile file gives
None, never an exception or a large read.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

RT_VERSION = 16
SIGNATURE = 0xFEEF04BD
MAX_SECTIONS = 96  # the PE format's own limit
MAX_ENTRIES = 4096  # resource directory entries looked at, per level
_KEY = "VS_VERSION_INFO\0".encode("utf-16-le")
_FIXED_AT = (6 + len(_KEY) + 3) & ~3  # VS_FIXEDFILEINFO's offset in VS_VERSIONINFO: 40
_FIXED_SIZE = 52


class _Reader:
    """Bounded reads at absolute offsets of one open file."""

    def __init__(self, fh: BinaryIO, size: int):
        self.fh, self.size = fh, size

    def read(self, offset: int, length: int) -> bytes | None:
        if offset < 0 or length < 0 or offset + length > self.size:
            return None
        self.fh.seek(offset)
        data = self.fh.read(length)
        return data if len(data) == length else None

    def unpack(self, fmt: str, offset: int) -> tuple | None:
        data = self.read(offset, struct.calcsize(fmt))
        return struct.unpack(fmt, data) if data is not None else None


def _headers(r: _Reader) -> tuple[list[tuple[int, int, int, int]], int] | None:
    """The sections' (virtual size, virtual address, raw size, raw offset) and the resource table's RVA."""
    lfanew = r.unpack("<I", 0x3C)
    if r.read(0, 2) != b"MZ" or lfanew is None or r.read(lfanew[0], 4) != b"PE\0\0":
        return None
    coff = r.unpack("<HHIIIHH", lfanew[0] + 4)
    optional = lfanew[0] + 24
    magic = r.unpack("<H", optional)
    if coff is None or coff[1] > MAX_SECTIONS or magic is None or magic[0] not in (0x10B, 0x20B):
        return None
    count_at = optional + (92 if magic[0] == 0x10B else 108)  # NumberOfRvaAndSizes, then the directories
    count = r.unpack("<I", count_at)
    resource = r.unpack("<II", count_at + 4 + 2 * 8) if count and count[0] > 2 else None
    raw = r.read(optional + coff[5], 40 * coff[1])
    if not resource or not resource[0] or raw is None:
        return None
    return [struct.unpack_from("<IIII", raw, 40 * i + 8) for i in range(coff[1])], resource[0]


def _offset(sections, rva: int) -> int | None:
    """The file offset of an RVA, through the section that holds it."""
    for vsize, va, rsize, roffset in sections:
        if va <= rva < va + max(vsize, rsize) and rva - va < rsize:
            return roffset + rva - va
    return None


def _entry(r: _Reader, directory: int, wanted_id: int | None) -> int | None:
    """The OffsetToData of a resource directory's entry with ``wanted_id`` (None: its first entry)."""
    header = r.unpack("<HH", directory + 12)
    if header is None:
        return None
    count = min(header[0] + header[1], MAX_ENTRIES)
    raw = r.read(directory + 16, 8 * count)
    if raw is None:
        return None
    for i in range(count):
        name, target = struct.unpack_from("<II", raw, 8 * i)
        if wanted_id is None or (i >= header[0] and name == wanted_id):
            return target
    return None


def version_from(fh: BinaryIO, size: int) -> str | None:
    """The "a.b.c.d" file version of the PE file open in ``fh`` (``size`` bytes long), or None."""
    r = _Reader(fh, size)
    headers = _headers(r)
    base = _offset(*headers) if headers else None
    if base is None:
        return None
    node = base
    for level, wanted in enumerate((RT_VERSION, None, None)):  # type, name, language
        target = _entry(r, node, wanted)
        if target is None or bool(target & 0x80000000) != (level < 2):  # two directories, then a data entry
            return None
        node = base + (target & 0x7FFFFFFF)
    return _fixed_version(r, headers[0], node)


def _fixed_version(r: _Reader, sections, data_entry: int) -> str | None:
    entry = r.unpack("<II", data_entry)
    start = _offset(sections, entry[0]) if entry else None
    if start is None or entry[1] < _FIXED_AT + _FIXED_SIZE:
        return None
    head = r.read(start, _FIXED_AT + _FIXED_SIZE)
    if head is None or head[6:6 + len(_KEY)] != _KEY:
        return None
    value_len = struct.unpack_from("<H", head, 2)[0]
    signature, _, ms, ls = struct.unpack_from("<IIII", head, _FIXED_AT)
    if value_len < _FIXED_SIZE or signature != SIGNATURE:
        return None
    return f"{ms >> 16}.{ms & 0xFFFF}.{ls >> 16}.{ls & 0xFFFF}"


def file_version(path: str) -> str | None:
    """The file version of the executable at ``path``, or None (no version resource, not a PE file, unreadable)."""
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, 2)
            return version_from(fh, size)
    except OSError:
        return None
