"""The input tables: their schemas, how they are read, and how they are checked (SPEC §2).

Each table is a CSV file (header row, UTF-8, RFC 4180 quoting) or a Parquet file with the same
columns. Everything is read as text first and converted here, column by column, with vectorised
polars expressions, so that a bad cell can be reported by file, line and column:

    campaign_daily_metrics.csv line 4, column impressions: '12x' is not a whole number

Money is converted to exact integer micros (millionths): `spend` -> `spend_micros`,
`revenue` -> `revenue_micros` (null when the cell is empty). No float ever holds money.
"""

from __future__ import annotations

import csv
import enum
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from campaign_analytics.errors import InvalidSourceData

MICROS_PER_UNIT = 1_000_000
_INT64_MAX = 2**63 - 1


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
    """The three validated tables, typed, plus the files they came from."""

    campaigns: pl.DataFrame
    creators: pl.DataFrame
    metrics: pl.DataFrame
    files: dict[str, Path]


def locate(data_dir: Path, spec: TableSpec) -> Path:
    """The one file that holds `spec`: `<name>.csv` or `<name>.parquet`, never both."""
    found = [p for p in (data_dir / f"{spec.name}.csv", data_dir / f"{spec.name}.parquet") if p.is_file()]
    if not found:
        raise InvalidSourceData(f"{data_dir}: missing input file {spec.name}.csv (or {spec.name}.parquet)")
    if len(found) == 2:
        raise InvalidSourceData(
            f"{data_dir}: both {spec.name}.csv and {spec.name}.parquet are present; keep exactly one"
        )
    return found[0]


def read_sources(data_dir: Path) -> Sources:
    if not data_dir.is_dir():
        raise InvalidSourceData(f"{data_dir}: DATA_DIR is not a folder")
    files = {spec.name: locate(data_dir, spec) for spec in TABLES}
    frames = {spec.name: read_table(files[spec.name], spec) for spec in TABLES}
    return Sources(
        campaigns=frames[CAMPAIGNS.name],
        creators=frames[CREATORS.name],
        metrics=frames[METRICS.name],
        files=files,
    )


def read_table(path: Path, spec: TableSpec) -> pl.DataFrame:
    """Read one table and return it typed; raise InvalidSourceData at the first bad cell."""
    raw = _read_parquet(path, spec) if path.suffix == ".parquet" else _read_csv(path, spec)
    return _convert(raw, spec, _Where(path, raw))


# --- reading -------------------------------------------------------------------------------


def _read_csv(path: Path, spec: TableSpec) -> pl.DataFrame:
    try:
        header = pl.read_csv(path, n_rows=0, infer_schema=False).columns
    except pl.exceptions.NoDataError:
        raise InvalidSourceData(f"{path.name} line 1: the file is empty (a header row is required)") from None
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InvalidSourceData(_diagnose_csv(path, None) or f"{path.name}: cannot be read as CSV: {exc}") from None
    _require_columns(path, "line 1: ", header, spec)
    try:
        return pl.read_csv(
            path,
            columns=spec.column_names,
            infer_schema=False,  # every column as text; conversion happens in _convert
        )
    except (pl.exceptions.PolarsError, OSError) as exc:
        message = _diagnose_csv(path, len(header))
        raise InvalidSourceData(message or f"{path.name}: cannot be read as CSV: {exc}") from None


def _read_parquet(path: Path, spec: TableSpec) -> pl.DataFrame:
    try:
        schema = pl.read_parquet_schema(path)
        _require_columns(path, "", list(schema), spec)
        frame = pl.read_parquet(path, columns=spec.column_names)
    except InvalidSourceData:
        raise
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InvalidSourceData(f"{path.name}: cannot be read as Parquet: {exc}") from None
    # Native integer and date columns are kept; everything else goes through the text path, so
    # a float spend of 0.1 is read as the decimal it prints as, "0.1", not as 0.1000000000000000055.
    casts = []
    for column in spec.columns:
        dtype = frame.schema[column.name]
        native = (column.kind is Kind.COUNT and dtype.is_integer()) or (column.kind is Kind.DATE and dtype == pl.Date)
        if not native and dtype != pl.String:
            casts.append(pl.col(column.name).cast(pl.String))
    return frame.with_columns(casts) if casts else frame


def _require_columns(path: Path, where: str, header: Sequence[str], spec: TableSpec) -> None:
    missing = [name for name in spec.column_names if name not in header]
    if missing:
        names = ", ".join(repr(n) for n in missing)
        found = ", ".join(header) or "no columns"
        raise InvalidSourceData(f"{path.name} {where}missing column {names} (found: {found})")


