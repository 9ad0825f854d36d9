"""The pulse's answers: what an employee may say about one measured disruption, in one table.

The agent shows the answers as the notification's buttons (``label``); the
wire carries ``name`` (contract.records.Feedback); the collector's felt-vs-
measured figures and the opt-in calibration read ``felt_s``, the lost time an
answer stands for (an assumption stated in docs/pulse.md, never a measurement).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Answer:
    """One answer."""

    name: str  # on the wire
    label: str  # the button
    felt_s: float | None  # the lost time it stands for; None: no answer came


ANSWERS: tuple[Answer, ...] = (
    Answer("none", "No", 0.0),
    Answer("few_minutes", "A few minutes", 300.0),
    Answer("over_15_minutes", "More than 15 minutes", 1200.0),
    Answer("lost_work", "I lost work", 1800.0),
    Answer("unanswered", "", None),  # shown, and no answer came (closed, expired or ignored)
)
BY_NAME: dict[str, Answer] = {a.name: a for a in ANSWERS}
ANSWER_NAMES: tuple[str, ...] = tuple(BY_NAME)
BUTTONS: tuple[Answer, ...] = tuple(a for a in ANSWERS if a.felt_s is not None)  # what the employee can click
UNANSWERED = "unanswered"
ASKED_TYPES = ("crash", "hang", "connectivity_loss")  # the disruptions the pulse may ask about (each has a bar)
