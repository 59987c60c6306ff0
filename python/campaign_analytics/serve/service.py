"""What one app serves: its settings, its benchmark source, and the build it answers from.

    Service.start(settings, benchmarks)
        ROLLUP_DIR/current is rebuilt first (the batch build, in a child process) when it is
        missing or stale for DATA_DIR and the SQL (fingerprints in the manifest); then the
        newest build that opens is served: its manifest checked and its serving file opened
        after the cheap check (size, salt and campaign count against the manifest; every read
        after that checked by its CRC), so start-up costs the same at any size. A `current`
        that fails there is rebuilt, and the opening done again. Then, in a child process at
        nice 19 (`verify_in_child`), the sha256 of every file of the served build is checked
        as well: damage in bytes no request has read yet is found too.
    service.rollups()
        the store a request answers from. At most every `rollup_check_seconds` (default 1 s)
        a request also reads where `current` points (one readlink); when that changed, a
        background thread verifies the new build in full (sha256 of every file, in a child
        process), opens it and
        swaps it in with one assignment. Requests already running keep the store they started
        with, so none fails or mixes two builds during a swap, and no request waits for the
        load. A build that fails is not served: the previous verified one is, with a WARNING,
        and /health names the build that was refused and why.
    damage while serving
        a read of the served build that fails its CRC or comes back short (the file truncated
        or overwritten under the service) answers 503 and marks the build damaged; the next
        request starts the same background choice without it, so the previous verified build
        is served (the damaged one stays only when there is none, each read still checked).

Polling on requests (not a file watcher, not SIGHUP) works the same under uvicorn, under
several workers and under a plain `TestClient(app)` whose lifespan never runs; a service with
no traffic notices the new build with its next request. The serve side never imports build.py.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from campaign_analytics.errors import BuildCorrupt, RollupUnavailable
from campaign_analytics.http import metrics
from campaign_analytics.published.manifest import (
    CURRENT_LINK,
    BuildChoice,
    PublishedBuild,
    Rejected,
    choose_build,
    find_published,
    is_current,
    output_files,
)
from campaign_analytics.serve.benchmarks import BenchmarkSource
from campaign_analytics.serve.store import RollupStore
from campaign_analytics.settings import Settings

if TYPE_CHECKING:
    from starlette.requests import Request

log = logging.getLogger("campaign_analytics")


class Service:
    """Everything a request needs; made by `create_app()` itself, so the app answers whether
    or not its ASGI lifespan runs."""

    def __init__(self, settings: Settings, benchmarks: BenchmarkSource) -> None:
        self.settings = settings
        self.benchmarks = benchmarks
        self.store: RollupStore | None = None
        self.load_error: str | None = None
        self.rejected: tuple[Rejected, ...] = ()  # builds newer than the served one, refused
        self._link = settings.rollup_dir / CURRENT_LINK
        self._seen: str | None = None  # where `current` pointed when last looked at
        self._next_check = 0.0
        self._picking_up = threading.Lock()
        self._damaged: dict[Path, str] = {}  # builds found damaged while served, and how

    @classmethod
    def start(cls, settings: Settings, benchmarks: BenchmarkSource) -> Service:
        service = cls(settings, benchmarks)
        rebuilt = service._rebuild_if_stale()
        service._seen = service._current_target()
        choice = choose_build(settings.rollup_dir, service._load)
        if not rebuilt and choice.current_rejected is not None:
            # `current` is damaged: rebuild it from DATA_DIR rather than serve an older build
            log.info("building the rollups of %s first: %s", settings.data_dir, choice.current_rejected.reason)
            service._build()
            service._seen = service._current_target()
            choice = choose_build(settings.rollup_dir, service._load)
        service._adopt(choice)
        if service.store is not None:
            store = service.store
            threading.Thread(target=service._check_in_full, args=(store,), name="rollup-check", daemon=True).start()
        return service

    def rollups(self) -> RollupStore:
        if time.monotonic() >= self._next_check:
            self._look_for_a_new_build()
        store = self.store
        if store is None:
            raise RollupUnavailable(f"no rollups are loaded: {self.load_error}")
        if store.damaged is not None and store.build.path not in self._damaged:
            self._leave_damaged(store)
        return store

    def _load(self, build: PublishedBuild) -> RollupStore:
        """RollupStore.verified, refusing a build whose serving file was found damaged while
        it was served (its cheap check at open would pass again)."""
        damage = self._damaged.get(build.path)
        if damage is not None:
            raise BuildCorrupt(damage)
        return RollupStore.verified(build)

    def _load_in_full(self, build: PublishedBuild) -> RollupStore:
        """`_load` after `verify` (the sha256 of every file): what a pick-up runs, in the
        background, so a damaged new build is refused before it is swapped in."""
        if build.path not in self._damaged:
            verify_in_child(build)
        return self._load(build)

    def _check_in_full(self, store: RollupStore) -> None:
        """After start-up (which checks only what opening the serving file needs), the sha256
        of every file of the served build, in the background: damage in bytes no request has
        read yet is found too, and the build is then left as if a read had found it."""
        try:
            verify_in_child(store.build)
        except BuildCorrupt as exc:
            store.serving.damaged = store.serving.damaged or exc.detail
        except Exception:  # a background thread has no caller to tell
            log.exception("checking build %s in full failed", store.build_id)

    def _leave_damaged(self, store: RollupStore) -> None:
        """The served build's file changed under it (truncated, overwritten): its damaged reads
        answer 503, never with its bytes; in the background, the newest other build that
        verifies is served instead (if there is none, the damaged one stays, and each of its
        reads is still checked). While another pick-up runs, a later request starts it."""
        if not self._picking_up.acquire(blocking=False):
            return
        self._damaged[store.build.path] = str(store.damaged)
        log.error("build %s was damaged while served: %s", store.build_id, store.damaged)
        target = self._current_target() or str(store.build.path)
        threading.Thread(target=self._pick_up, args=(target,), name="rollup-fall-back", daemon=True).start()

    # --- start-up ---------------------------------------------------------------------------

    def _rebuild_if_stale(self) -> bool:
        """Build first when nothing is published or `current` answers for other inputs or SQL
        (fingerprints only; whether its files are whole is checked once, when it is loaded)."""
        settings = self.settings
        published = find_published(settings.rollup_dir)
        if published is not None and is_current(published, settings.data_dir):
            return False
        if published is not None:
            dataset = published.manifest.get("dataset", "?")
            log.warning(
                "ROLLUP_DIR %s serves build %s of dataset %r, made from other inputs or SQL than DATA_DIR %s: "
                "building DATA_DIR over it (the older build stays in builds/ until the next publish prunes it)",
                settings.rollup_dir,
                published.build_id,
                dataset,
                settings.data_dir,
            )
        else:
            log.info("building the rollups of %s first: nothing is published", settings.data_dir)
        self._build()
        return True

    def _build(self) -> None:
        problem = build_in_child(self.settings)
        if problem is not None:
            log.error("start-up build failed: %s", problem)
            self.load_error = problem

    # --- picking up new builds --------------------------------------------------------------

    def _current_target(self) -> str | None:
        try:
            return os.readlink(self._link)
        except OSError:
            return None

    def _look_for_a_new_build(self) -> None:
        self._next_check = time.monotonic() + self.settings.rollup_check_seconds
        target = self._current_target()
        if target is None or target == self._seen or not self._picking_up.acquire(blocking=False):
            return
        thread = threading.Thread(target=self._pick_up, args=(target,), name="rollup-pick-up", daemon=True)
        thread.start()

    def _pick_up(self, target: str) -> None:
        try:
            log.info("ROLLUP_DIR/current now points at %s: loading it", target)
            self._adopt(choose_build(self.settings.rollup_dir, self._load_in_full))
        except Exception:  # a background thread has no caller to tell; keep serving what we have
            log.exception("picking up the build at %s failed; still serving %s", target, self._served_id())
        finally:
            self._seen = target
            self._picking_up.release()

    def _adopt(self, choice: BuildChoice[RollupStore]) -> None:
        served = self.store
        newer = [
            r
            for r in choice.rejected
            if served is None or r.build.path != served.build.path or r.build.path in self._damaged
        ]
        for refused in newer:
            if refused not in self.rejected:  # each refusal is told (and counted) once
                metrics.build_verification_failed()
                log.warning("build %s failed verification and is not served: %s", refused.build_id, refused.reason)
        if choice.loaded is None:
            self.rejected = tuple(newer)
            if served is None:
                reasons = "; ".join(r.reason for r in choice.rejected)
                self.load_error = self.load_error or reasons or f"nothing published in {self.settings.rollup_dir}"
                log.error("no build can be served: %s", self.load_error)
            return
        store = choice.loaded
        if served is not None and store.build.path == served.build.path:
            self.rejected = tuple(newer)
            return
        self.store, self.load_error, self.rejected = store, None, tuple(newer)
        if choice.is_fallback:
            log.warning("serving the previous verified build %s instead of the newest", store.build_id)
        rows = store.rows()
        built_at = store.build.manifest.get("built_at")
        metrics.served_build(store.build_id, built_at if isinstance(built_at, str) else None, rows)
        log.info(
            "serving build %s (%s campaigns, %s old; rows: %s) from %s",
            store.build_id,
            f"{len(store):,}",
            _age(store.build),
            ", ".join(f"{name} {count:,}" for name, count in rows.items()),
            store.build.path,
        )

    def _served_id(self) -> str:
        return self.store.build_id if self.store is not None else "nothing"


_HASH_FILES = """
import hashlib, json, sys
for path, expected in json.loads(sys.argv[1]):
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except FileNotFoundError:
        print(path.rsplit("/", 1)[-1], "is missing")
        sys.exit(3)
    if digest.hexdigest() != expected:
        name = path.rsplit("/", 1)[-1]
        print(name, "does not match its sha256 in the manifest (damaged or changed after publishing)")
        sys.exit(3)
