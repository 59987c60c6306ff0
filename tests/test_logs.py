"""Logging: one format for ours and uvicorn's loggers, JSON on demand, one line per request."""

from __future__ import annotations

import json
import logging
import logging.config
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from campaign_analytics.errors import ConfigError
from campaign_analytics.http import logs
from campaign_analytics.serve.app import create_app
from campaign_analytics.settings import Settings
from tests.support.api import MakeClient, settings_for
from tests.support.datasets import VISIBLE

TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (INFO|WARNING|ERROR|DEBUG)\s+[\w.]+: .+$")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Each test configures the root logger; leave it as the next test expects (text, INFO)."""
    yield
    logs.configure("text", "INFO")


def test_text_lines_have_time_level_logger_and_message(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("text", "INFO")
    logging.getLogger("campaign_analytics.test").info("hello %s", "world")
    logging.getLogger("campaign_analytics.test").debug("not shown at INFO")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert TEXT_LINE.match(lines[0]), lines[0]
    assert lines[0].endswith("INFO    campaign_analytics.test: hello world")


def test_json_lines_parse_and_carry_fields_and_exceptions(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("json", "DEBUG")
    log = logging.getLogger("campaign_analytics.test")
    log.debug("one", extra={"fields": {"request_id": "abc", "status": 200}})
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("two")
    first, second = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert first["level"] == "DEBUG" and first["logger"] == "campaign_analytics.test" and first["message"] == "one"
    assert first["request_id"] == "abc" and first["status"] == 200
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["time"])
    assert second["level"] == "ERROR" and "ValueError: boom" in second["exception"]


def test_uvicorn_loggers_use_the_same_format(capsys: pytest.CaptureFixture[str]) -> None:
    # what uvicorn does before it imports the app: its own dictConfig with its own handlers
    from uvicorn.config import LOGGING_CONFIG

    logging.config.dictConfig(LOGGING_CONFIG)
    logs.configure("json", "INFO")
    logging.getLogger("uvicorn.error").info("Application startup complete.")
    entry = json.loads(capsys.readouterr().err.strip())
    assert entry["logger"] == "uvicorn.error" and entry["message"] == "Application startup complete."


def test_uvicorn_log_config_is_a_valid_dict_config(capsys: pytest.CaptureFixture[str]) -> None:
    logging.config.dictConfig(logs.uvicorn_log_config("json", "WARNING"))
    logging.getLogger("uvicorn.error").info("hidden at WARNING")
    logging.getLogger("uvicorn.error").warning("shown")
    logging.getLogger("uvicorn.access").warning("access lines are ours")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [e["message"] for e in lines] == ["shown", "access lines are ours"]


def test_httpx_request_lines_are_quieted(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("text", "INFO")
    logging.getLogger("httpx").info("HTTP Request: GET http://127.0.0.1:8091/benchmarks/cmp-001")
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, ("text", "INFO")),
        ({"LOG_FORMAT": "JSON", "LOG_LEVEL": "debug"}, ("json", "DEBUG")),
        ({"LOG_FORMAT": " text ", "LOG_LEVEL": "warning"}, ("text", "WARNING")),
    ],
)
def test_log_settings_from_the_environment(environ: dict[str, str], expected: tuple[str, str]) -> None:
    settings = Settings.from_env({"DATA_DIR": str(VISIBLE), **environ})
    assert (settings.log_format, settings.log_level) == expected


@pytest.mark.parametrize("environ", [{"LOG_FORMAT": "xml"}, {"LOG_LEVEL": "loud"}, {"ACCESS_LOG": "maybe"}])
def test_bad_log_settings_are_a_config_error(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=next(iter(environ))):
        Settings.from_env({"DATA_DIR": str(VISIBLE), **environ})


# --- the request log -----------------------------------------------------------------------


def access_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "campaign_analytics.access"]


