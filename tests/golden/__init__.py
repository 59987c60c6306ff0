"""Golden rollups of the visible sample, as CSV a reviewer can read in a diff.

`make golden` (python -m tests.golden --write) rebuilds data/visible and rewrites the files;
tests/test_golden.py rebuilds and compares, so any change in any number shows up in review.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from campaign_analytics.build.sql import ROLLUP_KEYS
from campaign_analytics.published.manifest import ROLLUPS, PublishedBuild

GOLDEN_DIR = Path(__file__).resolve().parent / "visible"


def render(build: PublishedBuild) -> dict[str, str]:
    """Each rollup as CSV text, rows in key order."""
    out = {}
    for name in ROLLUPS:
        frame = pl.read_parquet(build.rollup_parts(name)).sort(ROLLUP_KEYS[name])
        out[f"{name}.csv"] = frame.write_csv(float_precision=None)
    return out
