"""Publishing: a complete build folder beside the current one, then one atomic rename of `current`.

The folder holds the three Parquet rollups, the serving file made from them (the bodies the
service reads in place), and the manifest, written last.

A failed publish removes its own staging folder and never touches `current`, so the build being
served stays byte-for-byte as it was. Builds of one ROLLUP_DIR are serialised with a file lock;
a ROLLUP_DIR the lock had to make is removed again when its build fails.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from campaign_analytics.published.manifest import (
    BUILDS_DIR,
    CURRENT_LINK,
    MANIFEST_FILE,
    ROLLUPS,
    SERVING,
    PublishedBuild,
    sha256_file,
)
from campaign_analytics.published.serving import SERVING_FILE, salt_of, write_serving

# Besides `current`, keep the build before it: for readers still holding it, and for the
# service to fall back to when the newest build fails verification.
KEEP_OLD_BUILDS = 1


def publish(rollup_dir: Path, rollups: dict[str, pl.DataFrame], manifest: dict[str, Any]) -> PublishedBuild:
    """Write each rollup as one Parquet part into a new build folder, then publish it."""
    with staging_folder(rollup_dir) as staging:
        parts = {}
        for name in ROLLUPS:
            write_rollup(rollups[name], staging / f"{name}.parquet")
            parts[name] = [f"{name}.parquet"]
        return publish_staged(rollup_dir, staging, parts, manifest)


@contextlib.contextmanager
def staging_folder(rollup_dir: Path) -> Iterator[Path]:
    """A new, empty folder under builds/ for an engine to write a build's part files into;
    removed again unless `publish_staged` has moved it into place."""
    builds = rollup_dir / BUILDS_DIR
    builds.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=builds))
    staging.chmod(0o755)  # mkdtemp makes it private; a published build is readable by the service user
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone already when it was published


def publish_staged(
    rollup_dir: Path, staging: Path, parts: dict[str, list[str]], manifest: dict[str, Any]
) -> PublishedBuild:
    """Publish the part files an engine wrote into `staging` (from `staging_folder`).

    `parts` lists each rollup's files in key order. Each is hashed and its rows counted from its
    Parquet footer; the manifest (written last) lists them; the folder is renamed into builds/
    and `current` is pointed at it in one atomic rename. A failure leaves `current` as it was.
    """
    builds = rollup_dir / BUILDS_DIR
    link_tmp: Path | None = None
    try:
        outputs: dict[str, Any] = {}
        for name in ROLLUPS:
            listed = []
            for file in parts[name]:
                path = staging / file
                rows = pl.scan_parquet(path).select(pl.len()).collect().item()
                listed.append({"file": file, "rows": rows, "sha256": sha256_file(path)})
            outputs[name] = {"rows": sum(part["rows"] for part in listed), "parts": listed}
        serving = write_serving_file(staging, parts, [str(p["sha256"]) for n in ROLLUPS for p in outputs[n]["parts"]])
        content = hashlib.sha256(
            json.dumps([manifest["inputs"], manifest["sql"], outputs], sort_keys=True, default=str).encode()
        ).hexdigest()
        now = datetime.now(UTC)
        build_id = f"{now:%Y%m%dT%H%M%S%fZ}-{content[:10]}"
        full = {**manifest, "build_id": build_id, "built_at": now.isoformat(timespec="seconds"), "outputs": outputs}
        full[SERVING] = serving
        _write_durably(staging / MANIFEST_FILE, json.dumps(full, indent=2, sort_keys=False).encode() + b"\n")
        final = builds / build_id
        os.rename(staging, final)
        link_tmp = rollup_dir / f".{CURRENT_LINK}-{build_id}"
        os.symlink(Path(BUILDS_DIR) / build_id, link_tmp)
        os.replace(link_tmp, rollup_dir / CURRENT_LINK)  # the atomic step
        link_tmp = None
        _fsync_dir(rollup_dir)
    except BaseException:
        if link_tmp is not None:
            link_tmp.unlink(missing_ok=True)
        raise
    _prune(builds, keep=final)
    return PublishedBuild(final, full)


def write_serving_file(staging: Path, parts: dict[str, list[str]], sha256s: list[str]) -> dict[str, Any]:
    """The build's serving file (published/serving.py: every prepared body, read in place by
    the service's workers), made from the rollup parts just written, whatever engine wrote
    them (read back in chunks of campaigns); its manifest entry. The salt comes from the parts'
    sha256s, so the file belongs to these rollups and no others."""
    rollups = {name: pl.scan_parquet([staging / file for file in parts[name]]) for name in ROLLUPS}
    return write_serving(rollups, staging / SERVING_FILE, salt_of(sha256s))


def write_rollup(frame: pl.DataFrame, path: Path) -> None:
    try:
        frame.write_parquet(path, compression="zstd", statistics=True)
    except pl.exceptions.PolarsError as exc:  # polars reports a full disk as its own error type
        if "os error 28" in str(exc) or "No space left" in str(exc):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from None
        raise
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def _write_durably(path: Path, data: bytes) -> None:
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _prune(builds: Path, keep: Path) -> None:
    """Drop builds older than the newest KEEP_OLD_BUILDS before `keep`, and stale staging folders."""
    older = sorted(
        (p for p in builds.iterdir() if p.is_dir() and p != keep and not p.name.startswith(".")), reverse=True
    )
    for path in older[KEEP_OLD_BUILDS:]:
        shutil.rmtree(path, ignore_errors=True)
    for path in builds.glob(".staging-*"):
        shutil.rmtree(path, ignore_errors=True)


LOCK_FILE = ".lock"


@contextlib.contextmanager
def exclusive(rollup_dir: Path) -> Iterator[None]:
    """Hold ROLLUP_DIR's build lock, making the folder when it does not exist yet.

    A folder made here is removed again when the build fails before publishing anything into
    it, so a refused build into a new `--out` leaves nothing behind. A build that waited for
    the lock while that happened finds its lock file gone and takes the new one instead.
    """
    made = _first_missing(rollup_dir)
    while True:
        rollup_dir.mkdir(parents=True, exist_ok=True)
        lock = rollup_dir / LOCK_FILE
        with lock.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            if not _is_linked_at(handle.fileno(), lock):
                continue
            try:
                yield
            except BaseException:
                if made is not None:
                    _remove_if_unused(rollup_dir, up_to=made)
                raise
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return


def _first_missing(path: Path) -> Path | None:
    """The outermost folder of `path` that does not exist yet (None when `path` exists)."""
    missing = None
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing = folder
    return missing


def _is_linked_at(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), path.stat())
    except FileNotFoundError:
        return False


def _remove_if_unused(rollup_dir: Path, up_to: Path) -> None:
    """Remove `rollup_dir` and the folders above it up to `up_to` while they hold nothing but
    what this build made (its lock file and an empty builds/); rmdir never removes anyone's files."""
    if {p.name for p in rollup_dir.iterdir()} - {LOCK_FILE, BUILDS_DIR}:
        return
    builds = rollup_dir / BUILDS_DIR
    with contextlib.suppress(OSError):
        if builds.exists():
            builds.rmdir()
        (rollup_dir / LOCK_FILE).unlink(missing_ok=True)
        folder = rollup_dir
        while True:
            folder.rmdir()
            if folder == up_to:
                break
            folder = folder.parent
