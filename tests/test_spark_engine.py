"""The Spark engine publishes the default engine's build: equal rollups (values, order, column
types), equal data-quality counts, the same refusals of bad input, and a clear failure instead
of any value Spark would wrap or overflow.

Every build here runs in one Spark session (local mode) shared by the whole test session; the
cluster test starts its own standalone master and worker. Skipped, with the reason in pytest's
summary, when pyspark or Java is missing; with REQUIRE_SPARK_TESTS=1 (CI) that fails instead.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from bench.generate import write as generate
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from polars.testing import assert_frame_equal

from campaign_analytics.build.pipeline import BuildResult, build
from campaign_analytics.build.sources import METRICS, Kind, _valid
from campaign_analytics.errors import BuildError, InvalidSourceData
from campaign_analytics.published.manifest import ROLLUPS, find_published, read_verified
from campaign_analytics.serve.app import create_app
from campaign_analytics.settings import Settings
from tests.support import spark_cluster
from tests.support.cells import BAD_CELLS, GOOD, TRICKY, with_cell
from tests.support.datasets import REPO, VISIBLE, write_csv, write_dataset
from tests.support.random_data import datasets

_missing = spark_cluster.missing()
if _missing is not None and os.environ.get("REQUIRE_SPARK_TESTS") == "1":
    raise RuntimeError(f"REQUIRE_SPARK_TESTS=1 but the Spark tests cannot run: {_missing}")
pytestmark = pytest.mark.skipif(_missing is not None, reason=f"Spark test skipped: {_missing}")

if _missing is None:
    from campaign_analytics.build.engines import spark as spark_engine


@pytest.fixture(scope="session")
def spark() -> Any:
    """The one local-mode session every in-process Spark build of the test session shares."""
    session = spark_engine.session()
    yield session
    session.stop()


def build_both(data: Path | str, out: Path, local: Path | None = None) -> tuple[BuildResult, BuildResult]:
    polars_build = build(local or Path(data), out / "polars")
    spark_build = build(data, out / "spark", engine="spark")
    return polars_build, spark_build


def assert_same_build(polars_build: BuildResult, spark_build: BuildResult) -> None:
    """Row for row, value for value, in the same order, with the same column types."""
    expected, got = read_verified(polars_build.build), read_verified(spark_build.build)
    for name in ROLLUPS:
        assert_frame_equal(got[name], expected[name], check_exact=True)
    for key in ("data_quality", "sql"):
        assert spark_build.build.manifest[key] == polars_build.build.manifest[key]
    inputs = {name: entry["rows"] for name, entry in spark_build.build.manifest["inputs"].items()}
    assert inputs == {name: entry["rows"] for name, entry in polars_build.build.manifest["inputs"].items()}
    assert (polars_build.build.manifest["engine"], spark_build.build.manifest["engine"]) == ("polars", "spark")


# --- the translation ----------------------------------------------------------------------------


def test_hugeint_becomes_a_38_digit_decimal() -> None:
    assert (
        spark_engine.translate("select cast(x as hugeint) as y from t")
        == "SELECT\n  CAST(x AS DECIMAL(38, 0)) AS y\nFROM t"
    )


def test_integer_division_is_exact_and_checked_instead_of_spark_div() -> None:
    translated = spark_engine.translate("select (a + 1) // b as q from t", pretty=False)
    assert translated == "SELECT CAST(((a + 1) - (a + 1) % b) / b AS BIGINT) AS q FROM t"


@pytest.mark.parametrize("name", ROLLUPS)
def test_every_sql_file_translates_with_no_type_spark_refuses(name: str) -> None:
    from campaign_analytics.build.sql import read_sql

    translated = spark_engine.translate(read_sql()[name].rollup_query)
    for refused in ("INT128", "HUGEINT", " DIV "):
        assert refused not in translated.upper()


def test_spark_div_would_have_wrapped_where_the_rule_fails(spark: Any) -> None:
    """Why the division rule exists: Spark's own DIV wraps a decimal quotient past 2^63."""
    wrapped = spark.sql("select (cast(20000000000000000000 as decimal(38, 0)) + 1) div 2 as q").first()["q"]
    assert wrapped < 0
    with pytest.raises(Exception, match="CAST_OVERFLOW"):
        spark.sql(spark_engine.translate("select (cast(20000000000000000000 as hugeint) + 1) // 2 as q")).collect()


