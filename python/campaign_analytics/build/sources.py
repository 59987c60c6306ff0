"""The input tables: their schemas, how they are read, and how they are checked (docs/contract.md §2).

Each table is a CSV file (header row, UTF-8, RFC 4180 quoting) or a Parquet file with the same
columns. Everything is read as text first and converted here, column by column, with vectorised
polars expressions, so that a bad cell can be reported by file, line and column, the file by
its path as given (DATA_DIR joined with the file's name), so that the folder is named too:

    data/2026-11/campaign_daily_metrics.csv line 4, column impressions: '12x' is not a whole number

Money is converted to exact integer micros (millionths): `spend` -> `spend_micros`,
`revenue` -> `revenue_micros` (null when the cell is empty). No float ever holds money. The SQL
files read money as decimals, so `metric_rows` gives them the same cells as `Decimal(38, 6)`.

The small tables are read and checked eagerly. The metrics table can be large, so
`open_sources` only plans it: a lazy scan whose typed columns feed the SQL, and an `audit`
(one row: row count, bad cells per column, column totals) computed in the same streaming pass.
`Sources.plan` makes the same three plans over a copy of some of the raw rows (a part of a
build split by campaign). Only when an audit finds a bad cell is the file read again, eagerly,
to name line and column.
"""

from __future__ import annotations

import csv
import enum
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from polars.expr.whenthen import ChainedThen, Then

from campaign_analytics.errors import InvalidSourceData
from campaign_analytics.published.manifest import present


class Kind(enum.Enum):
    ID = "a non-empty id"
    TEXT = "text"
    DATE = "a date (YYYY-MM-DD)"
    COUNT = "a whole number >= 0"
    MONEY = "a decimal number >= 0 with at most 6 decimal places"
    OPTIONAL_MONEY = "empty, or a decimal number >= 0 with at most 6 decimal places"


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind

    @property
    def output_name(self) -> str:
        """Money columns are renamed to say their unit: spend -> spend_micros."""
        return f"{self.name}_micros" if self.kind in (Kind.MONEY, Kind.OPTIONAL_MONEY) else self.name


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[Column, ...]
    unique: str | None = None  # a column whose values must be unique

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


CAMPAIGNS = TableSpec(
    "campaigns",
    (Column("campaign_id", Kind.ID), Column("campaign_name", Kind.TEXT)),
    unique="campaign_id",
)
CREATORS = TableSpec(
    "creators",
    (Column("creator_id", Kind.ID), Column("creator_name", Kind.TEXT)),
    unique="creator_id",
)
METRICS = TableSpec(
    "campaign_daily_metrics",
    (
        Column("metric_date", Kind.DATE),
        Column("campaign_id", Kind.ID),
        Column("creator_id", Kind.ID),
        Column("impressions", Kind.COUNT),
        Column("clicks", Kind.COUNT),
        Column("conversions", Kind.COUNT),
        Column("spend", Kind.MONEY),
        Column("revenue", Kind.OPTIONAL_MONEY),
    ),
)
TABLES: tuple[TableSpec, ...] = (CAMPAIGNS, CREATORS, METRICS)


@dataclass(frozen=True)
class Sources:
    """The input tables: campaigns and creators checked and typed, metrics planned lazily.

    `metrics` is typed but not yet trusted: collect `audit` with it and pass the row to
    `check_audit`, which raises InvalidSourceData naming the first bad cell. `metric_rows` is
    the same table as the SQL files read it: docs/contract.md §2 column names, money as `Decimal(38, 6)`.
    """

    campaigns: pl.DataFrame
    creators: pl.DataFrame
    metrics: pl.LazyFrame
    metric_rows: pl.LazyFrame
    audit: pl.LazyFrame
    files: dict[str, Path]
    raw: pl.LazyFrame  # the metrics columns as read, before any conversion (what `plan_metrics` takes)

    def plan(self, raw: pl.LazyFrame) -> MetricPlans:
        """`metrics`, `metric_rows` and `audit` over `raw`: rows with the columns and types of
        `self.raw` (a copy of some of its rows, such as one part of a partitioned build)."""
        return plan_metrics(raw, self.raw.collect_schema())

    def check_audit(self, audit: dict[str, int]) -> None:
        if any(audit[c.name] for c in METRICS.columns if c.name in audit):
            read_table(self.files[METRICS.name], METRICS)  # raises, naming the first bad cell
            bad = {c: n for c, n in audit.items() if c in METRICS.column_names and n}
            raise InvalidSourceData(f"{self.files[METRICS.name]}: bad values in {bad}")

    def explain_scan_error(self, exc: Exception) -> InvalidSourceData:
        """A parse error polars raised while streaming the metrics file, with its line."""
        path = self.files[METRICS.name]
        try:
            read_table(path, METRICS)
        except InvalidSourceData as precise:
            return precise
        return InvalidSourceData(f"{path}: cannot be read: {exc}")


