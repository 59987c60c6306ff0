"""Builds published while the service runs: picked up without a restart, verified first.

A real uvicorn server answers a stream of requests while the batch build publishes new
builds into its ROLLUP_DIR; no request may fail, and the new build must be served soon after.
A build that fails verification is never served: the previous verified one stays, and
/health names the refused build and why.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import logging
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from campaign_analytics.build.pipeline import build
from campaign_analytics.serve.app import create_app
from tests.support.datasets import copy_visible
from tests.support.live_server import serve
from tests.support.pick_up import add_clicks, watching_settings
from tests.support.waits import wait_for


def test_a_publish_is_picked_up_with_no_failed_request(tmp_path: Path) -> None:
    data = copy_visible(tmp_path / "data")
    first = build(data, tmp_path / "rollups").build
    app = create_app(watching_settings(data, tmp_path / "rollups"))
    stop = threading.Event()
    seen: list[tuple[int, str, int]] = []  # status, build id, cmp-001's clicks

    def hammer(base: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        while not stop.is_set():
            connection.request("GET", "/campaigns/cmp-001/performance")
            response = connection.getresponse()
            body = response.read()
            clicks = json.loads(body)["totals"]["total_clicks"] if response.status == 200 else -1
            seen.append((response.status, response.getheader("x-build-id") or "", clicks))
        connection.close()

    def served_a_while(build_id: str) -> None:
        """Until `build_id` answers, then 50 answers more."""
        wait_for(lambda: seen and seen[-1][1] == build_id)
        answered = len(seen)
        wait_for(lambda: len(seen) >= answered + 50)

    with serve(app) as base, concurrent.futures.ThreadPoolExecutor(4) as pool:
        workers = [pool.submit(hammer, base) for _ in range(4)]
        published = [first]
        try:
            for clicks in (1000, 2000):
                served_a_while(published[-1].build_id)
                add_clicks(data, clicks)
                published.append(build(data, tmp_path / "rollups").build)
            served_a_while(published[-1].build_id)
        finally:  # the hammering threads stop whether or not the new build was seen
            stop.set()
        for worker in workers:
            worker.result()
    assert [s for s in seen if s[0] != 200] == []
    assert {build_id for _, build_id, _ in seen} == {b.build_id for b in published}  # each one served
    # every answer is one whole build: its id and its numbers agree
    clicks_of = {published[0].build_id: 212, published[1].build_id: 1212, published[2].build_id: 3212}
    assert {(build_id, clicks) for _, build_id, clicks in seen} <= set(clicks_of.items())
    assert seen[0][1] == first.build_id


def test_a_damaged_new_build_is_refused_and_the_previous_one_served(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = copy_visible(tmp_path / "data")
    first = build(data, tmp_path / "rollups").build
    client = TestClient(create_app(watching_settings(data, tmp_path / "rollups")))
    assert client.get("/health").json()["build_id"] == first.build_id
    add_clicks(data, 1000)
    second = build(data, tmp_path / "rollups").build
    damaged = second.path / "daily_anomalies.parquet"
    raw = bytearray(damaged.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    damaged.write_bytes(bytes(raw))
    with caplog.at_level(logging.WARNING, logger="campaign_analytics"):
        wait_for(lambda: client.get("/health").json()["newest_build_refused"] is not None)
    health = client.get("/health").json()
    assert health["build_id"] == first.build_id
    assert health["newest_build_refused"]["build_id"] == second.build_id
    assert "daily_anomalies.parquet does not match its sha256" in health["newest_build_refused"]["reason"]
    assert client.get("/campaigns/cmp-001/performance").json()["totals"]["total_clicks"] == 212
    assert any(f"build {second.build_id} failed verification" in r.getMessage() for r in caplog.records)
    # a good publish after it is picked up, and the refusal is forgotten
    add_clicks(data, 5)
    third = build(data, tmp_path / "rollups").build
    wait_for(lambda: client.get("/health").json()["build_id"] == third.build_id)
    assert client.get("/health").json()["newest_build_refused"] is None


def test_a_damaged_current_is_rebuilt_at_start_up(tmp_path: Path) -> None:
    data = copy_visible(tmp_path / "data")
    first = build(data, tmp_path / "rollups").build
    (first.path / "serving.bin").write_bytes(b"CASERVE1 truncated")
    client = TestClient(create_app(watching_settings(data, tmp_path / "rollups")))
    health = client.get("/health").json()
    assert (health["database"], health["newest_build_refused"]) == ("ok", None)
    assert health["build_id"] != first.build_id
    assert client.get("/creators/top?campaign_id=cmp-001&limit=1").status_code == 200


def test_start_up_over_a_build_of_other_inputs_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    other = copy_visible(tmp_path / "other")
    add_clicks(other, 7)
    theirs = build(other, tmp_path / "rollups", dataset="theirs").build
    data = copy_visible(tmp_path / "data")
    with caplog.at_level(logging.WARNING, logger="campaign_analytics"):
        client = TestClient(create_app(watching_settings(data, tmp_path / "rollups")))
    assert client.get("/health").json()["build_id"] != theirs.build_id
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"serves build {theirs.build_id} of dataset 'theirs'" in w for w in warnings), warnings
