"""Loading a published build for serving, and refusing one that is not whole."""

from __future__ import annotations

import gc
import hashlib
import json
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from campaign_analytics.anomalies import Thresholds
from campaign_analytics.build.pipeline import build
from campaign_analytics.errors import CampaignNotFound, RollupUnavailable
from campaign_analytics.published.manifest import find_published
from campaign_analytics.serve.service import verify_in_child
from campaign_analytics.serve.store import RollupStore
from tests.support.datasets import VISIBLE, unverified_store, write_dataset


@pytest.fixture
def published(tmp_path: Path) -> Path:
    build(VISIBLE, tmp_path / "out")
    return (tmp_path / "out" / "current").resolve()


def test_lookups_by_campaign(visible_rollup_dir: Path) -> None:
    store = unverified_store(find_published(visible_rollup_dir))  # type: ignore[arg-type]
    assert len(store) == 6
    assert json.loads(store.performance("cmp-001"))["totals"]["roas"] == 3.6292
    top = json.loads(store.top_creators("cmp-004", 3))
    assert [c["creator_id"] for c in top["creators"]] == ["crt-003", "crt-004", "crt-006"]
    imps, _, _, spend, _ = store.days("cmp-005")
    assert (list(imps), list(spend)) == ([1000, 400, 600], [50_000_000, 50_000_000, 40_000_000])
    assert [list(column) for column in store.days("cmp-006")] == [[], [], [], [], []]
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
    """Opening a build reads only its serving file's header; the full check the service runs
    after it (sha256 of every file, in a child process) names the damaged rollup."""
    (published / "top_creators.parquet").write_bytes(b"PAR1 not really")
    build_ = find_published(published.parents[1])
    assert build_ is not None
    RollupStore.verified(build_)  # the serving file is whole
    with pytest.raises(RollupUnavailable, match=r"top_creators\.parquet does not match its sha256"):
        verify_in_child(build_)


def test_a_damaged_campaign_performance_rollup_leaves_the_build_as_damaged(published: Path) -> None:
    """The explorer reads campaign_performance on its first request: when it fails its sha256
    there, the store is marked damaged as for a failed read of its serving file, so the service
    serves the previous verified build instead of answering every explorer request with a 503."""
    build_ = find_published(published.parents[1])
    assert build_ is not None
    store = RollupStore.verified(build_)
    (published / "campaign_performance.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(RollupUnavailable, match=r"campaign_performance\.parquet does not match its sha256"):
        store.catalog  # noqa: B018 (the read is the test)
    assert store.damaged is not None and "campaign_performance.parquet" in store.damaged


def test_a_rollup_missing_a_column_is_refused(published: Path) -> None:
    path = published / "daily_anomalies.parquet"
    pl.read_parquet(path).drop("roas").write_parquet(path)
    with pytest.raises(RollupUnavailable, match=r"daily_anomalies\.parquet lacks column\(s\) roas"):
        unverified_store(find_published(published.parents[1]))  # type: ignore[arg-type]


def test_nothing_published(tmp_path: Path, published: Path) -> None:
    assert find_published(tmp_path / "missing") is None  # no ROLLUP_DIR at all
    (tmp_path / "empty" / "builds").mkdir(parents=True)
    assert find_published(tmp_path / "empty") is None  # a ROLLUP_DIR with no build
    # a complete build that `current` does not point at is not published
    (published.parents[1] / "current").unlink()
    assert published.is_dir() and (published / "manifest.json").is_file()
    assert find_published(published.parents[1]) is None


def test_anomalies_follow_the_thresholds_of_each_request(visible_rollup_dir: Path) -> None:
    store = unverified_store(find_published(visible_rollup_dir))  # type: ignore[arg-type]
    strict, lax = Thresholds(Decimal("0.05"), Decimal("5")), Thresholds(Decimal("0"), Decimal("0"))
    for _ in range(2):  # alternating: a kept answer must never be served for other thresholds
        assert len(json.loads(store.anomalies("cmp-002", strict))["alerts"]) == 4
        assert json.loads(store.anomalies("cmp-002", lax)) == {
            "campaign_id": "cmp-002",
            "thresholds": {"min_ctr": 0.0, "min_roas": 0.0},
            "alerts": [],
        }
    assert json.loads(store.anomalies("cmp-002", Thresholds(Decimal("0.050"), Decimal("5.0"))))["thresholds"] == {
        "min_ctr": 0.05,
        "min_roas": 5.0,
    }


def test_every_body_is_ready_at_load_and_costs_the_gc_nothing(tmp_path: Path) -> None:
    """Loading a build of 300 campaigns (about 9,000 days) adds a constant number of objects
    the cyclic GC tracks: the prepared bodies and day columns are bytes and arrays."""
    campaigns = [(f"c{i:03d}", f"Campaign {i}") for i in range(300)]
    creators = [(f"k{i}", f"Creator {i}") for i in range(40)]
    metrics = [
        (
            f"2026-{1 + d // 28:02d}-{1 + d % 28:02d}",
            f"c{c:03d}",
            f"k{(c + d) % 40}",
            100 + d,
            d % 7,
            d % 3,
            f"{d}.5",
            "",
        )
        for c in range(300)
        for d in range(30)
    ]
    data = write_dataset(tmp_path / "data", campaigns=campaigns, creators=creators, metrics=metrics)
    build(data, tmp_path / "out")
    published = find_published(tmp_path / "out")
    assert published is not None
    gc.collect()
    before = len(gc.get_objects())
    store = unverified_store(published)
    gc.collect()  # plain tuples and dicts of atomic values leave tracking on their first pass
    added = len(gc.get_objects()) - before
    assert len(store) == 300
    assert added < 200, f"loading added {added} GC-tracked objects"
    # and nothing is made on first touch: a request leaves the count as it was
    store.top_creators("c150", 5)
    store.anomalies("c150", Thresholds(Decimal("0.5"), Decimal("1")))
    gc.collect()
    assert len(gc.get_objects()) - before - added < 10


def test_the_verified_loader_refuses_a_missing_column_too(published: Path) -> None:
    """A build without a serving file (published before there was one) is served from its
    rollups: one that verifies (its sha256 and rows rewritten to match) but lacks a column the
    bodies need is a RollupUnavailable, which the service treats as a refused build."""
    path = published / "daily_anomalies.parquet"
    pl.read_parquet(path).drop("roas").write_parquet(path)
    manifest = json.loads((published / "manifest.json").read_text())
    del manifest["serving"]
    manifest["outputs"]["daily_anomalies"]["parts"][0]["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (published / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(RollupUnavailable, match=r"daily_anomalies\.parquet lacks column\(s\) roas"):
        RollupStore.verified(find_published(published.parents[1]))  # type: ignore[arg-type]
