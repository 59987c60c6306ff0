"""Shared by the tests of a running service that picks up new builds (test_pick_up.py and
test_serving.py): settings that look at `current` often and a new version of the visible inputs."""

from __future__ import annotations

from pathlib import Path

from campaign_analytics.settings import Settings
from tests.support.api import settings_for


def watching_settings(data: Path, rollups: Path) -> Settings:
    """Serving `data` from `rollups`, looking at `current` every 50 ms."""
    return settings_for(rollups, data / "benchmarks.json", data=data, rollup_check_seconds=0.05)


def add_clicks(data: Path, clicks: int) -> None:
    """A new version of the inputs: one more cmp-001 row with `clicks` clicks."""
    path = data / "campaign_daily_metrics.csv"
    path.write_text(path.read_text() + f"2026-01-09,cmp-001,crt-001,{clicks},{clicks},0,0,\n")