def locate(data_dir: Path, spec: TableSpec) -> Path:
    """The one file that holds `spec`: `<name>.csv` or `<name>.parquet`, never both."""
    found = present(data_dir, spec.name)
    if not found:
        raise InvalidSourceData(f"{data_dir}: missing input file {spec.name}.csv (or {spec.name}.parquet)")
    if len(found) == 2:
        raise InvalidSourceData(
            f"{data_dir}: both {spec.name}.csv and {spec.name}.parquet are present; keep exactly one"
        )
    return found[0]


def open_sources(data_dir: Path) -> Sources:
    """Check and read the small tables; plan the metrics scan and its audit."""
    if not data_dir.is_dir():
        raise InvalidSourceData(f"{data_dir}: DATA_DIR is not a folder")
    files = {spec.name: locate(data_dir, spec) for spec in TABLES}
    raw = _scan(files[METRICS.name], METRICS)
    plans = plan_metrics(raw, raw.collect_schema())
    return Sources(
        campaigns=read_table(files[CAMPAIGNS.name], CAMPAIGNS),
        creators=read_table(files[CREATORS.name], CREATORS),
        metrics=plans.metrics,
        metric_rows=plans.metric_rows,
        audit=plans.audit,
        files=files,
        raw=raw,
    )


@dataclass(frozen=True)
class MetricPlans:
    """The metrics table planned three ways over one lazy input (see `Sources`)."""

    metrics: pl.LazyFrame
    metric_rows: pl.LazyFrame
    audit: pl.LazyFrame


def plan_metrics(raw: pl.LazyFrame, schema: pl.Schema) -> MetricPlans:
    """Typed metrics, the SQL's view of them, and the audit, over metrics columns as read."""
    columns = METRICS.columns
    return MetricPlans(
        metrics=raw.select(_value(c, schema[c.name]) for c in columns),
        metric_rows=raw.select(_sql_value(c, schema[c.name]) for c in columns),
        audit=raw.select(
            pl.len().alias("rows"),
            *(_valid(c, schema[c.name]).not_().sum().alias(c.name) for c in columns if c.kind is not Kind.TEXT),
            # the sums the SQL will make can only overflow if the whole column's sum does
            *(_value(c, schema[c.name]).cast(pl.Int128).sum().alias(f"sum_{c.output_name}") for c in _summed(columns)),
        ),
    )


def _summed(columns: Sequence[Column]) -> list[Column]:
    return [c for c in columns if c.kind in (Kind.COUNT, Kind.MONEY, Kind.OPTIONAL_MONEY)]


def read_table(path: Path, spec: TableSpec) -> pl.DataFrame:
    """Read one table and return it typed; raise InvalidSourceData at the first bad cell."""
    raw = _read_parquet(path, spec) if path.suffix == ".parquet" else _read_csv(path, spec)
    return _convert(raw, spec, _Where(path, raw))


# --- reading -------------------------------------------------------------------------------


def _read_csv(path: Path, spec: TableSpec) -> pl.DataFrame:
    _require_columns(path, "line 1: ", _csv_header(path), spec)
    try:
        # every column as text, so a bad cell can be named; conversion happens in _convert
        return pl.read_csv(path, columns=spec.column_names, infer_schema=False)
    except (pl.exceptions.PolarsError, OSError) as exc:
        message = _diagnose_csv(path, len(_csv_header(path)))
        raise InvalidSourceData(message or f"{path}: cannot be read as CSV: {exc}") from None


