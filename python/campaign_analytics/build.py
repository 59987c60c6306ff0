"""The batch build: validated sources -> SQL -> checked rollups -> Parquet, published atomically.

    read_sources(DATA_DIR)             sources.py: typed tables, or InvalidSourceData
      -> run_sql()                     one polars SQL file per rollup, all campaigns in one pass
      -> check_rollups()               unique keys; creators and days reconcile with the totals
      -> publish()                     new folder under builds/, manifest last, then swap `current`

A failed build removes its own staging folder and never touches `current`, so the build being
served stays byte-for-byte as it was. Builds of one ROLLUP_DIR are serialised with a file lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from campaign_analytics import __version__
from campaign_analytics.errors import BuildError, InvalidSourceData
from campaign_analytics.manifest import (
    BUILDS_DIR,
    CURRENT_LINK,
    MANIFEST_FILE,
    ROLLUPS,
    SCHEMA_VERSION,
    SQL_DIR,
    PublishedBuild,
    describe_input,
    find_published,
    is_current,
    sha256_file,
    sql_files,
)
from campaign_analytics.sources import Sources, read_sources

# The key of each rollup: checked unique before anything is published.
ROLLUP_KEYS: dict[str, tuple[str, ...]] = {
    "campaign_performance": ("campaign_id",),
    "top_creators": ("campaign_id", "creator_id"),
    "daily_anomalies": ("campaign_id", "metric_date"),
}
# The base metrics every rollup carries as exact totals; they must reconcile across rollups.
BASE_TOTALS = (
    "total_impressions",
    "total_clicks",
    "total_conversions",
    "total_spend_micros",
    "total_revenue_micros",
)
KEEP_OLD_BUILDS = 1  # besides `current`, keep the one before it for readers still holding it


@dataclass(frozen=True)
class BuildResult:
    build: PublishedBuild
    seconds: float
    skipped: bool = False

    def summary(self) -> str:
        manifest = self.build.manifest
        if self.skipped:
            return f"up to date: build {self.build.build_id} already answers for these inputs ({self.build.path})"
        rows_in = ", ".join(f"{k} {v['rows']}" for k, v in manifest["inputs"].items())
        rows_out = ", ".join(f"{k} {v['rows']}" for k, v in manifest["outputs"].items())
        quality = ", ".join(f"{k} {v}" for k, v in manifest["data_quality"].items() if v)
        return "\n".join(
            [
                f"published build {self.build.build_id} in {self.seconds:.2f} s",
                f"  rows in:  {rows_in}",
                f"  rows out: {rows_out}",
                f"  data quality: {quality or 'no findings'}",
                f"  at: {self.build.path}",
            ]
        )


def build(
    data_dir: Path,
    rollup_dir: Path,
    *,
    dataset: str | None = None,
    only_if_stale: bool = False,
    sql_dir: Path = SQL_DIR,
) -> BuildResult:
    """Build the rollups of `data_dir` and publish them under `rollup_dir`."""
    started = time.perf_counter()
    rollup_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive(rollup_dir):
        if only_if_stale:
            published = find_published(rollup_dir)
            if published is not None and is_current(published, data_dir, sql_dir):
                return BuildResult(published, time.perf_counter() - started, skipped=True)
        sources = read_sources(data_dir)
        rollups = run_sql(sources, sql_dir)
        check_rollups(rollups)
        inputs = {name: describe_input(path) | {"rows": _rows(sources, name)} for name, path in sources.files.items()}
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "dataset": dataset or data_dir.resolve().name,
            "inputs": inputs,
            "sql": {name: sha256_file(path) for name, path in sql_files(sql_dir).items()},
            "data_quality": data_quality(sources),
            "versions": {
                "campaign_analytics": __version__,
                "python": platform.python_version(),
                "polars": pl.__version__,
            },
        }
        published = publish(rollup_dir, rollups, manifest)
    return BuildResult(published, time.perf_counter() - started)


def run_sql(sources: Sources, sql_dir: Path = SQL_DIR) -> dict[str, pl.DataFrame]:
    """Run every rollup's SQL file over the sources; totals come back as exact Int64."""
    context = pl.SQLContext(
        campaigns=sources.campaigns.lazy(),
        creators=sources.creators.lazy(),
        metrics=sources.metrics.lazy(),
    )
    plans = [context.execute(path.read_text(encoding="utf-8")) for path in sql_files(sql_dir).values()]
    frames = pl.collect_all(plans)
    return {name: _narrow_totals(name, frame) for name, frame in zip(ROLLUPS, frames, strict=True)}


def _narrow_totals(name: str, frame: pl.DataFrame) -> pl.DataFrame:
    """The SQL sums in hugeint so nothing wraps; a total that does not fit Int64 is bad input."""
    wide = [c for c, t in frame.schema.items() if t == pl.Int128]
    try:
        return frame.with_columns(pl.col(wide).cast(pl.Int64, strict=True))
    except pl.exceptions.InvalidOperationError:
        raise InvalidSourceData(
            f"campaign_daily_metrics: a total in {name} exceeds 2^63-1 (in micros for money); "
            "the input values are too large to add up exactly"
        ) from None


