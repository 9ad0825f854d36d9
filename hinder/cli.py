"""The `hinder` command: one CLI for the agent, the collector, reports and the simulator.

Sub-command modules import their heavy dependencies inside the commands, so
`hinder agent ...` on an employee's machine never loads the collector's stack.
"""

from __future__ import annotations

import typer

from agent.cli import app as agent_app
from collector.cli import app as collector_app

app = typer.Typer(help=__doc__.splitlines()[0], no_args_is_help=True, add_completion=False)
app.add_typer(agent_app, name="agent")
app.add_typer(collector_app, name="collector")


def main() -> None:
    app()
