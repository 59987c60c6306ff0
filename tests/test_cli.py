"""The command line: --version, build from the environment, progress, summary, data-quality limits,
a full disk, a closed pipe, and `serve`."""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import polars as pl
import pytest

from campaign_analytics import cli
from tests.support.datasets import REPO, VISIBLE, write_dataset
from tests.support.live_server import free_port
from tests.support.waits import wait_for

CLI = [sys.executable, "-m", "campaign_analytics"]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("DATA_DIR", "ROLLUP_DIR", "DATASET", "PORT")}
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**clean, "PYTHONPATH": str(REPO / "python"), **(env or {})},
        check=False,
    )


@pytest.fixture(scope="module")
def repeated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,500 metrics rows: 485 repeat a key (32.33 %), 15 are of an unknown campaign (1 %)."""
    rows: list[tuple[object, ...]] = []
    for day in range(1, 29):
        for creator in range(1, 37):
            if len(rows) < 1000:
                rows.append((f"2026-02-{day:02d}", "cmp-1", f"crt-{creator}", 100, 5, 1, "1.00", "2.00"))
    rows += rows[:500]
    rows = rows[:1485] + [("2026-02-01", "cmp-gone", "crt-1", 1, 0, 0, "0", "")] * 15
    return write_dataset(
        tmp_path_factory.mktemp("repeated") / "data",
        campaigns=[("cmp-1", "One")],
        creators=[(f"crt-{n}", f"Creator {n}") for n in range(1, 37)],
        metrics=rows,
    )


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])
    assert exited.value.code == 0
    assert re.fullmatch(r"campaign-analytics \d+\.\d+\.\d+\n", capsys.readouterr().out)


def test_build_help_says_what_it_does_its_inputs_outputs_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["build", "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert "Build the rollups of one data folder and publish them" in text
    assert "Input (--data-dir): campaigns, creators and campaign_daily_metrics" in text
    assert "Output (--out): a new folder OUT/builds/<build id>" in text
    assert "OUT/current" in text and "manifest.json" in text
    codes = text[text.index("exit codes:") :].splitlines()[1:]
    assert [line.split()[0] for line in codes] == ["0", "2", "1"]
    assert "up to date" in codes[0] and "invalid input" in codes[1] and "nothing published" in codes[2]
    if_stale = " ".join(text[text.index("  --if-stale") : text.index("  --max-duplicate-ratio")].split())
    assert if_stale == (
        "--if-stale build only when needed: when the build in OUT/current was made from these very input "
        "files and SQL files and still verifies, print 'up to date' and exit 0 without building"
    )
    orphan = " ".join(text[text.index("  --max-orphan-ratio") : text.index("  --max-unknown-creator-ratio")].split())
    assert orphan == (
        "--max-orphan-ratio R refuse the build (exit 2, nothing published) when more than R (a share from 0 to 1) "
        "of the metrics rows belong to campaigns missing from the campaigns file (they are excluded)"
    )


def test_a_refused_build_names_the_file_by_the_path_given_and_leaves_no_new_folder(tmp_path: Path) -> None:
    write_dataset(
        tmp_path / "data" / "x",
        metrics=[
            ("2026-01-01", "cmp-1", "crt-1", 10, 1, 0, "1.00", ""),
            ("2026-01-02", "cmp-1", "crt-1", 10, 1, 0, "1.00", ""),
            ("2026-01-03", "cmp-1", "crt-1", -5, 1, 0, "1.00", ""),
        ],
    )
    done = subprocess.run(
        [*CLI, "build", "--data-dir", "data/x", "--out", "rollups/x"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO / "python")},
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        "campaign-analytics build: data/x/campaign_daily_metrics.csv line 4, column impressions: '-5' is negative"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_build_reads_data_dir_and_rollup_dir_from_the_environment(tmp_path: Path) -> None:
    done = run_cli("build", env={"DATA_DIR": str(VISIBLE), "ROLLUP_DIR": str(tmp_path / "rollups")})
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "rollups" / "current" / "manifest.json").is_file()


def test_flags_win_over_the_environment(tmp_path: Path) -> None:
    done = run_cli(
        "build",
        "--data-dir",
        str(VISIBLE),
        "--out",
        str(tmp_path / "flag"),
        env={"DATA_DIR": str(tmp_path / "missing"), "ROLLUP_DIR": str(tmp_path / "env")},
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "flag" / "current").exists() and not (tmp_path / "env").exists()


def test_build_without_data_dir_or_flag_says_what_to_do() -> None:
    done = run_cli("build")
    assert done.returncode == 2
    assert "pass --data-dir DIR or set DATA_DIR" in done.stderr
    assert "Traceback" not in done.stderr


def test_build_prints_each_step_with_its_time_on_stderr(tmp_path: Path) -> None:
    done = run_cli("build", "--data-dir", str(VISIBLE), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    steps = done.stderr.splitlines()
    assert len(steps) >= 4
    assert all(re.fullmatch(r"campaign-analytics build: +\d+\.\d\d s  \S.*", line) for line in steps), steps
    assert any("SQL" in line for line in steps) and any("publishing" in line for line in steps)
    quiet = run_cli("build", "--data-dir", str(VISIBLE), "--out", str(tmp_path / "out"), "--quiet")
    assert quiet.stderr == ""


def test_summary_has_thousands_separators_and_percentages(repeated: Path, tmp_path: Path) -> None:
    done = run_cli("build", "--data-dir", str(repeated), "--out", str(tmp_path / "out"), "--quiet")
    assert done.returncode == 0, done.stderr
    assert "campaign_daily_metrics 1,500" in done.stdout
    assert "duplicate_key_rows_summed 485 (32.33 %)" in done.stdout
    assert "orphan_campaign_rows 15 (1.00 %), orphan_campaign_ids 1," in done.stdout


@pytest.mark.parametrize(
    ("option", "limit", "message"),
    [
        ("--max-duplicate-ratio", "0.2", "485 of 1,500 rows (32.33 %) repeat a (metric_date, campaign_id, creator_id)"),
        ("--max-orphan-ratio", "0.005", "15 of 1,500 rows (1.00 %) belong to campaigns missing from campaigns.csv"),
    ],
)
def test_a_data_quality_limit_fails_the_build_before_publishing(
    repeated: Path, tmp_path: Path, option: str, limit: str, message: str
) -> None:
    out = tmp_path / "out"
    assert run_cli("build", "--data-dir", str(VISIBLE), "--out", str(out)).returncode == 0
    before = (out / "current").resolve()
    done = run_cli("build", "--data-dir", str(repeated), "--out", str(out), option, limit)
    assert done.returncode == 2
    last = done.stderr.splitlines()[-1]
    assert message in last and f"more than {option} {limit}" in last
    assert (out / "current").resolve() == before  # the published build is untouched
    assert not list((out / "builds").glob(".staging-*"))


def test_a_limit_that_holds_publishes(repeated: Path, tmp_path: Path) -> None:
    done = run_cli(
        "build", "--data-dir", str(repeated), "--out", str(tmp_path / "out"), "--max-duplicate-ratio", "0.34"
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("value", ["1.5", "-0.1", "lots"])
def test_a_ratio_must_be_between_0_and_1(value: str) -> None:
    done = run_cli("build", "--data-dir", str(VISIBLE), "--max-duplicate-ratio", value)
    assert done.returncode == 2 and "--max-duplicate-ratio" in done.stderr


def _full_disk_from_polars(self: pl.DataFrame, *args: object, **kwargs: object) -> None:
    raise pl.exceptions.ComputeError("parquet: failed to write: No space left on device (os error 28)")


def _full_disk_from_the_os(fd: int) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize(
    ("target", "replacement"),
    [("polars.DataFrame.write_parquet", _full_disk_from_polars), ("os.fsync", _full_disk_from_the_os)],
)
def test_a_full_disk_is_one_line_and_nothing_is_published(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    target: str,
    replacement: object,
) -> None:
    monkeypatch.setattr(target, replacement)
    code = cli.main(["build", "--data-dir", str(VISIBLE), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.splitlines() == [
        f"campaign-analytics build: {tmp_path / 'out'}: no space left on device; nothing was published"
    ]
    assert not (tmp_path / "out").exists()  # nothing it made is left behind


def test_a_closed_stdout_after_publishing_is_not_a_traceback(tmp_path: Path) -> None:
    """`campaign-analytics build ... | head -0`: the reader is gone before the summary."""
    process = subprocess.Popen(
        [*CLI, "build", "--data-dir", str(VISIBLE), "--out", str(tmp_path / "out"), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO / "python")},
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    err = process.stderr.read().decode()
    process.stderr.close()
    assert process.wait(timeout=60) == 0
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert (tmp_path / "out" / "current").exists()


# --- serve ---------------------------------------------------------------------------------


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read().decode()


def test_serve_with_two_workers_and_port_from_the_environment(visible_rollup_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO / "python"),
        "DATA_DIR": str(VISIBLE),
        "ROLLUP_DIR": str(visible_rollup_dir),
        "BENCHMARK_FIXTURES_FILE": str(VISIBLE / "benchmarks.json"),
        "PORT": str(port),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "LOG_FORMAT": "json",
    }
    process = subprocess.Popen(
        [*CLI, "serve", "--workers", "2"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def answers() -> bool:
            assert process.poll() is None, "serve exited"
            return _get(base + "/livez")[0] == 200

        wait_for(answers, timeout=60, interval=0.1, ignoring=(OSError,), message="serve did not answer")
        for _ in range(20):  # spread over both workers by the kernel
            assert _get(base + "/campaigns/cmp-001/performance")[0] == 200
        _, text = _get(base + "/metrics")
        line = next(
            ln
            for ln in text.splitlines()
            if ln.startswith("campaign_analytics_http_requests_total{")
            and 'route="/campaigns/{campaign_id:path}/performance"' in ln
            and 'status="200"' in ln
        )
        assert float(line.rsplit(" ", 1)[1]) == 20  # every worker's requests, whichever answered
    finally:
        process.terminate()
        _, err = process.communicate(timeout=30)
    assert '"logger": "campaign_analytics.access"' in err  # the access log, as JSON lines
    assert '"logger": "uvicorn.error"' in err  # uvicorn's own lines, same format


def test_serve_without_data_dir_is_one_line() -> None:
    done = run_cli("serve", "--port", str(free_port()))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "campaign-analytics serve: DATA_DIR is not set: point it at a folder of input files (e.g. data/visible)"
    ]


# --- make and the smoke scripts ------------------------------------------------------------


SMOKE_SCRIPTS = ["scripts/docker-smoke.sh", "scripts/compose-smoke.sh"]
REGISTRY_ERROR = "Error: initializing source docker://python:3.11-slim-bookworm: pinging container registry"


def _engines(folder: Path, *, docker_daemon: bool) -> dict[str, str]:
    """Stand-ins for docker, podman and podman-compose that log their calls and fail the way an
    engine without a registry fails; the environment to run a smoke script with them."""
    folder.mkdir()
    log = folder / "calls.log"
    info = "exit 0" if docker_daemon else 'echo "Cannot connect to the Docker daemon at unix:///x.sock" >&2; exit 1'
    for name in ("docker", "podman", "podman-compose"):
        stub = folder / name
        stub.write_text(
            "#!/bin/sh\n"
            f'echo "{name} $*" >> {log}\n'
            f'if [ "$1" = info ]; then {info}; fi\n'
            'case "$*" in *build*) ;; *) exit 0 ;; esac\n'
            f'echo "{REGISTRY_ERROR}" >&2; exit 125\n'
        )
        stub.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_SMOKE_TOOL", "CONTAINER_ENGINE", "CI")}
    return {**env, "PATH": f"{folder}:{os.environ['PATH']}"}


@pytest.mark.parametrize("script", SMOKE_SCRIPTS)
@pytest.mark.parametrize(("docker_daemon", "engine"), [(True, "docker"), (False, "podman")])
def test_smoke_scripts_build_with_docker_or_else_podman_and_fail_with_the_engines_error(
    tmp_path: Path, script: str, docker_daemon: bool, engine: str
) -> None:
    env = _engines(tmp_path / "bin", docker_daemon=docker_daemon)
    done = subprocess.run(["bash", script], cwd=REPO, env=env, capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert f"container engine: {engine}" in done.stdout
    assert REGISTRY_ERROR in done.stderr and "FAIL" in done.stderr
    assert "SKIPPED" not in done.stdout + done.stderr
    builds = [line for line in (tmp_path / "bin" / "calls.log").read_text().splitlines() if "build" in line]
    assert builds and all(line.split()[0].startswith(engine) for line in builds)


@pytest.mark.parametrize("script", SMOKE_SCRIPTS)
def test_smoke_scripts_fail_when_the_tool_they_are_given_is_missing(script: str) -> None:
    env = {**os.environ, "DOCKER_SMOKE_TOOL": "/nonexistent/docker-smoke.sh"}
    done = subprocess.run(["bash", script], cwd=REPO, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert "FAIL: DOCKER_SMOKE_TOOL=/nonexistent/docker-smoke.sh is not a file" in done.stderr


def test_make_help_shows_the_port_it_will_use() -> None:
    done = subprocess.run(["make", "-s", "help", "PORT=9123"], cwd=REPO, capture_output=True, text=True, check=True)
    assert "http://127.0.0.1:9123" in done.stdout
    assert "$(" not in done.stdout
