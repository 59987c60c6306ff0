"""The batch build: validated sources -> SQL -> checked rollups -> Parquet, published atomically.

    open_sources(DATA_DIR)             sources.py: small tables checked, the metrics scan planned
      -> compute()                     each SQL file's rollup CTE + the audit + data quality,
                                       all campaigns in one streaming pass; bad cells raise here
      -> check_rollups()               unique keys; creators and days reconcile with the totals
      -> publish()                     new folder under builds/, manifest last, then swap `current`

Each `sql/<rollup>.sql` is one statement, written for two uses (SPEC §3a): standalone in DuckDB
with `?` parameters, for one campaign, and here, for every campaign. Its last CTE, named after
the file, is the all-campaign rollup; a marked final select below it takes the parameters. The
build runs the verbatim text above the marker followed by `select * from <rollup>` (polars SQL
takes no placeholders), and reads the rollup's key and row order from the file's header.

A failed build removes its own staging folder and never touches `current`, so the build being
served stays byte-for-byte as it was. Builds of one ROLLUP_DIR are serialised with a file lock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
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
    ROLLUP_ORDER,
    ROLLUPS,
    SCHEMA_VERSION,
    SQL_DIR,
    PublishedBuild,
    describe_input,
    find_published,
    rebuild_reason,
    sha256_file,
    sql_files,
)
from campaign_analytics.quality import check_quality
from campaign_analytics.sources import Sources, open_sources

# The line that ends a SQL file's all-campaign part; what follows is the per-campaign select.
PER_CAMPAIGN_MARKER = "-- per-campaign select"
_HEADER_RE = re.compile(r"^-- (key|order):[ ]*(\w+(?:, \w+)*)[ ]*$", re.MULTILINE)


@dataclass(frozen=True)
class RollupSql:
    """One SQL file, as the build uses it.

    `key` (`-- key:` header) is checked unique before publishing; `order` (`-- order:` header,
    unique too) is the order rows are written in, which the service relies on.
    """

    name: str
    path: Path
    key: tuple[str, ...]
    order: tuple[str, ...]
    rollup_query: str  # the text above the marker, verbatim, then `select * from <name>`

    @classmethod
    def read(cls, name: str, path: Path) -> RollupSql:
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines(keepends=True)
        marks = [i for i, line in enumerate(lines) if line.startswith(PER_CAMPAIGN_MARKER)]
        if len(marks) != 1:
            raise BuildError(f"{path.name}: needs exactly one line starting {PER_CAMPAIGN_MARKER!r}")
        headers: dict[str, tuple[str, ...]] = {}
        for field, columns in _HEADER_RE.findall(text):
            if field in headers:
                raise BuildError(f"{path.name}: more than one '-- {field}:' header")
            headers[field] = tuple(columns.split(", "))
        missing = [f"-- {field}:" for field in ("key", "order") if field not in headers]
        if missing:
            raise BuildError(f"{path.name}: no {' or '.join(missing)} header (a comma-separated column list)")
        above = "".join(lines[: marks[0]])
        return cls(name, path, headers["key"], headers["order"], f"{above}select * from {name}\n")


def read_sql(sql_dir: Path = SQL_DIR) -> dict[str, RollupSql]:
    return {name: RollupSql.read(name, sql_dir / f"{name}.sql") for name in ROLLUPS}


def __getattr__(name: str) -> Any:
    """`ROLLUP_KEYS`: each rollup's key, as its SQL file's header says (the golden files are
    sorted by it). Read when asked for (PEP 562), so importing this module reads no file."""
    if name == "ROLLUP_KEYS":
        return {rollup: sql.key for rollup, sql in read_sql().items()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# The base metrics every rollup carries as exact totals; they must reconcile across rollups.
BASE_TOTALS = (
    "total_impressions",
    "total_clicks",
    "total_conversions",
    "total_spend_micros",
    "total_revenue_micros",
)
# Besides `current`, keep the build before it: for readers still holding it, and for the
# service to fall back to when the newest build fails verification.
KEEP_OLD_BUILDS = 1
_INT64_MAX = 2**63 - 1  # the largest total a rollup column (Int64) can hold


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
    progress: Callable[[str], None] | None = None,
    max_ratios: Mapping[str, float] | None = None,
) -> BuildResult:
    """Build the rollups of `data_dir` and publish them under `rollup_dir`.

    `progress` is told the name of each step as it starts (the CLI prints them with times);
    `max_ratios` (quality.py) turns data-quality counts into a failure before anything is published."""
    step = progress or (lambda _: None)
    started = time.perf_counter()
    rollup_dir.mkdir(parents=True, exist_ok=True)
    step("waiting for the rollup folder's lock")
    with _exclusive(rollup_dir):
        if only_if_stale:
            published = find_published(rollup_dir)
            # stale or damaged outputs are both a reason to build (a truncated Parquet in `current`)
            if published is not None and rebuild_reason(published, data_dir, sql_dir) is None:
                return BuildResult(published, time.perf_counter() - started, skipped=True)
        step("reading the small tables, opening the metrics")
        sources = open_sources(data_dir)
        step("running the SQL, the audit and the data-quality counts (one streaming pass)")
        queries = read_sql(sql_dir)
        computed = compute(sources, sql_dir, queries)
        step("checking the rollups (keys, order, reconciliation)")
        check_rollups(computed.rollups, queries)
        check_quality(computed.data_quality, computed.metric_rows, max_ratios or {})
        rows = {
            "campaigns": sources.campaigns.height,
            "creators": sources.creators.height,
            "campaign_daily_metrics": computed.metric_rows,
        }
        inputs = {name: describe_input(path) | {"rows": rows[name]} for name, path in sources.files.items()}
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "dataset": dataset or data_dir.resolve().name,
            "inputs": inputs,
            "sql": {name: sha256_file(path) for name, path in sql_files(sql_dir).items()},
            "data_quality": computed.data_quality,
            "versions": {
                "campaign_analytics": __version__,
                "python": platform.python_version(),
                "polars": pl.__version__,
            },
        }
        step("writing Parquet and publishing")
        published = publish(rollup_dir, computed.rollups, manifest)
    return BuildResult(published, time.perf_counter() - started)


@dataclass(frozen=True)
class Computed:
    rollups: dict[str, pl.DataFrame]
    data_quality: dict[str, int]
    metric_rows: int


def compute(sources: Sources, sql_dir: Path = SQL_DIR, queries: dict[str, RollupSql] | None = None) -> Computed:
    """Every rollup's SQL, the metrics audit and the data-quality counts, in one streaming pass.

    The three SQL plans, the audit and the data-quality plan share one scan of the metrics
    file; polars runs them together on its streaming engine, so memory follows the size of the
    aggregates, not of the input. Nothing is trusted until the audit says every cell was valid.

    The SQL sees `campaign_daily_metrics` typed by sources.py, with money as `Decimal(38, 6)`
    (what its `cast(... as decimal(38, 6))` then leaves as it is). Ids stay strings: the SQL
    groups first and joins the known campaigns after, so an Enum of campaign ids (which paid
    off when the join came first) now cost 16 % more CPU and 0.5 GB more peak memory at 10M rows.
    """
    queries = queries or read_sql(sql_dir)
    context = pl.SQLContext(
        campaigns=sources.campaigns.lazy(),
        creators=sources.creators.lazy(),
        campaign_daily_metrics=sources.metric_rows,
    )
    plans = [context.execute(sql.rollup_query).sort(sql.order) for sql in queries.values()]
    try:
        *frames, audit, quality = pl.collect_all(
            [*plans, sources.audit, quality_plan(sources)],
            engine="streaming",
        )
    except pl.exceptions.PolarsError as exc:  # the metrics file could not be parsed
        raise sources.explain_scan_error(exc) from None
    audit_row = audit.row(0, named=True)
    sources.check_audit(audit_row)
    _check_sums_fit(audit_row)
    return Computed(
        rollups={
            name: frame.with_columns(pl.col(pl.Int128).cast(pl.Int64))
            for name, frame in zip(queries, frames, strict=True)
        },
        data_quality={k: int(v) for k, v in quality.row(0, named=True).items()},
        metric_rows=int(audit_row["rows"]),
    )


def _check_sums_fit(audit: dict[str, int]) -> None:
    """Every total is a sum of non-negative values, so none exceeds its column's grand total:
    if each grand total fits Int64, so does every rollup total. Checked on the audit's sums."""
    for key, total in audit.items():
        if key.startswith("sum_") and total is not None and total > _INT64_MAX:
            raise InvalidSourceData(
                f"campaign_daily_metrics: the {key.removeprefix('sum_')} column adds up to {total}, "
                f"more than 2^63-1; the input values are too large to add up exactly"
            )


