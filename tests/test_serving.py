"""The serving file: what it holds, and that no damaged byte of it is ever served.

Every failure mode that reading a shared file adds is here, against the file itself and
against a running service: the file removed, truncated or overwritten in place while it is
served, cut short by a full disk at publish, damaged by a single flipped byte anywhere, and
two workers reading while a new build is picked up.
"""

from __future__ import annotations

import concurrent.futures
import errno
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import polars as pl
import pytest
from fastapi.testclient import TestClient

from campaign_analytics.build import publish as publish_module
from campaign_analytics.build.pipeline import build
from campaign_analytics.build.publish import publish_staged, staging_folder
from campaign_analytics.errors import BuildCorrupt
from campaign_analytics.published.manifest import PublishedBuild, find_published, read_verified
from campaign_analytics.published.serving import SERVING_FILE, ServingFile, serving_bytes
from campaign_analytics.serve.app import create_app
from campaign_analytics.serve.store import RollupStore
from tests.support.datasets import VISIBLE, copy_visible, unverified_store
from tests.support.live_server import serve
from tests.support.pick_up import add_clicks, watching_settings
from tests.support.waits import wait_for

IDS = ["cmp-001", "cmp-002", "cmp-003", "cmp-004", "cmp-005", "cmp-006"]


def everything(served: ServingFile) -> list[object]:
    """Every piece a request can read, for each visible campaign, as plain values."""
    seen: list[object] = []
    for campaign_id in IDS:
        head = served.find(campaign_id)
        assert head is not None
        ends, text = served.creators(head)
        days = served.days(head)
        seen += [head, served.head_at(head.position), list(ends), text, [list(column) for column in days]]
    seen.append(served.find("cmp-404"))
    return seen


@pytest.fixture(scope="module")
def visible_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[PublishedBuild, bytes]:
    published = build(VISIBLE, tmp_path_factory.mktemp("serving") / "out").build
    return published, (published.path / SERVING_FILE).read_bytes()


# --- what the file holds ---------------------------------------------------------------------


def test_the_published_file_is_the_one_made_from_the_verified_rollups(
    visible_file: tuple[PublishedBuild, bytes],
) -> None:
    published, data = visible_file
    entry = published.manifest["serving"]
    assert (entry["file"], entry["bytes"], entry["campaigns"]) == (SERVING_FILE, len(data), 6)
    assert serving_bytes(read_verified(published), entry["salt"]) == data


def test_the_store_serves_the_same_bytes_from_the_file_as_from_frames(
    visible_file: tuple[PublishedBuild, bytes],
) -> None:
    published, _ = visible_file
    mapped, framed = RollupStore.verified(published), unverified_store(published)
    assert mapped.serving is not framed.serving
    for campaign_id in IDS:
        assert mapped.performance(campaign_id) == framed.performance(campaign_id)
        for limit in (1, 2, 100):
            assert mapped.top_creators(campaign_id, limit) == framed.top_creators(campaign_id, limit)
    assert [mapped.performance_at(c) for c in range(6)] == [mapped.performance(i) for i in IDS]


def test_lookups_of_many_campaigns_with_colliding_home_slots(tmp_path: Path) -> None:
    """5,000 campaigns: every id is found at its own position, and ids that are not there
    (probing through full runs of slots) are not."""
    ids = sorted(f"c{i:05d}" for i in range(5000))
    zeros = {c: [0] * len(ids) for c in ("total_impressions", "total_clicks", "total_conversions")}
    floats = {c: [0.0] * len(ids) for c in ("total_spend", "total_revenue", "ctr", "cvr", "roas")}
    frames = {
        "campaign_performance": pl.DataFrame({"campaign_id": ids, "campaign_name": ids, **zeros, **floats}),
        "top_creators": pl.DataFrame(
            schema={
                "campaign_id": pl.String,
                "creator_id": pl.String,
                "creator_name": pl.String,
                "total_impressions": pl.Int64,
                "total_clicks": pl.Int64,
                "total_conversions": pl.Int64,
                "total_spend": pl.Float64,
                "ctr": pl.Float64,
                "rank": pl.Int64,
            }
        ),
        "daily_anomalies": pl.DataFrame(
            schema={
                "campaign_id": pl.String,
                "metric_date": pl.Date,
                **dict.fromkeys(("total_impressions", "total_clicks", "total_conversions"), pl.Int64),
                **dict.fromkeys(("total_spend_micros", "total_revenue_micros"), pl.Int64),
                **dict.fromkeys(("total_spend", "total_revenue", "ctr", "roas"), pl.Float64),
            }
        ),
    }
    served = ServingFile.of_bytes(serving_bytes(frames, 1234), 1234, "test")
    for position, campaign_id in enumerate(ids):
        head = served.find(campaign_id)
        assert head is not None and head.position == position
        assert json.loads(head.performance)["campaign_id"] == campaign_id
    assert all(served.find(f"x{i}") is None for i in range(5000))