"""


def verify_in_child(build: PublishedBuild) -> None:
    """The sha256 of every file of `build` against its manifest (what `manifest.verify`
    checks), in a child process at the lowest CPU priority that imports nothing but hashlib:
    hashing gigabytes must take neither the core nor the GIL from the requests (a low-priority
    thread would hold them up each time it took the GIL between chunks). BuildCorrupt when a
    file fails; a failure of the check itself is logged, and the build kept."""
    files = [[str(build.path / file), sha256] for file, sha256 in output_files(build)]
    with subprocess.Popen(
        [sys.executable, "-I", "-c", _HASH_FILES, json.dumps(files)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as child:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, child.pid, 19)
        out, err = child.communicate()
    if child.returncode == 3:
        raise BuildCorrupt(f"build {build.build_id}: {out.strip()}")
    if child.returncode != 0:
        log.error("could not check build %s in full: %s", build.build_id, (err.strip().splitlines() or ["?"])[-1])


def _age(build: PublishedBuild) -> str:
    try:
        built = datetime.fromisoformat(str(build.manifest["built_at"]))
    except (KeyError, ValueError):
        return "unknown age"
    seconds = max(0.0, (datetime.now(UTC) - built).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def build_in_child(settings: Settings) -> str | None:
    """Run the batch build as its own process: the server never holds the build's memory, and
    the serve side does not import the build code. Returns the failure message, if any."""
    package_parent = Path(__file__).resolve().parents[2]  # the folder that holds campaign_analytics/
    command = [
        sys.executable,
        "-m",
        "campaign_analytics",
        "build",
        "--data-dir",
        str(settings.data_dir.resolve()),
        "--out",
        str(settings.rollup_dir.resolve()),
        "--dataset",
        settings.dataset,
        "--if-stale",
    ]
    done = subprocess.run(command, cwd=package_parent, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
    log.info("%s", done.stdout.strip())
    return None


def service_of(request: Request) -> Service:
    """The service an app made at `create_app()` (kept in `app.state`): what every route asks."""
    service: Service = request.app.state.service
    return service
