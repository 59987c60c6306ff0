"""Starting the service as an operator does: `campaign-analytics serve` and plain
`uvicorn app:app`, each a real process. What it says once it is up (the build it serves,
where to go), and how a start that cannot serve ends (one line, exit code 1)."""

from __future__ import annotations

import http.server
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from campaign_analytics import cli
from campaign_analytics.serve.app import create_app_for_server
from tests.support.datasets import REPO, VISIBLE
from tests.support.live_server import free_port
from tests.support.waits import wait_for

DEADLINE = 60.0  # seconds for a server to start; it takes one or two


def _environment(**extra: str) -> dict[str, str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATA_DIR", "ROLLUP_DIR", "DATASET", "PORT", "BENCHMARK_FIXTURES_FILE")
    }
    return {**clean, "PYTHONPATH": str(REPO / "python"), **extra}


SERVE = [sys.executable, "-m", "campaign_analytics", "serve"]


def _uvicorn(port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", str(port)]


@contextmanager
def started(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as err:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=err)
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


def wait_for_line(log: Path, process: subprocess.Popen[bytes], needle: str) -> str:
    """The first line of the log holding `needle`, waiting while the process runs."""

    def line() -> str:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
        found = next((ln for ln in lines if needle in ln), "")
        assert found or process.poll() is None, f"exited {process.returncode}: {log.read_text()}"
        return found

    return wait_for(
        line, timeout=DEADLINE, interval=0.05, message=lambda: f"no line with {needle!r}: {log.read_text()}"
    )


@pytest.fixture
def served(visible_rollup_dir: Path) -> dict[str, str]:
    return _environment(
        DATA_DIR=str(VISIBLE),
        ROLLUP_DIR=str(visible_rollup_dir),
        BENCHMARK_FIXTURES_FILE=str(VISIBLE / "benchmarks.json"),
    )


def test_serve_says_where_the_explorer_and_the_docs_are(served: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    with started([*SERVE, "--port", str(port)], served, log) as process:
        line = wait_for_line(log, process, "campaign-analytics serve: explorer")
    base = f"http://127.0.0.1:{port}"
    assert line == f"campaign-analytics serve: explorer {base}/  API docs {base}/docs"


@pytest.mark.parametrize("how", ["serve", "uvicorn"])
def test_every_way_of_starting_says_which_build_it_serves(served: dict[str, str], tmp_path: Path, how: str) -> None:
    port = free_port()
    command = [*SERVE, "--port", str(port)] if how == "serve" else _uvicorn(port)
    log = tmp_path / "server.log"
    with started(command, served, log) as process:
        line = wait_for_line(log, process, "serving build ")
    assert " INFO " in line
    assert "(6 campaigns, " in line


def test_plain_uvicorn_says_when_it_builds_the_rollups_itself(tmp_path: Path) -> None:
    env = _environment(DATA_DIR=str(VISIBLE), ROLLUP_DIR=str(tmp_path / "rollups"))
    log = tmp_path / "server.log"
    with started(_uvicorn(free_port()), env, log) as process:
        wait_for_line(log, process, "serving build ")
    said = log.read_text()
    assert f"building the rollups of {VISIBLE} first: nothing is published" in said
    assert said.index("building the rollups") < said.index("published build") < said.index("serving build")


@pytest.mark.parametrize("how", ["serve", "uvicorn"])
@pytest.mark.parametrize(
    ("problem", "settings", "said"),
    [
        ("no DATA_DIR", {}, "campaign-analytics: DATA_DIR is not set: point it at a folder of input files"),
        (
            "DATA_DIR is no folder",
            {"DATA_DIR": "/nonexistent/data"},
            "campaign-analytics: nothing to serve: campaign-analytics build: /nonexistent/data: DATA_DIR is not a "
            "folder. Point DATA_DIR at a folder of valid input files",
        ),
    ],
)
def test_a_start_that_cannot_serve_is_one_line_and_exit_code_1(
    tmp_path: Path, how: str, problem: str, settings: dict[str, str], said: str
) -> None:
    port = free_port()
    command = [*SERVE, "--port", str(port)] if how == "serve" else _uvicorn(port)
    env = _environment(ROLLUP_DIR=str(tmp_path / "rollups"), **settings)
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=DEADLINE, check=False)
    assert done.returncode == 1, problem
    last = done.stderr.strip().splitlines()[-1]
    assert re.sub(r"^campaign-analytics( serve)?: ", "", last).startswith(said.removeprefix("campaign-analytics: "))
    assert "Traceback" not in done.stderr


# --- the same, in process -----------------------------------------------------------------------


def test_the_server_entry_point_returns_an_app_that_serves(
    served: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("DATA_DIR", "ROLLUP_DIR", "BENCHMARK_FIXTURES_FILE"):
        monkeypatch.setenv(name, served[name])
    app = create_app_for_server()
    assert app.state.service.store is not None


@pytest.mark.parametrize(
    ("settings", "said"),
    [
        ({}, "campaign-analytics: DATA_DIR is not set"),
        ({"DATA_DIR": "/nonexistent/data"}, "campaign-analytics: nothing to serve: "),
    ],
)
def test_the_server_entry_point_exits_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: dict[str, str], said: str
) -> None:
    monkeypatch.delenv("DATA_DIR", raising=False)
    monkeypatch.setenv("ROLLUP_DIR", str(tmp_path / "rollups"))
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as stopped:
        create_app_for_server()
    message = str(stopped.value.code)
    assert message.startswith(said) and "\n" not in message


def test_the_urls_are_announced_once_livez_answers(capsys: pytest.CaptureFixture[str]) -> None:
    answered = threading.Event()

    class Livez(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            ok = answered.is_set()  # the first request fails: the announcement waits for a 200
            answered.set()
            self.send_response(200 if ok else 503)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Livez) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.server_address[1]
        cli._announce_when_up("0.0.0.0", port, pause=0.01)
        server.shutdown()
    base = f"http://127.0.0.1:{port}"
    assert capsys.readouterr().err == f"campaign-analytics serve: explorer {base}/  API docs {base}/docs\n"