def check_rollups(rollups: dict[str, pl.DataFrame]) -> None:
    """Refuse to publish rollups whose keys repeat or whose totals disagree with each other."""
    for name, key in ROLLUP_KEYS.items():
        frame = rollups[name]
        if frame.select(pl.struct(key).is_duplicated().any()).item():
            raise BuildError(f"{name}: key ({', '.join(key)}) is not unique")
    if rollups["top_creators"].select(pl.struct("campaign_id", "rank").is_duplicated().any()).item():
        raise BuildError("top_creators: (campaign_id, rank) is not unique")
    campaigns = rollups["campaign_performance"].select("campaign_id", *BASE_TOTALS)
    for name in ("top_creators", "daily_anomalies"):
        sums = rollups[name].group_by("campaign_id").agg(pl.col(BASE_TOTALS).sum())
        joined = campaigns.join(sums, on="campaign_id", how="full", suffix="_parts", coalesce=True)
        for total in BASE_TOTALS:
            # A campaign with no rows in `name` must have zero totals.
            off = joined.filter(pl.col(total).fill_null(-1) != pl.col(f"{total}_parts").fill_null(0))
            if off.height:
                row = off.row(0, named=True)
                raise BuildError(
                    f"reconciliation failed: campaign {row['campaign_id']!r} {total} is {row[total]} "
                    f"in campaign_performance but {name} adds up to {row[f'{total}_parts']}"
                )


def data_quality(sources: Sources) -> dict[str, int]:
    """Counts of what the build accepted but an analyst should know about (SPEC §2)."""
    metrics = sources.metrics
    campaign_ids = sources.campaigns.select("campaign_id")
    known = metrics.join(campaign_ids, on="campaign_id", how="semi")
    orphans = metrics.join(campaign_ids, on="campaign_id", how="anti")
    unknown_creators = known.join(sources.creators.select("creator_id"), on="creator_id", how="anti")
    keys = known.select(pl.struct("metric_date", "campaign_id", "creator_id").alias("key"))["key"]
    repeated = keys.is_duplicated()
    return {
        "orphan_campaign_rows": orphans.height,
        "orphan_campaign_ids": orphans["campaign_id"].n_unique(),
        "unknown_creator_rows": unknown_creators.height,
        "unknown_creator_ids": unknown_creators["creator_id"].n_unique(),
        "clicks_above_impressions_rows": known.filter(pl.col("clicks") > pl.col("impressions")).height,
        "conversions_above_clicks_rows": known.filter(pl.col("conversions") > pl.col("clicks")).height,
        "duplicate_key_rows_summed": int(repeated.sum()),
        "duplicate_keys": keys.filter(repeated).n_unique(),
    }


def _rows(sources: Sources, table: str) -> int:
    return {
        "campaigns": sources.campaigns.height,
        "creators": sources.creators.height,
        "campaign_daily_metrics": sources.metrics.height,
    }[table]


# --- publishing ----------------------------------------------------------------------------


def publish(rollup_dir: Path, rollups: dict[str, pl.DataFrame], manifest: dict[str, Any]) -> PublishedBuild:
    """Write a complete build beside the current one, then point `current` at it in one rename."""
    builds = rollup_dir / BUILDS_DIR
    builds.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=builds))
    staging.chmod(0o755)  # mkdtemp makes it private; a published build is readable by the service user
    link_tmp: Path | None = None
    try:
        outputs = {}
        for name in ROLLUPS:
            path = staging / f"{name}.parquet"
            write_rollup(rollups[name], path)
            outputs[name] = {"file": path.name, "rows": rollups[name].height, "sha256": sha256_file(path)}
        content = hashlib.sha256(
            json.dumps([manifest["inputs"], manifest["sql"], outputs], sort_keys=True, default=str).encode()
        ).hexdigest()
        now = datetime.now(UTC)
        build_id = f"{now:%Y%m%dT%H%M%S%fZ}-{content[:10]}"
        full = {**manifest, "build_id": build_id, "built_at": now.isoformat(timespec="seconds"), "outputs": outputs}
        _write_durably(staging / MANIFEST_FILE, json.dumps(full, indent=2, sort_keys=False).encode() + b"\n")
        final = builds / build_id
        os.rename(staging, final)
        link_tmp = rollup_dir / f".{CURRENT_LINK}-{build_id}"
        os.symlink(Path(BUILDS_DIR) / build_id, link_tmp)
        os.replace(link_tmp, rollup_dir / CURRENT_LINK)  # the atomic step
        link_tmp = None
        _fsync_dir(rollup_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if link_tmp is not None:
            link_tmp.unlink(missing_ok=True)
        raise
    _prune(builds, keep=final)
    return PublishedBuild(final, full)


def write_rollup(frame: pl.DataFrame, path: Path) -> None:
    frame.write_parquet(path, compression="zstd", statistics=True)
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def _write_durably(path: Path, data: bytes) -> None:
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _prune(builds: Path, keep: Path) -> None:
    """Drop builds older than the newest KEEP_OLD_BUILDS before `keep`, and stale staging folders."""
    older = sorted(
        (p for p in builds.iterdir() if p.is_dir() and p != keep and not p.name.startswith(".")), reverse=True
    )
    for path in older[KEEP_OLD_BUILDS:]:
        shutil.rmtree(path, ignore_errors=True)
    for path in builds.glob(".staging-*"):
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def _exclusive(rollup_dir: Path) -> Iterator[None]:
    with (rollup_dir / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
