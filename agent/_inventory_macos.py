"""The device's inventory on macOS, from ``sysctl`` (read by agent/inventory.py,
whose RawInventory fields are the keys; one command, once).

``sysctl hw.model hw.memsize machdep.cpu.brand_string kern.osversion`` prints one ``name: value`` line per
name it knows: the model identifier (MacBookPro18,3), the memory in bytes, the CPU's brand string ("Apple M1
Pro", or an Intel brand string), and the OS build (23F79). The vendor is Apple.
"""

from __future__ import annotations

import subprocess

NAMES = ("hw.model", "hw.memsize", "machdep.cpu.brand_string", "kern.osversion")
TIMEOUT_S = 5.0
MAX_OUTPUT = 64 * 1024


def parse_sysctl(output: str) -> dict[str, str]:
    """``name: value`` lines of sysctl's output (an unknown name prints nothing there, only on stderr)."""
    out = {}
    for line in output[:MAX_OUTPUT].splitlines():
        name, found, value = line.partition(": ")
        if found and name in NAMES:
            out[name] = value.strip()
    return out


def raw_inventory(values: dict[str, str]) -> dict:
    """The raw inventory from sysctl's values."""
    memsize = values.get("hw.memsize", "")
    return dict(os_build=values.get("kern.osversion"), vendor="Apple", product_name=values.get("hw.model"),
                cpu_brand=values.get("machdep.cpu.brand_string"),
                memory_bytes=int(memsize) if memsize.isdigit() else None)


def read() -> dict:
    """The raw inventory of this Mac."""
    try:
        done = subprocess.run(["/usr/sbin/sysctl", *NAMES], capture_output=True, text=True, timeout=TIMEOUT_S,
                              check=False)
    except (OSError, subprocess.SubprocessError):
        return {"vendor": "Apple"}
    return raw_inventory(parse_sysctl(done.stdout))
