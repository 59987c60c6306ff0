"""The contract between the build and the service: what a published build is and how to trust it.

A rollup folder (`ROLLUP_DIR`) looks like this:

    ROLLUP_DIR/
      current -> builds/<build_id>        symlink, swapped atomically by the build
      builds/<build_id>/
        campaign_performance.parquet
        top_creators.parquet
        daily_anomalies.parquet
        manifest.json                     written last: a folder without it is not a build

The manifest records fingerprints (sha256) of the inputs and of the SQL files, so the service
can tell whether the published build answers for the data it is pointed at, plus row counts,
the data-quality report and library versions. Like datasette's `inspect` file, it is trusted
at start-up instead of re-reading the data: inputs whose size and mtime match the manifest are
taken as unchanged; only when those differ is a file hashed again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from campaign_analytics.sources import TABLES

SCHEMA_VERSION = 1
ROLLUPS = ("campaign_performance", "top_creators", "daily_anomalies")
SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
MANIFEST_FILE = "manifest.json"
CURRENT_LINK = "current"
BUILDS_DIR = "builds"


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
    """Every input file present, by table name (both forms of a table are a build error)."""
    found: dict[str, Path] = {}
    for spec in TABLES:
        for suffix in (".csv", ".parquet"):
            path = data_dir / f"{spec.name}{suffix}"
            if path.is_file():
                found[f"{spec.name}{suffix}"] = path
    return found


def describe_input(path: Path) -> dict[str, Any]:
    stat = path.stat()
    return {"file": path.name, "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256_file(path)}


@dataclass(frozen=True)
class PublishedBuild:
    """A build folder and its parsed manifest."""

    path: Path
    manifest: dict[str, Any]

    @property
    def build_id(self) -> str:
        return str(self.manifest["build_id"])

    def rollup_path(self, name: str) -> Path:
        return self.path / self.manifest["outputs"][name]["file"]


def find_published(rollup_dir: Path) -> PublishedBuild | None:
    """The build `current` points at, or None when nothing usable is published."""
    link = rollup_dir / CURRENT_LINK
    if not link.exists():
        return None
    path = link.resolve()
    try:
        manifest = json.loads((path / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("schema_version") != SCHEMA_VERSION:
        return None
    return PublishedBuild(path, manifest)


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
