"""The [pulse] table, session discovery's parsers, the child's command line, and what explain says."""

from __future__ import annotations

import os
import sys
import time

import pytest

from agent.config import load_config
from agent.explain import render
from agent.pulse import session
from agent.pulse.policy import STATE_FILE, child_command
from tests.conftest import ROOT


def test_the_pulse_is_off_by_default_and_configurable(tmp_path):
    assert load_config(None, env={}).pulse.enabled is False
    path = tmp_path / "agent.toml"
    path.write_text('[pulse]\nenabled = true\ntypes = ["crash"]\nmax_per_day = 2\nworking_hours = "07:30-19:00"\n')
    pulse = load_config(path, env={}).pulse
    assert (pulse.enabled, pulse.types, pulse.max_per_day, pulse.working_hours) == (True, ["crash"], 2, "07:30-19:00")


@pytest.mark.parametrize("text, error", [
    ("max_per_day = 0", "pulse.max_per_day: 0 is below the minimum 1"),
    ("max_per_day = 11", "pulse.max_per_day: 11 is above the maximum 10"),
    ('types = ["slow_app"]', "types[0]: 'slow_app' is not one of crash, hang, connectivity_loss"),
    ('working_hours = "18:00-08:00"', "is not HH:MM-HH:MM with start before end"),
    ('working_days = ["sunday"]', "working_days[0]: 'sunday' is not one of"),
    ("answer_timeout_s = 5", "pulse.answer_timeout_s: 5.0 is below the minimum 10"),
    ("hang_min_s = 1e9", "pulse.hang_min_s"),
    ("enable = true", "pulse.enable: unknown key (did you mean 'enabled'?)"),
])
def test_bad_pulse_settings_are_refused(config_error, text, error):
    assert error in config_error(f"[pulse]\n{text}\n")


def test_explain_says_what_the_pulse_does(tmp_path):
    path = tmp_path / "agent.toml"
    path.write_text(f'[agent]\nstate_dir = "{tmp_path}"\n')
    assert "One-question pulse: off." in render(load_config(path, env={}))
    (tmp_path / STATE_FILE).write_text('{"day": "1999-01-01", "asked": 1}')  # another day: not today's
    path.write_text(f'[agent]\nstate_dir = "{tmp_path}"\n[pulse]\nenabled = true\nmax_per_day = 3\n'
                    'types = ["crash", "hang"]\nhang_min_s = 45\n')
    text = " ".join(render(load_config(path, env={})).split())
    assert "One-question pulse: on." in text and "At most 3 per day (0 so far today" in text
    assert "a crash of an application in the catalogue; an application not responding for at least 45 s" in text
    assert "network connection lost" not in text
    assert "It sends your answer and the id of the disruption asked about, nothing else" in text
    assert '"answer": "few_minutes"' in text and '"event_id": ' in text
    assert "Not asked today, and why: none." in text
    today = time.strftime("%Y-%m-%d")
    (tmp_path / STATE_FILE).write_text(f'{{"day": "{today}", "asked": 1, "not_asked": {{"do not disturb": 2}}}}')
    text = " ".join(render(load_config(path, env={})).split())
    assert "(1 so far today" in text and "Not asked today, and why: do not disturb (2)." in text


def test_logind_sessions_pick_the_active_graphical_one():
    tty = {"Id": "3", "Class": "user", "Active": "yes", "Type": "tty"}
    x11 = {"Id": "5", "Class": "user", "Active": "yes", "Type": "x11"}
    greeter = {"Id": "c1", "Class": "greeter", "Active": "yes", "Type": "x11"}
    inactive = {"Id": "7", "Class": "user", "Active": "no", "Type": "wayland"}
    assert session.pick_session([tty, greeter, x11, inactive]) is x11
    assert session.pick_session([tty]) is tty
    assert session.pick_session([greeter, inactive]) is None


def test_the_environment_of_a_process_of_the_session(tmp_path):
    def proc(pid: str, cgroup: str, environ: bytes) -> None:
        (tmp_path / pid).mkdir()
        (tmp_path / pid / "cgroup").write_text(cgroup)
        (tmp_path / pid / "environ").write_bytes(environ)

    uid = os.getuid()
    proc("10", "0::/user.slice/user-1000.slice/session-2.scope\n", b"DBUS_SESSION_BUS_ADDRESS=unix:path=/x\0")
    proc("11", "0::/user.slice/user-1000.slice/session-5.scope\n", b"HOME=/home/a\0LANG=C\0")
    proc("12", "0::/user.slice/user-1000.slice/session-5.scope\n",
         b"DISPLAY=:0\0XAUTHORITY=/home/a/.Xauthority\0DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus\0X=a=b\0")
    (tmp_path / "self").mkdir()
    env = session.session_environ("5", uid, tmp_path)
    assert env == {"DISPLAY": ":0", "XAUTHORITY": "/home/a/.Xauthority",
                   "DBUS_SESSION_BUS_ADDRESS": "unix:path=/run/user/1000/bus", "X": "a=b"}
    assert session.session_environ("9", uid, tmp_path) == {} and session.session_environ("5", uid + 1, tmp_path) == {}


def test_the_child_runs_as_the_sessions_user_with_its_environment():
    where = session.Session(uid=1000, gid=1000, env={"DBUS_SESSION_BUS_ADDRESS": "unix:path=/run/user/1000/bus",
                                                    "HOME": "/home/a"})
    cmd, options = child_command(where)
    python = [sys.executable, *(["-P"] if sys.version_info >= (3, 11) else []), "-m", "agent.pulse.ask"]
    assert cmd == python
    assert options["env"]["DBUS_SESSION_BUS_ADDRESS"] == "unix:path=/run/user/1000/bus"
    assert options["env"]["PYTHONPATH"].split(os.pathsep)[0] == str(ROOT)  # where this agent's code is
    assert not any(k.startswith("HINDER_") for k in options["env"]) and options["cwd"] == "/"
    if os.geteuid() == 0:
        assert (options["user"], options["group"], options["extra_groups"]) == (1000, 1000, [])
    else:
        assert "user" not in options
    mac = session.Session(uid=501, gid=20, prefix=["launchctl", "asuser", "501", "sudo", "-u", "a", "--"])
    cmd, options = child_command(mac)
    assert cmd[:8] == [*mac.prefix, "/usr/bin/env"] and "user" not in options
    assert any(arg.startswith(f"PYTHONPATH={ROOT}") for arg in cmd[8:-len(python)])
    assert cmd[-len(python):] == python
