"""Application versions: dpkg's database (real, and a fixture in its format), snaps, PE version resources of real
Windows executables, bundles' Info.plist (XML and binary), the per-executable cache and its bound."""

from __future__ import annotations

import importlib.util
import os
import plistlib
import random
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from agent.sensors._helpers import appversion
from agent.sensors._helpers.appversion import version_of
from agent.sensors._helpers.appversion_linux import (dpkg_owner, dpkg_version, package_version, rpm_version,
                                                     snap_version, spellings)
from agent.sensors._helpers.appversion_macos import bundle_version, info_plist, plist_version
from agent.sensors._helpers.parse_pe_version import file_version, version_from

FIXTURES = Path(__file__).parent / "fixtures"
DPKG = FIXTURES / "dpkg"
HAS_DPKG = Path("/var/lib/dpkg/status").exists() and shutil.which("dpkg-query") is not None


def dpkg_query_version(package: str) -> str:
    """What dpkg itself reports for an installed package (the expected value)."""
    return subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True,
                          check=True).stdout


# ------------------------------------------------------------------ dpkg

def test_merged_usr_spellings():
    assert {"/usr/bin/sleep", "/bin/sleep"} <= set(spellings("/usr/bin/sleep"))
    assert "/usr/sbin/e2fsck" in spellings("/sbin/e2fsck")
    assert spellings("/opt/app/bin/app") == ["/opt/app/bin/app"]


def test_dpkg_fixture_owner_and_installed_version():
    assert dpkg_owner("/usr/bin/sleep", DPKG / "info") == "coreutils"  # listed as /bin/sleep
    assert dpkg_owner("/usr/lib/x86_64-linux-gnu/libc.so.6", DPKG / "info") == "libc6:amd64"
    assert dpkg_owner("/lib/i386-linux-gnu/libm.so.6", DPKG / "info") == "libc6:i386"
    assert dpkg_owner("/usr/bin/sl", DPKG / "info") is None  # a prefix of a listed name is not that name
    assert dpkg_owner("/opt/vendor/app", DPKG / "info") is None
    with open(DPKG / "status") as fh:
        lines = fh.readlines()
    assert dpkg_version("coreutils", lines) == "9.1-1"
    assert dpkg_version("libc6:amd64", lines) == "2.36-9+deb12u14"
    assert dpkg_version("libc6:i386", lines) == "2.36-9+deb12u4"
    assert dpkg_version("firefox-esr", lines) is None  # removed, its configuration files kept
    assert package_version("/usr/lib/i386-linux-gnu/libc.so.6", DPKG / "info", DPKG / "status") == "2.36-9+deb12u4"
    assert package_version("/usr/lib/firefox-esr/firefox-esr", DPKG / "info", DPKG / "status") is None


def test_programs_outside_the_system_directories_are_not_looked_up(tmp_path):
    empty = tmp_path / "info"  # a list no real package writes, to show which paths are asked at all
    empty.mkdir()
    (empty / "local.list").write_text("/.\n/usr/local/bin/tool\n/home/me/bin/tool\n/opt/local/tool\n")
    status = tmp_path / "status"
    status.write_text("Package: local\nStatus: install ok installed\nArchitecture: all\nVersion: 1.0-1\n")
    assert package_version("/opt/local/tool", empty, status) == "1.0-1"  # /opt: asked
    assert package_version("/usr/local/bin/tool", empty, status) is None  # never a package's (Debian policy)
    assert package_version("/home/me/bin/tool", empty, status) is None


@pytest.mark.skipif(not HAS_DPKG, reason="no dpkg database here")
def test_real_dpkg_database_gives_what_dpkg_query_gives():
    sleep = shutil.which("sleep")
    owner = dpkg_owner(os.path.realpath(sleep))
    assert owner is not None and owner.split(":")[0] == "coreutils"
    appversion._cache.clear()
    assert version_of(os.path.realpath(sleep)) == dpkg_query_version("coreutils")


