"""Loading a published build for serving, and refusing one that is not whole."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from campaign_analytics.anomalies import Thresholds
from campaign_analytics.build import build
from campaign_analytics.errors import CampaignNotFound, RollupUnavailable
from campaign_analytics.manifest import find_published
from campaign_analytics.store import RollupStore
from tests.datasets import VISIBLE


@pytest.fixture
def published(tmp_path: Path) -> Path:
    build(VISIBLE, tmp_path / "out")
    return (tmp_path / "out" / "current").resolve()


def test_lookups_by_campaign(visible_rollup_dir: Path) -> None:
    store = RollupStore.load(find_published(visible_rollup_dir))  # type: ignore[arg-type]
    assert len(store) == 6
    assert json.loads(store.performance("cmp-001"))["totals"]["roas"] == 3.6292
    top = json.loads(store.top_creators("cmp-004", 3))
    assert [c["creator_id"] for c in top["creators"]] == ["crt-003", "crt-004", "crt-006"]
    assert [d.metric_date for d in store.days("cmp-005")] == ["2026-01-05", "2026-01-06", "2026-01-07"]
    assert store.days("cmp-006") == []
    with pytest.raises(CampaignNotFound, match="campaign 'cmp-404' not found"):
        store.performance("cmp-404")


def test_a_folder_without_a_manifest_is_not_a_build(published: Path) -> None:
    (published / "manifest.json").unlink()
    assert find_published(published.parents[1]) is None


def test_a_build_of_another_schema_version_is_not_served(published: Path) -> None:
    manifest = json.loads((published / "manifest.json").read_text())
    (published / "manifest.json").write_text(json.dumps(manifest | {"schema_version": 999}))
    assert find_published(published.parents[1]) is None


def test_a_damaged_rollup_file_is_refused_with_its_name(published: Path) -> None:
    (published / "top_creators.parquet").write_bytes(b"PAR1 not really")
    build_ = find_published(published.parents[1])
    assert build_ is not None
    with pytest.raises(RollupUnavailable, match=r"cannot read top_creators\.parquet"):
        RollupStore.load(build_)


def test_a_rollup_missing_a_column_is_refused(published: Path) -> None:
    path = published / "daily_anomalies.parquet"
    pl.read_parquet(path).drop("roas").write_parquet(path)
    with pytest.raises(RollupUnavailable, match=r"daily_anomalies\.parquet lacks column\(s\) roas"):
        RollupStore.load(find_published(published.parents[1]))  # type: ignore[arg-type]


def test_nothing_published(tmp_path: Path) -> None:
    assert find_published(tmp_path) is None
    (tmp_path / "builds").mkdir()
    shutil.rmtree(tmp_path / "builds")
    assert find_published(tmp_path / "missing") is None


def test_anomalies_follow_the_thresholds_of_each_request(visible_rollup_dir: Path) -> None:
    store = RollupStore.load(find_published(visible_rollup_dir))  # type: ignore[arg-type]
    entry = store.campaign("cmp-002")
    strict, lax = Thresholds(Decimal("0.05"), Decimal("5")), Thresholds(Decimal("0"), Decimal("0"))
    for _ in range(2):  # alternating: a kept answer must never be served for other thresholds
        assert len(json.loads(entry.anomalies_body(strict))["alerts"]) == 4
        assert json.loads(entry.anomalies_body(lax)) == {
            "campaign_id": "cmp-002",
            "thresholds": {"min_ctr": 0.0, "min_roas": 0.0},
            "alerts": [],
        }
    assert json.loads(entry.anomalies_body(Thresholds(Decimal("0.050"), Decimal("5.0"))))["thresholds"] == {
        "min_ctr": 0.05,
        "min_roas": 5.0,
    }
