"""Linux network facts for the connectivity sensor: default route, link state, interface kind, Wi-Fi signal.

Everything comes from /proc/net and /sys/class/net of the agent's own network
namespace; nothing is sent anywhere.
"""

from __future__ import annotations

from pathlib import Path

_RTF_UP = 0x0001
_RTF_REJECT = 0x0200
_SYS = Path("/sys/class/net")
_VPN_TYPES = {"65534", "512", "768", "776", "778", "823"}  # none(tun/wireguard), ppp, ipip, sit, gre, ip6gre
_VPN_DEVTYPES = {"wireguard", "tun", "ppp", "ipip", "gre", "vti"}
_VPN_PREFIXES = ("tun", "tap", "wg", "ppp", "ipsec", "vpn", "nordlynx", "zt")


def default_route_interface(proc_net: Path = Path("/proc/net")) -> str | None:
    """The interface of the default route (IPv4 first, then IPv6), or None without one."""
    try:
        for line in (proc_net / "route").read_text().splitlines()[1:]:
            f = line.split()
            if len(f) >= 8 and f[1] == "00000000" and f[7] == "00000000" and int(f[3], 16) & _RTF_UP \
                    and not int(f[3], 16) & _RTF_REJECT:
                return f[0]
    except OSError:
        pass
    try:
        for line in (proc_net / "ipv6_route").read_text().splitlines():
            f = line.split()
            if len(f) == 10 and f[0] == "0" * 32 and f[1] == "00" and f[9] != "lo" \
                    and int(f[8], 16) & _RTF_UP and not int(f[8], 16) & _RTF_REJECT:
                return f[9]
    except OSError:
        pass
    return None


def link_ok(iface: str) -> bool:
    """The kernel sees a carrier: operstate up (or unknown, as tunnels report)."""
    try:
        return (_SYS / iface / "operstate").read_text().strip() in ("up", "unknown")
    except OSError:
        return True  # no sysfs entry: trust psutil's flag


def interface_kind(iface: str) -> str:
    """wifi, vpn, wired or unknown, from sysfs."""
    base = _SYS / iface
    uevent = _read(base / "uevent")
    devtype = next((line.split("=", 1)[1] for line in uevent.splitlines() if line.startswith("DEVTYPE=")), "")
    if devtype == "wlan" or (base / "wireless").exists() or (base / "phy80211").exists():
        return "wifi"
    if devtype in _VPN_DEVTYPES or _read(base / "type").strip() in _VPN_TYPES or iface.startswith(_VPN_PREFIXES):
        return "vpn"
    if _read(base / "type").strip() == "1":
        return "wired"
    return "unknown"


def parse_wireless(text: str) -> dict[str, float]:
    """Signal level in dBm per interface from /proc/net/wireless."""
    out = {}
    for line in text.splitlines()[2:]:
        name, sep, rest = line.partition(":")
        fields = rest.split()
        if not sep or len(fields) < 3:
            continue
        level = float(fields[2].rstrip("."))
        if level > 0:  # some drivers report an unsigned 8-bit value
            level -= 256
        out[name.strip()] = level
    return out


def wifi_signal_dbm(iface: str | None) -> float | None:
    """The Wi-Fi signal of ``iface`` (or of the first wireless interface) in dBm, if any."""
    levels = parse_wireless(_read(Path("/proc/net/wireless")))
    if iface in levels:
        return levels[iface]
    return next(iter(levels.values()), None)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