@pytest.mark.skipif(not HAS_DPKG, reason="no dpkg database here")
def test_lookups_are_cached_and_timed(tmp_path, capsys):
    appversion._cache.clear()
    copy = tmp_path / "sleep"
    shutil.copy2(shutil.which("sleep"), copy)
    figures = []
    for path in (os.path.realpath(shutil.which("sleep")), str(copy)):
        t0 = time.perf_counter()
        first = version_of(path)
        t1 = time.perf_counter()
        again = version_of(path)
        t2 = time.perf_counter()
        assert first == again
        figures.append(f"{path}: first {1000 * (t1 - t0):.1f} ms, cached {1e6 * (t2 - t1):.0f} us")
        assert t2 - t1 < 0.005
    assert version_of(str(copy)) is None  # an unpackaged copy has no version
    with capsys.disabled():
        print("\n" + "\n".join(figures))


def test_a_changed_file_is_looked_up_again_and_the_cache_is_bounded(tmp_path, monkeypatch):
    appversion._cache.clear()
    exe = tmp_path / "app"
    exe.write_bytes(b"#!/bin/sh\n")
    calls = []
    monkeypatch.setattr(appversion, "_look_up", lambda path, platform_id: calls.append(path) or "1.0")
    assert version_of(str(exe)) == "1.0" and version_of(str(exe)) == "1.0" and len(calls) == 1
    os.utime(exe, ns=(0, 123_456_789))  # replaced in place: another modification time
    assert version_of(str(exe)) == "1.0" and len(calls) == 2
    for i in range(appversion.MAX_CACHED + 50):
        (tmp_path / f"e{i}").touch()
        version_of(str(tmp_path / f"e{i}"))
    assert len(appversion._cache) == appversion.MAX_CACHED


def test_no_version_for_missing_deleted_or_relative_paths():
    assert version_of("/usr/bin/sleep (deleted)") is None
    assert version_of("sleep") is None
    assert version_of("/nonexistent/program") is None
    assert version_of("") is None and version_of(None) is None


def test_a_version_is_bounded_and_printable(tmp_path, monkeypatch):
    appversion._cache.clear()
    (tmp_path / "x").touch()
    monkeypatch.setattr(appversion, "_look_up", lambda path, platform_id: "1.0\n\x1b[2J" + "9" * 200)
    got = version_of(str(tmp_path / "x"))
    assert len(got) == 64 and got.isprintable() and got.startswith("1.0")


# ------------------------------------------------------------------ rpm

RPM_SPEC = """Name: hinder-fixture
Version: 1.2.3
Release: 4.fc40
Summary: A program for the tests of the rpm lookup
License: MIT
BuildArch: noarch

%description
A program for the tests of the rpm lookup.

%install
mkdir -p %{{buildroot}}{folder}
touch %{{buildroot}}{folder}/tool
chmod 755 %{{buildroot}}{folder}/tool

%files
{folder}/tool
"""


@pytest.mark.skipif(not (shutil.which("rpm") and shutil.which("rpmbuild")), reason="needs rpm and rpmbuild")
def test_rpm_database_names_the_owning_package(tmp_path, monkeypatch):
    """A real package built by rpmbuild and recorded in a real rpm database of its own (``%_dbpath``)."""
    folder = tmp_path / "files"
    monkeypatch.setenv("HOME", str(tmp_path))  # rpm reads ~/.rpmmacros: the database is the test's
    (tmp_path / ".rpmmacros").write_text(f"%_dbpath {tmp_path / 'rpmdb'}\n%_topdir {tmp_path / 'top'}\n")
    (tmp_path / "fixture.spec").write_text(RPM_SPEC.format(folder=folder))
    subprocess.run(["rpmbuild", "-bb", str(tmp_path / "fixture.spec")], capture_output=True, check=True)
    (package,) = (tmp_path / "top" / "RPMS" / "noarch").glob("*.rpm")
    subprocess.run(["rpm", "--initdb"], capture_output=True, check=True)
    subprocess.run(["rpm", "-i", "--justdb", "--nodeps", str(package)], capture_output=True, check=True)
    folder.mkdir()
    (folder / "tool").write_text("#!/bin/sh\n")
    (tmp_path / "stray").write_text("#!/bin/sh\n")
    assert rpm_version(str(folder / "tool")) == "1.2.3-4.fc40"
    # outside the directories packages install into, not even asked (a home directory, /tmp)
    assert package_version(str(folder / "tool"), info_dir=tmp_path / "no-dpkg") is None
    assert rpm_version(str(tmp_path / "stray")) is None  # "file ... is not owned by any package"


