"""The visible sample's rollups, rebuilt, equal the committed golden CSVs (make golden rewrites)."""

from __future__ import annotations

import pytest

from campaign_analytics.build.pipeline import BuildResult
from tests.golden import GOLDEN_DIR, render


@pytest.mark.parametrize("name", ["campaign_performance.csv", "top_creators.csv", "daily_anomalies.csv"])
def test_visible_rollups_match_the_golden_snapshot(visible_build: BuildResult, name: str) -> None:
    expected = (GOLDEN_DIR / name).read_text(encoding="utf-8")
    assert render(visible_build.build)[name] == expected, f"{name} changed: run `make golden` and review the diff"
