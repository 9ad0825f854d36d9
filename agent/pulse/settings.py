"""The ``[pulse]`` table of the agent configuration: when the agent may ask the employee one question."""

from __future__ import annotations

from dataclasses import dataclass

from agent.sensors.activity import DAYS, working_hours_problem
from contract.answers import ASKED_TYPES
from contract.records import MAX_ANSWERS_PER_DAY
from contract.settings import setting



@dataclass
class PulseSettings:
    """Off unless the fleet config turns it on; every limit bounded."""

    enabled: bool = setting(False, doc="ask the employee after a significant disruption (off by default)")
    types: list[str] = setting(default_factory=lambda: list(ASKED_TYPES),
                               doc="which disruptions may be asked about: crash, hang, connectivity_loss")
    hang_min_s: float = setting(30.0, min=1, max=86400, doc="a hang is asked about from this long")
    connectivity_loss_min_s: float = setting(300.0, min=1, max=86400,
                                             doc="a connectivity loss is asked about from this long")
    # a UTC day overlaps two local days: the collector takes MAX_ANSWERS_PER_DAY answers of a device a UTC day
    max_per_day: int = setting(1, min=1, max=MAX_ANSWERS_PER_DAY // 2, doc="questions per device and local calendar day")
    working_hours: str = setting("08:00-18:00", doc="local hours in which a question may be shown, HH:MM-HH:MM")
    working_days: list[str] = setting(default_factory=lambda: list(DAYS[:5]), doc="days on which one may be shown")
    max_event_age_s: float = setting(600.0, min=10, max=86400,
                                     doc="never ask about a disruption that ended longer ago than this")
    answer_timeout_s: float = setting(300.0, min=10, max=3600,
                                      doc="the question goes away after this long; no answer is 'unanswered'")

    def __post_init__(self) -> None:
        problem = working_hours_problem(self.working_hours, self.working_days)
        if problem:
            raise ValueError(problem)
        for i, kind in enumerate(self.types):
            if kind not in ASKED_TYPES:
                raise ValueError(f"types[{i}]: {kind!r} is not one of {', '.join(ASKED_TYPES)}")
