"""Windows network facts for the connectivity sensor: default route, interface kind, Wi-Fi signal.

The default route is asked of the IP helper API (GetBestInterface, a routing
table lookup that sends nothing); the Wi-Fi signal comes from
``netsh wlan show interfaces`` (``Rssi`` in dBm on recent builds, otherwise
``Signal`` in percent, converted with the usual quality/2 - 100 rule).
"""

from __future__ import annotations

import re
import subprocess

_WIFI_WORDS = ("wi-fi", "wifi", "wireless", "wlan", "802.11")
_VPN_WORDS = ("vpn", "tap-", "tap ", "wireguard", "tunnel", "anyconnect", "globalprotect", "fortinet", "openvpn", "ppp")
_FIELD = re.compile(r"^\s*([^:]+?)\s*:\s*(.*?)\s*$")


def default_route_interface() -> str | None:
    """'' when a default route exists (Windows names it by index), None when there is none."""
    import ctypes

    index = ctypes.c_ulong(0)
    # 0x01010101 (1.1.1.1) is only looked up in the local routing table; nothing is sent.
    rc = ctypes.windll.iphlpapi.GetBestInterface(ctypes.c_ulong(0x01010101), ctypes.byref(index))
    return "" if rc == 0 else None


def link_ok(iface: str) -> bool:
    """psutil's isup is the link state on Windows."""
    return True


def interface_kind(iface: str) -> str:
    """wifi, vpn, wired or unknown from the adapter's friendly name."""
    name = iface.lower()
    if any(w in name for w in _VPN_WORDS):
        return "vpn"
    if any(w in name for w in _WIFI_WORDS):
        return "wifi"
    if "ethernet" in name:
        return "wired"
    return "unknown"


def parse_netsh_wlan(text: str) -> dict[str, float]:
    """Signal in dBm per connected interface from ``netsh wlan show interfaces``."""
    out: dict[str, float] = {}
    block: dict[str, str] = {}
    for line in text.splitlines() + [""]:
        m = _FIELD.match(line)
        if m and m.group(1).lower() == "name" and block:
            _add_block(out, block)
            block = {}
        if m:
            block[m.group(1).lower()] = m.group(2)
    _add_block(out, block)
    return out


def _add_block(out: dict[str, float], block: dict[str, str]) -> None:
    if block.get("state", "").lower() != "connected" or "name" not in block:
        return
    rssi = block.get("rssi", "")
    if re.fullmatch(r"-?\d+", rssi):
        out[block["name"]] = float(rssi)
        return
    m = re.fullmatch(r"(\d+)\s*%", block.get("signal", ""))
    if m:
        out[block["name"]] = min(100, int(m.group(1))) / 2 - 100


def wifi_signal_dbm(iface: str | None) -> float | None:
    """Signal of ``iface`` (or the first connected Wi-Fi) in dBm, if netsh shows one."""
    try:
        text = subprocess.run(["netsh", "wlan", "show", "interfaces"], capture_output=True, text=True,
                              timeout=10, creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0)).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    levels = parse_netsh_wlan(text)
    return levels.get(iface or "", next(iter(levels.values()), None))
