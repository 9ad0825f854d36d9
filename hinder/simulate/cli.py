"""`hinder simulate`: send a simulated fleet's history, then live rounds, to a collector, with a progress display.

The sender (httpx) and rich are imported inside the command, so `hinder agent ...` never loads them.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

import typer

from contract.identity import read_secret
from contract.records import Limits, parse_time
from hinder.simulate.fleet import Fleet


def _parse_end(text: str | None) -> float | None:
    if not text:
        return None
    if len(text) == 10:  # a date: the period ends at 00:00 UTC of that day
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc).timestamp()
    return parse_time(text)


def simulate_command(
    collector: str = typer.Option("http://127.0.0.1:8739", "--collector", help="collector base URL"),
    devices: int = typer.Option(100, "--devices", min=1, max=200_000, help="fleet size"),
    days: float = typer.Option(7.0, "--days", min=0.01, max=30, help="days of history to send, ending at --end"),
    seed: int = typer.Option(1, "--seed", help="same seed, same fleet, same records (ids included)"),
    token: str = typer.Option("", "--token", envvar="HINDER_AGENT_TOKEN", help="agent token (or HINDER_AGENT_TOKEN)"),
    end: str = typer.Option("", "--end", help="end of the period: RFC 3339 time, or YYYY-MM-DD for 00:00 UTC that day; default now"),
    heartbeat_s: float = typer.Option(300.0, "--heartbeat", min=30, max=3600, help="seconds between a device's heartbeats"),
    event_scale: float = typer.Option(1.0, "--event-scale", min=0.01, max=100,
                                      help="multiply the disruption rates (about 4-5 per device and workday at 1, "
                                      "besides each morning's boot and sign-in)"),
    concurrency: int = typer.Option(4, "--concurrency", min=1, max=32, help="parallel HTTP clients"),
    rate: float = typer.Option(0.0, "--rate", min=0, help="at most this many requests per second (0: no limit)"),
    live: int = typer.Option(0, "--live", min=0, help="after the history, send this many live rounds, one every --live-interval"),
    live_interval: float = typer.Option(15.0, "--live-interval", min=1, max=3600, help="seconds between live rounds"),
    apps: bool = typer.Option(False, "--apps", help="print the simulated app catalogue as TOML for the collector config, and exit"),
    identity_key_file: str = typer.Option("", "--identity-key-file", help="the fleet's identity key (the collector's "
                                          "[support] identity_key_file): heartbeats carry identity keys"),
    support_token: str = typer.Option("", "--support-token", envvar="HINDER_SUPPORT_TOKEN",
                                      help="support token (or HINDER_SUPPORT_TOKEN): after the history, send the "
                                      "service-desk tickets that follow it to the collector's webhook"),
) -> None:
    """Send a realistic, reproducible fleet's heartbeats (with each device's model, OS build and Wi-Fi signal), events
    (disruptions, boots and sign-ins, an Office and a Windows update rolling out), pulse answers and app focus time
    (and service-desk tickets) to a collector."""
    try:
        end_ts = _parse_end(end)
    except ValueError as exc:
        raise typer.BadParameter(f"{end!r}: {exc}", param_hint="--end") from None
    secret = None
    if identity_key_file:
        try:
            secret = read_secret(identity_key_file)
        except (OSError, ValueError) as exc:
            raise typer.BadParameter(str(exc), param_hint="--identity-key-file") from None
    try:
        fleet = Fleet(devices, days, seed=seed, end=end_ts, heartbeat_s=heartbeat_s, event_scale=event_scale,
                      identity_secret=secret)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if apps:
        typer.echo(fleet.apps_toml(), nl=False)
        return
    if not token:
        raise typer.BadParameter("an agent token is needed: --token or HINDER_AGENT_TOKEN", param_hint="--token")
    if fleet.end > time.time() + Limits().max_future_s:
        raise typer.BadParameter("--end is in the future; the collector would refuse the records", param_hint="--end")
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from hinder.simulate.sender import Sender, SimulationError, chunk_batches

    sender = Sender(collector, token, concurrency=concurrency, rate=rate, support_token=support_token)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    tickets: list[dict] = []

    def history(device):
        records = fleet.records(device)
        if support_token:
            tickets.extend(fleet.tickets(device, records.events))
        return chunk_batches(device.device_id, *records)

    try:
        with Progress(*columns, transient=False) as progress:
            task = progress.add_task(f"history, {days:g} days", total=len(fleet.devices))
            sender.send_all(fleet.devices, history, lambda _: progress.advance(task))
            if support_token:  # after the history: the devices' identity keys are known, the tickets join them
                tickets = sorted(tickets + fleet.stranger_tickets(), key=lambda t: t["opened_at"])
                task = progress.add_task("service-desk tickets", total=len(tickets))
                for at in range(0, len(tickets), sender.TICKETS_PER_REQUEST):
                    chunk = tickets[at:at + sender.TICKETS_PER_REQUEST]
                    sender.post_tickets(chunk)
                    progress.advance(task, len(chunk))
            for round_no in range(live):
                if round_no:
                    time.sleep(live_interval)
                now = time.time()
                task = progress.add_task(f"live round {round_no + 1}/{live}", total=len(fleet.devices))
                sender.send_all(fleet.devices, lambda d: filter(None, [fleet.live_batch(d, now, live_interval, round_no)]),
                                lambda _: progress.advance(task))
    except SimulationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    st = sender.stats
    typer.echo(f"sent {st.batches} batches: {st.events} events, {st.heartbeats} heartbeats, {st.feedback} answers, "
               f"{st.usage} app-time totals ({st.accepted} accepted, {st.duplicates} duplicates, {st.retries} retries) to {collector}"
               + (f"; {st.tickets} service-desk tickets ({st.tickets_stored} new or changed)" if support_token else ""))
