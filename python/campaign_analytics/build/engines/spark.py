"""The Spark engine: the same SQL files on Apache Spark, for inputs that outgrow one machine.

    campaign-analytics build --engine spark [--spark-master URL] --data-dir D --out O

    translate(query)            each file's text above its marker, DuckDB's dialect -> Spark's
                                (sqlglot), with the rules in RULES and nothing else
    session(master)             local[*] by default, a cluster URL, or Spark Connect (SPARK_REMOTE);
                                ANSI mode on, UTC dates
    compute(...)                read + validate the inputs, the data-quality counts and the three
                                rollups, each written by Spark as Parquet parts in key order

Inputs. A local DATA_DIR is first checked by the default engine's own validation (sources.py:
the same messages with file, line and column, one streaming polars pass); Spark then reads the
same files, checks them with the same rules and must find the same row count, or the build
fails. A DATA_DIR that is a URI (hdfs://, s3a://, file://) is checked by Spark alone with the
same rules; its messages name the file, the column and the value (Spark has no line numbers).

Nothing grows on the driver with the data: the audit, the data-quality counts and the checks
are one-row (or first-offender) aggregates; the rollups are written by Spark's executors under
ROLLUP_DIR (which the executors must be able to write: local mode, or a shared mount on a
cluster) and published from there (publish.py).

Overflow: every integer in the SQL stays exact or the build fails (exit 2), never a wrapped value;
see RULES and `_arithmetic_failure`.
"""

from __future__ import annotations

import operator
import os
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import reduce
from importlib import metadata
from pathlib import Path
from typing import Any

import sqlglot
from pyspark.errors import PySparkException
from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from sqlglot import exp

from campaign_analytics.build import sources as polars_sources
from campaign_analytics.build.checks import BASE_TOTALS
from campaign_analytics.build.engines.polars import INT64_MAX, validate
from campaign_analytics.build.sources import CAMPAIGNS, CREATORS, METRICS, Column, Kind, TableSpec
from campaign_analytics.build.sql import RollupSql
from campaign_analytics.errors import BuildError, ConfigError, InvalidSourceData
from campaign_analytics.published.manifest import ROLLUP_ORDER, describe_input

DEFAULT_MASTER = "local[*]"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


# --- the SQL: DuckDB's dialect -> Spark's -----------------------------------------------------


def hugeint_as_decimal(node: exp.Expression) -> exp.Expression:
    """`hugeint` -> `decimal(38, 0)`. sqlglot writes DuckDB's 128-bit integer as INT128, which
    Spark has no such type for and refuses; DECIMAL(38, 0) holds every value the SQL puts in a
    hugeint (products of BIGINTs by 20000) exactly, and under ANSI mode an overflow past 38
    digits is an error, not a wrapped value."""
    if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.INT128:
        return exp.DataType.build("DECIMAL(38, 0)")
    return node


def exact_integer_division(node: exp.Expression) -> exp.Expression:
    """`a // b` -> `cast((a - a % b) / b as bigint)`: the exact truncated quotient, BIGINT as in
    polars, and an ARITHMETIC error (CAST_OVERFLOW) where it does not fit.

    sqlglot writes `//` as Spark's `a DIV b`, which on decimal operands converts the quotient to
    a LONG without a range check, even in ANSI mode: a ROAS of 1e15 came out as -8.4e14. `a % b`
    is exact on decimals, so `a - a % b` is a multiple of `b` and the decimal division that
    follows is exact (no rounding at its 6 places), and ANSI's cast to BIGINT refuses what
    does not fit (polars refuses the same quotients, DuckDB's hugeint holds them)."""
    if isinstance(node, exp.IntDiv):
        a, b = node.this, node.expression
        remainder = exp.Mod(this=a.copy(), expression=b.copy())
        whole = exp.Paren(this=exp.Sub(this=a.copy(), expression=remainder))
        return exp.Cast(this=exp.Div(this=whole, expression=b.copy()), to=exp.DataType.build("BIGINT"))
    return node


# Each rule is one sqlglot transform, applied in this order to the whole statement. Everything
# else is sqlglot's own DuckDB -> Spark translation (tests/test_spark_engine.py pins the output).
RULES: tuple[Callable[[exp.Expression], exp.Expression], ...] = (hugeint_as_decimal, exact_integer_division)


