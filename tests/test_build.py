"""The build job: publish atomically, never lose the published build, check itself, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import polars as pl
import pytest

from campaign_analytics.build import publish as build_module
from campaign_analytics.build.checks import check_rollups
from campaign_analytics.build.pipeline import build
from campaign_analytics.errors import BuildError, ConfigError, InvalidSourceData
from campaign_analytics.published.manifest import ROLLUPS, find_published, is_current, sha256_file
from tests.support.datasets import REPO, VISIBLE, copy_visible, write_dataset
from tests.support.pipeline import read_sources, run_sql
from tests.support.waits import wait_for


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (links as their targets), to compare byte for byte."""
    out = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        if path.is_symlink():
            out[key] = os.readlink(path).encode()
        elif path.is_file():
            out[key] = path.read_bytes()
    return out


def test_publishes_three_rollups_and_a_manifest(tmp_path: Path) -> None:
    result = build(VISIBLE, tmp_path / "out")
    current = tmp_path / "out" / "current"
    assert current.is_symlink() and current.resolve() == result.build.path
    manifest = json.loads((current / "manifest.json").read_text())
    assert manifest["schema_version"] == 2
    assert manifest["dataset"] == "visible"
    assert manifest["build_id"] == result.build.build_id == current.resolve().name
    assert {k: v["rows"] for k, v in manifest["inputs"].items()} == {
        "campaigns": 6,
        "creators": 6,
        "campaign_daily_metrics": 33,
    }
    assert manifest["inputs"]["campaigns"]["sha256"] == sha256_file(VISIBLE / "campaigns.csv")
    assert set(manifest["sql"]) == {f"{name}.sql" for name in ROLLUPS}
    for name in ROLLUPS:
        (part,) = manifest["outputs"][name]["parts"]  # this engine writes each rollup as one part
        assert part["file"] == f"{name}.parquet"
        assert part["sha256"] == sha256_file(current / part["file"])
        assert part["rows"] == manifest["outputs"][name]["rows"] == pl.read_parquet(current / part["file"]).height
    assert manifest["data_quality"] == {
        "orphan_campaign_rows": 1,
        "orphan_campaign_ids": 1,
        "unknown_creator_rows": 2,
        "unknown_creator_ids": 1,
        "clicks_above_impressions_rows": 1,
        "conversions_above_clicks_rows": 1,
        "duplicate_key_rows_summed": 1,
    }
    assert set(manifest["versions"]) == {"campaign_analytics", "python", "polars"}


def test_same_inputs_give_the_same_rollups(tmp_path: Path) -> None:
    first = build(VISIBLE, tmp_path / "a").build
    second = build(VISIBLE, tmp_path / "b").build
    for name in ROLLUPS:
        assert pl.read_parquet(first.rollup_parts(name)).equals(pl.read_parquet(second.rollup_parts(name)))
        assert first.manifest["outputs"][name]["parts"] == second.manifest["outputs"][name]["parts"]
    assert first.build_id != second.build_id


def test_invalid_input_leaves_the_published_build_byte_for_byte(tmp_path: Path) -> None:
    data = copy_visible(tmp_path / "data")
    out = tmp_path / "out"
    build(data, out)
    before = snapshot(out)
    with (data / "campaign_daily_metrics.csv").open("a") as handle:
        handle.write("2026-01-09,cmp-001,crt-001,12x,1,1,1,1\n")
    with pytest.raises(InvalidSourceData, match="line 35, column impressions: '12x' is not a whole number"):
        build(data, out)
    assert snapshot(out) == before


def test_a_build_failing_halfway_through_writing_cleans_up_and_keeps_the_old_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    build(VISIBLE, out)
    before = snapshot(out)
    real_write = build_module.write_rollup
    written: list[Path] = []

    def fail_on_second(frame: pl.DataFrame, path: Path) -> None:
        if written:
            raise OSError(28, "No space left on device")
        real_write(frame, path)
        written.append(path)

    monkeypatch.setattr(build_module, "write_rollup", fail_on_second)
    with pytest.raises(OSError, match="No space left"):
        build(VISIBLE, out)
    assert written and not written[0].exists()  # the half-written staging folder is gone
    assert snapshot(out) == before


