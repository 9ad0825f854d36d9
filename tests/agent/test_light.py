"""The agent stays light: nothing on its import path loads the collector's stack."""

import subprocess
import sys

# pydantic is not listed: typer itself depends on it.
HEAVY = ("fastapi", "sqlmodel", "sqlalchemy", "prometheus_client", "uvicorn", "starlette")


def _loaded_after(code: str, watched=HEAVY) -> set[str]:
    probe = f"{code}\nimport sys\nprint('LOADED:' + ' '.join(sorted(m for m, mod in sys.modules.items() if mod is not None and m.split('.')[0] in {watched!r})))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    loaded = out.rsplit("LOADED:", 1)[1]
    return {m.split(".")[0] for m in loaded.split()}


def test_agent_modules_import_nothing_heavy():
    code = (
        "import pkgutil, importlib, agent, agent.sensors\n"
        "for m in pkgutil.walk_packages(agent.__path__, 'agent.'):\n"
        "    importlib.import_module(m.name)\n"
    )
    assert _loaded_after(code) == set()


def test_hinder_agent_command_does_not_load_the_collector():
    code = (
        "import sys\nsys.argv = ['hinder', 'agent', '--help']\n"
        "from hinder.cli import app\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
    )
    assert _loaded_after(code) == set()


def test_uploads_and_probes_load_neither_httpx_nor_tls_for_http_urls():
    """The agent's own client replaces httpx (about 9 MiB with its dependencies); ssl loads on the first https
    request; ctypes (about 1 MiB) only where a sensor talks to the OS through it (an X display, Windows)."""
    from tests.agent.sensors._http_target import HttpTarget

    code = (
        "import agent.daemon, agent.runner, agent.sensors\n"
        "from agent._http import request\n"
        "from agent.sensors._helpers.http_timing import timed_get\n"
        "assert request('GET', {url!r}).status == 200\n"
        "assert timed_get({url!r}, 5.0).status == 200\n"
    )
    with HttpTarget() as target:
        loaded = _loaded_after(code.format(url=target.url + "/"), watched=("httpx", "httpcore", "ssl", "_ssl", "ctypes"))
    assert loaded == set()