def check_rollups(rollups: dict[str, pl.DataFrame], queries: dict[str, RollupSql] | None = None) -> None:
    """Refuse to publish rollups whose keys repeat or whose totals disagree with each other."""
    for name, sql in (queries or read_sql()).items():
        if sql.order != ROLLUP_ORDER[name]:  # what the service verifies and relies on (manifest.py)
            raise BuildError(f"{sql.path.name}: '-- order:' is {sql.order}; the service reads {ROLLUP_ORDER[name]}")
        frame = rollups[name]
        unique = {sql.key: "key ", sql.order: ""}  # one check when the order is the key
        for columns, what in unique.items():
            if frame.select(pl.struct(columns).is_duplicated().any()).item():
                raise BuildError(f"{name}: {what}({', '.join(columns)}) is not unique")
        if not frame.select(sql.order).equals(frame.select(sql.order).sort(sql.order)):
            raise BuildError(f"{name}: rows are not in ({', '.join(sql.order)}) order; the service relies on it")
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


def quality_plan(sources: Sources) -> pl.LazyFrame:
    """One row of counts an analyst should know about, accepted by the build (SPEC §2).

    Rows of unknown campaigns are counted (and excluded by the SQL); the other counts are
    over rows of known campaigns. `duplicate_key_rows_summed` is rows minus distinct
    (date, campaign, creator) keys: the rows that were added into another. Distinct keys are
    counted by their 64-bit hash, so the streaming pass holds 8 bytes per key, not the key.
    """
    known = pl.col("campaign_id").is_in(sources.campaigns["campaign_id"].implode())
    known_creator = pl.col("creator_id").is_in(sources.creators["creator_id"].implode())
    unknown_creator = known & ~known_creator
    counts = sources.metric_rows.select(
        orphan_campaign_rows=(~known).sum(),
        orphan_campaign_ids=pl.col("campaign_id").filter(~known).n_unique(),
        unknown_creator_rows=unknown_creator.sum(),
        unknown_creator_ids=pl.col("creator_id").filter(unknown_creator).n_unique(),
        clicks_above_impressions_rows=(known & (pl.col("clicks") > pl.col("impressions"))).sum(),
        conversions_above_clicks_rows=(known & (pl.col("conversions") > pl.col("clicks"))).sum(),
    )
    # sorted key hashes: a row whose hash equals the previous one repeats an earlier key
    # (a sort of 8-byte values: half the time and 60 % of the memory of a distinct count)
    hashes = sources.metric_rows.filter(known).select(
        key=pl.struct("metric_date", "campaign_id", "creator_id").hash(seed=0).sort()
    )
    repeats = hashes.select(duplicate_key_rows_summed=(pl.col("key") == pl.col("key").shift(1)).sum())
    return pl.concat([counts, repeats], how="horizontal")


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
    try:
        frame.write_parquet(path, compression="zstd", statistics=True)
    except pl.exceptions.PolarsError as exc:  # polars reports a full disk as its own error type
        if "os error 28" in str(exc) or "No space left" in str(exc):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from None
        raise
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
