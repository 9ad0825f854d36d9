"""Periodic background jobs of a collector process (retention, impact refresh): one daemon thread each."""

from __future__ import annotations

import logging
import threading
from typing import Callable

log = logging.getLogger("hinder.collector")


def start_periodic(name: str, interval_s: float, job: Callable[[], object], *, at_start: bool = False) -> threading.Event:
    """Run ``job`` every ``interval_s`` seconds (first at once if ``at_start``) until the returned event is set.

    A failing round is logged and retried at the next one: a busy database must
    not kill the thread, and whatever the job had left to do stays for later.
    """
    stop = threading.Event()

    def one_round() -> None:
        try:
            job()
        except Exception:
            log.exception("%s failed; will retry", name)

    def run() -> None:
        if at_start:
            one_round()
        while not stop.wait(interval_s):
            one_round()

    threading.Thread(target=run, name=f"hinder-{name.replace(' ', '-')}", daemon=True).start()
    return stop
