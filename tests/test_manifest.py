"""A published build is served only once it verifies: manifest schema, sha256, rows, key order.

Every test damages a real build of the visible sample (copied into its own folder) the way a
disk, an operator or a half-finished copy would, and pins which error and message follow.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from campaign_analytics.build.pipeline import BuildResult, build
from campaign_analytics.build.publish import publish_staged, staging_folder
from campaign_analytics.errors import BuildCorrupt, RollupUnavailable
from campaign_analytics.published.manifest import (
    MANIFEST_FILE,
    ROLLUPS,
    PublishedBuild,
    check_manifest,
    check_rollup_frame,
    choose_build,
    find_published,
    read_verified,
    rebuild_reason,
    servable_builds,
    sha256_file,
    verify,
)
from tests.support.datasets import VISIBLE, copy_visible

FILES = {name: f"{name}.parquet" for name in ROLLUPS}


@pytest.fixture
def published(tmp_path: Path, visible_rollup_dir: Path) -> PublishedBuild:
    """A private copy of the visible build (its `current` link included)."""
    shutil.copytree(visible_rollup_dir, tmp_path / "rollups", symlinks=True)
    found = find_published(tmp_path / "rollups")
    assert found is not None
    return found


def rewrite_manifest(build_: PublishedBuild, change: Callable[[dict[str, Any]], None]) -> PublishedBuild:
    manifest = json.loads((build_.path / MANIFEST_FILE).read_text())
    change(manifest)
    (build_.path / MANIFEST_FILE).write_text(json.dumps(manifest))
    return PublishedBuild.read(build_.path)


def republish(build_: PublishedBuild, name: str, frame: pl.DataFrame) -> PublishedBuild:
    """Replace one rollup and record its new sha256 and rows, as a careless tool would: only
    the content (not the fingerprints) is then wrong."""
    path = build_.path / FILES[name]
    frame.write_parquet(path, compression="zstd", statistics=True)

    def record(manifest: dict[str, Any]) -> None:
        manifest["outputs"][name].update(rows=frame.height)
        manifest["outputs"][name]["parts"][0].update(sha256=sha256_file(path), rows=frame.height)

    return rewrite_manifest(build_, record)


# --- a good build ------------------------------------------------------------------------------


def test_a_published_build_verifies_and_reads_as_written(published: PublishedBuild) -> None:
    verify(published)
    frames = read_verified(published)
    assert list(frames) == list(ROLLUPS)
    for name, frame in frames.items():
        assert frame.equals(pl.read_parquet(published.path / FILES[name]))
        check_rollup_frame(name, frame)


# --- damaged bytes -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ROLLUPS)
def test_every_flipped_byte_is_caught(published: PublishedBuild, name: str) -> None:
    """Each byte of each rollup in turn, one bit flipped (a different bit from byte to byte)."""
    path = published.path / FILES[name]
    original = path.read_bytes()
    expected = f"build {published.build_id}: {FILES[name]} does not match its sha256 in the manifest"
    missed = []
    with path.open("r+b") as handle:
        for position, byte in enumerate(original):
            handle.seek(position)
            handle.write(bytes([byte ^ (1 << (position % 8))]))
            handle.flush()
            try:
                verify(published, rows=False)
            except BuildCorrupt as exc:
                assert str(exc).startswith(expected), str(exc)
            else:
                missed.append(position)
            if position % 61 == 0:  # the loading path too (it hashes the bytes it parses)
                with pytest.raises(BuildCorrupt, match=f"^{expected}"):
                    read_verified(published)
            handle.seek(position)
            handle.write(bytes([byte]))
            handle.flush()
    assert missed == []
    assert path.read_bytes() == original
    verify(published)


@pytest.mark.parametrize("kept", ["nothing", "one byte", "half", "all but the last byte"])
def test_a_truncated_rollup_is_caught(published: PublishedBuild, kept: str) -> None:
    path = published.path / FILES["daily_anomalies"]
    data = path.read_bytes()
    length = {"nothing": 0, "one byte": 1, "half": len(data) // 2, "all but the last byte": len(data) - 1}[kept]
    path.write_bytes(data[:length])
    message = f"build {published.build_id}: daily_anomalies.parquet does not match its sha256 in the manifest"
    for check in (verify, read_verified):
        with pytest.raises(BuildCorrupt, match=f"^{message}"):
            check(published)


def test_a_missing_rollup_is_named(published: PublishedBuild) -> None:
    (published.path / FILES["top_creators"]).unlink()
    for check in (verify, read_verified):
        with pytest.raises(BuildCorrupt) as caught:
            check(published)
        assert str(caught.value) == f"build {published.build_id}: top_creators.parquet is missing"


def test_bytes_that_match_their_sha256_but_are_not_parquet_are_refused(published: PublishedBuild) -> None:
    path = published.path / FILES["campaign_performance"]
    path.write_bytes(b"PAR1 not really")
    damaged = rewrite_manifest(
        published, lambda m: m["outputs"]["campaign_performance"]["parts"][0].update(sha256=sha256_file(path))
    )
    for check in (verify, read_verified):
        with pytest.raises(BuildCorrupt, match=r"campaign_performance\.parquet cannot be read as Parquet"):
            check(damaged)


def test_a_row_count_that_disagrees_with_the_manifest_is_caught(published: PublishedBuild) -> None:
    rows = published.manifest["outputs"]["top_creators"]["rows"]
    damaged = rewrite_manifest(
        published,
        lambda m: [
            m["outputs"]["top_creators"].update(rows=rows + 1),
            m["outputs"]["top_creators"]["parts"][0].update(rows=rows + 1),
        ],
    )
    message = f"build {published.build_id}: top_creators.parquet has {rows} rows; the manifest says {rows + 1}"
    for check in (verify, read_verified):
        with pytest.raises(BuildCorrupt) as caught:
            check(damaged)
        assert str(caught.value) == message
    verify(damaged, rows=False)  # only the footer read finds it


# --- rows out of order (fingerprints rewritten to match: only the order check can tell) ---------


@pytest.mark.parametrize(
    ("name", "what"),
    [
        ("campaign_performance", r"\(campaign_id\) order"),
        ("top_creators", r"\(campaign_id, rank\) order with ranks 1\.\.n by conversions, clicks, creator_id"),
        ("daily_anomalies", r"\(campaign_id, metric_date\) order"),
    ],
)
@pytest.mark.parametrize("seed", range(5))
def test_shuffled_rows_with_a_matching_sha256_are_caught(
    published: PublishedBuild, name: str, what: str, seed: int
) -> None:
    frame = pl.read_parquet(published.path / FILES[name])
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=seed)
    if shuffled.equals(frame):  # pragma: no cover - the seeds are chosen so this does not happen
        pytest.skip("the shuffle kept the order")
    damaged = republish(published, name, shuffled)
    verify(damaged)  # the fingerprints agree ...
    with pytest.raises(BuildCorrupt, match=f"^build {published.build_id}: {name}: rows are not in {what}: row "):
        read_verified(damaged)  # ... the order does not


def test_two_swapped_campaigns_are_named(published: PublishedBuild) -> None:
    frame = pl.read_parquet(published.path / FILES["campaign_performance"])
    swapped = pl.concat([frame[1:2], frame[0:1], frame[2:]])
    damaged = republish(published, "campaign_performance", swapped)
    with pytest.raises(BuildCorrupt) as caught:
        read_verified(damaged)
    assert str(caught.value) == (
        f"build {published.build_id}: campaign_performance: rows are not in (campaign_id) order: "
        'row 2 (campaign_id="cmp-001") follows (campaign_id="cmp-002")'
    )


def test_a_repeated_day_is_out_of_order(published: PublishedBuild) -> None:
    frame = pl.read_parquet(published.path / FILES["daily_anomalies"])
    repeated = pl.concat([frame[:1], frame])
    damaged = republish(published, "daily_anomalies", repeated)
    first = frame.row(0, named=True)
    with pytest.raises(BuildCorrupt) as caught:
        read_verified(damaged)
    shown = f'campaign_id="{first["campaign_id"]}", metric_date="{first["metric_date"]}"'
    assert str(caught.value) == (
        f"build {published.build_id}: daily_anomalies: rows are not in (campaign_id, metric_date) order: "
        f"row 2 ({shown}) follows ({shown})"
    )


def creators(*rows: tuple[str, int, str, int, int]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "campaign_id": pl.String,
            "rank": pl.Int64,
            "creator_id": pl.String,
            "total_conversions": pl.Int64,
            "total_clicks": pl.Int64,
        },
        orient="row",
    )


@pytest.mark.parametrize(
    ("frame", "problem"),
    [
        (creators(("c1", 2, "a", 5, 5)), 'row 1 (campaign_id="c1", rank=2, creator_id="a") does not start'),
        (
            creators(("c1", 1, "a", 5, 5), ("c1", 3, "b", 4, 5)),
            'row 2 (campaign_id="c1", rank=3, creator_id="b") follows (campaign_id="c1", rank=1, creator_id="a")',
        ),
        (  # ranks 1, 2 but the second creator converts more
            creators(("c1", 1, "a", 4, 5), ("c1", 2, "b", 5, 5)),
            'row 2 (campaign_id="c1", rank=2, creator_id="b") follows',
        ),
        (  # equal conversions: more clicks first
            creators(("c1", 1, "a", 5, 4), ("c1", 2, "b", 5, 9)),
            "row 2 ",
        ),
        (  # equal conversions and clicks: creator_id ascending, in byte order
            creators(("c1", 1, "b", 5, 5), ("c1", 2, "a", 5, 5)),
            "row 2 ",
        ),
        (  # the same creator twice
            creators(("c1", 1, "a", 5, 5), ("c1", 2, "a", 5, 5)),
            "row 2 ",
        ),
        (  # campaigns out of order, each ranked correctly
            creators(("c2", 1, "a", 5, 5), ("c1", 1, "a", 5, 5)),
            'row 2 (campaign_id="c1", rank=1, creator_id="a") follows (campaign_id="c2"',
        ),
        (  # a campaign whose rows are split in two runs
            creators(("c1", 1, "a", 5, 5), ("c2", 1, "a", 5, 5), ("c1", 2, "b", 1, 1)),
            "row 3 ",
        ),
        (creators(("c1", 1, "a", 5, 5), (None, 1, "a", 5, 5)), "row 2 has a null in its key (campaign_id, rank)"),  # type: ignore[arg-type]
    ],
)
def test_top_creators_order_cases(frame: pl.DataFrame, problem: str) -> None:
    with pytest.raises(BuildCorrupt) as caught:
        check_rollup_frame("top_creators", frame)
    assert str(caught.value).startswith("top_creators: ")
    assert problem in str(caught.value)


def test_correct_order_passes_including_ties_and_empty_frames() -> None:
    check_rollup_frame(
        "top_creators",
        creators(
            ("c1", 1, "b", 5, 9),
            ("c1", 2, "a", 5, 5),
            ("c1", 3, "c", 5, 5),
            ("c1", 4, "Z", 0, 0),  # ranked last although "Z" < "a": fewer conversions
            ("c2", 1, "a", 0, 0),
        ),
    )
    check_rollup_frame("top_creators", creators())
    check_rollup_frame("campaign_performance", pl.DataFrame({"campaign_id": ["a", "a-b", "a/b", "b", "é"]}))


def test_a_rollup_without_its_key_columns_is_refused() -> None:
    with pytest.raises(BuildCorrupt, match=r"^daily_anomalies: lacks column\(s\) metric_date$"):
        check_rollup_frame("daily_anomalies", pl.DataFrame({"campaign_id": ["a"]}))


# --- the manifest ------------------------------------------------------------------------------


def _delete(*keys: str | int) -> Callable[[dict[str, Any]], None]:
    def change(manifest: dict[str, Any]) -> None:
        node = manifest
        for key in keys[:-1]:
            node = node[key]
        del node[keys[-1]]

    return change


def _set(value: object, *keys: str | int) -> Callable[[dict[str, Any]], None]:
    def change(manifest: dict[str, Any]) -> None:
        node = manifest
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value

    return change


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (_delete("outputs"), "outputs is missing"),
        (_delete("build_id"), "build_id is missing"),
        (_delete("schema_version"), "schema_version is missing"),
        (_set(1, "schema_version"), "schema_version is 1; this service reads 2"),
        (_set("2", "schema_version"), 'schema_version is "2"; this service reads 2'),
        (_set(True, "schema_version"), "schema_version is true; this service reads 2"),
        (_set("../../etc", "build_id"), 'build_id is "../../etc", not a plain name'),
        (_set(None, "build_id"), "build_id is null, not a plain name"),
        (_set([], "outputs"), "outputs is [], not an object"),
        (_delete("outputs", "top_creators"), "outputs: top_creators is missing"),
        (_delete("outputs", "daily_anomalies", "parts"), "outputs.daily_anomalies: parts is missing"),
        (_set([], "outputs", "daily_anomalies", "parts"), "outputs.daily_anomalies: parts is [], not a non-empty list"),
        (_set(["x"], "outputs", "daily_anomalies", "parts"), r"outputs.daily_anomalies.parts[0]: not a JSON object"),
        (
            _delete("outputs", "daily_anomalies", "parts", 0, "sha256"),
            r"outputs.daily_anomalies.parts[0]: sha256 is missing",
        ),
        (
            _set("ABC", "outputs", "daily_anomalies", "parts", 0, "sha256"),
            r'outputs.daily_anomalies.parts[0]: sha256 is "ABC", not a sha256',
        ),
        (
            _set("top_creators.parquet", "outputs", "daily_anomalies", "parts", 0, "file"),
            r'outputs.daily_anomalies.parts[0]: file "top_creators.parquet" is listed twice',
        ),
        (
            _set(99, "outputs", "daily_anomalies", "rows"),
            r"outputs.daily_anomalies: rows is 99 but its parts hold 17",
        ),
        (_set(-1, "outputs", "campaign_performance", "rows"), "outputs.campaign_performance: rows is -1, not a whole"),
        (
            _set("7", "outputs", "campaign_performance", "rows"),
            'outputs.campaign_performance: rows is "7", not a whole',
        ),
        (
            _set(7.0, "outputs", "campaign_performance", "rows"),
            "outputs.campaign_performance: rows is 7.0, not a whole",
        ),
        (
            _set("../x.parquet", "outputs", "top_creators", "parts", 0, "file"),
            r'outputs.top_creators.parts[0]: file is "../x.parquet"',
        ),
        (
            _set("/etc/passwd", "outputs", "top_creators", "parts", 0, "file"),
            r'outputs.top_creators.parts[0]: file is "/etc/passwd"',
        ),
        (_delete("inputs"), "inputs is missing"),
        (_set({}, "inputs"), "inputs is empty"),
        (_delete("inputs", "creators", "mtime_ns"), "inputs.creators: mtime_ns is missing"),
        (_delete("sql", "top_creators.sql"), "sql: top_creators.sql is missing"),
        (_set("text", "sql"), 'sql is "text", not an object'),
    ],
)
def test_a_malformed_manifest_is_named_never_a_key_error(
    published: PublishedBuild, change: Callable[[dict[str, Any]], None], problem: str
) -> None:
    damaged = rewrite_manifest(published, change)
    label = f"build {damaged.build_id}: manifest.json: "
    for check in (verify, read_verified):
        with pytest.raises(BuildCorrupt) as caught:
            check(damaged)
        assert str(caught.value).startswith(label + problem), str(caught.value)
    assert isinstance(caught.value, RollupUnavailable)  # served as a 503 if it ever reached a handler


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "manifest.json is missing"),
        (b"{not json", "manifest.json is not valid JSON: "),
        (b"[1, 2]", "manifest.json is not a JSON object"),
    ],
)
def test_an_unreadable_manifest_is_named(published: PublishedBuild, content: bytes | None, problem: str) -> None:
    path = published.path / MANIFEST_FILE
    if content is None:
        path.unlink()
    else:
        path.write_bytes(content)
    damaged = PublishedBuild.read(published.path)
    assert damaged.build_id == published.path.name  # the folder's name stands in
    with pytest.raises(BuildCorrupt, match=f"^build {published.path.name}: {problem}"):
        verify(damaged)


def test_a_manifest_without_outputs_or_build_id_does_not_raise_key_errors(published: PublishedBuild) -> None:
    damaged = rewrite_manifest(published, lambda m: [m.pop("outputs"), m.pop("build_id")])
    assert damaged.build_id == published.path.name
    with pytest.raises(BuildCorrupt, match=r"manifest\.json has no usable outputs\.top_creators\.parts"):
        damaged.rollup_parts("top_creators")


def test_check_manifest_accepts_what_the_build_writes(published: PublishedBuild) -> None:
    check_manifest(published.manifest)
    with pytest.raises(BuildCorrupt, match=r"^manifest\.json: not a JSON object$"):
        check_manifest(["not", "a", "manifest"])


# --- which build to serve ------------------------------------------------------------------------


@pytest.fixture
def two_builds(tmp_path: Path) -> tuple[Path, BuildResult, BuildResult]:
    """A rollup folder with an older build and a newer one (`current`)."""
    data = copy_visible(tmp_path / "data")
    rollups = tmp_path / "rollups"
    older = build(data, rollups)
    with (data / "campaigns.csv").open("a", encoding="utf-8") as handle:
        handle.write("cmp-new,Brand new\n")
    newer = build(data, rollups)
    assert older.build.path != newer.build.path
    return rollups, older, newer


def test_current_comes_first_then_older_builds_newest_first(
    two_builds: tuple[Path, BuildResult, BuildResult],
) -> None:
    rollups, older, newer = two_builds
    (rollups / "builds" / ".staging-abc").mkdir()  # a build being written is not a build
    (rollups / "builds" / "19990101T000000000000Z-0000000000").mkdir()  # nor a folder without manifest
    assert [b.path for b in servable_builds(rollups)] == [newer.build.path, older.build.path]
    # `current` first even when it is not the newest (e.g. an operator pointed it back)
    (rollups / "current").unlink()
    (rollups / "current").symlink_to(Path("builds") / older.build.path.name)
    assert [b.path for b in servable_builds(rollups)] == [older.build.path, newer.build.path]


def test_a_damaged_current_falls_back_to_the_previous_verified_build(
    two_builds: tuple[Path, BuildResult, BuildResult],
) -> None:
    rollups, older, newer = two_builds
    path = newer.build.path / FILES["daily_anomalies"]
    path.write_bytes(path.read_bytes()[:100])  # truncated
    choice = choose_build(rollups, read_verified)
    assert choice.build is not None and choice.build.path == older.build.path
    assert choice.loaded is not None and set(choice.loaded) == set(ROLLUPS)
    assert choice.is_fallback
    assert [r.build_id for r in choice.rejected] == [newer.build.build_id]
    rejected = choice.current_rejected
    assert rejected is not None and rejected.reason == (
        f"build {newer.build.build_id}: daily_anomalies.parquet does not match its sha256 in the manifest "
        "(damaged or changed after publishing)"
    )


def test_an_intact_current_is_chosen_without_trying_the_others(
    two_builds: tuple[Path, BuildResult, BuildResult],
) -> None:
    rollups, _, newer = two_builds
    tried: list[Path] = []

    def load(candidate: PublishedBuild) -> str:
        tried.append(candidate.path)
        verify(candidate)
        return candidate.build_id

    choice = choose_build(rollups, load)
    assert tried == [newer.build.path]
    assert choice.loaded == newer.build.build_id and not choice.is_fallback and choice.rejected == ()


def test_when_no_build_verifies_every_refusal_is_reported(
    two_builds: tuple[Path, BuildResult, BuildResult],
) -> None:
    rollups, older, newer = two_builds
    (newer.build.path / FILES["top_creators"]).unlink()
    rewrite_manifest(older.build, _delete("outputs"))
    choice = choose_build(rollups, verify)
    assert choice.build is None and choice.loaded is None and not choice.is_fallback
    assert [r.reason for r in choice.rejected] == [
        f"build {newer.build.build_id}: top_creators.parquet is missing",
        f"build {older.build.build_id}: manifest.json: outputs is missing",
    ]


def test_a_dangling_current_is_reported_and_an_older_build_served(
    two_builds: tuple[Path, BuildResult, BuildResult],
) -> None:
    rollups, older, newer = two_builds
    shutil.rmtree(newer.build.path)  # e.g. pruned by hand
    choice = choose_build(rollups, verify)
    assert choice.build is not None and choice.build.path == older.build.path
    assert choice.current_rejected is not None
    assert choice.current_rejected.reason == f"build {newer.build.path.name}: manifest.json is missing"


def test_nothing_published_chooses_nothing(tmp_path: Path) -> None:
    assert servable_builds(tmp_path / "missing") == []
    choice = choose_build(tmp_path, verify)
    assert choice.build is None and choice.rejected == () and choice.current is None


def test_pruning_keeps_one_build_to_fall_back_on(two_builds: tuple[Path, BuildResult, BuildResult]) -> None:
    rollups, older, newer = two_builds
    newest = build(VISIBLE, rollups)
    assert [b.path for b in servable_builds(rollups)] == [newest.build.path, newer.build.path]
    assert not older.build.path.exists()


# --- rebuilding at start-up ------------------------------------------------------------------


def test_a_damaged_current_is_a_reason_to_rebuild(tmp_path: Path) -> None:
    data = copy_visible(tmp_path / "data")
    first = build(data, tmp_path / "rollups")
    assert rebuild_reason(first.build, data) is None
    assert rebuild_reason(None, data) == "nothing is published"
    path = first.build.path / FILES["top_creators"]
    path.write_bytes(path.read_bytes()[:-10])
    assert rebuild_reason(first.build, data) == (
        f"the published build is damaged: build {first.build.build_id}: top_creators.parquet does not match "
        "its sha256 in the manifest (damaged or changed after publishing)"
    )
    # the start-up build (`--if-stale`) now builds instead of calling the damaged build current
    again = build(data, tmp_path / "rollups", only_if_stale=True)
    assert not again.skipped and again.build.path != first.build.path
    read_verified(again.build)
    assert build(data, tmp_path / "rollups", only_if_stale=True).skipped


def test_changed_inputs_are_a_reason_to_rebuild(tmp_path: Path) -> None:
    data = copy_visible(tmp_path / "data")
    first = build(data, tmp_path / "rollups")
    with (data / "creators.csv").open("a", encoding="utf-8") as handle:
        handle.write("crt-new,New\n")
    assert rebuild_reason(first.build, data) == f"build {first.build.build_id} was made from other inputs or SQL"


# --- a rollup in several parts ---------------------------------------------------------------


def _publish_in_parts(tmp_path: Path, source: PublishedBuild, split: int, *, reverse: bool = False) -> PublishedBuild:
    """Publish `source`'s rollups again with top_creators cut into two parts after row `split`
    (listed in key order, or reversed), the way an engine that writes several files would."""
    frames = read_verified(source)
    manifest = {k: v for k, v in source.manifest.items() if k not in {"build_id", "built_at", "outputs"}}
    with staging_folder(tmp_path / "parts") as staging:
        parts: dict[str, list[str]] = {}
        for name, frame in frames.items():
            pieces = [frame.slice(0, split), frame.slice(split)] if name == "top_creators" else [frame]
            parts[name] = []
            for index, piece in enumerate(pieces):
                piece.write_parquet(staging / f"{name}-{index:05d}.parquet")
                parts[name].append(f"{name}-{index:05d}.parquet")
            if reverse:
                parts[name].reverse()
        return publish_staged(tmp_path / "parts", staging, parts, manifest)


def test_a_rollup_in_several_parts_reads_as_their_rows_in_listed_order(
    tmp_path: Path, published: PublishedBuild
) -> None:
    split = _publish_in_parts(tmp_path, published, split=5)
    assert [part["rows"] for part in split.manifest["outputs"]["top_creators"]["parts"]] == [5, 9]
    assert [p.name for p in split.rollup_parts("top_creators")] == [
        "top_creators-00000.parquet",
        "top_creators-00001.parquet",
    ]
    verify(split)
    assert read_verified(split)["top_creators"].equals(read_verified(published)["top_creators"])


def test_parts_listed_out_of_key_order_are_refused(tmp_path: Path, published: PublishedBuild) -> None:
    # publishing refuses them (the serving file is written in key order, and checks it) ...
    with pytest.raises(BuildCorrupt, match=r"top_creators: rows are not in \(campaign_id, rank\) order"):
        _publish_in_parts(tmp_path / "refused", published, split=5, reverse=True)
    # ... and a manifest that lists them so afterwards is refused when read
    split = _publish_in_parts(tmp_path, published, split=5)
    manifest = dict(split.manifest)
    manifest["outputs"]["top_creators"]["parts"].reverse()
    (split.path / MANIFEST_FILE).write_text(json.dumps(manifest))
    shuffled = PublishedBuild.read(split.path)
    verify(shuffled)  # every part is intact; only their order is wrong
    with pytest.raises(BuildCorrupt, match=r"top_creators: rows are not in \(campaign_id, rank\) order"):
        read_verified(shuffled)
