"""macOS idle time: HIDIdleTime (nanoseconds since the last input) from ``ioreg -c IOHIDSystem``.

Readable by a root LaunchDaemon as well as in the user's session.
"""

from __future__ import annotations

import re
import subprocess

_HID = re.compile(r'"HIDIdleTime"\s*=\s*(\d+)')


def parse_ioreg(text: str) -> float | None:
    """Idle seconds: the smallest HIDIdleTime in the output (there may be several IOHIDSystem entries)."""
    values = [int(v) for v in _HID.findall(text)]
    return min(values) / 1e9 if values else None


class MacIdle:
    name = "macos"

    @classmethod
    def open(cls) -> "MacIdle | None":
        return cls()

    def read(self) -> tuple[float, bool] | None:
        try:
            out = subprocess.run(["ioreg", "-c", "IOHIDSystem", "-d", "4"], capture_output=True, text=True,
                                 timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return None
        idle = parse_ioreg(out)
        return None if idle is None else (idle, False)

    def close(self) -> None:
        pass
