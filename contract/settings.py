"""Settings as dataclasses, loaded strictly from TOML tables: the loader the agent's and the collector's configurations share.

A configuration section is a dataclass whose fields are declared with
:func:`setting` (default, bounds, choices, a one-line doc);
:func:`load_section` builds it from a TOML table and checks every key: an
unknown key (with a suggestion), a wrong type or a value out of range raises
:class:`ConfigError` naming the dotted key.

The exit codes of the ``hinder`` commands live here too, one table for all of
them, so that scripts and service managers can rely on them.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
import types
import typing
from dataclasses import field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# Exit codes of every `hinder` command (0 is success).
EXIT_FAILURE = 1  # the command could not run (e.g. the agent's state directory is unusable or taken)
EXIT_USAGE = 2  # configuration or usage error; the message names the key or option
EXIT_SOURCE = 3  # the database or collector it needs is unreachable or not hinder's
EXIT_OUTPUT = 4  # the result could not be written, rendered or sent


class ConfigError(ValueError):
    """A configuration problem, with the dotted key it concerns."""


def setting(default: Any = dataclasses.MISSING, *, min: float | None = None, max: float | None = None,
            choices: tuple | None = None, url: bool = False, doc: str = "", default_factory: Any = dataclasses.MISSING):
    """A dataclass field with bounds checked by :func:`load_section`."""
    meta = {"min": min, "max": max, "choices": choices, "url": url, "doc": doc}
    if default_factory is not dataclasses.MISSING:
        return field(default_factory=default_factory, metadata=meta)
    return field(default=default, metadata=meta)


def _check_url(value: str, key: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{key}: {value!r} is not an http(s) URL")


def _coerce(value: Any, hint: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return _coerce(value, args[0], key)
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise ConfigError(f"{key}: must be a list, got {type(value).__name__}")
        (inner,) = typing.get_args(hint)[:1] or (Any,)
        return [_coerce(v, inner, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: must be a table, got {type(value).__name__}")
        return dict(value)
    if dataclasses.is_dataclass(hint):
        return load_section(hint, value, key)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: must be a number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: must be an integer, got {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: must be true or false, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: must be a string, got {value!r}")
        return value
    return value


def load_section(cls: type, data: Any, prefix: str) -> Any:
    """Build dataclass ``cls`` from a TOML table, checking every key."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix}: must be a table")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"{prefix}.{key}: unknown key{hint}")
    values = {}
    for name, f in fields.items():
        key = f"{prefix}.{name}"
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{key}: missing")
            continue
        v = _coerce(data[name], hints[name], key)
        meta = f.metadata
        if meta.get("min") is not None and v is not None and v < meta["min"]:
            raise ConfigError(f"{key}: {v!r} is below the minimum {meta['min']}")
        if meta.get("max") is not None and v is not None and v > meta["max"]:
            raise ConfigError(f"{key}: {v!r} is above the maximum {meta['max']}")
        if meta.get("choices") and v not in meta["choices"]:
            raise ConfigError(f"{key}: {v!r} is not one of {', '.join(map(str, meta['choices']))}")
        if meta.get("url") and v:
            for i, u in enumerate(v if isinstance(v, list) else [v]):
                _check_url(u, key if not isinstance(v, list) else f"{key}[{i}]")
        values[name] = v
    try:
        return cls(**values)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{prefix}: {exc}") from None


def read_toml(path: str | os.PathLike) -> dict[str, Any]:
    """The tables of a TOML file; ConfigError if it is missing or not TOML."""
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