def translate(query: str, *, pretty: bool = True) -> str:
    """`query` (DuckDB's dialect, as the SQL files are written) as Spark SQL."""
    tree = sqlglot.parse_one(query, read="duckdb")
    for rule in RULES:
        tree = tree.transform(rule)
    return tree.sql(dialect="spark", pretty=pretty)


# --- the session ------------------------------------------------------------------------------


def session(master: str | None = None) -> SparkSession:
    """A Spark session: `master` when given; else spark-submit's master when run by spark-submit;
    else Spark Connect when SPARK_REMOTE is set (pyspark reads it itself); else local mode on
    every core. The SQL settings the build relies on are
    set on the session, so they hold on a cluster or a Connect server too."""
    builder: Any = SparkSession.builder.appName("campaign-analytics build")
    # under spark-submit (its JVM already started, PYSPARK_GATEWAY_PORT set) its --master applies
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ
    if master is not None or not (os.environ.get("SPARK_REMOTE") or submitted):
        builder = (
            builder.master(master or DEFAULT_MASTER)
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
        )
    spark: SparkSession = builder.getOrCreate()
    # ANSI mode: overflow, a bad cast and division by zero raise instead of returning NULL or a
    # wrapped value (the default since Spark 4; set so that a cluster configured otherwise agrees)
    spark.conf.set("spark.sql.ansi.enabled", "true")
    spark.conf.set("spark.sql.session.timeZone", "UTC")  # a Parquet timestamp's calendar day, as polars
    spark.conf.set("spark.sql.caseSensitive", "true")  # column names as the files spell them, as polars
    if not os.environ.get("SPARK_REMOTE") or master is not None:
        spark.sparkContext.setLogLevel("FATAL")  # errors reach the caller as exceptions, once
    return spark


# --- the inputs -------------------------------------------------------------------------------


def is_uri(data_dir: str | Path) -> bool:
    return isinstance(data_dir, str) and _SCHEME.match(data_dir) is not None


@dataclass(frozen=True)
class Inputs:
    """Where each input table is (a URI Spark reads), how messages name it (the path as given),
    its manifest entry, and whether it is local."""

    uris: dict[str, str]
    shown: dict[str, str]
    described: dict[str, dict[str, Any]]
    local: bool


def locate_inputs(spark: SparkSession, data_dir: str | Path) -> Inputs:
    if not is_uri(data_dir):
        folder = Path(data_dir)
        if not folder.is_dir():
            raise InvalidSourceData(f"{folder}: DATA_DIR is not a folder")
        files = {spec.name: polars_sources.locate(folder, spec) for spec in (CAMPAIGNS, CREATORS, METRICS)}
        return Inputs(
            {name: path.resolve().as_uri() for name, path in files.items()},
            {name: str(path) for name, path in files.items()},
            {name: describe_input(path) for name, path in files.items()},
            local=True,
        )
    return _locate_remote(spark, str(data_dir).rstrip("/"))


def _locate_remote(spark: SparkSession, location: str) -> Inputs:
    """The input files of a folder Spark reads: listed, and fingerprinted (sha256) by Spark."""
    try:
        listing = (
            spark.read.format("binaryFile")
            .option("pathGlobFilter", "*.{csv,parquet}")
            .load(location)
            .select("path", "length", "modificationTime", F.sha2("content", 256).alias("sha256"))
            .collect()
        )
    except PySparkException as exc:
        raise InvalidSourceData(f"{location}: DATA_DIR cannot be listed: {_first_line(exc)}") from None
    found = {row["path"].rsplit("/", 1)[-1]: row for row in listing}
    uris, described = {}, {}
    for spec in (CAMPAIGNS, CREATORS, METRICS):
        names = [f"{spec.name}.{suffix}" for suffix in ("csv", "parquet") if f"{spec.name}.{suffix}" in found]
        if not names:
            raise InvalidSourceData(f"{location}: missing input file {spec.name}.csv (or {spec.name}.parquet)")
        if len(names) == 2:
            raise InvalidSourceData(
                f"{location}: both {spec.name}.csv and {spec.name}.parquet are present; keep exactly one"
            )
        row = found[names[0]]
        uris[spec.name] = row["path"]
        described[spec.name] = {
            "file": names[0],
            "bytes": int(row["length"]),
            "mtime_ns": int(row["modificationTime"].timestamp() * 1_000_000) * 1000,
            "sha256": row["sha256"],
        }
    return Inputs(uris, {name: f"{location}/{entry['file']}" for name, entry in described.items()}, described, False)