def test_every_request_logs_method_path_status_latency_and_id(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client()
    with caplog.at_level(logging.INFO, logger="campaign_analytics.access"):
        response = client.get("/creators/top?campaign_id=cmp-001&limit=2", headers={"X-Request-ID": "req-42.a:b"})
        missing = client.get("/campaigns/cmp-999/performance")
    assert response.headers["x-request-id"] == "req-42.a:b"
    first, second = access_records(caplog)
    assert first.getMessage().startswith("GET /creators/top?campaign_id=cmp-001&limit=2 200 ")
    assert first.getMessage().endswith(" ms id=req-42.a:b")
    fields = first.fields  # type: ignore[attr-defined]
    assert fields["method"] == "GET" and fields["status"] == 200 and fields["route"] == "/creators/top"
    assert fields["request_id"] == "req-42.a:b" and fields["duration_ms"] >= 0
    assert second.fields["status"] == 404  # type: ignore[attr-defined]
    assert second.fields["request_id"] == missing.headers["x-request-id"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "sent", ["x" * 129, "has space", "semi;colon", "\u00e9t\u00e9", "", "<script>", "a\tb"], ids=repr
)
def test_an_unsafe_request_id_is_replaced_by_a_generated_one(make_client: MakeClient, sent: str) -> None:
    client = make_client()
    response = client.get("/livez", headers={"X-Request-ID": sent.encode("utf-8")})  # type: ignore[dict-item]
    assert re.fullmatch(r"[0-9a-f]{24}", response.headers["x-request-id"])


def test_generated_request_ids_differ(make_client: MakeClient) -> None:
    client = make_client()
    ids = {client.get("/livez").headers["x-request-id"] for _ in range(20)}
    assert len(ids) == 20


def test_control_characters_in_the_path_are_escaped_in_the_log(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client()
    with caplog.at_level(logging.INFO, logger="campaign_analytics.access"):
        client.get("/campaigns/%1b[31mred/performance")
    (record,) = access_records(caplog)
    assert "\x1b" not in record.getMessage()
    assert "\\x1b[31mred" in record.getMessage()


def test_access_log_can_be_turned_off(make_client: MakeClient, caplog: pytest.LogCaptureFixture) -> None:
    client = make_client(access_log=False)
    with caplog.at_level(logging.INFO, logger="campaign_analytics.access"):
        response = client.get("/livez")
    assert access_records(caplog) == []
    assert response.headers["x-request-id"]  # the id is still given


def test_a_502_logs_its_cause_at_warning(
    make_client: MakeClient,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fixture = tmp_path / "benchmarks.json"
    fixture.write_text(json.dumps({"cmp-001": {"min_ctr": 0.01, "min_roas": 1}}))
    client = make_client(benchmark_fixtures_file=fixture)
    with caplog.at_level(logging.WARNING, logger="campaign_analytics"):
        response = client.get("/campaigns/cmp-002/anomalies", headers={"X-Request-ID": "r-502"})
    assert response.status_code == 502
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "r-502" in warning.getMessage()
    assert "has no thresholds for campaign 'cmp-002'" in warning.getMessage()


def test_start_up_logs_the_build_it_serves(visible_rollup_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.INFO, logger="campaign_analytics"),
        TestClient(create_app(settings_for(visible_rollup_dir))) as client,
    ):
        build_id = client.get("/health").json()["build_id"]
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"serving build {build_id} (")]
    assert lines, [r.getMessage() for r in caplog.records]
    assert re.search(
        r"\(6 campaigns, \d+(\.\d)? (s|min|h|d) old; rows: campaign_performance 6, top_creators 14, ", lines[-1]
    )


def test_json_access_line_under_a_real_server(visible_rollup_dir: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """The whole path under uvicorn: configure() from the settings, JSON on stderr."""
    from tests.support.live_server import raw_get, serve

    app = create_app(settings_for(visible_rollup_dir, log_format="json"))
    with serve(app) as base:
        status, _ = raw_get(base, "/campaigns/cmp-001/performance")
    assert status == 200
    entries = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")]
    access = [e for e in entries if e["logger"] == "campaign_analytics.access"]
    assert access and access[-1]["path"] == "/campaigns/cmp-001/performance" and access[-1]["status"] == 200
