"""The device's cohort: the pure classifiers on real strings, the Linux reader on fixture trees and on this
machine, the macOS and Windows formats, and the heartbeat and `hinder agent explain` that carry it."""

from __future__ import annotations

import json
import time
import re
from pathlib import Path

import pytest

from agent import _inventory_linux, _inventory_macos, _inventory_windows
from agent.config import load_config
from agent.explain import render
from agent.inventory import RawInventory, cohort, cpu_class, dmi_text, inventory, model, vendor
from agent.runner import build_heartbeat
from contract.check import validate_batch
from contract.records import make_batch

FIXTURES = Path(__file__).parent / "fixtures" / "inventory"


@pytest.mark.parametrize("brand,expected", [
    # /proc/cpuinfo "model name", Windows' ProcessorNameString and macOS' machdep.cpu.brand_string as CPUs write them
    ("Intel(R) Core(TM) i7-8665U CPU @ 1.90GHz", "Intel Core i7"),
    ("11th Gen Intel(R) Core(TM) i5-1145G7 @ 2.60GHz", "Intel Core i5"),
    ("13th Gen Intel(R) Core(TM) i9-13900H", "Intel Core i9"),
    ("Intel(R) Core(TM) i3-N305", "Intel Core i3"),
    ("Intel(R) Core(TM) i5 CPU       M 520  @ 2.40GHz", "Intel Core i5"),
    ("Intel(R) Core(TM) Ultra 7 155H", "Intel Core Ultra 7"),
    ("Intel(R) Core(TM) 7 150U", "Intel Core 7"),
    ("Intel(R) Core(TM) m3-7Y30 CPU @ 1.00GHz", "Intel Core m3"),
    ("Intel(R) Core(TM)2 Duo CPU     E8400  @ 3.00GHz", "Intel Core 2"),
    ("Intel(R) Xeon(R) Gold 6240 CPU @ 2.60GHz", "Intel Xeon"),
    ("Intel(R) Xeon(R) CPU E5-2623 v3 @ 3.00GHz", "Intel Xeon"),
    ("Intel Xeon Processor (Icelake)", "Intel Xeon"),
    ("Intel(R) Celeron(R) N4020 CPU @ 1.10GHz", "Intel Celeron"),
    ("Intel(R) Pentium(R) Silver N5000 CPU @ 1.10GHz", "Intel Pentium"),
    ("Intel(R) Pentium(R) III CPU family 1400MHz", "Intel Pentium"),
    ("Intel(R) Atom(TM) CPU  N270   @ 1.60GHz", "Intel Atom"),
    ("Intel(R) N100", "Intel N-series"),
    ("Genuine Intel(R) CPU 0000 @ 2.20GHz", "Intel"),
    ("AMD Ryzen 7 5800X 8-Core Processor", "AMD Ryzen 7"),
    ("AMD Ryzen 5 PRO 4650U with Radeon Graphics", "AMD Ryzen 5"),
    ("AMD Ryzen AI 9 HX 370 w/ Radeon 890M", "AMD Ryzen 9"),
    ("AMD Ryzen Threadripper 3970X 32-Core Processor", "AMD Ryzen Threadripper"),
    ("AMD EPYC 7763 64-Core Processor", "AMD EPYC"),
    ("AMD EPYC", "AMD EPYC"),
    ("AMD Athlon Silver 3050U with Radeon Graphics", "AMD Athlon"),
    ("AMD Opteron(tm) Processor 6174", "AMD Opteron"),
    ("AMD A10-9600P RADEON R5, 10 COMPUTE CORES 4C+6G", "AMD A-series"),
    ("Apple M1", "Apple M1"),
    ("Apple M2 Pro", "Apple M2 Pro"),
    ("Apple M3 Max", "Apple M3 Max"),
    ("Apple M4", "Apple M4"),
    ("Snapdragon(R) X Elite - X1E78100 - Qualcomm(R) Oryon(TM) CPU", "Qualcomm Snapdragon"),
    ("QEMU Virtual CPU version 2.5+", "other"),
    ("", "unknown"),
    (None, "unknown"),
])
def test_cpu_class_is_a_short_label(brand, expected):
    assert cpu_class(brand) == expected