def read_raw(spark: SparkSession, uri: str, spec: TableSpec, name: str) -> DataFrame:
    """A table as Spark reads it: CSV as text (RFC 4180: `"` quotes and escapes, quoted line
    breaks), Parquet with its own types; the spec's columns only, by name (`name` in messages)."""
    try:
        if uri.endswith(".parquet"):
            frame = spark.read.parquet(uri)
        else:
            frame = (
                spark.read.option("header", True)
                .option("multiLine", True)  # a quoted field may hold line breaks
                .option("quote", '"')
                .option("escape", '"')
                .option("encoding", "UTF-8")
                .option("mode", "FAILFAST")
                .csv(uri)
            )
            # a byte-order mark is not part of the first column's name (polars drops it too)
            frame = frame.toDF(*(c.removeprefix("\ufeff") for c in frame.columns))
    except PySparkException as exc:
        raise InvalidSourceData(f"{name}: cannot be read: {_first_line(exc)}") from None
    missing = [c for c in spec.column_names if c not in frame.columns]
    if missing:
        names = ", ".join(repr(n) for n in missing)
        raise InvalidSourceData(f"{name}: missing column {names} (found: {', '.join(frame.columns) or 'no columns'})")
    return frame.select(*(F.col(f"`{c}`") for c in spec.column_names))


# The patterns of sources.py, anchored at the very start and end of the value: Java's `$` would
# also match before a final line break, so "12\n" would pass as a whole number.
_COUNT_RE = r"\A[+-]?[0-9]+\z"
_SIX_PLACES_RE = r"\A[0-9]+(\.[0-9]{1,6})?\z"
_DATE_RE = r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\z"
_MAX_MONEY = Decimal(INT64_MAX).scaleb(-6)  # money is held as Int64 micros: at most 2^63-1 of them


def _is_text(dtype: T.DataType) -> bool:
    return isinstance(dtype, T.StringType)


def _native(column: Column, dtype: T.DataType) -> bool:
    """The Parquet types sources.py keeps as they are; any other type is checked as its text."""
    if column.kind is Kind.COUNT:
        return isinstance(dtype, T.ByteType | T.ShortType | T.IntegerType | T.LongType)
    if column.kind is Kind.DATE:
        return isinstance(dtype, T.DateType | T.TimestampType | T.TimestampNTZType)
    if column.kind in (Kind.MONEY, Kind.OPTIONAL_MONEY):
        return isinstance(dtype, T.DecimalType) and dtype.scale <= 6
    return _is_text(dtype)


def _cell(column: Column, dtype: T.DataType) -> SparkColumn:
    """The cell as sources.py sees it: native, or its text."""
    col = F.col(f"`{column.name}`")
    return col if _native(column, dtype) or _is_text(dtype) else col.cast("string")


def _blank(cell: SparkColumn, text: bool) -> SparkColumn:
    return cell.isNull() | (cell == "") if text else cell.isNull()


def valid(column: Column, dtype: T.DataType) -> SparkColumn:
    """True where a cell is fine: sources.py's `_valid`, as a Spark expression."""
    cell, text = _cell(column, dtype), not _native(column, dtype) or _is_text(dtype)
    if column.kind is Kind.TEXT:
        return F.lit(True)
    if column.kind is Kind.ID:
        return ~_blank(cell, text)
    if column.kind is Kind.COUNT:
        ok = cell.rlike(_COUNT_RE) & (cell.try_cast("bigint") >= 0) if text else cell >= 0
    elif column.kind is Kind.DATE:
        ok = cell.rlike(_DATE_RE) & F.try_to_date(cell, "yyyy-MM-dd").isNotNull() if text else cell.isNotNull()
    else:
        value = cell.try_cast("decimal(38, 6)")
        ok = (cell.rlike(_SIX_PLACES_RE) if text else cell >= 0) & (value <= F.lit(_MAX_MONEY))
    ok = F.coalesce(ok, F.lit(False))
    return _blank(cell, text) | ok if column.kind is Kind.OPTIONAL_MONEY else ok