# ------------------------------------------------------------------ snap

SNAP_YAML = """name: firefox
version: 128.0.3-1
summary: Mozilla Firefox web browser
description: Firefox is a powerful, extensible web browser with support for modern web application technologies.
confinement: strict
grade: stable
base: core22
apps:
  firefox:
    command: firefox.launcher
    plugs:
    - audio-playback
"""


def test_snap_version_from_its_meta_yaml(tmp_path):
    meta = tmp_path / "firefox" / "4650" / "meta"
    meta.mkdir(parents=True)
    (meta / "snap.yaml").write_text(SNAP_YAML)
    exe = str(tmp_path / "firefox" / "4650" / "usr" / "lib" / "firefox" / "firefox")
    assert snap_version(exe, tmp_path) == "128.0.3-1"
    assert package_version(exe, snap_root=tmp_path) == "128.0.3-1"
    (meta / "snap.yaml").write_text("name: x\nversion: '2.1'\n")
    assert snap_version(exe, tmp_path) == "2.1"
    assert snap_version(str(tmp_path / "other" / "1" / "bin" / "x"), tmp_path) is None
    assert snap_version("/usr/bin/firefox", tmp_path) is None


# ------------------------------------------------------------------ Windows PE

def _launchers(package: str, sub: str, pattern: str) -> list[Path]:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return []
    return sorted((Path(list(spec.submodule_search_locations)[0]) / sub).glob(pattern))


DISTLIB = _launchers("pip", "_vendor/distlib", "[tw]*.exe")  # built with a version resource: 1.1.0.14
SETUPTOOLS = _launchers("setuptools", ".", "[cg]*.exe")  # built without one


@pytest.mark.skipif(not DISTLIB, reason="pip's distlib launchers are not installed")
def test_real_pe_files_with_a_version_resource():
    got = {p.name: file_version(str(p)) for p in DISTLIB}
    assert set(got.values()) == {"1.1.0.14"}, got  # PE32 (t32, w32), PE32+ x64 and ARM64
    assert version_of(str(DISTLIB[0]), "win32") == "1.1.0.14"


@pytest.mark.skipif(not SETUPTOOLS, reason="setuptools' launchers are not installed")
def test_real_pe_files_without_one():
    assert {file_version(str(p)) for p in SETUPTOOLS} == {None}


@pytest.mark.skipif(not DISTLIB, reason="pip's distlib launchers are not installed")
def test_truncated_and_damaged_pe_files_give_none_never_an_error(tmp_path):
    data = DISTLIB[0].read_bytes()
    rng = random.Random(15)
    cuts = sorted({0, 1, 2, 0x3C, 0x40, 0x100, 0x200, 0x400, *rng.sample(range(len(data)), 150)})
    for cut in cuts:
        (tmp_path / "cut.exe").write_bytes(data[:cut])
        assert file_version(str(tmp_path / "cut.exe")) in (None, "1.1.0.14")
    for _ in range(300):
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            at = rng.randrange(0, 0x400) if rng.random() < 0.7 else rng.randrange(len(damaged))
            damaged[at:at + 4] = rng.randbytes(4)
        (tmp_path / "bad.exe").write_bytes(bytes(damaged))
        got = file_version(str(tmp_path / "bad.exe"))
        assert got is None or len(got) <= 23
    (tmp_path / "text.exe").write_text("MZ but nothing else")
    assert file_version(str(tmp_path / "text.exe")) is None
    assert file_version(str(tmp_path / "absent.exe")) is None


