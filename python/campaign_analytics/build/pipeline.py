"""The batch build: validated sources -> SQL -> checked rollups -> Parquet, published atomically.

    open_sources(DATA_DIR)             sources.py: small tables checked, the metrics scan planned
      -> compute()                     engines/polars.py: the metrics split by campaign range, then
                                       per part each SQL file's rollup CTE + the audit + data
                                       quality; bad cells raise here; check_rollups() (unique
                                       keys, order, reconciliation) per part; Parquet parts
                                       written into a staging folder under builds/
      -> publish_staged()              manifest last, then swap `current`

Each `sql/<rollup>.sql` is one statement, written for two uses (docs/contract.md §3a): standalone in DuckDB
with `?` parameters, for one campaign, and here, for every campaign. Its last CTE, named after
the file, is the all-campaign rollup; a marked final select below it takes the parameters. The
build runs the verbatim text above the marker followed by `select * from <rollup>` (polars SQL
takes no placeholders), and reads the rollup's key and row order from the file's header.

A failed build removes its own staging folder and never touches `current`, so the build being
served stays byte-for-byte as it was; into a ROLLUP_DIR it had to make, it leaves nothing at all.
Builds of one ROLLUP_DIR are serialised with a file lock.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from campaign_analytics import __version__
from campaign_analytics.build.engines.polars import Computed, compute
from campaign_analytics.build.publish import exclusive, publish_staged, staging_folder
from campaign_analytics.build.quality import check_quality
from campaign_analytics.build.sources import Sources, open_sources
from campaign_analytics.build.sql import RollupSql, read_sql
from campaign_analytics.errors import ConfigError
from campaign_analytics.published.manifest import (
    SCHEMA_VERSION,
    SQL_DIR,
    PublishedBuild,
    describe_input,
    find_published,
    rebuild_reason,
    sha256_file,
    sql_files,
)


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


ENGINES = ("polars", "spark")


def build(
    data_dir: Path | str,
    rollup_dir: Path,
    *,
    dataset: str | None = None,
    only_if_stale: bool = False,
    sql_dir: Path = SQL_DIR,
    progress: Callable[[str], None] | None = None,
    max_ratios: Mapping[str, float] | None = None,
    engine: str = "polars",
    spark_master: str | None = None,
    part_rows: int | None = None,
) -> BuildResult:
    """Build the rollups of `data_dir` and publish them under `rollup_dir`.

    `progress` is told the name of each step as it starts (the CLI prints them with times);
    `max_ratios` (quality.py) turns data-quality counts into a failure before anything is published.
    `engine` "spark" runs the same SQL on Spark (engines/spark.py; `data_dir` may then be a URI
    Spark reads), on `spark_master` or in local mode. `part_rows`: about how many metrics rows
    the default engine puts in one part (engines/polars.py, PART_ROWS when None; 1 makes a part
    of every campaign)."""
    if engine not in ENGINES:
        raise ConfigError(f"unknown build engine {engine!r}; choose one of {', '.join(ENGINES)}")
    step = progress or (lambda _: None)
    started = time.perf_counter()
    step("waiting for the rollup folder's lock")
    with exclusive(rollup_dir):
        if only_if_stale and isinstance(data_dir, Path):
            published = find_published(rollup_dir)
            # stale or damaged outputs are both a reason to build (a truncated Parquet in `current`)
            if published is not None and rebuild_reason(published, data_dir, sql_dir) is None:
                return BuildResult(published, time.perf_counter() - started, skipped=True)
        queries = read_sql(sql_dir)
        if engine == "spark":
            return _build_on_spark(data_dir, rollup_dir, dataset, sql_dir, queries, step, max_ratios, spark_master)
        if not isinstance(data_dir, Path):
            raise ConfigError(f"{data_dir}: the default engine reads local folders; --engine spark reads URIs")
        step("reading the small tables, opening the metrics")
        sources = open_sources(data_dir)
        with staging_folder(rollup_dir) as staging:
            # the rollups are checked (keys, order, reconciliation) and written part by part
            computed = compute(sources, staging, sql_dir, queries, part_rows=part_rows, progress=step)
            published = _publish(rollup_dir, staging, data_dir, dataset, sql_dir, sources, computed, max_ratios, step)
    return BuildResult(published, time.perf_counter() - started)


def _publish(
    rollup_dir: Path,
    staging: Path,
    data_dir: Path,
    dataset: str | None,
    sql_dir: Path,
    sources: Sources,
    computed: Computed,
    max_ratios: Mapping[str, float] | None,
    step: Callable[[str], None],
) -> PublishedBuild:
    """The manifest of a computed build, then its staging folder published."""
    check_quality(computed.data_quality, computed.metric_rows, max_ratios or {})
    rows = {
        "campaigns": sources.campaigns.height,
        "creators": sources.creators.height,
        "campaign_daily_metrics": computed.metric_rows,
    }
    inputs = {name: describe_input(path) | {"rows": rows[name]} for name, path in sources.files.items()}
    manifest = _manifest(dataset or data_dir.resolve().name, inputs, sql_dir, computed.data_quality, "polars", {})
    step("publishing")
    return publish_staged(rollup_dir, staging, computed.parts, manifest)


def _build_on_spark(
    data_dir: Path | str,
    rollup_dir: Path,
    dataset: str | None,
    sql_dir: Path,
    queries: dict[str, RollupSql],
    step: Callable[[str], None],
    max_ratios: Mapping[str, float] | None,
    master: str | None,
) -> BuildResult:
    """The Spark engine's build (called holding the rollup folder's lock): Spark writes each
    rollup's Parquet parts into a staging folder under builds/, and that folder is published as
    it is (its parts listed in key order); it goes away when anything fails."""
    started = time.perf_counter()
    try:
        from campaign_analytics.build.engines import spark as engine
    except ImportError as exc:  # the optional extra is not installed
        raise ConfigError(
            f"--engine spark needs the spark extra (pip install 'campaign-analytics[spark]') and Java 17: {exc}"
        ) from None
    engine.require()
    step("starting Spark")
    spark = engine.session(master)
    with staging_folder(rollup_dir) as staging:
        computed = engine.compute(spark, data_dir, queries, staging, step)
        check_quality(computed.data_quality, computed.rows["campaign_daily_metrics"], max_ratios or {})
        name = dataset or _folder_name(data_dir)
        manifest = _manifest(name, computed.inputs, sql_dir, computed.data_quality, "spark", computed.versions)
        step("publishing the parts Spark wrote")
        published = publish_staged(rollup_dir, staging, computed.parts, manifest)
    return BuildResult(published, time.perf_counter() - started)


def _folder_name(data_dir: Path | str) -> str:
    return data_dir.resolve().name if isinstance(data_dir, Path) else data_dir.rstrip("/").rsplit("/", 1)[-1]


def _manifest(
    dataset: str,
    inputs: dict[str, Any],
    sql_dir: Path,
    data_quality: dict[str, int],
    engine: str,
    versions: dict[str, str],
) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "dataset": dataset,
        "engine": engine,
        "inputs": inputs,
        "sql": {name: sha256_file(path) for name, path in sql_files(sql_dir).items()},
        "data_quality": data_quality,
        "versions": {
            "campaign_analytics": __version__,
            "python": platform.python_version(),
            "polars": pl.__version__,
            **versions,
        },
    }