def typed(column: Column, dtype: T.DataType) -> SparkColumn:
    """The value the SQL reads (sources.py's `_sql_value`): ids as text, counts BIGINT, dates
    DATE, money DECIMAL(38, 6) (empty -> NULL). Only meaningful where `valid` holds."""
    cell, text = _cell(column, dtype), not _native(column, dtype) or _is_text(dtype)
    if column.kind is Kind.ID:
        value = cell.cast("string")
    elif column.kind is Kind.TEXT:
        value = F.when(cell != "", cell)
    elif column.kind is Kind.COUNT:
        value = cell.cast("bigint")
    elif column.kind is Kind.DATE:
        value = F.to_date(cell, "yyyy-MM-dd") if text else cell.cast("date")
    else:
        value = F.when(~_blank(cell, text), cell.cast("decimal(38, 6)"))
    return value.alias(column.name)


def _first_problem(raw: DataFrame, name: str, spec: TableSpec, bad: Mapping[str, int]) -> InvalidSourceData:
    """For inputs Spark alone reads: the file, the column and one offending value."""
    column = next(c for c in spec.columns if bad.get(c.name))
    dtype = raw.schema[column.name].dataType
    value = raw.where(~valid(column, dtype)).select(_cell(column, dtype).cast("string")).limit(1).collect()[0][0]
    shown = "an empty value" if not value else repr(value if len(value) <= 60 else value[:60] + "...")
    total = sum(bad.values())
    more = f" ({total - 1} more problem{'s' if total != 2 else ''} in this file)" if total > 1 else ""
    return InvalidSourceData(f"{name}, column {column.name}: {shown} is not {column.kind.value}{more}")


@dataclass(frozen=True)
class Tables:
    """The three inputs as the SQL reads them (temporary views of the session), checked;
    `cached`: the frames kept for the build's later reads (`release` them when it is done)."""

    rows: dict[str, int]
    cached: list[DataFrame]

    def release(self) -> None:
        for frame in self.cached:
            frame.unpersist()


def load_tables(spark: SparkSession, inputs: Inputs, *, local_rows: int | None) -> Tables:
    """Read, check and type the three tables; register them as the views the SQL names.

    One aggregate per table (one Spark job): its rows, the bad cells per column, the column sums
    the rollups could overflow on, and the distinct ids of a column that must be unique. Only a
    failed check looks further (for the offending value). `local_rows` is the metrics row count
    the default engine's reader found (local inputs): Spark must read as many rows, or it reads
    the file differently and the build fails."""
    rows: dict[str, int] = {}
    cached: list[DataFrame] = []
    try:
        for spec in (CAMPAIGNS, CREATORS, METRICS):
            uri, name = inputs.uris[spec.name], inputs.shown[spec.name]
            raw = read_raw(spark, uri, spec, name)
            if not uri.endswith(".parquet"):
                # a CSV file is parsed by one task, and the SQL and the counts read the table four
                # more times: kept (memory, then local disk) after the audit's pass. Parquet is
                # read again instead (columnar and split; keeping 10M rows cost the 1 GiB default
                # heap of local mode an OutOfMemoryError)
                raw = raw.persist()
                cached.append(raw)
            schema = {f.name: f.dataType for f in raw.schema.fields}
            checked = [c for c in spec.columns if c.kind is not Kind.TEXT]
            ok = {c.name: valid(c, schema[c.name]) for c in checked}
            exact = {  # counts as they are, money as the micros the SQL makes of it; NULL where bad
                c.output_name: F.when(ok[c.name], typed(c, schema[c.name]).cast("decimal(38, 6)"))
                * (1 if c.kind is Kind.COUNT else 1_000_000)
                for c in spec.columns
                if c.kind in (Kind.COUNT, Kind.MONEY, Kind.OPTIONAL_MONEY)
            }
            unique = (
                [F.count_distinct(F.when(ok[spec.unique], F.col(spec.unique))).alias("distinct")] if spec.unique else []
            )
            try:
                audit = raw.select(
                    F.count(F.lit(1)).alias("rows"),
                    *(F.count_if(~check).alias(column) for column, check in ok.items()),
                    *(F.sum(value).alias(f"sum_{column}") for column, value in exact.items()),
                    *unique,
                ).first()
                assert audit is not None
                bad = {column: int(audit[column]) for column in ok}
                if any(bad.values()):
                    raise _first_problem(raw, name, spec, bad)
                for column in exact:
                    total = audit[f"sum_{column}"]
                    if total is not None and total > INT64_MAX:
                        raise InvalidSourceData(
                            f"{name}: the {column} column adds up to {int(total)}, "
                            f"more than 2^63-1; the input values are too large to add up exactly"
                        )
                typed_frame = raw.select(*(typed(c, schema[c.name]) for c in spec.columns))
                if spec.unique is not None and audit["distinct"] != audit["rows"]:
                    _check_unique(typed_frame, spec.unique, name)
            except PySparkException as exc:
                raise InvalidSourceData(f"{name}: cannot be read: {_first_line(exc)}") from None
            rows[spec.name] = int(audit["rows"])
            typed_frame.createOrReplaceTempView(spec.name)
        if local_rows is not None and rows[METRICS.name] != local_rows:
            raise BuildError(
                f"{METRICS.name}: Spark read {rows[METRICS.name]} rows where the default engine's reader read "
                f"{local_rows}; the file is read differently, so nothing is published"
            )
    except BaseException:
        for frame in cached:
            frame.unpersist()
        raise
    return Tables(rows, cached)