def test_part_files_are_taken_in_partition_order_past_five_digits() -> None:
    names = ["part-100000-a-c000.zstd.parquet", "part-00002-b-c000.zstd.parquet", "part-20000-c-c000.zstd.parquet"]
    ordered = sorted((Path(n) for n in names), key=spark_engine._partition)
    assert [p.name.split("-")[1] for p in ordered] == ["00002", "20000", "100000"]


# --- equal builds ---------------------------------------------------------------------------------


def test_the_visible_sample_builds_the_same_on_both_engines(spark: Any, tmp_path: Path) -> None:
    polars_build, spark_build = build_both(VISIBLE, tmp_path)
    assert_same_build(polars_build, spark_build)
    assert spark_build.build.manifest["versions"]["spark"] == spark.version
    # the service serves the Spark build as it is, with the same bodies
    fixtures = VISIBLE / "benchmarks.json"
    answers = {}
    for engine, result in (("polars", polars_build), ("spark", spark_build)):
        settings = Settings.for_data(VISIBLE, rollup_dir=result.build.path.parents[1], benchmark_fixtures_file=fixtures)
        client = TestClient(create_app(settings))
        paths = (
            "/campaigns/cmp-001/performance",
            "/creators/top?campaign_id=cmp-004&limit=2",
            "/campaigns/cmp-002/anomalies",
        )
        responses = [client.get(path) for path in paths]
        assert {r.headers["x-build-id"] for r in responses} == {result.build.build_id}
        answers[engine] = [r.content for r in responses]
    assert answers["spark"] == answers["polars"]


EDGE_DATASETS: dict[str, dict[str, Any]] = {
    "no metrics rows": {"metrics": []},
    "a campaign without metrics, orphans, unknown creators": {
        "campaigns": [("cmp-1", "One"), ("cmp-2", "Two")],
        "metrics": [
            ("2026-01-01", "cmp-1", "crt-9", "10", "2", "1", "1.50", "3"),
            ("2026-01-01", "gone", "crt-1", "10", "2", "1", "1.50", "3"),
        ],
    },
    "revenue empty on every row": {
        "metrics": [
            ("2026-01-01", "cmp-1", "crt-1", "10", "2", "1", "1.50", ""),
            ("2026-01-02", "cmp-1", "crt-1", "0", "0", "0", "0", ""),
        ]
    },
    "exact halves round up": {
        "metrics": [
            ("2026-01-01", "cmp-1", "crt-1", "16000", "300", "3", "0.005", "0.01875"),
            ("2026-01-02", "cmp-1", "crt-1", "400", "7", "0", "2.975", "1.005"),
            ("2026-01-02", "cmp-1", "crt-1", "1", "0", "5", "1.005", "2.975"),
        ]
    },
    "ties ranked by creator id in byte order": {
        "creators": [("B", "b"), ("a", "a"), ("é", "e"), ("10", "ten"), ("9", "nine")],
        "metrics": [("2026-01-01", "cmp-1", c, "10", "3", "1", "1", "1") for c in ("é", "a", "B", "9", "10")],
    },
    "ids that look like numbers": {
        "campaigns": [("10", "ten"), ("9", "nine"), ("010", "zero-ten")],
        "creators": [("7", "seven"), ("007", "bond")],
        "metrics": [
            ("2026-01-01", "10", "7", "5", "1", "0", "1", "2"),
            ("2026-01-01", "010", "007", "5", "1", "0", "1", "2"),
            ("2026-01-01", "9", "7", "5", "1", "0", "1", "2"),
        ],
    },
    "repeated keys, odd funnels, line breaks in names": {
        "campaigns": [("cmp-1", 'two\nlines, "quoted"')],
        "creators": [("crt-1", "x\r\ny")],
        "metrics": [
            ("2026-01-01", "cmp-1", "crt-1", "10", "20", "30", "1.5", "3"),
            ("2026-01-01", "cmp-1", "crt-1", "+10", "05", "-0", "00.25", ""),
        ],
    },
    "totals near the 64-bit limit": {
        "metrics": [
            ("2026-01-01", "cmp-1", "crt-1", str(2**62), str(2**61), "3", "9223372036854.775807", ""),
            ("2026-01-02", "cmp-1", "crt-1", str(2**62 - 1), "0", "0", "0", "0.000001"),
        ]
    },
}


