"""The collector's real first migration."""

from collector.migrations.m0001_initial import upgrade  # noqa: F401
