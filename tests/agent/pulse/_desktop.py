"""A private desktop for the pulse's tests: Xvfb, a D-Bus session bus and the dunst notification daemon.

dunst's context menu runs its configured ``dmenu`` command with one line per
action (``#<label> (<summary>) [<id>,<key>]``) on stdin and invokes the action
of the line it prints: our ``dmenu`` is a script that keeps the menu it was
given and prints the line of the answer the test wants (``desktop.want``),
so ``dunstctl context`` invokes an action through the daemon itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.agent.sensors._xvfb import running_xvfb
from tests.conftest import ROOT, wait_until

MISSING = [tool for tool in ("Xvfb", "dbus-daemon", "dunst", "dunstctl") if not shutil.which(tool)]
MISSING_REASON = (f"needs {', '.join(MISSING)} (Debian packages xvfb, dbus-daemon, dunst; scripts/test installs "
                  "them as root)")

# A session bus that starts no service by itself (the system's session.conf would start a second dunst through
# D-Bus activation when a client asks before ours is up, or start one on a bus meant to have none).
_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={path}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/>
    <allow own="*"/></policy>
</busconfig>
"""
_DMENU = """#!/bin/sh
cat > "{dir}/menu.txt"
grep -m1 ",$(cat "{dir}/want")]" "{dir}/menu.txt"
"""


@dataclass
class Desktop:
    """The running desktop: its display, bus address, and dunst's control."""

    display: str
    bus: str
    dir: Path

    @property
    def env(self) -> dict[str, str]:
        """The environment of a process of this desktop's session."""
        env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "DBUS_SESSION_BUS_ADDRESS")}
        return {**env, "DISPLAY": self.display, "DBUS_SESSION_BUS_ADDRESS": self.bus,
                "PYTHONPATH": str(ROOT)}

    def dunstctl(self, *args: str) -> str:
        return subprocess.run(["dunstctl", *args], env=self.env, capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()

    def displayed(self) -> int:
        return int(self.dunstctl("count", "displayed"))

    def menu(self) -> list[str]:
        """The action lines dunst gave its context menu the last time."""
        return (self.dir / "menu.txt").read_text().splitlines()

    def invoke(self, key: str) -> None:
        """Choose the action ``key`` of the displayed notification in dunst's context menu."""
        (self.dir / "want").write_text(key)
        self.dunstctl("context")

    def history(self) -> list[dict]:
        """dunst's history (closed notifications), newest first: each a dict of field -> value."""
        data = json.loads(self.dunstctl("history"))["data"][0]
        return [{k: v.get("data") for k, v in item.items()} for item in data]

    def clear(self) -> None:
        """No notification displayed or kept, dunst running."""
        self.dunstctl("set-paused", "false")
        self.dunstctl("close-all")
        wait_until(lambda: self.displayed() == 0, 5, what="dunst to close its notifications")

    def ask(self, title: str = "Crasher just closed unexpectedly", timeout_s: float = 30) -> subprocess.Popen:
        """Start the pulse's ask child in this session."""
        child = subprocess.Popen([sys.executable, "-m", "agent.pulse.ask"], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env, text=True)
        child.stdin.write(json.dumps({"title": title, "body": "Did this cost you work?", "timeout_s": timeout_s}))
        child.stdin.close()
        child.stdin = None  # written: communicate() only reads
        return child


def start_bus(base: Path) -> tuple[subprocess.Popen, str]:
    """A private session bus (no service activation) listening in ``base``: its process and address."""
    config = base / "bus.conf"
    config.write_text(_BUS_CONFIG.format(path=base / "bus"))
    bus = subprocess.Popen(["dbus-daemon", "--nofork", "--print-address=1", f"--config-file={config}"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return bus, bus.stdout.readline().strip()


@contextlib.contextmanager
def running_desktop(base: Path):
    """Xvfb, a session bus (dbus-daemon --session) and dunst in it; yields a Desktop; stops them afterwards."""
    base.mkdir(parents=True, exist_ok=True)
    (base / "want").write_text("none")
    dmenu = base / "dmenu.sh"
    dmenu.write_text(_DMENU.format(dir=base))
    dmenu.chmod(0o755)
    (base / "dunstrc").write_text(f"[global]\ndmenu = {dmenu}\n")
    with running_xvfb() as (display, _):
        bus, address = start_bus(base)
        dunst = None
        try:
            desktop = Desktop(display, address, base)
            with open(base / "dunst.log", "wb") as log:
                dunst = subprocess.Popen(["dunst", "-config", str(base / "dunstrc")], env=desktop.env, stdout=log,
                                         stderr=subprocess.STDOUT)

            def ready() -> bool:
                assert dunst.poll() is None, (base / "dunst.log").read_text()
                return subprocess.run(["dunstctl", "is-paused"], env=desktop.env, capture_output=True).returncode == 0

            wait_until(ready, 15, what="dunst on the session bus")
            yield desktop
        finally:
            for proc in (dunst, bus):
                if proc and proc.poll() is None:
                    proc.terminate()
                    proc.wait(10)


def wait_displayed(desktop: Desktop, child: subprocess.Popen, timeout_s: float = 10) -> None:
    """Wait until dunst displays the child's notification (fails early if the child ended)."""
    def shown() -> bool:
        assert child.poll() is None, f"the ask child ended: {child.stdout.read()} {child.stderr.read()}"
        return desktop.displayed() == 1

    wait_until(shown, timeout_s, what="the notification on screen")


def finish(child: subprocess.Popen, timeout_s: float = 15) -> tuple[int, str, str]:
    """The child's exit status, stdout and stderr."""
    out, err = child.communicate(timeout=timeout_s)
    return child.returncode, out.strip(), err.strip()


