"""The device's cohort for the heartbeat: OS build, hardware vendor and model, CPU class, memory.

Read once per process (:func:`inventory`, cached): the per-OS readers
(``agent/_inventory_linux.py``, ``_windows.py``, ``_macos.py``) return what the
OS reports as it is (the fields of :class:`RawInventory`); this module turns it into
bounded cohort labels with pure functions: firmware placeholders become
"unknown" (:func:`dmi_text`), vendors get one spelling (:func:`vendor`), a
Lenovo machine type gives way to its marketing name (:func:`model`), and a
CPU brand string becomes a short class such as "Intel Core i7" or "AMD EPYC"
(:func:`cpu_class`), so that few distinct values reach the collector.
"""

from __future__ import annotations

import functools
import re
import sys
from dataclasses import dataclass

from agent.identity import real_tag
from contract.records import MAX_LABEL_LEN, UNKNOWN, printable


@dataclass
class RawInventory:
    """What one OS reports, unprocessed; None where it could not be read."""

    os_build: str | None = None
    vendor: str | None = None  # SMBIOS system manufacturer
    product_name: str | None = None  # SMBIOS product name (Lenovo: the machine type, e.g. 20HRCTO1WW)
    product_version: str | None = None  # SMBIOS version (Lenovo: the marketing name)
    cpu_brand: str | None = None  # x86 "model name", Windows ProcessorNameString, macOS brand string
    arm_implementer: int | None = None  # Linux on ARM: /proc/cpuinfo "CPU implementer"
    arm_part: int | None = None  # ... and "CPU part"
    memory_bytes: int | None = None


# What firmware and board makers write where nobody set a value (besides identity.PLACEHOLDERS), lowercased.
_PLACEHOLDERS = frozenset({
    "system product name", "system manufacturer", "system version", "type1productconfigid", "type1family",
    "o.e.m", "product name", "manufacturer", "system name", "sku", "not applicable", "x.x", "1.0", "0.1",
})
_VENDORS = {  # SMBIOS manufacturer (lowercased) -> one spelling per vendor
    "lenovo": "Lenovo", "dell inc.": "Dell", "dell": "Dell", "hp": "HP", "hewlett-packard": "HP",
    "hewlett packard": "HP", "microsoft corporation": "Microsoft", "asustek computer inc.": "ASUS",
    "acer": "Acer", "apple inc.": "Apple", "apple": "Apple", "fujitsu": "Fujitsu", "fujitsu client computing limited":
    "Fujitsu", "micro-star international co., ltd.": "MSI", "gigabyte technology co., ltd.": "Gigabyte",
    "samsung electronics co., ltd.": "Samsung", "toshiba": "Toshiba", "dynabook inc.": "Dynabook",
    "panasonic corporation": "Panasonic", "intel corporation": "Intel", "framework": "Framework",
    "google": "Google", "vmware, inc.": "VMware", "innotek gmbh": "VirtualBox", "qemu": "QEMU",
    "xen": "Xen", "amazon ec2": "Amazon EC2", "red hat": "Red Hat", "parallels software international inc.":
    "Parallels", "parallels international gmbh.": "Parallels",
}


def bounded(value: str | None) -> str | None:
    """A text the OS reports as a label: printable, single-spaced, at most MAX_LABEL_LEN characters; None if empty."""
    return " ".join(printable(value or "").split())[:MAX_LABEL_LEN].strip() or None


def label(value: str | None) -> str:
    """A heartbeat inventory label: :func:`bounded`, else "unknown"."""
    return bounded(value) or UNKNOWN


def dmi_text(value: str | None) -> str | None:
    """A firmware (SMBIOS/DMI) string as read, or None for an empty one or a placeholder nobody replaced."""
    value = real_tag(value)
    if value is None or value.lower().rstrip(".") in _PLACEHOLDERS:
        return None
    return value


def vendor(value: str | None) -> str:
    """The hardware vendor's label: known manufacturers in one spelling ("LENOVO", "Dell Inc." -> Lenovo, Dell)."""
    value = dmi_text(value)
    return label(_VENDORS.get(" ".join(value.lower().split()), value) if value else None)


_MACHINE_TYPE = re.compile(r"^[0-9][0-9A-Z]{3,11}$")  # Lenovo's 20HRCTO1WW, 81W8, 21CBCTO1WW


def model(vendor_label: str, product_name: str | None, product_version: str | None) -> str:
    """The hardware model's label. Lenovo's product name is the machine type (20HRCTO1WW) and its version field
    the name people know (ThinkPad X1 Carbon 5th): that one is used where it is set."""
    name, version = dmi_text(product_name), dmi_text(product_version)
    if version and (vendor_label == "Lenovo" or (name and _MACHINE_TYPE.match(name))) and " " in version:
        return label(version)
    return label(name)


