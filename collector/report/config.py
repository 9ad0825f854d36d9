"""The ``[report]`` table of the collector config."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from contract import MIN_GROUP_SIZE
from contract.settings import setting


@dataclass
class ReportSettings:
    """Settings of the weekly impact report."""

    company: str = setting("", doc="company name shown in the report title")
    min_group_size: int = setting(MIN_GROUP_SIZE, min=1, max=1000, doc="sites and departments with fewer devices "
                                  "are merged into 'other' in the report, on /metrics and so on the dashboards")
    top_apps: int = setting(10, min=1, max=100, doc="applications listed by lost time")
    min_focus_hours: float = setting(10.0, min=0, max=100_000, doc="an application's rates per hour of use "
                                     "(disruptions per 100 h, lost minutes per hour) are shown when employees "
                                     "used it at least this many hours in the week, else 'not enough use'")
    repeat_threshold: int = setting(5, min=2, max=10_000, doc="a device with this many disruptions in the week has repeated problems")
    repeat_devices: int = setting(10, min=1, max=100, doc="devices with repeated problems listed")
    pseudonym_key: str = setting("", doc="secret for the devices' pseudonyms (a keyed hash); empty: a new random key per report")
    mail_from: str = setting("hinder@localhost", doc="sender address of mailed reports")
    timezone: str = setting("UTC", doc="IANA time zone of the report's weeks and heat map, e.g. Europe/Paris")

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone: {self.timezone!r} is not an IANA time zone such as Europe/Paris") from None

    @property
    def zone(self) -> ZoneInfo:
        """The report's time zone."""
        return ZoneInfo(self.timezone)