@pytest.mark.parametrize("name", EDGE_DATASETS)
def test_edge_datasets_build_the_same_on_both_engines(spark: Any, tmp_path: Path, name: str) -> None:
    data = write_dataset(tmp_path / "data", **EDGE_DATASETS[name])
    assert_same_build(*build_both(data, tmp_path))


def test_parquet_inputs_bom_and_crlf_build_the_same(spark: Any, tmp_path: Path) -> None:
    parquet = tmp_path / "parquet"
    parquet.mkdir()
    pl.DataFrame({"campaign_id": ["cmp-1"], "campaign_name": ["One"], "extra": [1]}).write_parquet(
        parquet / "campaigns.parquet"
    )
    pl.DataFrame({"creator_id": ["crt-1"], "creator_name": ["Ann"]}).write_parquet(parquet / "creators.parquet")
    pl.DataFrame(
        {
            "metric_date": pl.Series(["2026-01-01 23:59:00", "2026-01-02 00:00:00"]).str.to_datetime(),
            "campaign_id": ["cmp-1", "cmp-1"],
            "creator_id": ["crt-1", "crt-2"],
            "impressions": [10, 20],
            "clicks": pl.Series([2, 3], dtype=pl.Int32),
            "conversions": [1, 0],
            "spend": pl.Series([Decimal("1.5"), Decimal("2.675")], dtype=pl.Decimal(18, 6)),
            "revenue": pl.Series([None, Decimal("1.005")], dtype=pl.Decimal(18, 3)),
        }
    ).write_parquet(parquet / "campaign_daily_metrics.parquet")
    assert_same_build(*build_both(parquet, tmp_path / "p"))

    windows = write_dataset(tmp_path / "windows", metrics=[GOOD, with_cell("revenue", "")])
    for name in ("campaigns.csv", "creators.csv", "campaign_daily_metrics.csv"):
        text = (windows / name).read_text(encoding="utf-8")
        (windows / name).write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    assert_same_build(*build_both(windows, tmp_path / "w"))


