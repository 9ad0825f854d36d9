"""The device's inventory on Linux, as the kernel and the distribution report it (read by agent/inventory.py;
the keys are the fields of its RawInventory).

- hardware vendor, model: the kernel's DMI files ``/sys/class/dmi/id/sys_vendor``, ``product_name`` and
  ``product_version`` (readable by every user); boards without DMI (ARM) name themselves in
  ``/proc/device-tree/model``;
- CPU: ``/proc/cpuinfo``'s ``model name`` (x86), or its ``CPU implementer`` and ``CPU part`` numbers (ARM);
- memory: ``MemTotal`` in ``/proc/meminfo`` (kB);
- OS build: the distribution and its release, ``ID`` and ``VERSION_ID`` (else ``BUILD_ID``, e.g. "rolling")
  of os-release(5), e.g. "debian 12" (the kernel release is the heartbeat's ``os_version``).
"""

from __future__ import annotations

from pathlib import Path

MAX_READ = 256 * 1024  # bytes read of any one file: /proc/cpuinfo of a 256-thread machine is about 400 kB
# (only its first processor's block is needed, and the part numbers repeat)


def _read(path: Path, limit: int = MAX_READ) -> str | None:
    try:
        with open(path, "rb") as fh:
            return fh.read(limit).decode("utf-8", "replace")
    except OSError:
        return None


def _fields(text: str | None, sep: str = ":") -> dict[str, str]:
    """``key<sep>value`` lines; the first occurrence of each key wins (the first CPU's block in cpuinfo)."""
    out: dict[str, str] = {}
    for line in (text or "").splitlines():
        key, found, value = line.partition(sep)
        if found:
            out.setdefault(key.strip(), value.strip())
    return out


def os_release(text: str | None) -> str | None:
    """"<ID> <VERSION_ID>" from an os-release(5) file (shell-style assignments, values optionally quoted)."""
    values = {key: value.strip().strip("\"'") for key, value in _fields(text, "=").items()}
    name = values.get("ID")
    release = values.get("VERSION_ID") or values.get("BUILD_ID")
    return " ".join(part for part in (name, release) if part) or None


def _int(text: str | None, base: int = 10) -> int | None:
    try:
        return int(text, base) if text else None
    except ValueError:
        return None


def memory_bytes(meminfo: str | None) -> int | None:
    """MemTotal of /proc/meminfo in bytes (the kernel writes "MemTotal:  24683568 kB")."""
    value = _fields(meminfo).get("MemTotal", "").split()
    kib = _int(value[0]) if value and value[-1] == "kB" else None
    return kib * 1024 if kib else None


def read(root: Path = Path("/")) -> dict:
    """The raw inventory of the system whose file tree is at ``root`` (a directory of fixtures in the tests)."""
    dmi = root / "sys/class/dmi/id"
    cpu = _fields(_read(root / "proc/cpuinfo"))
    device_model = (_read(root / "proc/device-tree/model", 4096) or "").strip("\x00\n ") or None
    return dict(
        os_build=os_release(_read(root / "etc/os-release") or _read(root / "usr/lib/os-release")),
        vendor=_read(dmi / "sys_vendor", 4096), product_name=_read(dmi / "product_name", 4096) or device_model,
        product_version=_read(dmi / "product_version", 4096), cpu_brand=cpu.get("model name"),
        arm_implementer=_int(cpu.get("CPU implementer"), 16), arm_part=_int(cpu.get("CPU part"), 16),
        memory_bytes=memory_bytes(_read(root / "proc/meminfo", 64 * 1024)))
