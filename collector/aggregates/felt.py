"""Felt vs measured: the pulse's answers joined to their events, counted at ingest and read for a period.

An answer (``feedback``) names its event by (device_id, event_id), and either
may arrive first. :func:`on_ingest`, an ingest hook beside
:func:`collector.aggregates.marks.on_ingest`, counts each pair once, in the
transaction that stores the later of the two (an answer about a type the pulse
never asks about, ``contract.answers.ASKED_TYPES``, counts nowhere): a batch's new answers are looked
up among the device's stored events (this batch's included), its new events
among the answers stored before it (the batch's own answers are counted from
their side). Ingest holds the device row locked for the transaction
(``collector.ingest._upsert_device``), so two batches of one device never
count the same pair. A retried batch stores nothing new, so counts nothing.

``felt_count`` adds, per labels (type, application label, the device's site
and department) and answer: the questions, the model's lost seconds of those
events alone (:func:`collector.impact.alone_s`, under the ``[model]``
settings of that moment) and the seconds the answers stand for
(``contract.answers``: an assumption, not a measurement). /metrics exports it.
``felt_device`` keeps, per device that clicked an answer counted there, the
(site, department) of its latest one: /metrics shows a pair's answers by name
only with enough answering devices.

:func:`answers_in` reads a period's answers with their events, for the weekly
report and ``hinder model calibrate``.
"""

from __future__ import annotations

from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector import impact
from collector.aggregates import discover, model_config
from collector.aggregates.refresh import to_disruption
from collector.db import add_up, insert, prepared
from collector.ingest import IngestedBatch
from collector.models import device_table, event_table, feedback_table, felt_count_table, felt_device_table
from contract.answers import ASKED_TYPES, BY_NAME, UNANSWERED

_CHUNK = 500
_EVENT_FIELDS = ("id", "type", "app", "start", "duration_s", "active_s", "details")


def on_ingest(conn: Connection, batch: IngestedBatch) -> None:
    """The ingest hook: count the (answer, event) pairs this batch completes."""
    dev_id = batch.device["id"]
    answers = {f["event_id"]: (f["answer"], f["time"]) for f in batch.feedback}
    pairs = [(row, *answers[row["id"]]) for row in _stored_events(conn, dev_id, sorted(answers))
             if row["type"] in ASKED_TYPES]
    events = batch.events
    # an answer can only be about a type the pulse asks about: only those events look for one stored before them
    waiting = [i for i, (event_id, etype) in enumerate(zip(events["id"], events["type"]))
               if etype in ASKED_TYPES and event_id not in answers]
    if waiting:
        stored = _stored_answers(conn, dev_id, [events["id"][i] for i in waiting])
        pairs += [({k: events[k][i] for k in _EVENT_FIELDS}, *stored[events["id"][i]])
                  for i in waiting if events["id"][i] in stored]
    if not pairs:
        return
    cfg, dev = model_config(batch.config), batch.device
    labels = discover.current(conn, batch.config)
    counts: dict[tuple, list] = {}
    for row, answer, _time in pairs:
        key = (row["type"], labels.label(row["type"], row["app"]), dev["site"], dev["department"], answer)
        acc = counts.setdefault(key, [0, 0.0, 0.0])
        acc[0] += 1
        acc[1] += impact.alone_s(to_disruption(row), cfg)
        acc[2] += BY_NAME[answer].felt_s or 0.0
    add_up(conn, felt_count_table, ["type", "app", "site", "department", "answer"],
           ["questions", "model_lost_s", "felt_s"], counts.items())
    clicked = [time for _row, answer, time in pairs if answer != UNANSWERED]
    if clicked:
        conn.execute(prepared(conn, _answered_in), {"device_id": dev_id, "site": dev["site"],
                                                    "department": dev["department"], "answered_at": max(clicked)})


def _stored_events(conn: Connection, dev_id: str, ids: list[str]) -> list[dict]:
    rows = []
    for at in range(0, len(ids), _CHUNK):
        rows += conn.execute(prepared(conn, _events_of), {"dev": dev_id, "ids": ids[at:at + _CHUNK]}).mappings().all()
    return rows


def _stored_answers(conn: Connection, dev_id: str, event_ids: list[str]) -> dict[str, tuple[str, float]]:
    out: dict[str, tuple[str, float]] = {}
    for at in range(0, len(event_ids), _CHUNK):
        out.update((event_id, (answer, time)) for event_id, answer, time in conn.execute(
            prepared(conn, _answers_of), {"dev": dev_id, "ids": event_ids[at:at + _CHUNK]}))
    return out


def _answered_in(bind: Connection):
    """Upsert a device's felt_device row, unless it holds a later answer already."""
    new = insert(bind, felt_device_table)
    return new.on_conflict_do_update(
        index_elements=["device_id"], set_={c: new.excluded[c] for c in ("site", "department", "answered_at")},
        where=new.excluded.answered_at >= felt_device_table.c.answered_at)


def _events_of(_bind: Connection):
    e = event_table.c
    return sa.select(*(e[k] for k in _EVENT_FIELDS)).where(
        e.device_id == sa.bindparam("dev"), e.id.in_(sa.bindparam("ids", expanding=True)))


def _answers_of(_bind: Connection):
    f = feedback_table.c
    return sa.select(f.event_id, f.answer, f.time).where(
        f.device_id == sa.bindparam("dev"), f.event_id.in_(sa.bindparam("ids", expanding=True)))


class Answered(NamedTuple):
    """One answer of a period joined to its event."""

    device_id: str
    site: str  # the device's labels now (the report prefers the week's)
    department: str
    type: str
    app: str  # as the agent sent it
    answer: str
    model_s: float  # the model's lost seconds of the event alone (collector.impact.alone_s)


def answers_in(conn: Connection, start: float, end: float, cfg: impact.ModelConfig) -> list[Answered]:
    """The answers to questions shown in ``[start, end)`` whose event is stored, oldest first, with the model's
    lost seconds of each event alone under ``cfg``. Reads the feedback rows of the period (``ix_feedback_time``)
    and their events and devices by primary key."""
    f, e, d = feedback_table.c, event_table.c, device_table.c
    rows = conn.execute(
        sa.select(f.device_id, d.site, d.department, f.answer, *(e[k] for k in _EVENT_FIELDS))
        .select_from(feedback_table.join(event_table, sa.and_(e.id == f.event_id, e.device_id == f.device_id))
                     .join(device_table, d.id == f.device_id))
        .where(f.time >= start, f.time < end, e.type.in_(ASKED_TYPES)).order_by(f.time, f.device_id, f.event_id)).mappings()
    return [Answered(r["device_id"], r["site"], r["department"], r["type"], r["app"], r["answer"],
                     impact.alone_s(to_disruption(r), cfg)) for r in rows]
