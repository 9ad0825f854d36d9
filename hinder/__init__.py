"""hinder: measures how much work IT disruptions cost employees (the `hinder` command line)."""

from contract import __version__  # noqa: F401  (one version for the whole project, kept by the contract)