def test_pe_reads_are_bounded(tmp_path):
    """A header claiming huge counts and offsets leads to small reads or none."""
    class Counting:
        def __init__(self, data):
            self.data, self.pos, self.read_total = data, 0, 0

        def seek(self, pos, whence=0):
            self.pos = pos
            return pos

        def read(self, n):
            self.read_total += n
            return self.data[self.pos:self.pos + n]

    header = bytearray(4096)
    header[0:2] = b"MZ"
    header[0x3C:0x40] = (0x80).to_bytes(4, "little")
    header[0x80:0x84] = b"PE\0\0"
    header[0x86:0x88] = (0xFFFF).to_bytes(2, "little")  # NumberOfSections
    fake = Counting(bytes(header))
    assert version_from(fake, 1 << 40) is None
    assert fake.read_total < 64 * 1024


# ------------------------------------------------------------------ macOS bundles

INFO_PLIST = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
\t<key>CFBundleDevelopmentRegion</key>
\t<string>en</string>
\t<key>CFBundleExecutable</key>
\t<string>Numbers</string>
\t<key>CFBundleIdentifier</key>
\t<string>com.apple.iWork.Numbers</string>
\t<key>CFBundleInfoDictionaryVersion</key>
\t<string>6.0</string>
\t<key>CFBundleName</key>
\t<string>Numbers</string>
\t<key>CFBundlePackageType</key>
\t<string>APPL</string>
\t<key>CFBundleShortVersionString</key>
\t<string>14.1</string>
\t<key>CFBundleVersion</key>
\t<string>7037.0.96</string>
\t<key>LSMinimumSystemVersion</key>
\t<string>13.0</string>
</dict>
</plist>
"""


def test_info_plist_of_the_innermost_bundle():
    assert str(info_plist("/Applications/Numbers.app/Contents/MacOS/Numbers")) == \
        "/Applications/Numbers.app/Contents/Info.plist"
    helper = "/Applications/Slack.app/Contents/Frameworks/Slack Helper.app/Contents/MacOS/Slack Helper"
    assert str(info_plist(helper)) == "/Applications/Slack.app/Contents/Frameworks/Slack Helper.app/Contents/Info.plist"
    assert info_plist("/usr/bin/python3") is None
    assert info_plist("/Applications/Numbers.app/Contents/Resources/x") is None


def test_plist_versions_xml_and_binary():
    assert plist_version(INFO_PLIST.encode()) == "14.1"
    info = plistlib.loads(INFO_PLIST.encode())
    assert plist_version(plistlib.dumps(info, fmt=plistlib.FMT_BINARY)) == "14.1"
    del info["CFBundleShortVersionString"]
    assert plist_version(plistlib.dumps(info, fmt=plistlib.FMT_BINARY)) == "7037.0.96"
    del info["CFBundleVersion"]
    assert plist_version(plistlib.dumps(info)) is None
    assert plist_version(b"bplist00\xff\xff garbage") is None
    assert plist_version(b"<plist><dict><key>a</key>") is None
    assert plist_version(plistlib.dumps(["not", "a", "dict"])) is None


def test_bundle_version_on_a_bundle_tree(tmp_path):
    contents = tmp_path / "Numbers.app" / "Contents"
    (contents / "MacOS").mkdir(parents=True)
    (contents / "MacOS" / "Numbers").write_bytes(b"\xcf\xfa\xed\xfe")
    (contents / "Info.plist").write_bytes(plistlib.dumps(plistlib.loads(INFO_PLIST.encode()),
                                                         fmt=plistlib.FMT_BINARY))
    assert bundle_version(str(contents / "MacOS" / "Numbers")) == "14.1"
    appversion._cache.clear()
    assert version_of(str(contents / "MacOS" / "Numbers"), "darwin") == "14.1"
    (contents / "Info.plist").write_bytes(b"x" * (2 << 20))  # too large to be an Info.plist: not read through
    assert bundle_version(str(contents / "MacOS" / "Numbers")) is None