def _read_parquet(path: Path, spec: TableSpec) -> pl.DataFrame:
    try:
        return _scan(path, spec).collect()
    except pl.exceptions.PolarsError as exc:
        raise InvalidSourceData(f"{path}: cannot be read as Parquet: {exc}") from None


def _scan(path: Path, spec: TableSpec) -> pl.LazyFrame:
    """The table as a lazy scan: counts parsed natively (CSV) or kept native (Parquet)."""
    if path.suffix == ".parquet":
        try:
            schema = pl.read_parquet_schema(path)
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise InvalidSourceData(f"{path}: cannot be read as Parquet: {exc}") from None
        _require_columns(path, "", list(schema), spec)
        return pl.scan_parquet(path).select(_parquet_column(c, schema[c.name]) for c in spec.columns)
    header = _csv_header(path)
    _require_columns(path, "line 1: ", header, spec)
    counts = {c.name: pl.Int64 for c in spec.columns if c.kind is Kind.COUNT}
    return pl.scan_csv(path, infer_schema=False, schema_overrides=counts).select(spec.column_names)


def _parquet_column(column: Column, dtype: pl.DataType) -> pl.Expr:
    """Keep native integer counts, dates and Decimal money with <= 6 places; the rest as text.

    A timestamp `metric_date` (what many writers produce for a date) counts as its calendar day.
    """
    col = pl.col(column.name)
    if column.kind is Kind.DATE and isinstance(dtype, pl.Datetime):
        return col.dt.date()
    native = (
        (column.kind is Kind.COUNT and dtype.is_integer())
        or (column.kind is Kind.DATE and dtype == pl.Date)
        or (
            column.kind in (Kind.MONEY, Kind.OPTIONAL_MONEY)
            and isinstance(dtype, pl.Decimal)
            and (dtype.scale or 0) <= 6
        )
    )
    return col if native or dtype == pl.String else col.cast(pl.String)


def _csv_header(path: Path) -> list[str]:
    try:
        return pl.read_csv(path, n_rows=0, infer_schema=False).columns
    except pl.exceptions.NoDataError:
        raise InvalidSourceData(f"{path} line 1: the file is empty (a header row is required)") from None
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InvalidSourceData(_diagnose_csv(path, None) or f"{path}: cannot be read as CSV: {exc}") from None


def _require_columns(path: Path, where: str, header: Sequence[str], spec: TableSpec) -> None:
    missing = [name for name in spec.column_names if name not in header]
    if missing:
        names = ", ".join(repr(n) for n in missing)
        found = ", ".join(header) or "no columns"
        raise InvalidSourceData(f"{path} {where}missing column {names} (found: {found})")


