"""Headless Chromium: print the report's HTML to PDF or take a screenshot of it.

Uses Debian's ``chromium`` (or ``chromium-browser``/``google-chrome``, or the
path in ``HINDER_CHROMIUM``), isolated in a fresh profile directory, with
networking features off; the HTML is self-contained, so nothing is fetched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from collector.report import ReportError

_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio")
TIMEOUT_S = 120.0


def find_chromium() -> str:
    """The Chromium executable, or ReportError saying how to install it."""
    explicit = os.environ.get("HINDER_CHROMIUM")
    if explicit:
        if shutil.which(explicit):
            return shutil.which(explicit)
        raise ReportError(f"HINDER_CHROMIUM={explicit!r} is not an executable")
    for name in _CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    raise ReportError("PDF and screenshots need Chromium: install it (Debian: apt-get install chromium) "
                      "or set HINDER_CHROMIUM to its path")


def run(html: str, output_flag: str, out_name: str, extra: tuple[str, ...] = ()) -> bytes:
    """Load ``html`` from a temporary file, run Chromium with ``output_flag=FILE`` and return FILE's bytes."""
    exe = find_chromium()
    with tempfile.TemporaryDirectory(prefix="hinder-report-") as tmp:
        page = Path(tmp, "report.html")
        page.write_text(html, encoding="utf-8")
        out = Path(tmp, out_name)
        cmd = [exe, *_FLAGS, f"--user-data-dir={tmp}/profile", *extra, f"{output_flag}={out}", page.as_uri()]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S,
                                  env={**os.environ, "HOME": tmp})
        except subprocess.TimeoutExpired:
            raise ReportError(f"Chromium did not finish within {TIMEOUT_S:.0f} s") from None
        if proc.returncode != 0 or not out.exists() or out.stat().st_size == 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
            raise ReportError(f"Chromium failed (exit {proc.returncode}): {tail}")
        return out.read_bytes()


def screenshot(html: str, width: int = 1100, height: int = 2400) -> bytes:
    """A PNG screenshot of the page."""
    return run(html, "--screenshot", "shot.png", (f"--window-size={width},{height}",))
