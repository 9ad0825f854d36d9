"""What `hinder agent explain` says about the employee pulse: whether it asks, when, and what it sends."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

from agent.pulse.policy import STATE_FILE, read_day
from agent.pulse.settings import PulseSettings
from contract.answers import BUTTONS
from contract.records import Feedback, new_id

_BAR = {"crash": "a crash of an application in the catalogue",
        "hang": "an application not responding for at least {hang_min_s:g} s",
        "connectivity_loss": "a network connection lost for at least {connectivity_loss_min_s:g} s"}


def _wrap(text: str) -> str:
    return textwrap.fill(" ".join(text.split()), width=88, initial_indent="  ", subsequent_indent="  ",
                         break_on_hyphens=False, break_long_words=False)


def explain(settings: PulseSettings, state_dir: str) -> list[str]:
    """The lines of the explanation about the pulse for this configuration."""
    if not settings.enabled:
        return ["One-question pulse: off. This agent never asks you anything (your IT department can turn it on)."]
    bar = "; ".join(_BAR[t].format(**vars(settings)) for t in settings.types) or "nothing (no disruption type)"
    now = time.time()
    today = read_day(Path(state_dir) / STATE_FILE, now)
    not_asked = ", ".join(f"{reason} ({n})" for reason, n in sorted(today["not_asked"].items())) or "none"
    example = Feedback(time=now, event_id=new_id(now - 5), answer=BUTTONS[1].name)
    return [
        "One-question pulse: on.",
        _wrap(f"After a disruption that crosses the bar ({bar}), while you were at the computer, it may show one "
              f"notification asking whether this cost you work, with the answers "
              f"{', '.join(repr(b.label) for b in BUTTONS)}."),
        _wrap(f"At most {settings.max_per_day} per day ({today['asked']} so far today, kept in "
              f"{Path(state_dir) / STATE_FILE}), only {settings.working_hours} on "
              f"{', '.join(settings.working_days) or 'no day'}, only about a disruption that ended less than "
              f"{settings.max_event_age_s:g} s before, one at a time, and never while the session is locked, in "
              "do-not-disturb or focus mode, or during a presentation or a full-screen application. It goes away "
              f"after {settings.answer_timeout_s:g} s; without an answer it sends 'unanswered'."),
        _wrap(f"Not asked today, and why: {not_asked}."),
        _wrap("It sends your answer and the id of the disruption asked about, nothing else (no text, no name). "
              "Answers are shown only as figures over groups, never per computer or person. Example:"),
        textwrap.indent(json.dumps(example.to_wire(), indent=2), "    "),
    ]