@settings(
    max_examples=int(os.environ.get("SPARK_PROPERTY_EXAMPLES", "5")),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(datasets())
def test_random_datasets_build_the_same_on_both_engines(spark: Any, tmp_path: Path, dataset: Any) -> None:
    campaign_ids, creator_ids, rows = dataset
    case = Path(os.path.join(tmp_path, f"case-{abs(hash(repr(dataset)))}"))
    data = write_dataset(
        case / "data",
        campaigns=[(c, f"name {c}") for c in campaign_ids],
        creators=[(c, f"name {c}") for c in creator_ids],
        metrics=rows,
    )
    assert_same_build(*build_both(data, case))


def test_a_million_generated_rows_build_the_same(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    data = tmp_path_factory.mktemp("million") / "data"
    generate(1_000_000, data, "csv", seed=11)
    assert_same_build(*build_both(data, data.parent / "out"))


# --- refusals ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("column", "value", "problem"), BAD_CELLS)
def test_a_bad_cell_is_refused_with_the_default_engines_message(
    spark: Any, tmp_path: Path, column: str, value: str, problem: str
) -> None:
    """A local DATA_DIR: the same message as the default engine (file, line, column, value)."""
    data = write_dataset(tmp_path / "data", metrics=[GOOD, GOOD, with_cell(column, value)])
    with pytest.raises(InvalidSourceData) as caught:
        build(data, tmp_path / "out", engine="spark")
    assert str(caught.value) == f"{data}/campaign_daily_metrics.csv line 4, column {column}: {problem}"
    assert find_published(tmp_path / "out") is None


@pytest.mark.parametrize(("column", "value", "problem"), BAD_CELLS)
def test_a_bad_cell_in_a_uri_folder_is_refused_by_spark_naming_file_column_and_value(
    spark: Any, tmp_path: Path, column: str, value: str, problem: str
) -> None:
    """A DATA_DIR Spark alone reads (here file://): Spark's own checks, the same rules."""
    data = write_dataset(tmp_path / "data", metrics=[GOOD, GOOD, with_cell(column, value)])
    with pytest.raises(InvalidSourceData) as caught:
        build(data.as_uri(), tmp_path / "out", engine="spark")
    kind = next(c.kind for c in METRICS.columns if c.name == column)
    shown = f"{value!r}" if value else "an empty value"
    where = f"{data.as_uri()}/campaign_daily_metrics.csv"
    assert str(caught.value) == f"{where}, column {column}: {shown} is not {kind.value}"
    assert find_published(tmp_path / "out") is None


@pytest.mark.parametrize("column", [c for c in METRICS.columns if c.name in TRICKY])
def test_spark_flags_exactly_the_cells_the_default_engine_flags(spark: Any, column: Any) -> None:
    values = TRICKY[column.name]
    frame = spark.createDataFrame([(v,) for v in values], f"`{column.name}` string")
    dtype = frame.schema[column.name].dataType
    got = [row[0] for row in frame.select(spark_engine.valid(column, dtype)).collect()]
    expected = pl.DataFrame({column.name: pl.Series(values, dtype=pl.String)}).select(_valid(column, pl.String))
    assert got == expected.to_series().to_list(), list(zip(values, got, strict=True))
    if column.kind is Kind.COUNT:  # native integers too
        ints = spark.createDataFrame([(v,) for v in (5, 0, -5, None)], f"`{column.name}` bigint")
        got = [row[0] for row in ints.select(spark_engine.valid(column, ints.schema[column.name].dataType)).collect()]
        assert got == [True, True, False, False]


def test_a_uri_folder_is_checked_whole_on_spark(spark: Any, tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "dup", campaigns=[("cmp-1", "One"), ("cmp-1", "Again")])
    with pytest.raises(
        InvalidSourceData, match=r"/dup/campaigns\.csv, column campaign_id: duplicate id 'cmp-1' \(2 rows\)$"
    ):
        build(data.as_uri(), tmp_path / "out", engine="spark")
    (data / "creators.csv").unlink()
    with pytest.raises(InvalidSourceData, match=r"missing input file creators\.csv \(or creators\.parquet\)$"):
        build(data.as_uri(), tmp_path / "out", engine="spark")
    data = write_dataset(tmp_path / "no-name")
    write_csv(data / "creators.csv", ("creator_id",), [("crt-1",)])
    with pytest.raises(
        InvalidSourceData, match=r"/no-name/creators\.csv: missing column 'creator_name' \(found: creator_id\)$"
    ):
        build(data.as_uri(), tmp_path / "out", engine="spark")
    with pytest.raises(InvalidSourceData, match="DATA_DIR cannot be listed"):
        build((tmp_path / "nowhere").as_uri(), tmp_path / "out", engine="spark")


def test_a_uri_folder_builds_the_same_as_its_local_path(spark: Any, tmp_path: Path) -> None:
    polars_build, spark_build = build_both(VISIBLE.as_uri(), tmp_path, local=VISIBLE)
    assert_same_build(polars_build, spark_build)
    for name, entry in polars_build.build.manifest["inputs"].items():
        got = spark_build.build.manifest["inputs"][name]
        assert {k: got[k] for k in ("file", "bytes", "sha256", "rows")} == {
            k: entry[k] for k in ("file", "bytes", "sha256", "rows")
        }
        assert abs(got["mtime_ns"] - entry["mtime_ns"]) < 1_000_000  # Spark lists mtimes in milliseconds


# --- overflow ----------------------------------------------------------------------------------------


def test_a_rate_past_2_to_the_63_fails_clearly_and_publishes_nothing(spark: Any, tmp_path: Path) -> None:
    """20000 * clicks / impressions beyond BIGINT: polars refuses, Spark's DIV would have
    published a negative CTR (-8.4e14); the Spark engine fails with exit 2 instead."""
    good = write_dataset(tmp_path / "good", metrics=[GOOD])
    out = tmp_path / "out"
    before = build(good, out, engine="spark").build
    huge = write_dataset(
        tmp_path / "huge",
        metrics=[("2026-01-01", "cmp-1", "crt-1", "1", str(10**15), "0", "0.000001", "1000000000000")],
    )
    with pytest.raises(InvalidSourceData, match=r"a rollup value does not fit its type on Spark \(.*CAST_OVERFLOW"):
        build(huge, out, engine="spark")
    with pytest.raises(InvalidSourceData):
        build(huge, tmp_path / "polars")  # the default engine refuses the same input
    assert find_published(out) == before
    assert [p.name for p in (out / "builds").iterdir()] == [before.path.name]


def test_totals_past_2_to_the_63_are_refused_on_spark_too(spark: Any, tmp_path: Path) -> None:
    rows = [("2026-01-01", "cmp-1", "crt-1", str(2**62), "0", "0", "0", "")] * 2
    data = write_dataset(tmp_path / "data", metrics=rows)
    message = re.escape("the impressions column adds up to 9223372036854775808, more than 2^63-1")
    with pytest.raises(InvalidSourceData, match=message):
        build(data, tmp_path / "out", engine="spark")
    with pytest.raises(InvalidSourceData, match=message):
        build(data.as_uri(), tmp_path / "out", engine="spark")


# --- the command line and a real cluster --------------------------------------------------------------


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "campaign_analytics", "build", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {}), "PYTHONPATH": str(REPO / "python")},
        timeout=600,
    )


