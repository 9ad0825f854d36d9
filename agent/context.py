"""What the agent hands every sensor: configuration, catalogue, state and activity."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.activity import ActivityTracker
from agent.catalogue import Catalogue
from agent.state import RunState


def sensor_state_file(state_dir: str | Path, name: str) -> Path:
    """Where a sensor keeps its file ``name`` in the agent's state directory (read also by `hinder agent explain`)."""
    return Path(state_dir) / "sensors" / name


@dataclass
class SensorContext:
    catalogue: Catalogue
    state_dir: Path  # sensors keep their own files (bookmarks, seen reports) here
    activity: ActivityTracker
    run_state: RunState
    log: logging.Logger
    collector_url: str = "http://127.0.0.1:8739"  # the connectivity sensor's default target
    sensors: dict[str, Any] = field(default_factory=dict)  # every sensor's settings, for one that defers to another
    # Small, bounded facts sensors add to every heartbeat (e.g. wifi_signal_dbm); names only, no personal data.
    heartbeat_details: dict = field(default_factory=dict)

    def state_path(self, name: str) -> Path:
        """A file in the state directory reserved for one sensor's state."""
        path = sensor_state_file(self.state_dir, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path
