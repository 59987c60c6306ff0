"""Tiny real datasets for tests: write the docs/contract.md §2 input files from Python rows."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import polars as pl

from campaign_analytics.published.manifest import ROLLUPS, PublishedBuild
from campaign_analytics.serve.store import RollupStore

REPO = Path(__file__).resolve().parents[2]
VISIBLE = REPO / "data" / "visible"

METRIC_COLUMNS = (
    "metric_date",
    "campaign_id",
    "creator_id",
    "impressions",
    "clicks",
    "conversions",
    "spend",
    "revenue",
)


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(["" if v is None else v for v in row] for row in rows)
    return path


def write_dataset(
    folder: Path,
    *,
    campaigns: Iterable[Sequence[object]] = (("cmp-1", "One"),),
    creators: Iterable[Sequence[object]] = (("crt-1", "Ann"),),
    metrics: Iterable[Sequence[object]] = (),
    benchmarks: Mapping[str, object] | None = None,
) -> Path:
    """A DATA_DIR with the three CSV files (and benchmarks.json when given)."""
    write_csv(folder / "campaigns.csv", ("campaign_id", "campaign_name"), campaigns)
    write_csv(folder / "creators.csv", ("creator_id", "creator_name"), creators)
    write_csv(folder / "campaign_daily_metrics.csv", METRIC_COLUMNS, metrics)
    if benchmarks is not None:
        (folder / "benchmarks.json").write_text(json.dumps(benchmarks), encoding="utf-8")
    return folder


def copy_visible(folder: Path) -> Path:
    shutil.copytree(VISIBLE, folder)
    return folder


def unverified_store(build: PublishedBuild) -> RollupStore:
    """The build's rollups as they are on disk, prepared without verification: tests of the
    store itself (the service only serves `RollupStore.verified`)."""
    frames = {name: pl.concat(map(pl.read_parquet, build.rollup_parts(name))) for name in ROLLUPS}
    return RollupStore.of_frames(build, frames)
