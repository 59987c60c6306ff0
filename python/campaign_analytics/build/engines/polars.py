"""The default engine: the SQL files in polars, in memory that follows a part of the campaigns.

One streaming pass over all the metrics cannot keep memory down: polars' streaming group-by
pre-aggregates only a small table of frequent keys and keeps the rows of the others until its
input ends, so grouping by (campaign, creator) and by (campaign, day) holds memory per input row
(about 145 bytes at 10M rows). Every rollup is per campaign (each key starts with campaign_id,
top_creators ranks within a campaign), so the build splits the campaigns instead:

    split      one streaming pass copies the metrics rows, as read, into Arrow IPC files in a
               work folder: file k holds the rows of the campaigns in the k-th range of the
               sorted known campaign ids, one more file the rows of unknown campaigns
    per part   the audit, the data-quality counts and the three SQL files (with that range's
               campaigns) run over one file, collected together on the streaming engine; the
               part's rollups are checked (checks.py) and written as its Parquet part files

The ranges are in campaign_id order, so each rollup's parts, listed in range order, are the
rollup in key order. Memory follows the largest part (about `part_rows` metrics rows: the
ranges hold equal numbers of campaigns), not the input; the price is writing the metrics once
more (as uncompressed IPC, the cheapest format to write and read back).

Nothing is trusted until the audit says every cell was valid: each part's audit is checked
before its rollups are, and a bad cell anywhere is reported by file, line and column, as
`Sources.check_audit` finds it in the input file itself.
"""

from __future__ import annotations

import math
import shutil
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from campaign_analytics.build import publish
from campaign_analytics.build.checks import check_rollups
from campaign_analytics.build.sources import METRICS, Sources
from campaign_analytics.build.sql import RollupSql, read_sql
from campaign_analytics.errors import InvalidSourceData
from campaign_analytics.published.manifest import SQL_DIR

INT64_MAX = 2**63 - 1  # the largest total a rollup column (Int64) can hold
# Metrics rows per part, aimed at before the split (from the Parquet footer, or the CSV file's
# size): about 0.2 GB of peak memory per part on top of the process (DECISIONS, Build memory).
PART_ROWS = 1_000_000
PARALLEL_PARTS = 2  # parts computed at the same time (each holds its own memory)
_CSV_BYTES_PER_ROW = 40  # a low guess of a CSV metrics row's size, so parts come out smaller, not larger
_WORK_DIR = ".split"


@dataclass(frozen=True)
class Computed:
    parts: dict[str, list[str]]  # each rollup's part files in the staging folder, in key order
    data_quality: dict[str, int]
    metric_rows: int