def _publish_in_parts(tmp_path: Path, source: PublishedBuild, *, reverse: bool = False) -> PublishedBuild:
    """`source`'s rollups published again, each cut into two Parquet parts, as an engine that
    writes several files would (listed in key order, or reversed)."""
    frames = read_verified(source)
    manifest = {k: v for k, v in source.manifest.items() if k not in {"build_id", "built_at", "outputs", "serving"}}
    with staging_folder(tmp_path / "parts") as staging:
        parts: dict[str, list[str]] = {}
        for name, frame in frames.items():
            half = frame.height // 2
            parts[name] = []
            for index, piece in enumerate([frame.slice(0, half), frame.slice(half)]):
                piece.write_parquet(staging / f"{name}-{index}.parquet")
                parts[name].append(f"{name}-{index}.parquet")
            if reverse:
                parts[name].reverse()
        return publish_staged(tmp_path / "parts", staging, parts, manifest)


def test_a_build_in_several_parts_serves_the_same_bytes(
    visible_file: tuple[PublishedBuild, bytes], tmp_path: Path
) -> None:
    published, _ = visible_file
    split = _publish_in_parts(tmp_path, published)
    assert len(split.manifest["outputs"]["daily_anomalies"]["parts"]) == 2
    whole, parted = RollupStore.verified(published), RollupStore.verified(split)
    for campaign_id in IDS:
        assert parted.performance(campaign_id) == whole.performance(campaign_id)
        assert parted.top_creators(campaign_id, 100) == whole.top_creators(campaign_id, 100)
        assert [list(c) for c in parted.daily(campaign_id)] == [list(c) for c in whole.daily(campaign_id)]


def test_parts_out_of_key_order_are_refused_at_publish(
    visible_file: tuple[PublishedBuild, bytes], tmp_path: Path
) -> None:
    """The service trusts the serving file's order, so its writer checks the rows' key order."""
    published, _ = visible_file
    with pytest.raises(BuildCorrupt, match="not in"):
        _publish_in_parts(tmp_path, published, reverse=True)
    assert find_published(tmp_path / "parts") is None


# --- damage: never served --------------------------------------------------------------------


def test_a_flipped_byte_anywhere_in_the_file_is_never_served(visible_file: tuple[PublishedBuild, bytes]) -> None:
    """Every byte of the visible sample's file, flipped in turn: the file is refused when
    opened, or each read returns exactly the original bytes or raises BuildCorrupt."""
    published, data = visible_file
    salt = published.manifest["serving"]["salt"]
    expected = everything(ServingFile.of_bytes(data, salt, "intact"))
    caught = 0
    for at in range(len(data)):
        damaged = bytearray(data)
        damaged[at] ^= 0x5A
        try:
            served = ServingFile.of_bytes(bytes(damaged), salt, "damaged")
            seen = everything(served)
        except BuildCorrupt:
            caught += 1
            continue
        assert seen == expected, f"byte {at} changed what is served"
    assert caught > len(data) * 0.9  # nearly every byte is read by some request


def test_a_file_of_another_build_is_refused_even_when_whole(tmp_path: Path) -> None:
    data = copy_visible(tmp_path / "data")
    first = build(data, tmp_path / "rollups").build
    add_clicks(data, 1000)
    second = build(data, tmp_path / "rollups").build
    (first.path / SERVING_FILE).write_bytes((second.path / SERVING_FILE).read_bytes())
    entry = dict(first.manifest["serving"], bytes=(first.path / SERVING_FILE).stat().st_size)
    with pytest.raises(BuildCorrupt, match="header fails its checksum"):
        ServingFile.open(first.path / SERVING_FILE, entry, "serving.bin")


def test_a_file_cut_short_is_refused_when_opened(visible_file: tuple[PublishedBuild, bytes], tmp_path: Path) -> None:
    published, data = visible_file
    path = tmp_path / SERVING_FILE
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(BuildCorrupt, match=r"has \d+ bytes; the manifest says \d+ \(cut short\?\)"):
        ServingFile.open(path, published.manifest["serving"], "serving.bin")