def test_a_refused_build_into_a_new_folder_leaves_nothing(tmp_path: Path) -> None:
    data = copy_visible(tmp_path / "data")
    (data / "campaigns.csv").write_text("campaign_id,campaign_name\ncmp-001,A\ncmp-001,B\n")
    with pytest.raises(InvalidSourceData, match="duplicate id"):
        build(data, tmp_path / "new" / "rollups")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_a_build_failing_while_writing_into_a_new_folder_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(frame: pl.DataFrame, path: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(build_module, "write_rollup", full_disk)
    with pytest.raises(OSError, match="No space left"):
        build(VISIBLE, tmp_path / "rollups")
    assert list(tmp_path.iterdir()) == []


def test_a_refused_build_leaves_a_folder_it_did_not_make(tmp_path: Path) -> None:
    data = copy_visible(tmp_path / "data")
    (data / "campaigns.csv").write_text("campaign_id,campaign_name\ncmp-001,A\ncmp-001,B\n")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(InvalidSourceData):
        build(data, out)
    assert out.is_dir()


def _waiting_for_a_lock(lock: Path) -> bool:
    """Does some process wait for a lock on `lock`'s file? (/proc/locks marks waiters with ->)"""
    inode = f":{lock.stat().st_ino} "
    return any("->" in line and inode in line for line in Path("/proc/locks").read_text().splitlines())


def test_a_build_waiting_for_the_lock_of_a_folder_removed_by_a_failed_build_takes_a_new_lock(
    tmp_path: Path,
) -> None:
    out = tmp_path / "rollups"
    inside_second = threading.Event()
    second_saw: list[bool] = []

    def second() -> None:
        with build_module.exclusive(out):
            second_saw.append((out / build_module.LOCK_FILE).is_file())
            inside_second.set()

    with pytest.raises(RuntimeError, match="refused"), build_module.exclusive(out):
        waiter = threading.Thread(target=second)
        waiter.start()
        wait_for(
            lambda: _waiting_for_a_lock(out / build_module.LOCK_FILE),
            message="the second build never waited for the lock",
        )
        raise RuntimeError("refused")
    waiter.join(timeout=10)
    assert inside_second.is_set() and second_saw == [True]
    assert (out / build_module.LOCK_FILE).is_file()  # the second build made the folder anew


def test_old_builds_are_pruned_but_the_previous_one_is_kept(tmp_path: Path) -> None:
    out = tmp_path / "out"
    ids = [build(VISIBLE, out).build.build_id for _ in range(3)]
    assert sorted(p.name for p in (out / "builds").iterdir()) == sorted(ids[1:])
    assert find_published(out) is not None and find_published(out).build_id == ids[-1]  # type: ignore[union-attr]


def test_staleness_follows_inputs_and_sql(tmp_path: Path) -> None:
    data = copy_visible(tmp_path / "data")
    published = build(data, tmp_path / "out").build
    assert is_current(published, data)
    skipped = build(data, tmp_path / "out", only_if_stale=True)
    assert skipped.skipped and skipped.build.build_id == published.build_id

    os.utime(data / "creators.csv", ns=(1, 1))  # touched but identical: still current
    assert is_current(published, data)
    with (data / "creators.csv").open("a") as handle:
        handle.write("crt-new,New\n")
    assert not is_current(published, data)

    sql = tmp_path / "sql"
    sql.mkdir()
    for name in ROLLUPS:
        (sql / f"{name}.sql").write_text((REPO / "sql" / f"{name}.sql").read_text() + "\n-- changed\n")
    assert not is_current(find_published(tmp_path / "out"), data, sql)  # type: ignore[arg-type]


def test_reconciliation_catches_rollups_that_disagree(tmp_path: Path) -> None:
    frames = run_sql(read_sources(VISIBLE))
    check_rollups(frames)  # the real ones agree
    broken = dict(frames)
    broken["daily_anomalies"] = frames["daily_anomalies"].with_columns(
        pl.when(pl.col("campaign_id") == "cmp-002")
        .then(pl.col("total_clicks") + 1)
        .otherwise(pl.col("total_clicks"))
        .alias("total_clicks")
    )
    with pytest.raises(
        BuildError,
        match=r"campaign 'cmp-002' total_clicks is 190 in campaign_performance but daily_anomalies adds up to 194",
    ):
        check_rollups(broken)
    duplicated = dict(frames)
    duplicated["top_creators"] = pl.concat([frames["top_creators"], frames["top_creators"].head(1)])
    with pytest.raises(BuildError, match=r"top_creators: key \(campaign_id, creator_id\) is not unique"):
        check_rollups(duplicated)


def sql_copy(folder: Path, edit: dict[str, tuple[str, str]]) -> Path:
    """The SQL files copied to `folder`, with one (old, new) text replacement in some of them."""
    folder.mkdir()
    for name in ROLLUPS:
        text = (REPO / "sql" / f"{name}.sql").read_text()
        if name in edit:
            old, new = edit[name]
            assert old in text
            text = text.replace(old, new)
        (folder / f"{name}.sql").write_text(text)
    return folder


def test_the_checked_key_is_the_one_in_the_sql_header(tmp_path: Path) -> None:
    # claim that one creator row per campaign is the grain: the real rollup breaks that key
    sql = sql_copy(tmp_path / "sql", {"top_creators": ("-- key:   campaign_id, creator_id", "-- key:   campaign_id")})
    with pytest.raises(BuildError, match=r"top_creators: key \(campaign_id\) is not unique"):
        build(VISIBLE, tmp_path / "out", sql_dir=sql)
    assert not (tmp_path / "out" / "current").exists()


def test_the_build_runs_only_the_text_above_the_marker(tmp_path: Path) -> None:
    # below the marker: something polars SQL could never run (a placeholder); the build never sees it
    sql = sql_copy(tmp_path / "sql", {"daily_anomalies": ("order by metric_date", "order by metric_date limit ?")})
    published = build(VISIBLE, tmp_path / "out", sql_dir=sql).build
    reference = build(VISIBLE, tmp_path / "reference").build
    for name in ROLLUPS:
        assert pl.read_parquet(published.rollup_parts(name)).equals(pl.read_parquet(reference.rollup_parts(name)))
    moved = sql_copy(tmp_path / "sql-2", {"daily_anomalies": ("-- per-campaign select", "-- the per-campaign select")})
    with pytest.raises(
        BuildError, match=r"daily_anomalies\.sql: needs exactly one line starting '-- per-campaign select'"
    ):
        build(VISIBLE, tmp_path / "out-2", sql_dir=moved)


def test_totals_too_large_for_64_bits_are_invalid_input(tmp_path: Path) -> None:
    big = str(2**63 - 1)
    data = write_dataset(
        tmp_path / "data",
        metrics=[
            ("2026-01-01", "cmp-1", "crt-1", big, "0", "0", "0", ""),
            ("2026-01-02", "cmp-1", "crt-1", big, "0", "0", "0", ""),
        ],
    )
    with pytest.raises(
        InvalidSourceData, match=r"the impressions column adds up to 18446744073709551614, more than 2\^63-1"
    ):
        build(data, tmp_path / "out")
    assert not (tmp_path / "out" / "current").exists()


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "campaign_analytics", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO / "python"), **(env or {})},
        check=False,
    )