def compute(
    sources: Sources,
    staging: Path,
    sql_dir: Path = SQL_DIR,
    queries: dict[str, RollupSql] | None = None,
    *,
    part_rows: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> Computed:
    """Every rollup's SQL, the metrics audit and the data-quality counts, part by part; each
    rollup written into `staging` as Parquet part files (one per range of campaigns, each range
    about `part_rows` metrics rows, PART_ROWS by default; 1 makes a part of every campaign).

    The SQL sees `campaign_daily_metrics` typed by sources.py, with money as `Decimal(38, 6)`
    (what its `cast(... as decimal(38, 6))` then leaves as it is). Ids stay strings: the SQL
    groups first and joins the known campaigns after.
    """
    queries = queries or read_sql(sql_dir)
    step = progress or (lambda _: None)
    ranges = campaign_ranges(sources.campaigns["campaign_id"], estimated_rows(sources), part_rows or PART_ROWS)
    work = staging / _WORK_DIR
    work.mkdir()
    try:
        step(f"splitting the metrics by campaign into {len(ranges)} part(s)")
        files = split(sources, ranges, work)
        step("running the SQL, the audit and the data-quality counts, part by part")
        tally = _Tally()
        # the rows of unknown campaigns first: only audited and counted, never in a rollup
        orphans = sources.plan(pl.scan_ipc(files[-1]))
        tally.add(_collect(sources, [orphans.audit, _orphan_counts(orphans.metric_rows)]), sources)
        parts: dict[str, list[str]] = {name: [] for name in queries}
        for index, (audit, counts, unknown_creators, rollups) in enumerate(
            _in_order(lambda i: _compute_part(sources, queries, ranges[i], files[i]), len(ranges))
        ):
            tally.add([audit, counts], sources, unknown_creators["creator_id"])  # bad cells: refused first
            check_rollups(rollups, queries)
            for name, frame in rollups.items():
                if frame.height or (not parts[name] and index == len(ranges) - 1):
                    # every rollup has at least one part; one part keeps the rollup's own name
                    part = f"{name}.parquet" if len(ranges) == 1 else f"{name}-{index:05d}.parquet"
                    publish.write_rollup(frame, staging / part)
                    parts[name].append(part)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Computed(parts=parts, data_quality=tally.data_quality(), metric_rows=tally.rows)


def estimated_rows(sources: Sources) -> int:
    """The metrics rows before reading them: the Parquet footer's count, or a CSV file's size
    over a small row size (so that the estimate errs high and the parts small)."""
    path = sources.files[METRICS.name]
    if path.suffix == ".parquet":
        return int(pl.scan_parquet(path).select(pl.len()).collect().item())
    return path.stat().st_size // _CSV_BYTES_PER_ROW


def campaign_ranges(campaign_ids: pl.Series, rows: int, part_rows: int) -> list[pl.Series]:
    """The known campaign ids, sorted (byte order, as the rollups are) and cut into ranges of
    equal size, enough of them that each holds about `part_rows` of `rows` metrics rows."""
    ids = campaign_ids.sort()
    count = max(1, min(len(ids), math.ceil(rows / max(1, part_rows))))
    size = max(1, math.ceil(len(ids) / count))
    return [ids.slice(start, size) for start in range(0, max(1, len(ids)), size)]


def split(sources: Sources, ranges: list[pl.Series], work: Path) -> list[Path]:
    """One streaming pass: the metrics rows, as read, into one IPC file per range of campaigns
    plus a last one for the rows of campaigns not in campaigns.csv; the files, in that order."""
    orphan = len(ranges)
    # a join to the small table of known ids: `replace_strict` with the same mapping held memory
    # per input row (1.4 GB at 10M rows), the join about 0.2 GB whatever the rows
    part_of = pl.concat(
        [
            pl.DataFrame({"campaign_id": r, "_part": pl.repeat(index, len(r), dtype=pl.UInt32, eager=True)})
            for index, r in enumerate(ranges)
        ]
    )
    keyed = sources.raw.join(part_of.lazy(), on="campaign_id", how="left", maintain_order="none")
    files = [work / f"metrics-{index:05d}.ipc" for index in range(orphan + 1)]
    sinks = [
        keyed.filter(pl.col("_part").fill_null(orphan) == index).drop("_part").sink_ipc(file, lazy=True)
        for index, file in enumerate(files)
    ]
    _collect(sources, sinks)
    return files


_Part = tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, dict[str, pl.DataFrame]]


def _compute_part(sources: Sources, queries: dict[str, RollupSql], ids: pl.Series, file: Path) -> _Part:
    """One range of campaigns: its audit, its counts, its unknown creator ids and its rollups."""
    part = sources.plan(pl.scan_ipc(file))
    campaigns = sources.campaigns.filter(pl.col("campaign_id").is_in(ids.implode()))
    context = pl.SQLContext(
        campaigns=campaigns.lazy(), creators=sources.creators.lazy(), campaign_daily_metrics=part.metric_rows
    )
    plans = [context.execute(sql.rollup_query).sort(sql.order) for sql in queries.values()]
    audit, counts, unknown_creators, *frames = _collect(
        sources, [part.audit, *_known_counts(sources, part.metric_rows), *plans]
    )
    file.unlink()  # the disk a part took is free for the rollups
    rollups = {
        name: frame.with_columns(pl.col(pl.Int128).cast(pl.Int64)) for name, frame in zip(queries, frames, strict=True)
    }
    return audit, counts, unknown_creators, rollups


def _in_order(work: Callable[[int], _Part], count: int) -> Iterator[_Part]:
    """`work(0)`, `work(1)`, ... in order, PARALLEL_PARTS of them running at a time.

    A part's plan runs mostly on one core (measured: CPU time equal to wall time), so two parts
    at once use both cores of a small machine; at most PARALLEL_PARTS results wait in memory."""
    with ThreadPoolExecutor(max_workers=PARALLEL_PARTS) as pool:
        running: deque[Future[_Part]] = deque()
        try:
            for index in range(count):
                running.append(pool.submit(work, index))
                if len(running) == PARALLEL_PARTS:
                    yield running.popleft().result()
            while running:
                yield running.popleft().result()
        finally:
            for future in running:
                future.cancel()


def _collect(sources: Sources, plans: list[pl.LazyFrame]) -> list[pl.DataFrame]:
    try:
        return pl.collect_all(plans, engine="streaming")
    except pl.exceptions.PolarsError as exc:  # the metrics file could not be parsed
        raise sources.explain_scan_error(exc) from None