def _check_unique(frame: DataFrame, column: str, name: str) -> None:
    repeated = frame.groupBy(column).count().where(F.col("count") > 1).limit(1).collect()
    if repeated:
        value = str(repeated[0][column])
        raise InvalidSourceData(f"{name}, column {column}: duplicate id {value!r} ({repeated[0]['count']} rows)")


# --- the build --------------------------------------------------------------------------------

# What the data-quality report counts (engines/polars.py's `quality_plan`, the same definitions),
# over the typed views; one aggregate row.
_QUALITY_SQL = """
with rows_seen as (
    select
        m.*,
        c.campaign_id is not null as known,
        k.creator_id is not null as known_creator
    from campaign_daily_metrics m
    left join (select distinct campaign_id from campaigns) c on c.campaign_id = m.campaign_id
    left join (select distinct creator_id from creators) k on k.creator_id = m.creator_id
)
select
    count_if(not known) as orphan_campaign_rows,
    count(distinct case when not known then campaign_id end) as orphan_campaign_ids,
    count_if(known and not known_creator) as unknown_creator_rows,
    count(distinct case when known and not known_creator then creator_id end) as unknown_creator_ids,
    count_if(known and clicks > impressions) as clicks_above_impressions_rows,
    count_if(known and conversions > clicks) as conversions_above_clicks_rows,
    count_if(known)
      - count(distinct case when known then struct(metric_date, campaign_id, creator_id) end)
      as duplicate_key_rows_summed
from rows_seen
"""


@dataclass(frozen=True)
class SparkComputed:
    """What the Spark engine made: each rollup's part files (names in `staging`, in key order)
    and the counts."""

    parts: dict[str, list[str]]
    data_quality: dict[str, int]
    rows: dict[str, int]
    inputs: dict[str, dict[str, Any]]
    versions: dict[str, str]


def compute(
    spark: SparkSession,
    data_dir: str | Path,
    queries: Mapping[str, RollupSql],
    staging: Path,
    step: Callable[[str], None] = lambda _: None,
) -> SparkComputed:
    """Validate the inputs, run every rollup's SQL on Spark, and leave each rollup's Parquet
    parts in `staging` as `<rollup>-<n>.parquet`, in key order; count the data quality."""
    inputs = locate_inputs(spark, data_dir)
    local_rows = None
    if inputs.local:
        step("checking the inputs with the default engine's validation (file, line and column)")
        local_rows = validate(polars_sources.open_sources(Path(data_dir)))
    step("reading and checking the inputs on Spark")
    tables = load_tables(spark, inputs, local_rows=local_rows)
    step("running the SQL on Spark, writing each rollup's Parquet parts in key order")
    written = {name: staging / f".spark-{name}" for name in queries}
    try:
        for name, sql in queries.items():
            frame = spark.sql(translate(sql.rollup_query)).orderBy(*sql.order)
            # Spark's row_number() is an INT; every integer column is published as a 64-bit one
            frame = frame.select(
                *(
                    F.col(f.name).cast("bigint") if isinstance(f.dataType, T.IntegerType) else F.col(f.name)
                    for f in frame.schema.fields
                )
            )
            frame.write.option("compression", "zstd").parquet(written[name].as_uri())
        step("counting data quality and checking the rollups on Spark")
        quality = spark.sql(_QUALITY_SQL).first()
        assert quality is not None
        check_written(spark, written, queries)
    except PySparkException as exc:
        raise _arithmetic_failure(exc) or exc from None
    finally:
        tables.release()
    return SparkComputed(
        parts={name: _take_parts(folder, name, staging) for name, folder in written.items()},
        data_quality={k: int(v) for k, v in quality.asDict().items()},
        rows=tables.rows,
        inputs={name: entry | {"rows": tables.rows[name]} for name, entry in inputs.described.items()},
        versions={"spark": spark.version, "sqlglot": metadata.version("sqlglot")},
    )