def test_cli_publishes_and_prints_a_summary(tmp_path: Path) -> None:
    done = run_cli("build", "--data-dir", str(VISIBLE), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("published build ")
    assert "rows in:  campaigns 6, creators 6, campaign_daily_metrics 33" in done.stdout
    assert "rows out: campaign_performance 6, top_creators 14, daily_anomalies 17" in done.stdout
    assert (tmp_path / "out" / "current" / "manifest.json").is_file()


def test_cli_exits_2_with_a_message_and_no_traceback_on_bad_input(tmp_path: Path) -> None:
    data = copy_visible(tmp_path / "data")
    (data / "campaigns.csv").write_text("campaign_id,campaign_name\ncmp-001,A\ncmp-001,B\n")
    done = run_cli("build", "--data-dir", str(data), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    # the last stderr line (progress lines come before it, one per step)
    assert done.stderr.splitlines()[-1] == (
        f"campaign-analytics build: {data / 'campaigns.csv'} line 3, column campaign_id: "
        "duplicate id 'cmp-001' (first on line 2)"
    )
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_cli_defaults_out_to_rollup_dir(tmp_path: Path) -> None:
    done = run_cli("build", "--data-dir", str(VISIBLE), env={"ROLLUP_DIR": str(tmp_path / "env-out")})
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "env-out" / "current").exists()


def test_cli_exits_1_when_the_output_cannot_be_written(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    done = run_cli("build", "--data-dir", str(VISIBLE), "--out", str(blocker / "out"))
    assert done.returncode == 1
    assert "nothing was published" in done.stderr


def test_the_sql_reads_the_same_money_as_decimals(tmp_path: Path) -> None:
    spends = ["0.1", "2.675", "99.995", "0.000001", "9223372036854.775807"]
    data = write_dataset(
        tmp_path / "data",
        metrics=[
            ("2026-01-01", "cmp-1", "crt-1", 1, 1, 1, spend, "" if i % 2 else spend) for i, spend in enumerate(spends)
        ],
    )
    sources = read_sources(data)
    rows = sources.metric_rows.collect()
    assert rows.schema["spend"] == rows.schema["revenue"] == pl.Decimal(38, 6)
    assert [str(v) for v in rows["spend"]] == ["0.100000", "2.675000", "99.995000", "0.000001", "9223372036854.775807"]
    micros = sources.metrics.collect()
    assert rows["spend"].to_physical().to_list() == micros["spend_micros"].to_list()
    assert rows["revenue"].to_physical().to_list() == micros["revenue_micros"].to_list()


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--spark-master", "spark://127.0.0.1:7077"], {}, "--spark-master needs --engine spark"),
        ([], {"BUILD_ENGINE": "duckdb"}, "BUILD_ENGINE='duckdb': choose polars or spark"),
        (["--engine", "polars", "--data-dir", "hdfs://nn/data"], {}, "only --engine spark reads a URI"),
    ],
)
def test_cli_refuses_engine_options_that_do_not_fit(
    tmp_path: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    data = [] if "--data-dir" in args else ["--data-dir", str(VISIBLE)]
    done = run_cli("build", *data, *args, "--out", str(tmp_path / "out"), env=env)
    assert done.returncode == 2
    assert message in done.stderr
    assert not (tmp_path / "out").exists()


def test_an_unknown_engine_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown build engine 'duckdb'"):
        build(VISIBLE, tmp_path / "out", engine="duckdb")
    with pytest.raises(ConfigError, match="the default engine reads local folders"):
        build("hdfs://nn/data", tmp_path / "out")
