"""Parsers of macOS ``lsappinfo`` output (LaunchServices' view of the running applications).

``lsappinfo front`` prints the front application's serial number, e.g.
``ASN:0x0-0x1b01b:``, or ``[ NULL ]`` when no application is in front.
``lsappinfo info -only pid ASN:...`` prints ``"pid"=1999``; some releases
ignore ``-only`` and print the whole record, where the pid is on a line of
its own: ``    pid = 1999 type="Foreground" flavor=3 ...``. Samples in
tests/agent/sensors/fixtures/macos/.
"""

from __future__ import annotations

import re

_ASN = re.compile(r"ASN:0x[0-9A-Fa-f]{1,16}-0x[0-9A-Fa-f]{1,16}:")
_PID = re.compile(r'^\s*(?:"pid"\s*=\s*|pid\s*=\s*)(\d{1,10})\b', re.MULTILINE)
MAX_PID = 2**31 - 1


def front_asn(text: str) -> str | None:
    """The application serial number ``lsappinfo front`` printed, or None (nothing in front, or unknown output)."""
    match = _ASN.search(text)
    return match.group(0) if match else None


def pid(text: str) -> int | None:
    """The process id in ``lsappinfo info`` output (``"pid"=N`` or a record's ``pid = N`` line), or None."""
    match = _PID.search(text)
    if not match:
        return None
    value = int(match.group(1))
    return value if 0 < value <= MAX_PID else None
