"""The contract between the build and the service: what a published build is and how to trust it.

A rollup folder (`ROLLUP_DIR`) looks like this:

    ROLLUP_DIR/
      current -> builds/<build_id>        symlink, swapped atomically by the build
      builds/<build_id>/
        campaign_performance.parquet      each rollup is one or more Parquet parts; the manifest
        top_creators.parquet              lists them in key order (their rows, concatenated in
        daily_anomalies.parquet           that order, are the rollup in key order)
        manifest.json                     written last: a folder without it is not a build

    outputs.<rollup> = {"rows": <total>, "parts": [{"file", "rows", "sha256"}, ...]}

The manifest records fingerprints (sha256) of the inputs and of the SQL files, so the service
can tell whether the published build answers for the data it is pointed at, plus row counts,
the data-quality report and library versions. Like datasette's `inspect` file, it is trusted
at start-up instead of re-reading the data: inputs whose size and mtime match the manifest are
taken as unchanged; only when those differ is a file hashed again.

The outputs are not trusted the same way: a build is served only after it verifies.

    verify(build)              manifest schema; every output present, its sha256 and row count
    read_verified(build)       the same, reading each file once, plus the rows' key order
    check_rollup_frame(...)    key order of a loaded rollup (the service relies on it)
    servable_builds(dir)       `current` first, then the other complete builds, newest first
    choose_build(dir, load)    the first of those that loads; the others, with why they failed
    rebuild_reason(...)        why `current` cannot answer for the inputs (stale or damaged)

Every failure is a `BuildCorrupt` whose message names the build and the first problem found.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import polars as pl

from campaign_analytics.errors import BuildCorrupt, RollupUnavailable
from campaign_analytics.messages import shorten

SCHEMA_VERSION = 2  # 2: a rollup is a list of parts (1 had one file per rollup)
ROLLUPS = ("campaign_performance", "top_creators", "daily_anomalies")
# The SQL files ship inside the package (`campaign_analytics/sql`, a link to the repository's
# top-level sql/ in a checkout, a copy in a wheel): one place, found the same way from anywhere.
SQL_DIR = Path(__file__).resolve().parents[1] / "sql"
# The input tables, by name; each is `<name>.csv` or `<name>.parquet` in DATA_DIR.
INPUT_TABLES = ("campaigns", "creators", "campaign_daily_metrics")
MANIFEST_FILE = "manifest.json"
CURRENT_LINK = "current"
BUILDS_DIR = "builds"
# The order every rollup's rows are written in (its SQL's `order by`); the service relies on it.
ROLLUP_ORDER: dict[str, tuple[str, ...]] = {
    "campaign_performance": ("campaign_id",),
    "top_creators": ("campaign_id", "rank"),
    "daily_anomalies": ("campaign_id", "metric_date"),
}
# A build id goes into a folder name and an HTTP header; a file name is joined to the build's folder.
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sql_files(sql_dir: Path = SQL_DIR) -> dict[str, Path]:
    return {f"{name}.sql": sql_dir / f"{name}.sql" for name in ROLLUPS}


def sql_fingerprints(sql_dir: Path = SQL_DIR) -> dict[str, str]:
    return {name: sha256_file(path) for name, path in sql_files(sql_dir).items()}


def input_files(data_dir: Path) -> dict[str, Path]:
    """Every input file present, by file name (both forms of a table are a build error)."""
    return {path.name: path for table in INPUT_TABLES for path in present(data_dir, table)}


def present(data_dir: Path, table: str) -> list[Path]:
    """The files of `table` in `data_dir`: `<table>.csv` and/or `<table>.parquet` (either form is
    allowed; the build refuses both at once, the manifest fingerprints whatever is there)."""
    return [p for p in (data_dir / f"{table}.csv", data_dir / f"{table}.parquet") if p.is_file()]


def describe_input(path: Path) -> dict[str, Any]:
    stat = path.stat()
    return {"file": path.name, "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256_file(path)}


@dataclass(frozen=True)
class PublishedBuild:
    """A build folder and its parsed manifest (`problem` says why it could not be parsed)."""

    path: Path
    manifest: dict[str, Any]
    problem: str | None = None

    @classmethod
    def read(cls, path: Path) -> PublishedBuild:
        """The build in `path`; an unreadable manifest is recorded, not raised (verify reports it)."""
        try:
            manifest = json.loads((path / MANIFEST_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(path, {}, f"{MANIFEST_FILE} is missing")
        except OSError as exc:
            return cls(path, {}, f"cannot read {MANIFEST_FILE}: {exc.strerror or exc}")
        except ValueError as exc:
            return cls(path, {}, f"{MANIFEST_FILE} is not valid JSON: {exc}")
        if not isinstance(manifest, dict):
            return cls(path, {}, f"{MANIFEST_FILE} is not a JSON object")
        return cls(path, manifest)

    @property
    def build_id(self) -> str:
        """The manifest's id when it is a safe name, else the folder's name (never raises)."""
        value = self.manifest.get("build_id")
        return value if isinstance(value, str) and _SAFE_NAME.fullmatch(value) else self.path.name

    def rollup_parts(self, name: str) -> list[Path]:
        """The part files of rollup `name`, in key order; BuildCorrupt (not KeyError) when the
        manifest cannot say."""
        outputs = self.manifest.get("outputs")
        entry = outputs.get(name) if isinstance(outputs, dict) else None
        parts = entry.get("parts") if isinstance(entry, dict) else None
        files = [part.get("file") if isinstance(part, dict) else None for part in parts or ()]
        if not files or not all(isinstance(f, str) and _SAFE_NAME.fullmatch(f) for f in files):
            raise BuildCorrupt(f"build {self.build_id}: {MANIFEST_FILE} has no usable outputs.{name}.parts")
        return [self.path / str(file) for file in files]


def find_published(rollup_dir: Path) -> PublishedBuild | None:
    """The build `current` points at, or None when nothing usable is published."""
    link = rollup_dir / CURRENT_LINK
    if not link.exists():
        return None
    build = PublishedBuild.read(link.resolve())
    if build.problem is not None or build.manifest.get("schema_version") != SCHEMA_VERSION:
        return None
    return build


def is_current(build: PublishedBuild, data_dir: Path, sql_dir: Path = SQL_DIR) -> bool:
    """Does `build` answer for the files now in `data_dir` and the SQL now in `sql_dir`?"""
    manifest = build.manifest
    if manifest.get("sql") != sql_fingerprints(sql_dir):
        return False
    recorded = {entry["file"]: entry for entry in manifest.get("inputs", {}).values()}
    present = input_files(data_dir)
    if set(recorded) != set(present):
        return False
    for name, path in present.items():
        entry = recorded[name]
        stat = path.stat()
        if stat.st_size != entry.get("bytes"):
            return False
        if stat.st_mtime_ns != entry.get("mtime_ns") and sha256_file(path) != entry.get("sha256"):
            return False
    return True


# --- verification ----------------------------------------------------------------------------


def check_manifest(manifest: Any, where: str = MANIFEST_FILE) -> None:
    """Raise BuildCorrupt naming the first field of `manifest` that breaks the schema.

    Checked: schema_version, build_id (a safe name), outputs (file, rows, sha256 of every
    rollup), inputs (file, bytes, mtime_ns, sha256 of each) and sql (a sha256 per SQL file).
    Only the fields something reads are required; extra fields are allowed.
    """
    if not isinstance(manifest, dict):
        raise BuildCorrupt(f"{where}: not a JSON object")
    version = _field(manifest, "schema_version", where)
    if type(version) is not int or version != SCHEMA_VERSION:
        raise BuildCorrupt(f"{where}: schema_version is {_show(version)}; this service reads {SCHEMA_VERSION}")
    _name(manifest, "build_id", where)
    outputs = _mapping(manifest, "outputs", where)
    seen: set[str] = set()
    for rollup in ROLLUPS:
        entry = _mapping(outputs, rollup, f"{where}: outputs")
        at = f"{where}: outputs.{rollup}"
        total = _count(entry, "rows", at)
        parts = _field(entry, "parts", at)
        if not isinstance(parts, list) or not parts:
            raise BuildCorrupt(f"{at}: parts is {_show(parts)}, not a non-empty list")
        for index, part in enumerate(parts):
            part_at = f"{at}.parts[{index}]"
            if not isinstance(part, dict):
                raise BuildCorrupt(f"{part_at}: not a JSON object")
            file = _name(part, "file", part_at)
            if file in seen or file == MANIFEST_FILE:
                raise BuildCorrupt(f"{part_at}: file {_show(file)} is listed twice")
            seen.add(file)
            _count(part, "rows", part_at)
            _sha256(part, "sha256", part_at)
        if sum(part["rows"] for part in parts) != total:
            raise BuildCorrupt(f"{at}: rows is {total} but its parts hold {sum(part['rows'] for part in parts)}")
    inputs = _mapping(manifest, "inputs", where)
    if not inputs:
        raise BuildCorrupt(f"{where}: inputs is empty")
    for table in inputs:
        entry = _mapping(inputs, table, f"{where}: inputs")
        at = f"{where}: inputs.{table}"
        _name(entry, "file", at)
        _count(entry, "bytes", at)
        _count(entry, "mtime_ns", at)
        _sha256(entry, "sha256", at)
    sql = _mapping(manifest, "sql", where)
    for file in sql_files():
        _sha256(sql, file, f"{where}: sql")


def verify(build: PublishedBuild, *, rows: bool = True) -> None:
    """Raise BuildCorrupt unless `build` is exactly what was published.

    The manifest must follow the schema; every output must exist and hash to its recorded
    sha256 (so every changed byte is caught), and with `rows`, hold the recorded number of rows
    (read from the Parquet footer only). Key order needs the rows: see `read_verified`.
    """
    label = f"build {build.build_id}"
    _check_manifest_of(build, label)
    for name in ROLLUPS:
        for part in build.manifest["outputs"][name]["parts"]:
            path = build.path / part["file"]
            if _sha256_or_corrupt(path, label, part["file"]) != part["sha256"]:
                raise BuildCorrupt(f"{label}: {part['file']} {_CHANGED}")
            if rows:
                try:
                    found = pl.scan_parquet(path).select(pl.len()).collect().item()
                except (OSError, pl.exceptions.PolarsError) as exc:
                    raise BuildCorrupt(
                        f"{label}: {part['file']} cannot be read as Parquet: {_first_line(exc)}"
                    ) from None
                if found != part["rows"]:
                    raise BuildCorrupt(f"{label}: {part['file']} has {found} rows; the manifest says {part['rows']}")


def read_verified(build: PublishedBuild) -> dict[str, pl.DataFrame]:
    """The rollups of `build`, each read once from disk and trusted only after it verifies:
    its bytes hash to the manifest's sha256, it holds the recorded rows, and its rows are in
    key order (`check_rollup_frame`). Raises BuildCorrupt naming the build and the problem.

    Hashing the bytes that are then parsed (not the file, then the file again) means a file
    replaced between the two steps cannot slip through.
    """
    label = f"build {build.build_id}"
    _check_manifest_of(build, label)
    frames = {}
    for name in ROLLUPS:
        pieces = [_read_part(build, part, label) for part in build.manifest["outputs"][name]["parts"]]
        frame = pieces[0] if len(pieces) == 1 else pl.concat(pieces, how="vertical", rechunk=True)
        try:
            check_rollup_frame(name, frame)  # across parts too: the parts must be listed in key order
        except BuildCorrupt as exc:
            raise BuildCorrupt(f"{label}: {exc}") from None
        frames[name] = frame
    return frames


def _read_part(build: PublishedBuild, part: dict[str, Any], label: str) -> pl.DataFrame:
    """One part's rows, from bytes that hashed to the manifest's sha256 (read once, then parsed)."""
    try:
        data = (build.path / part["file"]).read_bytes()
    except FileNotFoundError:
        raise BuildCorrupt(f"{label}: {part['file']} is missing") from None
    except OSError as exc:
        raise BuildCorrupt(f"{label}: cannot read {part['file']}: {exc.strerror or exc}") from None
    if hashlib.sha256(data).hexdigest() != part["sha256"]:
        raise BuildCorrupt(f"{label}: {part['file']} {_CHANGED}")
    try:
        frame = pl.read_parquet(io.BytesIO(data))
    except (OSError, pl.exceptions.PolarsError) as exc:  # a manifest written for bad bytes
        raise BuildCorrupt(f"{label}: {part['file']} cannot be read as Parquet: {_first_line(exc)}") from None
    if frame.height != part["rows"]:
        raise BuildCorrupt(f"{label}: {part['file']} has {frame.height} rows; the manifest says {part['rows']}")
    return frame


def check_rollup_frame(name: str, frame: pl.DataFrame) -> None:
    """Raise BuildCorrupt unless the rows of rollup `name` are in strictly increasing key order.

    campaign_performance by campaign_id; daily_anomalies by (campaign_id, metric_date);
    top_creators by (campaign_id, rank) with rank 1, 2, ... n within each campaign, and each
    campaign's creators ranked as docs/contract.md §4 says (conversions desc, clicks desc, creator_id
    asc). Strict: a repeated key is out of order. Keys must not be null. Vectorised: one pass
    comparing each row with the one before it.
    """
    if name not in ROLLUP_ORDER:
        raise ValueError(f"unknown rollup {name!r}")
    key = ROLLUP_ORDER[name]
    ranked = ("total_conversions", "total_clicks", "creator_id") if name == "top_creators" else ()
    missing = [c for c in (*key, *ranked) if c not in frame.columns]
    if missing:
        raise BuildCorrupt(f"{name}: lacks column(s) {', '.join(missing)}")
    if frame.height == 0:
        return
    nulls = frame.select(pl.any_horizontal(pl.col(key).is_null()).arg_true().first()).item()
    if nulls is not None:
        raise BuildCorrupt(f"{name}: row {nulls + 1} has a null in its key ({', '.join(key)})")
    if name == "top_creators":
        campaign, rank = pl.col("campaign_id"), pl.col("rank")
        same = campaign == campaign.shift(1)
        ok = (
            pl.when(same)
            .then(
                (rank == rank.shift(1) + 1)
                & _after_previous([("total_conversions", True), ("total_clicks", True), ("creator_id", False)])
            )
            .otherwise((rank == 1) & (campaign > campaign.shift(1)).fill_null(True))
        )
        what = "(campaign_id, rank) order with ranks 1..n by conversions, clicks, creator_id"
        shown: tuple[str, ...] = ("campaign_id", "rank", "creator_id")
    else:
        ok = _after_previous([(column, False) for column in key]).fill_null(True)
        what = f"({', '.join(key)}) order"
        shown = key
    bad = frame.select((~ok).fill_null(True).arg_true().first()).item()
    if bad is not None:
        row = frame.row(bad, named=True)
        if bad == 0:
            detail = f"({_values(row, shown)}) does not start its campaign at rank 1"
        else:
            previous = frame.row(bad - 1, named=True)
            detail = f"({_values(row, shown)}) follows ({_values(previous, shown)})"
        raise BuildCorrupt(f"{name}: rows are not in {what}: row {bad + 1} {detail}")


# --- choosing the build to serve -------------------------------------------------------------


def current_target(rollup_dir: Path) -> Path | None:
    """The folder `current` points at (resolved; it may no longer exist), or None without a link."""
    link = rollup_dir / CURRENT_LINK
    return link.resolve() if link.is_symlink() or link.exists() else None


def servable_builds(rollup_dir: Path) -> list[PublishedBuild]:
    """The build `current` points at (if the link exists), then every other complete build in
    builds/, newest first. Nothing here is verified: manifests that cannot be read are
    returned with their `problem` set, so whoever verifies them can say why they failed.

    Newest is by folder name, which is the build id (a UTC timestamp to the microsecond, then a
    content hash): the name is what `publish` gave the folder, while a damaged manifest could
    say anything. Folders without a manifest (staging, half-deleted) are not builds.
    """
    found: list[PublishedBuild] = []
    current = current_target(rollup_dir)
    if current is not None:
        found.append(PublishedBuild.read(current))
    builds = rollup_dir / BUILDS_DIR
    try:
        folders = [p for p in builds.iterdir() if not p.name.startswith(".") and p.is_dir()]
    except (FileNotFoundError, NotADirectoryError):
        folders = []
    for path in sorted(folders, key=lambda p: p.name, reverse=True):
        if path.resolve() != current and (path / MANIFEST_FILE).is_file():
            found.append(PublishedBuild.read(path))
    return found


@dataclass(frozen=True)
class Rejected:
    """A build that was tried and not served, and why."""

    build: PublishedBuild
    reason: str

    @property
    def build_id(self) -> str:
        return self.build.build_id


T = TypeVar("T")


@dataclass(frozen=True)
class BuildChoice(Generic[T]):
    """What `choose_build` found: the build to serve (if any), what `load` made of it, and the
    builds tried before it, with the reason each was refused (newest first)."""

    build: PublishedBuild | None
    loaded: T | None
    rejected: tuple[Rejected, ...]
    current: Path | None  # where `current` points, if anywhere

    @property
    def current_rejected(self) -> Rejected | None:
        """The refusal of the build `current` points at, when it was refused."""
        return next((r for r in self.rejected if r.build.path == self.current), None)

    @property
    def is_fallback(self) -> bool:
        """A build other than `current` is served (current failed, or there is none)."""
        return self.build is not None and self.build.path != self.current


def choose_build(rollup_dir: Path, load: Callable[[PublishedBuild], T]) -> BuildChoice[T]:
    """Try `load` on each of `servable_builds(rollup_dir)` in order; the first that returns
    is chosen. `load` refuses a build by raising RollupUnavailable (BuildCorrupt is one); any
    other exception propagates. Typical loads: `read_verified`, or the store's own loader
    built on it; `verify` alone checks the files without keeping anything."""
    rejected: list[Rejected] = []
    current = current_target(rollup_dir)
    for candidate in servable_builds(rollup_dir):
        try:
            loaded = load(candidate)
        except RollupUnavailable as exc:
            rejected.append(Rejected(candidate, exc.detail))
            continue
        return BuildChoice(candidate, loaded, tuple(rejected), current)
    return BuildChoice(None, None, tuple(rejected), current)


def rebuild_reason(published: PublishedBuild | None, data_dir: Path, sql_dir: Path = SQL_DIR) -> str | None:
    """Why `published` (normally what `current` points at) cannot answer for the inputs in
    `data_dir` and the SQL in `sql_dir`, or None when it can: nothing published, stale, or
    damaged. Staleness alone (`is_current`) never looked at the outputs, so a truncated
    Parquet in `current` was never rebuilt at restart; this verifies them too (hashing the
    rollups: ~50 ms for those of 10M metric rows)."""
    if published is None:
        return "nothing is published"
    try:
        verify(published)
    except BuildCorrupt as exc:
        return f"the published build is damaged: {exc}"
    if not is_current(published, data_dir, sql_dir):
        return f"build {published.build_id} was made from other inputs or SQL"
    return None


_CHANGED = "does not match its sha256 in the manifest (damaged or changed after publishing)"


def _sha256_or_corrupt(path: Path, label: str, file: str) -> str:
    try:
        return sha256_file(path)
    except FileNotFoundError:
        raise BuildCorrupt(f"{label}: {file} is missing") from None
    except OSError as exc:
        raise BuildCorrupt(f"{label}: cannot read {file}: {exc.strerror or exc}") from None


def _check_manifest_of(build: PublishedBuild, label: str) -> None:
    if build.problem is not None:
        raise BuildCorrupt(f"{label}: {build.problem}")
    check_manifest(build.manifest, f"{label}: {MANIFEST_FILE}")


def _after_previous(order: list[tuple[str, bool]]) -> pl.Expr:
    """True where a row sorts strictly after the row before it, by `order` ((column, descending)
    pairs, most significant first); null on the first row."""
    result: pl.Expr | None = None
    for column, descending in reversed(order):
        here, before = pl.col(column), pl.col(column).shift(1)
        beyond = here < before if descending else here > before
        result = beyond if result is None else beyond | ((here == before) & result)
    assert result is not None
    return result


def _field(mapping: dict[str, Any], key: str, where: str) -> Any:
    if key not in mapping:
        raise BuildCorrupt(f"{where}: {key} is missing")
    return mapping[key]


def _mapping(mapping: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = _field(mapping, key, where)
    if not isinstance(value, dict):
        raise BuildCorrupt(f"{where}: {key} is {_show(value)}, not an object")
    return value


def _name(mapping: dict[str, Any], key: str, where: str) -> str:
    value = _field(mapping, key, where)
    if not isinstance(value, str) or not _SAFE_NAME.fullmatch(value):
        raise BuildCorrupt(f"{where}: {key} is {_show(value)}, not a plain name (letters, digits, '._-')")
    return value


def _count(mapping: dict[str, Any], key: str, where: str) -> int:
    value = _field(mapping, key, where)
    if type(value) is not int or value < 0:
        raise BuildCorrupt(f"{where}: {key} is {_show(value)}, not a whole number >= 0")
    return value


def _sha256(mapping: dict[str, Any], key: str, where: str) -> str:
    value = _field(mapping, key, where)
    if not isinstance(value, str) or not _SHA256.fullmatch(value):
        raise BuildCorrupt(f"{where}: {key} is {_show(value)}, not a sha256 (64 lower-case hex digits)")
    return value


def _show(value: Any) -> str:
    return shorten(json.dumps(value, ensure_ascii=True, default=str))


def _values(row: dict[str, Any], columns: tuple[str, ...]) -> str:
    return ", ".join(f"{c}={_show(row[c] if isinstance(row[c], int | str | None) else str(row[c]))}" for c in columns)


def _first_line(exc: BaseException) -> str:
    return shorten((str(exc).strip().splitlines() or [type(exc).__name__])[0])
