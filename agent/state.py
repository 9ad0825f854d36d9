"""Per-installation state in the state directory: device id, device credential and the run record.

The run record says when the agent last showed a sign of life, on which boot,
and whether it stopped cleanly. At start the previous record is kept in
``RunState.previous`` (the unexpected-shutdown sensor reads it) before the new
run overwrites it.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"


def write_atomic(path: Path, text: str, mode: int = 0o666) -> None:
    """Replace the agent's state file ``path`` whole or not at all: write ``text`` to a temporary file created with ``mode`` (less the umask), then rename it over ``path``."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.unlink(missing_ok=True)  # O_CREAT applies the mode only to a new file
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def device_id(state_dir: str | os.PathLike) -> str:
    """The device id: created once per installation, kept in ``state_dir/device_id``."""
    path = Path(state_dir) / "device_id"
    try:
        value = path.read_text(encoding="ascii").strip()
        if value:
            return value
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = uuid.uuid4().hex
    write_atomic(path, value + "\n")
    return value


CREDENTIAL_FILE = "credential"


def load_credential(state_dir: str | os.PathLike) -> str | None:
    """The device credential kept in ``state_dir/credential``, None before enrollment."""
    try:
        return (Path(state_dir) / CREDENTIAL_FILE).read_text(encoding="ascii").strip() or None
    except FileNotFoundError:
        return None


def save_credential(state_dir: str | os.PathLike, credential: str) -> None:
    """Keep the device credential in ``state_dir/credential``, readable by the agent's user only (0600)."""
    write_atomic(Path(state_dir) / CREDENTIAL_FILE, credential + "\n", mode=0o600)


def boot_id(path: str = BOOT_ID_PATH) -> str:
    """An identifier of the current boot: Linux's boot_id, else the boot time."""
    try:
        with open(path, encoding="ascii") as fh:
            return fh.read().strip()
    except OSError:
        import psutil

        return f"boot-{int(psutil.boot_time())}"


@dataclass
class RunRecord:
    boot_id: str
    started: float
    last_alive: float
    clean_stop: bool = False


class RunState:
    """Reads the previous run record and keeps the current one up to date."""

    def __init__(self, state_dir: str | os.PathLike, boot_id_path: str = BOOT_ID_PATH):
        self.path = Path(state_dir) / "run.json"
        self.previous: RunRecord | None = None
        try:
            self.previous = RunRecord(**json.loads(self.path.read_text(encoding="utf-8")))
        except (FileNotFoundError, ValueError, TypeError):
            self.previous = None
        now = time.time()
        self.current = RunRecord(boot_id=boot_id(boot_id_path), started=now, last_alive=now)
        self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, json.dumps(asdict(self.current)))

    def alive(self) -> None:
        """Record a sign of life (called with every heartbeat)."""
        self.current.last_alive = time.time()
        self._save()

    def stopped_cleanly(self) -> None:
        """Record a clean stop (called last on SIGTERM/SIGINT)."""
        self.current.last_alive = time.time()
        self.current.clean_stop = True
        self._save()