def test_arm_cores_are_named_by_implementer_and_part():
    assert cpu_class("ARMv7 Processor rev 4 (v7l)", 0x41, 0xD08) == "ARM Cortex-A72"
    assert cpu_class(None, 0x41, 0xD03) == "ARM Cortex-A53"
    assert cpu_class(None, 0x41, 0xD0C) == "ARM Neoverse-N1"
    assert cpu_class(None, 0x61, 0x22) == "Apple other"  # Asahi Linux on an M1: a bounded label, not a number
    assert cpu_class(None, 0x99, None) == "ARM other"


def test_few_distinct_classes_for_many_brand_strings():
    brands = [f"Intel(R) Core(TM) i{tier}-{gen}{sku:03d}U CPU @ 1.{sku % 10}0GHz"
              for tier in (3, 5, 7) for gen in range(6, 14) for sku in range(0, 1000, 37)]
    assert {cpu_class(b) for b in brands} == {"Intel Core i3", "Intel Core i5", "Intel Core i7"}


@pytest.mark.parametrize("value", ["To Be Filled By O.E.M.", "To be filled by O.E.M.", "System Product Name",
                                   "System manufacturer", "System Version", "Default string", "None",
                                   "Not Specified", "", "   \n", None, "0000000000"])
def test_firmware_placeholders_are_unknown(value):
    assert dmi_text(value) is None
    assert vendor(value) == "unknown"


def test_vendors_get_one_spelling():
    assert [vendor(v) for v in ("LENOVO\n", "Dell Inc.", "HP", "Hewlett-Packard", "Microsoft Corporation",
                                "ASUSTeK COMPUTER INC.", "QEMU", "innotek GmbH", "Framework")] == \
        ["Lenovo", "Dell", "HP", "HP", "Microsoft", "ASUS", "QEMU", "VirtualBox", "Framework"]
    assert vendor("Some Small Maker GmbH") == "Some Small Maker GmbH"


def test_model_prefers_lenovos_marketing_name():
    assert model("Lenovo", "20QDCTO1WW", "ThinkPad X1 Carbon 7th") == "ThinkPad X1 Carbon 7th"
    assert model("Lenovo", "81W8", "IdeaPad 3 15IIL05") == "IdeaPad 3 15IIL05"
    assert model("Lenovo", "20QDCTO1WW", "") == "20QDCTO1WW"
    assert model("Dell", "Latitude 7490", "Not Specified") == "Latitude 7490"
    assert model("HP", "HP EliteBook 840 G5", "") == "HP EliteBook 840 G5"
    assert model("QEMU", "Standard PC (Q35 + ICH9, 2009)", "pc-q35-7.2") == "Standard PC (Q35 + ICH9, 2009)"


def test_labels_are_bounded_and_printable():
    raw = RawInventory(os_build="x" * 500, vendor="Evil\x1b[31mCorp\nInc" + "y" * 200, product_name="a\tb",
                       cpu_brand="Intel\x00 Core i7", memory_bytes=-5)
    got = cohort(raw)
    assert all(len(got[k]) <= 64 and got[k].isprintable() for k in ("os_build", "hw_vendor", "hw_model"))
    assert got["hw_model"] == "a b" and got["memory_bytes"] == 0
    assert cohort(RawInventory(memory_bytes=2**70))["memory_bytes"] == 0


@pytest.mark.parametrize("machine,expected", [
    ("thinkpad", {"os_build": "ubuntu 22.04", "hw_vendor": "Lenovo", "hw_model": "ThinkPad X1 Carbon 7th",
                  "cpu_class": "Intel Core i7", "memory_bytes": 16127452 * 1024}),
    ("asus_desktop", {"os_build": "fedora 40", "hw_vendor": "unknown", "hw_model": "unknown",
                      "cpu_class": "AMD Ryzen 7", "memory_bytes": 32779416 * 1024}),
    ("raspberrypi4", {"os_build": "debian 12", "hw_vendor": "unknown", "hw_model": "Raspberry Pi 4 Model B Rev 1.4",
                      "cpu_class": "ARM Cortex-A72", "memory_bytes": 7998276 * 1024}),
])
def test_linux_reader_on_fixture_trees(machine, expected):
    assert cohort(RawInventory(**_inventory_linux.read(FIXTURES / machine))) == expected


def test_linux_reader_on_an_empty_tree_knows_nothing(tmp_path):
    assert cohort(RawInventory(**_inventory_linux.read(tmp_path))) == {
        "os_build": "unknown", "hw_vendor": "unknown", "hw_model": "unknown", "cpu_class": "unknown",
        "memory_bytes": 0}