# x86 and Apple brand strings -> class. The first pattern that matches names the class; groups fill it in.
_TRADEMARKS = re.compile(r"\((?:R|TM|tm|r)\)|\b(?:CPU|Processor|processor)\b")
_CLASSES: list[tuple[re.Pattern, str]] = [(re.compile(p, re.IGNORECASE), c) for p, c in [
    (r"\bApple (M\d+)(?: (Pro|Max|Ultra))?\b", "Apple {0} {1}"),
    (r"\bIntel .*\bCore ?(i[3579]|m[357]|Ultra [3579]|[3579])\b", "Intel Core {0}"),
    (r"\bIntel .*\bCore ?2\b", "Intel Core 2"),
    (r"\bIntel .*\bXeon\b", "Intel Xeon"),
    (r"\bIntel .*\bCeleron\b", "Intel Celeron"),
    (r"\bIntel .*\bPentium\b", "Intel Pentium"),
    (r"\bIntel .*\bAtom\b", "Intel Atom"),
    (r"\bIntel\s+[Ni]\d{2,3}\b", "Intel N-series"),
    (r"\bAMD Ryzen (?:AI )?(Threadripper|Embedded|\d)\b", "AMD Ryzen {0}"),
    (r"\bAMD EPYC\b", "AMD EPYC"),
    (r"\bAMD Athlon\b", "AMD Athlon"),
    (r"\bAMD Opteron\b", "AMD Opteron"),
    (r"\bAMD (?:PRO )?A\d{1,2}\b", "AMD A-series"),
    (r"\bSnapdragon\b|\bQualcomm\b", "Qualcomm Snapdragon"),
    (r"\bIntel\b", "Intel"),
    (r"\bAMD\b", "AMD"),
]]
# Linux on ARM: /proc/cpuinfo's implementer and part numbers (the Arm Architecture Reference Manual's MIDR_EL1
# fields), for the cores PCs, boards and cloud machines use.
_ARM_PARTS = {
    0x41: {0xC07: "ARM Cortex-A7", 0xC09: "ARM Cortex-A9", 0xC0F: "ARM Cortex-A15", 0xD03: "ARM Cortex-A53",
           0xD04: "ARM Cortex-A35", 0xD05: "ARM Cortex-A55", 0xD07: "ARM Cortex-A57", 0xD08: "ARM Cortex-A72",
           0xD09: "ARM Cortex-A73", 0xD0A: "ARM Cortex-A75", 0xD0B: "ARM Cortex-A76", 0xD0C: "ARM Neoverse-N1",
           0xD0D: "ARM Cortex-A77", 0xD40: "ARM Neoverse-V1", 0xD41: "ARM Cortex-A78", 0xD44: "ARM Cortex-X1",
           0xD46: "ARM Cortex-A510", 0xD47: "ARM Cortex-A710", 0xD48: "ARM Cortex-X2", 0xD49: "ARM Neoverse-N2",
           0xD4F: "ARM Neoverse-V2"},
}
_ARM_VENDORS = {0x41: "ARM", 0x51: "Qualcomm", 0x61: "Apple", 0x48: "HiSilicon", 0x46: "Fujitsu", 0x4E: "NVIDIA",
                0xC0: "Ampere"}


def cpu_class(brand: str | None, arm_implementer: int | None = None, arm_part: int | None = None) -> str:
    """A short, bounded CPU class for a brand string ("Intel(R) Core(TM) i7-8650U CPU @ 1.90GHz" -> "Intel Core
    i7") or, on ARM Linux, for the implementer and part numbers ("ARM Cortex-A72"); "other" when not recognised,
    "unknown" when nothing was read."""
    if arm_implementer is not None:
        known = _ARM_PARTS.get(arm_implementer, {}).get(arm_part or -1)
        return known or f"{_ARM_VENDORS.get(arm_implementer, 'ARM')} other"
    if not brand or not brand.strip():
        return UNKNOWN
    text = " ".join(_TRADEMARKS.sub(" ", brand).split())
    for pattern, cls in _CLASSES:
        found = pattern.search(text)
        if found:
            return label(cls.format(*(group or "" for group in found.groups())))
    return "other"


def _read_raw(platform_id: str) -> RawInventory:
    if platform_id.startswith("linux"):
        from agent import _inventory_linux

        return RawInventory(**_inventory_linux.read())
    if platform_id.startswith("win"):
        from agent import _inventory_windows

        return RawInventory(**_inventory_windows.read())
    if platform_id == "darwin":
        from agent import _inventory_macos

        return RawInventory(**_inventory_macos.read())
    return RawInventory()


def cohort(raw: RawInventory) -> dict:
    """The heartbeat's inventory fields (os_build, hw_vendor, hw_model, cpu_class, memory_bytes) from raw values."""
    hw_vendor = vendor(raw.vendor)
    memory = raw.memory_bytes if isinstance(raw.memory_bytes, int) and 0 < raw.memory_bytes < 2**63 else 0
    return {"os_build": label(raw.os_build), "hw_vendor": hw_vendor,
            "hw_model": model(hw_vendor, raw.product_name, raw.product_version),
            "cpu_class": cpu_class(raw.cpu_brand, raw.arm_implementer, raw.arm_part), "memory_bytes": memory}


@functools.cache
def inventory(platform_id: str = sys.platform) -> dict:
    """This device's cohort, read once per process; a reader that fails leaves every field unknown."""
    try:
        raw = _read_raw(platform_id)
    except Exception:  # an OS that answers oddly must not keep the agent from sending heartbeats
        raw = RawInventory()
    return cohort(raw)
