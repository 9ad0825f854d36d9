"""Records held as columns: the collector's form of a batch's events from decoding to the ingest hooks.

A batch of a thousand events costs less as one sequence per field than as a
thousand dicts: each step of ingest (rows for the database, counts, dirty
hours) reads whole columns with ``map`` and ``zip``, whose loops run in C,
instead of looking fields up record by record in Python.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any, Iterable, Sequence

from contract.records import EVENT_FIELDS


class Columns:
    """Records of one kind as columns: field name -> a sequence of one value per record, in the records' order."""

    __slots__ = ("_columns", "_n")

    def __init__(self, columns: dict[str, Sequence[Any]]):
        lengths = set(map(len, columns.values()))
        if len(lengths) > 1:
            raise ValueError(f"columns of different lengths: {sorted(lengths)}")
        self._columns = columns
        self._n = lengths.pop() if lengths else 0

    @classmethod
    def of(cls, records: Sequence[dict[str, Any]], fields: Iterable[str]) -> Columns:
        """The columns ``fields`` of records given as dicts (each must have every field)."""
        return cls({name: list(map(itemgetter(name), records)) for name in fields})

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, field: str) -> Sequence[Any]:
        return self._columns[field]

    def __setitem__(self, field: str, values: Sequence[Any]) -> None:
        if len(values) != self._n:
            raise ValueError(f"column {field!r} has {len(values)} values for {self._n} records")
        self._columns[field] = values

    def __eq__(self, other: object) -> bool:  # the same fields and values, whatever the sequences' types
        return (isinstance(other, Columns) and self._columns.keys() == other._columns.keys()
                and all(list(v) == list(other._columns[k]) for k, v in self._columns.items()))

    def __repr__(self) -> str:
        return f"Columns({self._n} records: {', '.join(self._columns)})"

    def take(self, indices: Sequence[int]) -> Columns:
        """The records at ``indices``, in that order."""
        return Columns({name: [values[i] for i in indices] for name, values in self._columns.items()})


def of_batch(batch: dict[str, Any]) -> dict[str, Any]:
    """A batch as :func:`contract.check.validate_batch` normalises it, with its events as :class:`Columns`."""
    return {**batch, "events": Columns.of(batch["events"], EVENT_FIELDS)}
