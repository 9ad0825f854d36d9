"""macOS network facts for the connectivity sensor: default route, interface kind, Wi-Fi signal.

The default route comes from ``route -n get default``; the Wi-Fi signal from
``system_profiler SPAirPortDataType`` (the current network's ``Signal / Noise``;
``airport -I``'s ``agrCtlRSSI`` on older systems is parsed too).
"""

from __future__ import annotations

import re
import subprocess

_VPN_PREFIXES = ("utun", "ipsec", "ppp", "tun", "tap", "gif", "stf")
_RSSI = re.compile(r"^\s*agrCtlRSSI:\s*(-?\d+)", re.M)
_SIGNAL = re.compile(r"Signal / Noise:\s*(-?\d+)\s*dBm")
_wifi_ifaces: set[str] = set()


def _run(*cmd: str) -> str:
    try:
        return subprocess.run(list(cmd), capture_output=True, text=True, timeout=15).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def parse_route_get(text: str) -> str | None:
    """The interface from ``route -n get default`` output, None without a default route."""
    m = re.search(r"^\s*interface:\s*(\S+)", text, re.M)
    return m.group(1) if m else None


def default_route_interface() -> str | None:
    return parse_route_get(_run("route", "-n", "get", "default"))


def link_ok(iface: str) -> bool:
    """psutil's isup is the link state on macOS."""
    return True


def interface_kind(iface: str) -> str:
    if iface.startswith(_VPN_PREFIXES):
        return "vpn"
    if iface in _wifi_ifaces:
        return "wifi"
    if iface.startswith("en"):
        return "wired"
    return "unknown"


def parse_airport(text: str) -> dict[str, float]:
    """Signal in dBm of the current Wi-Fi network per interface (system_profiler or airport -I)."""
    m = _RSSI.search(text)
    if m:
        return {"": float(m.group(1))}
    out: dict[str, float] = {}
    iface, in_current = None, False
    for line in text.splitlines():
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if indent == 8 and stripped.endswith(":"):
            iface, in_current = stripped[:-1], False
        elif stripped == "Current Network Information:":
            in_current = True
        elif stripped.endswith("Networks:"):
            in_current = False
        elif in_current and iface and iface not in out:
            s = _SIGNAL.search(stripped)
            if s:
                out[iface] = float(s.group(1))
    return out


def wifi_signal_dbm(iface: str | None) -> float | None:
    levels = parse_airport(_run("system_profiler", "SPAirPortDataType"))
    _wifi_ifaces.update(k for k in levels if k)
    return levels.get(iface or "", next(iter(levels.values()), None))
