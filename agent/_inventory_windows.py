"""The device's inventory on Windows, from the registry and the kernel (read by agent/inventory.py;
the keys are the fields of its RawInventory).

- hardware vendor, model: ``HKLM\\HARDWARE\\DESCRIPTION\\System\\BIOS`` ``SystemManufacturer``,
  ``SystemProductName`` and ``SystemVersion`` (the SMBIOS strings WMI's Win32_ComputerSystem shows, without
  starting PowerShell);
- CPU: ``HKLM\\HARDWARE\\DESCRIPTION\\System\\CentralProcessor\\0`` ``ProcessorNameString``;
- memory: ``GlobalMemoryStatusEx``'s ``ullTotalPhys``;
- OS build: ``HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion`` ``CurrentBuild`` and ``UBR`` (the update
  build revision), e.g. "22631.4460", as ``winver`` shows it.
"""

from __future__ import annotations

import ctypes

_BIOS = r"HARDWARE\DESCRIPTION\System\BIOS"
_CPU = r"HARDWARE\DESCRIPTION\System\CentralProcessor\0"
_CURRENT_VERSION = r"SOFTWARE\Microsoft\Windows NT\CurrentVersion"


def _values(key: str, names: tuple[str, ...]) -> dict[str, object]:
    """The named values of one HKLM key that exist (a missing key: none)."""
    import winreg

    out = {}
    try:
        with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, key) as handle:
            for name in names:
                try:
                    out[name] = winreg.QueryValueEx(handle, name)[0]
                except OSError:
                    continue
    except OSError:
        pass
    return out


def os_build(current_build: object, ubr: object) -> str | None:
    """"<CurrentBuild>.<UBR>" (22631.4460); the build alone where UBR is missing."""
    if not current_build:
        return None
    return f"{current_build}.{ubr}" if isinstance(ubr, int) else str(current_build)


class _MemoryStatusEx(ctypes.Structure):
    _fields_ = [("dwLength", ctypes.c_ulong), ("dwMemoryLoad", ctypes.c_ulong),
                ("ullTotalPhys", ctypes.c_ulonglong), ("ullAvailPhys", ctypes.c_ulonglong),
                ("ullTotalPageFile", ctypes.c_ulonglong), ("ullAvailPageFile", ctypes.c_ulonglong),
                ("ullTotalVirtual", ctypes.c_ulonglong), ("ullAvailVirtual", ctypes.c_ulonglong),
                ("ullAvailExtendedVirtual", ctypes.c_ulonglong)]


def _memory_bytes() -> int | None:
    status = _MemoryStatusEx()
    status.dwLength = ctypes.sizeof(status)
    ok = ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status))
    return int(status.ullTotalPhys) if ok else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None  # REG_SZ only


def read() -> dict:
    """The raw inventory of this Windows computer."""
    bios = _values(_BIOS, ("SystemManufacturer", "SystemProductName", "SystemVersion"))
    cpu = _values(_CPU, ("ProcessorNameString",))
    version = _values(_CURRENT_VERSION, ("CurrentBuild", "UBR"))
    return dict(os_build=os_build(_text(version.get("CurrentBuild")), version.get("UBR")),
                vendor=_text(bios.get("SystemManufacturer")), product_name=_text(bios.get("SystemProductName")),
                product_version=_text(bios.get("SystemVersion")),
                cpu_brand=_text(cpu.get("ProcessorNameString")), memory_bytes=_memory_bytes())
