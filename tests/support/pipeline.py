"""The build's steps one at a time, for tests that look at a single step.

Production runs them together inside `build.build()` (part by part); these two helpers
stop early so a test can check the typed sources or the rollups without publishing anything.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import polars as pl

from campaign_analytics.build.engines.polars import compute
from campaign_analytics.build.sources import Sources, open_sources
from campaign_analytics.published.manifest import SQL_DIR


def read_sources(data_dir: Path) -> Sources:
    """`open_sources`, with the metrics audit collected and checked (raises InvalidSourceData)."""
    sources = open_sources(data_dir)
    try:
        audit = sources.audit.collect().row(0, named=True)
    except pl.exceptions.PolarsError as exc:
        raise sources.explain_scan_error(exc) from None
    sources.check_audit(audit)
    return sources


def run_sql(sources: Sources, sql_dir: Path = SQL_DIR, *, part_rows: int | None = None) -> dict[str, pl.DataFrame]:
    """The rollups alone, as the build computes them (its parts read back and concatenated)."""
    with tempfile.TemporaryDirectory() as staging:
        computed = compute(sources, Path(staging), sql_dir, part_rows=part_rows)
        return {
            name: pl.concat([pl.read_parquet(Path(staging) / part) for part in parts], how="vertical", rechunk=True)
            for name, parts in computed.parts.items()
        }