def _take_parts(folder: Path, name: str, staging: Path) -> list[str]:
    """Move the part files Spark wrote into `folder` up into the build folder, named
    `<rollup>-<n>.parquet` in partition (= key) order, each made durable; drop Spark's
    bookkeeping files (_SUCCESS, .crc) with the folder."""
    names = []
    for index, part in enumerate(sorted(folder.glob("part-*.parquet"), key=_partition)):
        target = staging / f"{name}-{index:05d}.parquet"
        part.rename(target)
        with target.open("rb") as handle:
            os.fsync(handle.fileno())
        names.append(target.name)
    shutil.rmtree(folder)
    return names


def _partition(part: Path) -> int:
    """The partition number in a part file's name (part-00042-<uuid>...): the files' key order.
    Compared as a number: past 99,999 partitions the name's digits grow."""
    return int(part.name.split("-")[1])


# Spark's error conditions for a value that does not fit its type (ANSI mode raises them).
_OVERFLOW = ("CAST_OVERFLOW", "ARITHMETIC_OVERFLOW", "NUMERIC_VALUE_OUT_OF_RANGE", "DECIMAL_PRECISION")


def _arithmetic_failure(exc: PySparkException) -> InvalidSourceData | None:
    """An overflow in the SQL as the input error it is (exit 2, like the default engine's)."""
    seen = f"{exc.getCondition() or ''} {exc}"
    if not any(condition in seen for condition in _OVERFLOW):
        return None
    return InvalidSourceData(
        f"{METRICS.name}: a rollup value does not fit its type on Spark ({_first_line(exc)}); "
        "the input values are too large to compute exactly, so nothing is published"
    )


def check_written(spark: SparkSession, folders: Mapping[str, Path], queries: Mapping[str, RollupSql]) -> None:
    """checks.py's checks, as Spark aggregates over what Spark wrote (one job per rollup, then one
    per reconciliation): unique keys and order columns, and creators and days that add up to
    each campaign's totals."""
    frames = {name: spark.read.parquet(folder.as_uri()) for name, folder in folders.items()}
    for name, sql in queries.items():
        if sql.order != ROLLUP_ORDER[name]:
            raise BuildError(f"{sql.path.name}: '-- order:' is {sql.order}; the service reads {ROLLUP_ORDER[name]}")
        distinct = {sql.key: "key ", sql.order: ""}  # one check when the order is the key
        counts = (
            frames[name]
            .select(
                F.count(F.lit(1)).alias("rows"),
                *(F.count_distinct(*columns).alias(f"distinct_{i}") for i, columns in enumerate(distinct)),
            )
            .first()
        )
        assert counts is not None
        for i, (columns, what) in enumerate(distinct.items()):
            if counts[f"distinct_{i}"] != counts["rows"]:
                raise BuildError(f"{name}: {what}({', '.join(columns)}) is not unique")
    campaigns = frames["campaign_performance"].select("campaign_id", *BASE_TOTALS)
    for name in ("top_creators", "daily_anomalies"):
        sums = frames[name].groupBy("campaign_id").agg(*(F.sum(t).alias(f"{t}_parts") for t in BASE_TOTALS))
        # a campaign with no rows in `name` must have zero totals
        differs = [F.coalesce(F.col(t), F.lit(-1)) != F.coalesce(F.col(f"{t}_parts"), F.lit(0)) for t in BASE_TOTALS]
        off = campaigns.join(sums, "campaign_id", "full").where(reduce(operator.or_, differs)).limit(1).collect()
        if off:
            row = off[0]
            total = next(t for t in BASE_TOTALS if (row[t] if row[t] is not None else -1) != (row[f"{t}_parts"] or 0))
            raise BuildError(
                f"reconciliation failed: campaign {row['campaign_id']!r} {total} is {row[total]} "
                f"in campaign_performance but {name} adds up to {row[f'{total}_parts']}"
            )


def require() -> None:
    """Raise ConfigError unless Java can be found (pyspark itself imported, or this module would not)."""
    if not (os.environ.get("JAVA_HOME") or shutil.which("java")) and not os.environ.get("SPARK_REMOTE"):
        raise ConfigError("the Spark engine needs Java 17: install openjdk-17-jre-headless (scripts/install-java.sh)")


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
