"""The `hinder` command: one CLI for the agent, the collector, reports and the simulator.

Sub-command modules import their heavy dependencies inside the commands, so
`hinder agent ...` on an employee's machine never loads the collector's stack.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from agent.cli import app as agent_app
from collector.cli import app as collector_app
from collector.cli import model_app
from collector.report.cli import app as report_app
from collector.support.cli import support_app
from hinder.simulate.cli import simulate_command

app = typer.Typer(help=__doc__.splitlines()[0], no_args_is_help=True, add_completion=False)
app.add_typer(agent_app, name="agent")
app.add_typer(collector_app, name="collector")
app.add_typer(model_app, name="model")
app.add_typer(report_app, name="report")
app.add_typer(support_app, name="support")
app.command(name="simulate")(simulate_command)


@app.command()
def up(
    dir: Path = typer.Option(Path(".hinder"), "--dir", help="where the database, tokens, agent config and state live"),
    host: str = typer.Option("127.0.0.1", help="collector listen address"),
    port: int = typer.Option(8739, help="collector port"),
    seconds: Optional[float] = typer.Option(None, help="stop after this many seconds (default: run until Ctrl-C)"),
    demo_fleet: int = typer.Option(0, "--demo-fleet", min=0, max=10_000,
                                   help="also send two weeks of a simulated fleet of N devices, for dashboards and reports"),
) -> None:
    """Run hinder on its embedded default: a collector on SQLite and a local agent."""
    from hinder.up import run

    raise typer.Exit(run(dir, host, port, seconds, demo_fleet))


def main() -> None:
    app()
