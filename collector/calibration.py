"""Calibration of recovery times from the pulse's answers: a proposal an administrator may apply, never automatic.

The impact model charges a fixed recovery time to every event of a
:attr:`~contract.events.Cost.RECOVERY` type (``[model] <type>_recovery_s``,
and ``app_crash_recovery_s`` per application for crashes). The pulse asks
employees what one such event cost them; each answer stands for a lost time
(``contract.answers``: an assumption, not a measurement). :func:`propose`
turns a period's answers into the mean of those times, per type and, for
crashes, per application, only where enough people answered; :func:`toml_lines`
writes them as the ``[model]`` lines to copy into the collector config. The
model is unchanged until an administrator does (docs/impact-model.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable, Iterable

from collector import impact
from collector.config import OTHER_APP
from contract.answers import BY_NAME

MIN_ANSWERS = 20  # the fewest answers a proposal rests on (besides answers from min_group_size devices)
_PER_APP = "crash"  # the one RECOVERY type with per-application settings (ModelConfig.app_crash_recovery_s)


@dataclass(frozen=True)
class Proposal:
    """A recovery time proposed for a type (and application, for crashes) from its answers."""

    type: str
    app: str | None  # None: the type's own setting
    recovery_s: float  # the mean felt time of the answers, to the second
    current_s: float  # what the model charges now
    answers: int
    devices: int

    @property
    def setting(self) -> str:
        return impact.recovery_setting(self.type) if self.app is None else "app_crash_recovery_s"


def propose(answers: Iterable[tuple[str, str, str, str]], recovery_s: Callable[[str, str], float], min_devices: int,
            min_answers: int = MIN_ANSWERS) -> list[Proposal]:
    """Proposals from answers given as (device, type, application label, answer) for the RECOVERY types, beside
    what the model charges now (``recovery_s(type, app)``: :meth:`collector.impact.ModelConfig.recovery_s`).

    Unanswered questions are left out. A type gets a proposal from all its
    answers, an application (crashes only, catalogued ones) from its own,
    each only with at least ``min_answers`` answers from at least
    ``min_devices`` distinct devices (the report's ``min_group_size``).
    """
    groups: dict[tuple[str, str | None], list[tuple[str, float]]] = {}
    for device, etype, app, answer in answers:
        felt = BY_NAME[answer].felt_s
        if etype not in impact.RECOVERY_TYPES or felt is None:
            continue
        groups.setdefault((etype, None), []).append((device, felt))
        if etype == _PER_APP and app != OTHER_APP:
            groups.setdefault((etype, app), []).append((device, felt))
    out = []
    for (etype, app), felt in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        devices = len({d for d, _ in felt})
        if len(felt) >= min_answers and devices >= min_devices:
            out.append(Proposal(etype, app, round(sum(s for _, s in felt) / len(felt)),
                                recovery_s(etype, app or ""), len(felt), devices))
    return out


def toml_lines(proposals: list[Proposal], period: str) -> list[str]:
    """The proposals as ``[model]`` lines of the collector config, each with a comment saying what it rests on."""
    if not proposals:
        return []
    lines = ["[model]", f"# proposed from the pulse's answers, {period}: the mean time the answers stand for",
             "# (contract.answers: an assumption per answer); the model is unchanged until you apply these lines",
             "# (app_crash_recovery_s replaces the whole table: keep your other applications in it)"]
    per_app = []
    for p in proposals:
        basis = f"# {p.answers} answers from {p.devices} devices; the model charges {p.current_s:g} s now"
        if p.app is None:
            lines += [basis, f"{p.setting} = {p.recovery_s:g}"]
        else:
            lines.append(basis.replace("# ", f"# {p.app}: ", 1))
            per_app.append(f"{json.dumps(p.app)} = {p.recovery_s:g}")
    if per_app:
        lines.append(f"app_crash_recovery_s = {{{', '.join(per_app)}}}")
    return lines