def test_os_release_forms():
    assert _inventory_linux.os_release('ID=arch\nBUILD_ID=rolling\n') == "arch rolling"
    assert _inventory_linux.os_release("ID='opensuse-tumbleweed'\nVERSION_ID=\"20240612\"\n") == \
        "opensuse-tumbleweed 20240612"
    assert _inventory_linux.os_release("garbage without equals\n") is None


@pytest.mark.skipif(not Path("/proc/meminfo").exists(), reason="not Linux")
def test_this_machine():
    got = inventory("linux")
    meminfo = Path("/proc/meminfo").read_text()
    assert got["memory_bytes"] == int(re.search(r"MemTotal:\s+(\d+) kB", meminfo).group(1)) * 1024
    release = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
    version = release.get("VERSION_ID", release.get("BUILD_ID", "")).strip('"')
    assert got["os_build"] == f"{release['ID'].strip(chr(34))} {version}".strip()
    brand = re.search(r"^model name\s*:\s*(.*)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
    if brand:
        assert got["cpu_class"] == cpu_class(brand.group(1)) != "unknown"
    dmi = Path("/sys/class/dmi/id/sys_vendor")
    if not dmi.exists():  # a container: no DMI, so unknown
        assert got["hw_vendor"] == "unknown"
    else:
        assert got["hw_vendor"] == vendor(dmi.read_text())


def test_inventory_is_read_once_per_process():
    inventory.cache_clear()
    first = inventory("linux")
    hits = inventory.cache_info().hits
    assert inventory("linux") is first and inventory.cache_info().hits == hits + 1


def test_unknown_platform_sends_unknowns():
    assert inventory("plan9") == {"os_build": "unknown", "hw_vendor": "unknown", "hw_model": "unknown",
                                  "cpu_class": "unknown", "memory_bytes": 0}


SYSCTL_M1_PRO = """hw.model: MacBookPro18,3
hw.memsize: 17179869184
machdep.cpu.brand_string: Apple M1 Pro
kern.osversion: 23F79
"""
SYSCTL_INTEL = """hw.model: MacBookPro16,1
hw.memsize: 34359738368
machdep.cpu.brand_string: Intel(R) Core(TM) i9-9880H CPU @ 2.30GHz
kern.osversion: 22G720
"""


def test_macos_sysctl_output():
    got = cohort(RawInventory(**_inventory_macos.raw_inventory(_inventory_macos.parse_sysctl(SYSCTL_M1_PRO))))
    assert got == {"os_build": "23F79", "hw_vendor": "Apple", "hw_model": "MacBookPro18,3", "cpu_class": "Apple M1 Pro",
                   "memory_bytes": 17179869184}
    intel = cohort(RawInventory(**_inventory_macos.raw_inventory(_inventory_macos.parse_sysctl(SYSCTL_INTEL))))
    assert intel["cpu_class"] == "Intel Core i9" and intel["os_build"] == "22G720"
    partial = _inventory_macos.raw_inventory(_inventory_macos.parse_sysctl("hw.model: Mac14,2\nhw.memsize: lots\n"))
    assert partial["memory_bytes"] is None and partial["os_build"] is None


def test_windows_build_with_its_update_revision():
    assert _inventory_windows.os_build("22631", 4460) == "22631.4460"
    assert _inventory_windows.os_build("19045", None) == "19045"
    assert _inventory_windows.os_build(None, 4460) is None


def test_heartbeat_and_explain_carry_the_cohort(tmp_path):
    cfg = load_config(env={})
    hb = build_heartbeat(cfg.agent, time.time(), 60.0, 30.0)
    assert {k: getattr(hb, k) for k in ("os_build", "hw_vendor", "hw_model", "cpu_class", "memory_bytes")} == \
        inventory()
    validate_batch(make_batch("device-0001", [], [hb.to_wire()]))
    text = render(cfg)
    shown = [json.loads(block) for block in re.findall(r"^    \{\n.*?^    \}$", text, re.MULTILINE | re.DOTALL)]
    (heartbeat,) = [b for b in shown if "agent_version" in b]
    for key, value in inventory().items():
        assert heartbeat[key] == value
    assert "maker and model" in " ".join(text.split())