def test_a_standalone_cluster_builds_through_spark_master(tmp_path: Path) -> None:
    """A master and one worker from pyspark's own distribution, on 127.0.0.1; the CLI builds
    through --spark-master and publishes what the default engine publishes."""
    with spark_cluster.standalone_cluster(tmp_path / "cluster") as url:
        done = cli("--engine", "spark", "--spark-master", url, "--data-dir", str(VISIBLE), "--out", str(tmp_path / "s"))
        assert done.returncode == 0, done.stderr[-3000:]
        assert "published build" in done.stdout
        worker_log = (tmp_path / "cluster" / "worker.log").read_text(errors="replace")
        assert "Asked to launch executor" in worker_log  # the work ran on the worker, not in the driver
    spark_build = find_published(tmp_path / "s")
    assert spark_build is not None
    polars_build = build(VISIBLE, tmp_path / "p")
    assert_same_build(polars_build, BuildResult(spark_build, 0.0))


def test_build_engine_selects_spark_and_bad_input_exits_2(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data", metrics=[GOOD, with_cell("clicks", "-5")])
    done = cli("--data-dir", str(data), "--out", str(tmp_path / "out"), env={"BUILD_ENGINE": "spark"})
    assert done.returncode == 2, done.stderr[-3000:]
    assert done.stderr.strip().endswith(f"{data}/campaign_daily_metrics.csv line 3, column clicks: '-5' is negative")
    assert "Traceback" not in done.stderr
    assert "starting Spark" in done.stderr
    assert not (tmp_path / "out" / "current").exists()


def test_spark_reading_other_rows_than_the_default_engine_fails_the_build(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file Spark would read differently (a CSV dialect difference) is never published."""
    monkeypatch.setattr(spark_engine, "validate", lambda sources: 34)
    with pytest.raises(BuildError, match="Spark read 33 rows where the default engine's reader read 34"):
        build(VISIBLE, tmp_path / "out", engine="spark")
    assert find_published(tmp_path / "out") is None


def test_the_cli_reads_a_uri_and_names_the_dataset_after_its_last_segment(tmp_path: Path) -> None:
    done = cli("--engine", "spark", "--data-dir", VISIBLE.as_uri() + "/", "--out", str(tmp_path / "out"), "--quiet")
    assert done.returncode == 0, done.stderr[-3000:]
    published = find_published(tmp_path / "out")
    assert published is not None
    assert (published.manifest["dataset"], published.manifest["engine"]) == ("visible", "spark")