def test_reads_after_the_file_is_removed_still_serve_it(
    visible_file: tuple[PublishedBuild, bytes], tmp_path: Path
) -> None:
    published, data = visible_file
    path = tmp_path / SERVING_FILE
    path.write_bytes(data)
    served = ServingFile.open(path, published.manifest["serving"], "serving.bin")
    expected = everything(served)
    path.unlink()  # the open file keeps its inode: a removed file is read as it was
    assert everything(served) == expected
    served.close()


def test_reads_after_the_file_is_truncated_fail_as_damage_not_a_signal(
    visible_file: tuple[PublishedBuild, bytes], tmp_path: Path
) -> None:
    published, data = visible_file
    path = tmp_path / SERVING_FILE
    path.write_bytes(data)
    served = ServingFile.open(path, published.manifest["serving"], "serving.bin")
    os.truncate(path, 100)
    with pytest.raises(BuildCorrupt, match=r"read back as \d+ \(the file was cut short\)"):
        everything(served)
    assert served.damaged is not None and "cut short" in served.damaged


_MAPPED_READ = """
import mmap, os, sys
path = sys.argv[1]
with open(path, "rb") as handle:
    mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
os.truncate(path, 0)
print(mapped[len(mapped) - 1])
"""


def test_why_the_file_is_read_with_pread_a_truncated_memory_map_kills_the_reader(tmp_path: Path) -> None:
    """The hazard this design avoids, shown: reading a mapped page of a file truncated under
    the map raises SIGBUS, and the process dies (the same read with pread is the test above)."""
    path = tmp_path / "mapped.bin"
    path.write_bytes(b"x" * 65536)
    done = subprocess.run([sys.executable, "-c", _MAPPED_READ, str(path)], capture_output=True, check=False)
    assert done.returncode == -signal.SIGBUS


# --- damage while a service runs -------------------------------------------------------------


def two_builds(tmp_path: Path) -> tuple[Path, PublishedBuild, PublishedBuild]:
    data = copy_visible(tmp_path / "data")
    first = build(data, tmp_path / "rollups").build
    add_clicks(data, 1000)
    return data, first, build(data, tmp_path / "rollups").build


def overwrite_in_place(path: Path) -> None:
    """Rewrite the file's bytes through the same inode, as a careless copy would."""
    data = bytearray(path.read_bytes())
    for at in range(64, len(data), 7):
        data[at] ^= 0xFF
    with path.open("r+b") as handle:
        handle.write(data)


def truncate(path: Path) -> None:
    os.truncate(path, 64)


@pytest.mark.parametrize("damage", [truncate, overwrite_in_place], ids=["truncated", "overwritten_in_place"])
def test_a_served_file_damaged_under_the_service_answers_503_then_the_previous_build(
    tmp_path: Path, damage: object
) -> None:
    data, first, second = two_builds(tmp_path)
    client = TestClient(create_app(watching_settings(data, tmp_path / "rollups")))
    assert client.get("/health").json()["build_id"] == second.build_id
    damage(second.path / SERVING_FILE)  # type: ignore[operator]
    response = client.get("/creators/top?campaign_id=cmp-001&limit=2")
    assert response.status_code == 503
    assert f"build {second.build_id}: serving.bin" in response.json()["detail"]
    assert client.get("/livez").status_code == 200  # the worker lives on
    wait_for(lambda: client.get("/health").json()["build_id"] == first.build_id)
    health = client.get("/health").json()
    assert health["newest_build_refused"]["build_id"] == second.build_id
    performance = client.get("/campaigns/cmp-001/performance")
    assert (performance.status_code, performance.headers["x-build-id"]) == (200, first.build_id)
    assert performance.json()["totals"]["total_clicks"] == 212


def test_a_served_file_removed_under_the_service_is_still_served_whole(tmp_path: Path) -> None:
    data, _, second = two_builds(tmp_path)
    client = TestClient(create_app(watching_settings(data, tmp_path / "rollups")))
    before = [client.get(f"/campaigns/{c}/anomalies").content for c in IDS]
    (second.path / SERVING_FILE).unlink()
    assert [client.get(f"/campaigns/{c}/anomalies").content for c in IDS] == before
    assert client.get("/health").json()["build_id"] == second.build_id


