"""Reading and validating the input tables: every malformed input names file, line and column."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from campaign_analytics.build.sources import METRICS, Column, Kind, _problem, _valid
from campaign_analytics.errors import InvalidSourceData
from tests.support.cells import BAD_CELLS, GOOD, TRICKY, with_cell
from tests.support.datasets import METRIC_COLUMNS, write_csv, write_dataset
from tests.support.pipeline import read_sources


def metrics_error(tmp_path: Path, rows: list[tuple[str, ...]]) -> str:
    """The error for a dataset in `tmp_path/data`, with that folder shown as `data`."""
    data = write_dataset(tmp_path / "data", metrics=rows)
    with pytest.raises(InvalidSourceData) as caught:
        read_sources(data)
    return str(caught.value).replace(str(tmp_path) + "/", "")


def error_of(data: Path) -> str:
    """The error reading `data`, its parent folder left out (every path in it is under `data`)."""
    with pytest.raises(InvalidSourceData) as caught:
        read_sources(data)
    return str(caught.value).replace(str(data.parent) + "/", "")


@pytest.mark.parametrize(("column", "value", "problem"), BAD_CELLS)
def test_a_bad_metrics_cell_is_named_by_file_line_and_column(
    tmp_path: Path, column: str, value: str, problem: str
) -> None:
    message = metrics_error(tmp_path, [GOOD, GOOD, with_cell(column, value)])
    assert message == f"data/campaign_daily_metrics.csv line 4, column {column}: {problem}"


def test_the_first_problem_is_reported_and_the_rest_counted(tmp_path: Path) -> None:
    rows = [GOOD, with_cell("spend", "x"), with_cell("clicks", "-1"), with_cell("clicks", "y")]
    assert metrics_error(tmp_path, rows) == (
        "data/campaign_daily_metrics.csv line 3, column spend: 'x' is not a decimal number "
        "(2 more problems in this file)"
    )


def test_quoted_line_breaks_move_the_line_numbers(tmp_path: Path) -> None:
    data = write_dataset(
        tmp_path / "data",
        campaigns=[("cmp-1", "two\nlines"), ("cmp-2", "three\nline\nname"), ("cmp-1", "again")],
    )
    assert error_of(data) == "data/campaigns.csv line 7, column campaign_id: duplicate id 'cmp-1' (first on line 2)"


@pytest.mark.parametrize(("table", "column"), [("campaigns", "campaign_id"), ("creators", "creator_id")])
def test_duplicate_and_empty_ids_fail(tmp_path: Path, table: str, column: str) -> None:
    rows = {table: [("x-1", "A"), ("x-2", "B"), ("x-1", "C")]}
    data = write_dataset(tmp_path / "dup", **rows)  # type: ignore[arg-type]
    assert error_of(data) == f"dup/{table}.csv line 4, column {column}: duplicate id 'x-1' (first on line 2)"

    rows = {table: [("x-1", "A"), ("", "B")]}
    data = write_dataset(tmp_path / "empty", **rows)  # type: ignore[arg-type]
    assert error_of(data) == f"empty/{table}.csv line 3, column {column}: value is empty (an id is required)"


def test_missing_file(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data")
    (data / "creators.csv").unlink()
    with pytest.raises(InvalidSourceData, match=r"missing input file creators\.csv \(or creators\.parquet\)$"):
        read_sources(data)


def test_missing_column(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data")
    write_csv(data / "campaign_daily_metrics.csv", METRIC_COLUMNS[:-1], [GOOD[:-1]])
    assert error_of(data) == (
        "data/campaign_daily_metrics.csv line 1: missing column 'revenue' (found: "
        "metric_date, campaign_id, creator_id, impressions, clicks, conversions, spend)"
    )


def test_empty_file(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data")
    (data / "campaigns.csv").write_bytes(b"")
    assert error_of(data).startswith("data/campaigns.csv line 1: the file is empty")


def test_a_row_with_too_many_fields(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data", metrics=[GOOD])
    with (data / "campaign_daily_metrics.csv").open("a") as handle:
        handle.write(",".join(GOOD) + ",extra\n")
    assert error_of(data) == "data/campaign_daily_metrics.csv line 3: 9 fields where the header has 8"


def test_invalid_utf8(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data")
    (data / "creators.csv").write_bytes(b"creator_id,creator_name\ncrt-1,Ann\ncrt-2,B\xffb\n")
    assert error_of(data) == "data/creators.csv line 3: not valid UTF-8 (byte 0xff)"


def test_both_csv_and_parquet_of_one_table(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data")
    pl.DataFrame({"campaign_id": ["cmp-1"], "campaign_name": ["One"]}).write_parquet(data / "campaigns.parquet")
    with pytest.raises(InvalidSourceData, match=r"both campaigns\.csv and campaigns\.parquet are present"):
        read_sources(data)


def test_extra_columns_are_ignored_and_values_typed(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data")
    write_csv(
        data / "campaign_daily_metrics.csv",
        ("note", *METRIC_COLUMNS),
        [("hi", *GOOD), ("", "2026-01-02", "cmp-1", "crt-1", "0", "0", "0", "0.000001", "")],
    )
    metrics = read_sources(data).metrics.collect()
    assert metrics.columns == [
        "metric_date",
        "campaign_id",
        "creator_id",
        "impressions",
        "clicks",
        "conversions",
        "spend_micros",
        "revenue_micros",
    ]
    assert metrics.select("spend_micros", "revenue_micros").rows() == [(1_500_000, 3_000_000), (1, None)]


def test_parquet_inputs_are_read_with_the_same_rules(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data")
    (data / "campaign_daily_metrics.csv").unlink()
    frame = pl.DataFrame(
        {
            "metric_date": [date(2026, 1, 1), date(2026, 1, 2)],
            "campaign_id": ["cmp-1", "cmp-1"],
            "creator_id": ["crt-1", "crt-1"],
            "impressions": [10, 20],
            "clicks": [1, 2],
            "conversions": [0, 1],
            "spend": [0.1, 2.675],  # floats are read as the decimals they print as
            "revenue": [None, 1.005],
        }
    )
    frame.write_parquet(data / "campaign_daily_metrics.parquet")
    metrics = read_sources(data).metrics.collect()
    assert metrics.select("spend_micros", "revenue_micros").rows() == [(100_000, None), (2_675_000, 1_005_000)]

    frame.with_columns(pl.col("metric_date").cast(pl.Datetime("us"))).write_parquet(
        data / "campaign_daily_metrics.parquet"
    )
    assert read_sources(data).metrics.collect()["metric_date"].to_list() == [date(2026, 1, 1), date(2026, 1, 2)]

    frame.with_columns(pl.Series("clicks", [1, -2])).write_parquet(data / "campaign_daily_metrics.parquet")
    assert error_of(data) == "data/campaign_daily_metrics.parquet row 2, column clicks: '-2' is negative"


@pytest.mark.parametrize("column", [c for c in METRICS.columns if c.name in TRICKY])
def test_the_fast_audit_and_the_exact_messages_flag_the_same_cells(column: Column) -> None:
    """The streaming audit (_valid) decides; the error path (_problem) explains. They must agree."""
    frame = pl.DataFrame({column.name: pl.Series(TRICKY[column.name], dtype=pl.String)})
    native = frame.with_columns(pl.col(column.name).cast(pl.Int64, strict=False)) if column.kind is Kind.COUNT else None
    for table in (frame, native):
        if table is None:
            continue
        dtype = table.schema[column.name]
        checked = table.select(valid=_valid(column, dtype), problem=_problem(column, dtype), value=pl.col(column.name))
        for row in checked.iter_rows(named=True):
            assert row["valid"] is (row["problem"] is None), row


def test_a_byte_order_mark_and_crlf_line_ends_are_read_as_usual(tmp_path: Path) -> None:
    plain = write_dataset(tmp_path / "plain", metrics=[GOOD, with_cell("revenue", "")])
    windows = write_dataset(tmp_path / "windows", metrics=[GOOD, with_cell("revenue", "")])
    for name in ("campaigns.csv", "creators.csv", "campaign_daily_metrics.csv"):
        text = (windows / name).read_text(encoding="utf-8")
        (windows / name).write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    expected, got = read_sources(plain), read_sources(windows)
    assert got.campaigns.equals(expected.campaigns)
    assert got.metrics.collect().equals(expected.metrics.collect())