def _diagnose_csv(path: Path, expected_fields: int | None) -> str | None:
    """Find where a file that polars refused is broken, with Python's csv module (slow, exact)."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        data = path.read_bytes()
        line = data.count(b"\n", 0, exc.start) + 1
        return f"{path.name} line {line}: not valid UTF-8 (byte {data[exc.start]:#04x})"
    except OSError as exc:
        return f"{path.name}: cannot be read: {exc.strerror}"
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        for record in reader:
            width = expected_fields if expected_fields is not None else len(record)
            if expected_fields is None:
                expected_fields = len(record)
            if record and len(record) != width:
                return f"{path.name} line {reader.line_num}: {len(record)} fields where the header has {width}"
    except csv.Error as exc:
        return f"{path.name} line {reader.line_num}: malformed CSV ({exc})"
    return None


# --- converting and checking ---------------------------------------------------------------


class _Where:
    """Turns a row index into 'file line N' (CSV) or 'file row N' (Parquet)."""

    def __init__(self, path: Path, raw: pl.DataFrame) -> None:
        self.path = path
        self.raw = raw

    def row(self, index: int) -> str:
        if self.path.suffix == ".parquet":
            return f"{self.path.name} row {index + 1}"
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
        return f"{self.path.name} line {index + 2 + extra}"

    def cell(self, index: int, column: str) -> str:
        return f"{self.row(index)}, column {column}"


_COUNT_RE = r"^[0-9]+$"
_NEGATIVE_COUNT_RE = r"^-[0-9]+$"
_DECIMAL_RE = r"^[0-9]+(\.[0-9]+)?$"
_NEGATIVE_DECIMAL_RE = r"^-[0-9]+(\.[0-9]+)?$"
_SIX_PLACES_RE = r"^[0-9]+(\.[0-9]{1,6})?$"
_DATE_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


def _problem(column: Column, dtype: pl.DataType) -> pl.Expr:
    """An expression that is null where a cell is fine and names the problem where it is not."""
    col = pl.col(column.name)
    if column.kind is Kind.ID:
        return pl.when(col.is_null() | (col == "")).then(pl.lit("is empty (an id is required)"))
    if column.kind is Kind.TEXT:
        return pl.lit(None, dtype=pl.String)
    if column.kind is Kind.COUNT and dtype.is_integer():
        return (
            pl.when(col.is_null())
            .then(pl.lit("is empty (a whole number >= 0 is required)"))
            .when(col < 0)
            .then(pl.lit("is negative"))
        )
    if column.kind is Kind.DATE and dtype == pl.Date:
        return pl.when(col.is_null()).then(pl.lit("is empty (a date YYYY-MM-DD is required)"))
    empty = col.is_null() | (col == "")
    if column.kind is Kind.COUNT:
        return (
            pl.when(empty)
            .then(pl.lit("is empty (a whole number >= 0 is required)"))
            .when(col.str.contains(_NEGATIVE_COUNT_RE))
            .then(pl.lit("is negative"))
            .when(~col.str.contains(_COUNT_RE))
            .then(pl.lit("is not a whole number"))
            .when(col.cast(pl.Int64, strict=False).is_null())
            .then(pl.lit("is too large"))
        )
    if column.kind is Kind.DATE:
        return (
            pl.when(empty)
            .then(pl.lit("is empty (a date YYYY-MM-DD is required)"))
            .when(~col.str.contains(_DATE_RE) | col.str.strptime(pl.Date, "%Y-%m-%d", strict=False).is_null())
            .then(pl.lit("is not a date (YYYY-MM-DD)"))
        )
    # MONEY / OPTIONAL_MONEY
    required = (
        pl.when(empty).then(pl.lit("is empty (a decimal number >= 0 is required)"))
        if column.kind is Kind.MONEY
        else pl.when(pl.lit(False)).then(pl.lit(None, dtype=pl.String))
    )
    present = ~empty
    return (
        required.when(present & col.str.contains(_NEGATIVE_DECIMAL_RE))
        .then(pl.lit("is negative"))
        .when(present & ~col.str.contains(_DECIMAL_RE))
        .then(pl.lit("is not a decimal number"))
        .when(present & ~col.str.contains(_SIX_PLACES_RE))
        .then(pl.lit("has more than 6 decimal places"))
        .when(present & (_micros(col).is_null() | (_micros(col) > _INT64_MAX)))
        .then(pl.lit("is too large"))
    )


def _micros(col: pl.Expr) -> pl.Expr:
    """Exact decimal text -> integer millionths (Int128), null where it does not fit."""
    return col.cast(pl.Decimal(38, 6), strict=False).to_physical()


def _value(column: Column, dtype: pl.DataType) -> pl.Expr:
    col = pl.col(column.name)
    if column.kind is Kind.ID:
        return col
    if column.kind is Kind.TEXT:
        return pl.when(col == "").then(None).otherwise(col).alias(column.name)
    if column.kind is Kind.COUNT:
        return col.cast(pl.Int64)
    if column.kind is Kind.DATE:
        return col if dtype == pl.Date else col.str.strptime(pl.Date, "%Y-%m-%d")
    blank = pl.when(col == "").then(None).otherwise(col)
    return _micros(blank).cast(pl.Int64).alias(column.output_name)


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
        first_at = where.row(first).removeprefix(f"{where.path.name} ")
        raise InvalidSourceData(f"{where.cell(index, column)}: duplicate id {_show(value)} (first on {first_at})")


def _show(value: object) -> str:
    text = str(value)
    return repr(text if len(text) <= 60 else text[:60] + "...")