def _diagnose_csv(path: Path, expected_fields: int | None) -> str | None:
    """Find where a file that polars refused is broken, with Python's csv module (slow, exact)."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        data = path.read_bytes()
        line = data.count(b"\n", 0, exc.start) + 1
        return f"{path} line {line}: not valid UTF-8 (byte {data[exc.start]:#04x})"
    except OSError as exc:
        return f"{path}: cannot be read: {exc.strerror}"
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        for record in reader:
            width = expected_fields if expected_fields is not None else len(record)
            if expected_fields is None:
                expected_fields = len(record)
            if record and len(record) != width:
                return f"{path} line {reader.line_num}: {len(record)} fields where the header has {width}"
    except csv.Error as exc:
        return f"{path} line {reader.line_num}: malformed CSV ({exc})"
    return None


# --- converting and checking ---------------------------------------------------------------


class _Where:
    """Turns a row index into 'file line N' (CSV) or 'file row N' (Parquet)."""

    def __init__(self, path: Path, raw: pl.DataFrame) -> None:
        self.path = path
        self.raw = raw

    def row(self, index: int) -> str:
        if self.path.suffix == ".parquet":
            return f"{self.path} row {index + 1}"
        # Line 1 is the header; a quoted field with line breaks in it moves later rows down.
        text_columns = [c for c, t in self.raw.schema.items() if t == pl.String]
        extra = 0
        if index and text_columns:
            head = self.raw.head(index)
            extra = int(
                head.select(
                    pl.sum_horizontal(pl.col(c).str.count_matches("\n").fill_null(0) for c in text_columns).sum()
                ).item()
            )
        return f"{self.path} line {index + 2 + extra}"

    def cell(self, index: int, column: str) -> str:
        return f"{self.row(index)}, column {column}"


# What polars' own integer parser accepts (the CSV scan parses counts natively), so the
# text rules and the native ones agree: "+5" and "-0" are whole numbers, "-5" is negative.
_COUNT_RE = r"^[+-]?[0-9]+$"
_DECIMAL_RE = r"^-?[0-9]+(\.[0-9]+)?$"
_SIX_PLACES_RE = r"^[0-9]+(\.[0-9]{1,6})?$"
_DATE_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_EMPTY = {
    Kind.ID: "is empty (an id is required)",
    Kind.COUNT: "is empty (a whole number >= 0 is required)",
    Kind.DATE: "is empty (a date YYYY-MM-DD is required)",
    Kind.MONEY: "is empty (a decimal number >= 0 is required)",
}


def _is_native(dtype: pl.DataType) -> bool:
    return dtype != pl.String


def _blank(col: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    return col.is_null() | (col == "") if dtype == pl.String else col.is_null()


def _problem(column: Column, dtype: pl.DataType) -> pl.Expr:
    """Null where a cell is fine, else what is wrong with it (the error path: exact, slower).

    Must flag exactly the cells `_valid` refuses (tests/test_sources.py checks the pair).
    """
    col = pl.col(column.name)
    value = _value(column, dtype)
    if column.kind is Kind.TEXT:
        return pl.lit(None, dtype=pl.String)
    blank = _blank(col, dtype)
    chain: Then | ChainedThen
    if column.kind is Kind.OPTIONAL_MONEY:
        chain = pl.when(blank).then(pl.lit(None, dtype=pl.String))
    else:
        chain = pl.when(blank).then(pl.lit(_EMPTY[column.kind]))
    if column.kind is Kind.ID or (_is_native(dtype) and column.kind is Kind.DATE):
        return chain
    if column.kind is Kind.COUNT:
        if not _is_native(dtype):
            chain = chain.when(~col.str.contains(_COUNT_RE)).then(pl.lit("is not a whole number"))
        return chain.when(value.is_null()).then(pl.lit("is too large")).when(value < 0).then(pl.lit("is negative"))
    if column.kind is Kind.DATE:
        return chain.when(~col.str.contains(_DATE_RE) | value.is_null()).then(pl.lit("is not a date (YYYY-MM-DD)"))
    if _is_native(dtype):  # Decimal money
        return chain.when(col < 0).then(pl.lit("is negative")).when(value.is_null()).then(pl.lit("is too large"))
    return (
        chain.when(~col.str.contains(_DECIMAL_RE))
        .then(pl.lit("is not a decimal number"))
        .when(col.str.starts_with("-"))
        .then(pl.lit("is negative"))
        .when(~col.str.contains(_SIX_PLACES_RE))
        .then(pl.lit("has more than 6 decimal places"))
        .when(value.is_null())
        .then(pl.lit("is too large"))
    )


def _valid(column: Column, dtype: pl.DataType) -> pl.Expr:
    """True where a cell is fine: the cheap test the streaming audit runs on every row."""
    col = pl.col(column.name)
    value = _value(column, dtype)
    if column.kind is Kind.TEXT:
        return pl.lit(True)
    if column.kind is Kind.ID:
        return ~_blank(col, dtype)
    if column.kind is Kind.COUNT:
        ok = value >= 0
        return (ok if _is_native(dtype) else ok & col.str.contains(_COUNT_RE)).fill_null(False)
    if column.kind is Kind.DATE:
        ok = value.is_not_null()
        return ok if _is_native(dtype) else (ok & col.str.contains(_DATE_RE)).fill_null(False)
    if _is_native(dtype):
        ok = (col >= 0) & value.is_not_null()
    else:
        ok = col.str.contains(_SIX_PLACES_RE) & value.is_not_null()
    ok = ok.fill_null(False)
    return _blank(col, dtype) | ok if column.kind is Kind.OPTIONAL_MONEY else ok


def _decimal(col: pl.Expr) -> pl.Expr:
    """Exact decimal (text or Decimal) -> Decimal(38, 6), null where it cannot be converted.

    Only meaningful where `_valid` holds: text with more than 6 places would be rounded here.
    """
    return col.cast(pl.Decimal(38, 6), strict=False)


def _micros(col: pl.Expr) -> pl.Expr:
    """Exact decimal (text or Decimal) -> integer millionths as Int64, null where it does not fit."""
    return _decimal(col).to_physical().cast(pl.Int64, strict=False)


def _value(column: Column, dtype: pl.DataType) -> pl.Expr:
    """The typed value of a cell, null where it cannot be converted (the audit reports those)."""
    col = pl.col(column.name)
    if column.kind is Kind.ID:
        return col
    if column.kind is Kind.TEXT:
        return pl.when(col == "").then(None).otherwise(col).alias(column.name)
    if column.kind is Kind.COUNT:
        return col.cast(pl.Int64, strict=False)
    if column.kind is Kind.DATE:
        return col if dtype == pl.Date else col.str.strptime(pl.Date, "%Y-%m-%d", strict=False)
    return _micros(_money_cell(col, dtype)).alias(column.output_name)


def _sql_value(column: Column, dtype: pl.DataType) -> pl.Expr:
    """`_value`, except that money stays a decimal under its own name (what the SQL reads)."""
    if column.kind in (Kind.MONEY, Kind.OPTIONAL_MONEY):
        return _decimal(_money_cell(pl.col(column.name), dtype)).alias(column.name)
    return _value(column, dtype)


def _money_cell(col: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    return pl.when(col == "").then(None).otherwise(col) if dtype == pl.String else col


def _convert(raw: pl.DataFrame, spec: TableSpec, where: _Where) -> pl.DataFrame:
    problems = raw.select(
        _problem(c, raw.schema[c.name]).alias(c.name) for c in spec.columns if c.kind is not Kind.TEXT
    )
    if problems.width:
        bad_rows = problems.select(pl.any_horizontal(pl.all().is_not_null()).arg_true()).to_series()
        if len(bad_rows):
            first = int(bad_rows[0])
            row = problems.row(first, named=True)
            column = next(name for name, problem in row.items() if problem is not None)
            value = raw[column][first]
            shown = "value " if value is None or value == "" else f"{_show(value)} "
            more = _count_problems(problems) - 1
            suffix = f" ({more} more problem{'s' if more != 1 else ''} in this file)" if more else ""
            raise InvalidSourceData(f"{where.cell(first, column)}: {shown}{row[column]}{suffix}")
    typed = raw.select(_value(c, raw.schema[c.name]) for c in spec.columns)
    if spec.unique is not None:
        _check_unique(typed, spec.unique, where)
    return typed


def _count_problems(problems: pl.DataFrame) -> int:
    return int(problems.select(pl.sum_horizontal(pl.all().is_not_null().sum())).item())


def _check_unique(frame: pl.DataFrame, column: str, where: _Where) -> None:
    repeated = frame.select((~pl.col(column).is_first_distinct()).arg_true()).to_series()
    if len(repeated):
        index = int(repeated[0])
        value = frame[column][index]
        first = int(frame.select((pl.col(column) == value).arg_true().first()).item())
        first_at = where.row(first).removeprefix(f"{where.path} ")
        raise InvalidSourceData(f"{where.cell(index, column)}: duplicate id {_show(value)} (first on {first_at})")


def _show(value: object) -> str:
    text = str(value)
    return repr(text if len(text) <= 60 else text[:60] + "...")