def _orphan_counts(rows: pl.LazyFrame) -> pl.LazyFrame:
    """Rows of unknown campaigns (excluded by the SQL) and how many such campaigns."""
    return rows.select(
        orphan_campaign_rows=pl.len(),
        orphan_campaign_ids=pl.col("campaign_id").n_unique(),
    )


def _known_counts(sources: Sources, rows: pl.LazyFrame) -> list[pl.LazyFrame]:
    """The counts over rows of known campaigns (docs/contract.md §2), and this part's unknown creator ids.

    `duplicate_key_rows_summed` is rows minus distinct (date, campaign, creator) keys: the rows
    that were added into another. A key's campaign is in one part only, so the distinct keys of
    the parts add up to the distinct keys of the input, counted on one part at a time. Distinct
    keys are counted by their 64-bit hash (sorted): a third of the time of an exact distinct
    count of the keys (0.07 against 0.22 s a million rows); two keys of one part colliding would
    undercount by one, a chance of about 3e-8 for a part of a million rows.
    """
    unknown_creator = ~pl.col("creator_id").is_in(sources.creators["creator_id"].implode())
    counts = rows.select(
        unknown_creator_rows=unknown_creator.sum(),
        clicks_above_impressions_rows=(pl.col("clicks") > pl.col("impressions")).sum(),
        conversions_above_clicks_rows=(pl.col("conversions") > pl.col("clicks")).sum(),
    )
    # sorted key hashes: a row whose hash equals the previous one repeats an earlier key
    hashes = rows.select(key=pl.struct("metric_date", "campaign_id", "creator_id").hash(seed=0).sort())
    repeats = hashes.select(duplicate_key_rows_summed=(pl.col("key") == pl.col("key").shift(1)).sum())
    return [
        pl.concat([counts, repeats], how="horizontal"),
        rows.filter(unknown_creator).select(pl.col("creator_id").unique()),
    ]


class _Tally:
    """The audit and the data-quality counts, added up part by part."""

    def __init__(self) -> None:
        self.audit: dict[str, int] = {}
        self.counts: dict[str, int] = {
            "orphan_campaign_rows": 0,
            "orphan_campaign_ids": 0,
            "unknown_creator_rows": 0,
            "unknown_creator_ids": 0,
            "clicks_above_impressions_rows": 0,
            "conversions_above_clicks_rows": 0,
            "duplicate_key_rows_summed": 0,
        }
        self.unknown_creators: list[pl.Series] = []

    @property
    def rows(self) -> int:
        return self.audit.get("rows", 0)

    def add(self, frames: list[pl.DataFrame], sources: Sources, unknown_creators: pl.Series | None = None) -> None:
        audit, counts = (frame.row(0, named=True) for frame in frames)
        sources.check_audit(audit)  # a bad cell is reported before anything else is looked at
        for key, value in audit.items():
            self.audit[key] = self.audit.get(key, 0) + int(value or 0)
        for key, value in counts.items():
            self.counts[key] += int(value)
        if unknown_creators is not None:
            self.unknown_creators.append(unknown_creators)
        if any(key.startswith("sum_") and total > INT64_MAX for key, total in self.audit.items()):
            # the whole column's sum, not this far: one more pass, only on this error path
            _check_sums_fit(_collect(sources, [sources.audit])[0].row(0, named=True), sources.files[METRICS.name])

    def data_quality(self) -> dict[str, int]:
        ids = pl.concat(self.unknown_creators).n_unique() if self.unknown_creators else 0
        return self.counts | {"unknown_creator_ids": ids}


def validate(sources: Sources) -> int:
    """The input checks alone (the audit pass, then the exact message for a bad cell, and the
    sums that must fit Int64), without the SQL; the metrics row count. Another engine reading
    local files runs this first, so every input is refused exactly as here."""
    audit = _collect(sources, [sources.audit])[0].row(0, named=True)
    sources.check_audit(audit)
    _check_sums_fit(audit, sources.files[METRICS.name])
    return int(audit["rows"])


def _check_sums_fit(audit: dict[str, Any], path: Path) -> None:
    """Every total is a sum of non-negative values, so none exceeds its column's grand total:
    if each grand total fits Int64, so does every rollup total. Checked on the audit's sums."""
    for key, total in audit.items():
        if key.startswith("sum_") and total is not None and total > INT64_MAX:
            raise InvalidSourceData(
                f"{path}: the {key.removeprefix('sum_')} column adds up to {total}, "
                f"more than 2^63-1; the input values are too large to add up exactly"
            )
