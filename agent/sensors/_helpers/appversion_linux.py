"""The version of the package that installed an executable, on Linux (used by appversion.py).

- Snap: an executable under ``/snap/<name>/<revision>/`` belongs to that snap; its version is the ``version:``
  line of ``/snap/<name>/<revision>/meta/snap.yaml``.
- dpkg (Debian, Ubuntu): the package whose ``/var/lib/dpkg/info/<package>[:<arch>].list`` lists the file,
  then that package's ``Version`` in ``/var/lib/dpkg/status`` (deb822 stanzas; only a package whose
  ``Status`` is ``install ok installed``). The lists name files as the package ships them: on a merged-/usr
  system a program run as ``/usr/bin/sleep`` is listed as ``/bin/sleep``, so both spellings are looked for.
  No package manager runs: the files are read, the lists one after the other until the owner is found.
- rpm (Fedora, RHEL, SUSE), whose database is not text: ``rpm -qf --qf '%{VERSION}-%{RELEASE}' <path>`` with a
  timeout.

An executable no package owns has no version (None). Packages install into the system's directories
(``/usr`` but never ``/usr/local``, ``/bin``, ``/sbin``, ``/lib*``, ``/opt``, ``/snap``), so a program elsewhere (a
home directory, /tmp) is not looked up at all: a burst of crashing self-built programs costs no scan.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Iterable

DPKG_INFO = Path("/var/lib/dpkg/info")
DPKG_STATUS = Path("/var/lib/dpkg/status")
SNAP_ROOT = Path("/snap")
MAX_LIST_BYTES = 64 << 20  # a package's file list read at most (the largest, kernels' modules, hold a few MB)
MAX_YAML_BYTES = 256 << 10
RPM_TIMEOUT_S = 5.0
INSTALLED = "install ok installed"
_MERGED_DIRS = ("/bin/", "/sbin/", "/lib/", "/lib32/", "/lib64/", "/libx32/")
_PACKAGED_DIRS = ("/usr/", *_MERGED_DIRS, "/opt/")
_SNAP_VERSION = re.compile(r"^version:[ \t]*(.*?)[ \t]*$", re.MULTILINE)


def spellings(path: str) -> list[str]:
    """The names a package list may use for ``path``: as given, resolved, and each with and without /usr
    (merged /usr)."""
    names = []
    for name in dict.fromkeys((path, os.path.realpath(path))):
        names.append(name)
        for top in _MERGED_DIRS:
            if name.startswith("/usr" + top):
                names.append(name[4:])
            elif name.startswith(top):
                names.append("/usr" + name)
    return list(dict.fromkeys(names))


def dpkg_owner(path: str, info_dir: Path = DPKG_INFO) -> str | None:
    """The package (``name`` or ``name:arch``, as its list file is named) that ships ``path``, or None."""
    needles = [f"\n{name}\n".encode() for name in spellings(path)]
    stem = re.split(r"[.\-_]", os.path.basename(path).lower(), maxsplit=1)[0]
    try:  # the lists of packages named like the program first (python3.11 -> python3.11-minimal): found sooner
        entries = sorted((entry.name for entry in os.scandir(info_dir) if entry.name.endswith(".list")),
                         key=lambda name: (stem not in name, name))
    except OSError:
        return None
    for name in entries:
        try:
            with open(info_dir / name, "rb") as fh:
                data = b"\n" + fh.read(MAX_LIST_BYTES)
        except OSError:
            continue
        if any(needle in data for needle in needles):
            return name.removesuffix(".list")
    return None


def stanzas(lines: Iterable[str]) -> Iterable[dict[str, str]]:
    """The deb822 paragraphs of a dpkg status file: their single-line fields (continuation lines skipped)."""
    fields: dict[str, str] = {}
    for line in lines:
        if not line.strip():
            if fields:
                yield fields
            fields = {}
        elif not line[0].isspace():
            key, found, value = line.partition(":")
            if found:
                fields[key] = value.strip()
    if fields:
        yield fields


def dpkg_version(package: str, status_lines: Iterable[str]) -> str | None:
    """The installed version of ``package`` (``name`` or ``name:arch``) in a dpkg status file's lines."""
    name, _, arch = package.partition(":")
    for fields in stanzas(status_lines):
        if fields.get("Package") == name and (not arch or fields.get("Architecture") == arch) \
                and fields.get("Status") == INSTALLED:
            return fields.get("Version") or None
    return None


def snap_version(path: str, snap_root: Path = SNAP_ROOT) -> str | None:
    """The version of the snap an executable under ``<snap_root>/<name>/<revision>/`` belongs to, or None."""
    try:
        name, revision = Path(path).relative_to(snap_root).parts[:2]
    except ValueError:
        return None
    try:
        with open(snap_root / name / revision / "meta" / "snap.yaml", "rb") as fh:
            text = fh.read(MAX_YAML_BYTES).decode("utf-8", "replace")
    except OSError:
        return None
    found = _SNAP_VERSION.search(text)
    return (found.group(1).strip("'\"") or None) if found else None


def rpm_version(path: str) -> str | None:
    """``VERSION-RELEASE`` of the rpm package owning ``path``, as rpm tells it, or None."""
    rpm = shutil.which("rpm")
    if not rpm:
        return None
    try:
        done = subprocess.run([rpm, "-qf", "--qf", "%{VERSION}-%{RELEASE}\\n", "--", path], capture_output=True,
                              timeout=RPM_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:  # "file ... is not owned by any package"
        return None
    lines = done.stdout[:4096].decode("utf-8", "replace").splitlines()
    return (lines[0].strip() or None) if lines else None


def package_version(path: str, info_dir: Path = DPKG_INFO, status: Path = DPKG_STATUS,
                    snap_root: Path = SNAP_ROOT) -> str | None:
    """The version of the snap, dpkg or rpm package that installed the executable at ``path``, or None."""
    if path.startswith(f"{snap_root}/"):
        return snap_version(path, snap_root)
    if not path.startswith(_PACKAGED_DIRS) or path.startswith("/usr/local/"):
        return None
    if info_dir.is_dir():
        package = dpkg_owner(path, info_dir)
        if package is None:
            return None
        try:
            with open(status, encoding="utf-8", errors="replace") as fh:
                return dpkg_version(package, fh)
        except OSError:
            return None
    return rpm_version(path)
