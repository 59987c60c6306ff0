"""The build in parts: the metrics split by ranges of campaign ids, each range computed alone.

Splitting must change nothing: the same rollups, in key order across the parts, the same
data-quality counts (keys repeated in different places of the file, unknown creators seen in
several parts), and the same refusals of bad input wherever in the file the bad cell is.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings

from campaign_analytics.build.engines import polars as engine
from campaign_analytics.build.pipeline import build
from campaign_analytics.build.sources import open_sources
from campaign_analytics.errors import InvalidSourceData
from campaign_analytics.published.manifest import ROLLUPS, read_verified
from tests.support.datasets import VISIBLE, copy_visible, write_dataset
from tests.support.pipeline import read_sources, run_sql
from tests.support.random_data import datasets, write


def test_ranges_are_the_sorted_ids_in_byte_order_cut_into_equal_pieces() -> None:
    ids = pl.Series(["b", "B", "é", "a", "10", "9", "c"])
    ranges = engine.campaign_ranges(ids, rows=7_000, part_rows=2_000)
    assert [r.to_list() for r in ranges] == [["10", "9"], ["B", "a"], ["b", "c"], ["é"]]
    assert len(engine.campaign_ranges(ids, rows=7_000, part_rows=10_000)) == 1
    assert len(engine.campaign_ranges(ids, rows=7_000, part_rows=1)) == len(ids)  # never more parts than campaigns
    (empty,) = engine.campaign_ranges(pl.Series([], dtype=pl.String), rows=10, part_rows=1)
    assert empty.len() == 0


def test_the_visible_sample_in_a_part_per_campaign_equals_one_part(tmp_path: Path) -> None:
    sources = read_sources(VISIBLE)
    whole = run_sql(sources)
    parts = run_sql(sources, part_rows=1)
    for name in ROLLUPS:
        assert parts[name].equals(whole[name]), name


def test_a_build_in_parts_publishes_them_in_key_order_and_serves_the_same_rollups(
    tmp_path: Path,
) -> None:
    data = copy_visible(tmp_path / "data")
    campaigns = (data / "campaigns.csv").read_text().splitlines()
    (data / "campaigns.csv").write_text("\n".join([campaigns[0], *reversed(campaigns[1:])]) + "\n")
    reference = run_sql(read_sources(VISIBLE), part_rows=10**9)  # one part
    single = build(data, tmp_path / "out", part_rows=1).build  # a part per campaign
    assert all(len(single.manifest["outputs"][name]["parts"]) > 1 for name in ROLLUPS)
    frames = read_verified(single)  # verifies every part and the key order across them
    for name in ROLLUPS:
        assert frames[name].equals(reference[name])
        files = [part["file"] for part in single.manifest["outputs"][name]["parts"]]
        assert files == sorted(files) and all(f.startswith(f"{name}-") for f in files)
    campaigns = frames["campaign_performance"]["campaign_id"].to_list()
    assert len(single.manifest["outputs"]["campaign_performance"]["parts"]) == len(campaigns)
    assert not list((single.path).glob(".split*")), "the split's work files are not published"


def test_parts_without_metrics_still_give_every_campaign_and_at_least_one_part(tmp_path: Path) -> None:
    data = write_dataset(
        tmp_path / "data",
        campaigns=[("a", "A"), ("b", "B"), ("c", "C")],
        metrics=[("2026-01-01", "b", "crt-1", 10, 1, 0, "1.5", "")],
    )
    frames = run_sql(read_sources(data), part_rows=1)
    assert frames["campaign_performance"]["campaign_id"].to_list() == ["a", "b", "c"]
    assert frames["campaign_performance"]["total_impressions"].to_list() == [0, 10, 0]
    assert frames["top_creators"]["campaign_id"].to_list() == ["b"]
    empty = write_dataset(tmp_path / "empty", campaigns=[("a", "A"), ("b", "B")])
    with tempfile.TemporaryDirectory() as staging:
        computed = engine.compute(open_sources(empty), Path(staging), part_rows=1)
        assert {name: len(parts) for name, parts in computed.parts.items()} == {
            "campaign_performance": 2,
            "top_creators": 1,  # empty, but there
            "daily_anomalies": 1,
        }


def test_repeated_keys_far_apart_in_the_file_are_counted_once_per_key(tmp_path: Path) -> None:
    """Rows of one key sit at both ends of the file, those of its neighbour campaign in between;
    an unknown creator appears in two parts and counts as one id."""
    rows = [
        ("2026-01-01", "a", "crt-1", 1, 0, 0, "1", ""),
        ("2026-01-01", "b", "ghost", 1, 0, 0, "1", ""),
        ("2026-01-01", "c", "ghost", 1, 0, 0, "1", ""),
        ("2026-01-01", "nowhere", "crt-1", 1, 0, 0, "1", ""),
        ("2026-01-01", "nowhere", "crt-1", 1, 0, 0, "1", ""),
        ("2026-01-01", "a", "crt-1", 2, 0, 0, "2", ""),
        ("2026-01-02", "a", "crt-1", 2, 0, 0, "2", ""),
        ("2026-01-01", "b", "ghost", 1, 0, 0, "1", ""),
    ]
    data = write_dataset(tmp_path / "data", campaigns=[("a", "A"), ("b", "B"), ("c", "C")], metrics=rows)
    for part_rows in (1, None):
        with tempfile.TemporaryDirectory() as staging:
            computed = engine.compute(open_sources(data), Path(staging), part_rows=part_rows)
        assert computed.data_quality == {
            "orphan_campaign_rows": 2,
            "orphan_campaign_ids": 1,
            "unknown_creator_rows": 3,
            "unknown_creator_ids": 1,
            "clicks_above_impressions_rows": 0,
            "conversions_above_clicks_rows": 0,
            "duplicate_key_rows_summed": 2,  # (01-01, a, crt-1) and (01-01, b, ghost) once more each
        }
        assert computed.metric_rows == len(rows)


@pytest.mark.parametrize("where", ["first", "last", "orphan"])
def test_a_bad_cell_in_any_part_is_named_by_line_and_column(tmp_path: Path, where: str) -> None:
    data = copy_visible(tmp_path / "data")
    path = data / "campaign_daily_metrics.csv"
    lines = path.read_text().splitlines()
    campaigns = sorted(line.split(",")[0] for line in (data / "campaigns.csv").read_text().splitlines()[1:])
    with_rows = sorted({line.split(",")[1] for line in lines[1:]} & set(campaigns))
    wanted = {"first": with_rows[0], "last": with_rows[-1]}.get(where)
    index = next(
        i
        for i, line in enumerate(lines[1:], start=1)
        if (line.split(",")[1] == wanted if wanted else line.split(",")[1] not in campaigns)
    )
    fields = lines[index].split(",")
    fields[3] = "12x"  # impressions
    lines[index] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InvalidSourceData, match=rf"line {index + 1}, column impressions: '12x' is not a whole number"):
        build(data, tmp_path / "out", part_rows=1)  # a part per campaign
    assert not (tmp_path / "out" / "current").exists()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dataset=datasets())
def test_random_data_in_parts_equals_one_part_with_the_same_counts(dataset: Any) -> None:
    campaign_ids, creator_ids, rows = dataset
    names = {c: f"{c}-{c}" for c in creator_ids}
    with tempfile.TemporaryDirectory() as tmp:
        data = write(Path(tmp) / "data", campaign_ids, names, rows)
        results = []
        for part_rows in (1, None):
            staging = Path(tmp) / f"staging-{part_rows}"
            staging.mkdir()
            computed = engine.compute(open_sources(data), staging, part_rows=part_rows)
            frames = {
                name: pl.concat([pl.read_parquet(staging / part) for part in parts])
                for name, parts in computed.parts.items()
            }
            results.append((frames, computed.data_quality, computed.metric_rows))
    (parts, quality, count), (whole, whole_quality, whole_count) = results
    for name in ROLLUPS:
        assert parts[name].equals(whole[name]), name
    assert quality == whole_quality == expected_counts(campaign_ids, creator_ids, rows)
    assert count == whole_count == len(rows)


def expected_counts(campaign_ids: list[str], creator_ids: list[str], rows: list[tuple[Any, ...]]) -> dict[str, int]:
    """The data-quality counts, computed in plain Python (docs/contract.md §2)."""
    known = [r for r in rows if r[1] in campaign_ids]
    unknown_creator = [r for r in known if r[2] not in creator_ids]
    return {
        "orphan_campaign_rows": len(rows) - len(known),
        "orphan_campaign_ids": len({r[1] for r in rows if r[1] not in campaign_ids}),
        "unknown_creator_rows": len(unknown_creator),
        "unknown_creator_ids": len({r[2] for r in unknown_creator}),
        "clicks_above_impressions_rows": sum(r[4] > r[3] for r in known),
        "conversions_above_clicks_rows": sum(r[5] > r[4] for r in known),
        "duplicate_key_rows_summed": len(known) - len({r[:3] for r in known}),
    }