def test_damage_no_request_has_read_yet_is_found_by_the_full_check_after_start_up(tmp_path: Path) -> None:
    """Start-up opens the serving file after the cheap check only; the sha256 of every file
    follows in the background, and a build that fails it is left for the previous one."""
    data, first, second = two_builds(tmp_path)
    raw = bytearray((second.path / "daily_anomalies.parquet").read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (second.path / "daily_anomalies.parquet").write_bytes(bytes(raw))
    client = TestClient(create_app(watching_settings(data, tmp_path / "rollups")))
    wait_for(lambda: client.get("/health").json()["build_id"] == first.build_id)
    refused = client.get("/health").json()["newest_build_refused"]
    assert refused["build_id"] == second.build_id
    assert "daily_anomalies.parquet does not match its sha256" in refused["reason"]


# --- publishing ------------------------------------------------------------------------------


def test_a_full_disk_while_writing_the_serving_file_publishes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    first = build(VISIBLE, out).build
    real = publish_module.write_serving
    written: list[Path] = []

    def cut_short(rollups: object, path: Path, salt: int) -> object:
        real(rollups, path, salt)  # type: ignore[arg-type]
        os.truncate(path, path.stat().st_size // 2)  # what the disk took before it was full
        written.append(path)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(publish_module, "write_serving", cut_short)
    with pytest.raises(OSError, match="No space left"):
        build(VISIBLE, out)
    assert written and not written[0].parent.exists()  # the staging folder is gone
    assert find_published(out) == first
    assert sorted(p.name for p in (out / "builds").iterdir()) == [first.path.name]


def test_a_published_file_cut_short_is_rebuilt_at_start_up(tmp_path: Path) -> None:
    data = copy_visible(tmp_path / "data")
    first = build(data, tmp_path / "rollups").build
    path = first.path / SERVING_FILE
    os.truncate(path, path.stat().st_size - 1)
    client = TestClient(create_app(watching_settings(data, tmp_path / "rollups")))
    health = client.get("/health").json()
    assert health["database"] == "ok" and health["build_id"] != first.build_id
    assert client.get("/campaigns/cmp-001/performance").json()["totals"]["total_clicks"] == 212


# --- two workers while a new build is picked up ---------------------------------------------


def test_two_workers_reading_while_builds_are_published_serve_only_whole_builds(tmp_path: Path) -> None:
    """Two apps (two workers) over one ROLLUP_DIR, hammered while two builds are published:
    every answer is 200 and byte for byte the body of the build its x-build-id names."""
    data = copy_visible(tmp_path / "data")
    first = build(data, tmp_path / "rollups").build
    workers = [create_app(watching_settings(data, tmp_path / "rollups")) for _ in range(2)]
    stop = threading.Event()
    seen: list[tuple[int, str, bytes]] = []
    last: dict[str, str] = {}  # the build id of each worker's latest answer

    def hammer(base: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        while not stop.is_set():
            connection.request("GET", "/creators/top?campaign_id=cmp-001&limit=3")
            response = connection.getresponse()
            build_id = response.getheader("x-build-id") or ""
            seen.append((response.status, build_id, response.read()))
            last[base] = build_id
        connection.close()

    def served_a_while(build_id: str) -> None:
        """Until both workers answer from `build_id`, then 50 answers more."""
        wait_for(lambda: len(last) == 2 and set(last.values()) == {build_id})
        answered = len(seen)
        wait_for(lambda: len(seen) >= answered + 50)

    bodies = {first.build_id: unverified_store(first).top_creators("cmp-001", 3)}
    builds = [first]
    with serve(workers[0]) as one, serve(workers[1]) as two, concurrent.futures.ThreadPoolExecutor(4) as pool:
        running = [pool.submit(hammer, base) for base in (one, two, one, two)]
        try:
            for clicks in (1000, 2000):
                served_a_while(builds[-1].build_id)
                add_clicks(data, clicks)
                builds.append(build(data, tmp_path / "rollups").build)
                bodies[builds[-1].build_id] = unverified_store(builds[-1]).top_creators("cmp-001", 3)
            served_a_while(builds[-1].build_id)
        finally:
            stop.set()
        for future in running:
            future.result()
    assert {status for status, _, _ in seen} == {200}
    assert all(body == bodies[build_id] for _, build_id, body in seen)
    assert {build_id for _, build_id, _ in seen} == {b.build_id for b in builds}
