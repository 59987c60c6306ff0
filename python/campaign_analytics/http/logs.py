"""One logging set-up for the server and the CLI: readable lines by default, JSON lines on demand.

    configure(log_format="text", level="INFO")   the root logger writes to stderr in that format;
                                                  uvicorn's own loggers are routed through it
    uvicorn_log_config(log_format, level)         the same as a dictConfig, for uvicorn.run()

text:  2026-11-26T13:40:01.123Z INFO    campaign_analytics.access: GET /livez 200 0.21 ms id=4f0c...
json:  {"time": "2026-11-26T13:40:01.123Z", "level": "INFO", "logger": "campaign_analytics.access",
        "message": "GET /livez 200 0.21 ms id=4f0c...", "method": "GET", "path": "/livez", ...}

Structured fields travel on a record as one attribute, `fields` (a dict): the JSON formatter
merges them into the object; the text formatter shows only the message, which already says
the same in words. Only the standard library is used: a request's log line is the largest
cost the middleware adds, and the stdlib formatters were the cheaper (DECISIONS.md, Operations).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
# uvicorn's loggers; they are sent through the root handler so every line has one format.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
# httpx logs every request it sends at INFO: one line per benchmark call, on top of ours.
QUIETED = ("httpx", "httpcore")


# (whole second, its text): most lines share their second. Formatting the date per line cost
# 4-7 us of a read request, 3-5 % end to end (DECISIONS.md, the tricks table).
_second: list[object] = [None, ""]


def _utc_time(created: float) -> str:
    """`2026-11-26T13:40:01.123Z`; the part up to the second is made once per second."""
    whole = int(created)
    if _second[0] != whole:
        _second[:] = [whole, datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")]
    return f"{_second[1]}.{int((created - whole) * 1000):03d}Z"


class TextFormatter(logging.Formatter):
    """`time level logger: message`, time in UTC with milliseconds (TEXT_FORMAT, written out
    as one f-string: the access log formats a line per request)."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_utc_time(record.created)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


# One encoder for every line (json.dumps with options would build a new one per call).
_encode_json = json.JSONEncoder(ensure_ascii=False, default=str).encode


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then the record's `fields`."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _utc_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _encode_json(entry)


def formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]  # generic only in typeshed
    """Writes to whatever `sys.stderr` is when a record is emitted (pytest swaps it per test,
    and a handler holding the old stream would write to a closed file)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def configure(log_format: str = "text", level: str = "INFO", *, access_log: bool = True) -> None:
    """Make the root logger write `log_format` lines at `level` to stderr. Idempotent: a second
    call replaces the handler of the first; handlers others installed (pytest's) stay.

    uvicorn's loggers lose their own handlers and propagate to the root, so its start-up and
    error lines share the format. Its access logger is quieted when ours is on: the request
    line the middleware writes has the request id and latency, uvicorn's has neither."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, StderrHandler)]:
        root.removeHandler(handler)
    handler = StderrHandler()
    handler.setFormatter(formatter(log_format))
    root.addHandler(handler)
    root.setLevel(level)
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
    if access_log:
        logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    for name in QUIETED:
        logging.getLogger(name).setLevel(logging.NOTSET if root.level <= logging.DEBUG else logging.WARNING)
    # Nothing here reads the thread or process names; not collecting them makes every record cheaper.
    logging.logThreads = False
    logging.logMultiprocessing = False
    logging.logProcesses = False


def uvicorn_log_config(log_format: str = "text", level: str = "INFO", *, access_log: bool = True) -> dict[str, Any]:
    """`configure()` as a dictConfig, for `uvicorn.run(log_config=...)`: uvicorn applies it in
    every worker process before it imports the app."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": {"()": f"{__name__}.{formatter(log_format).__class__.__name__}"}},
        "handlers": {"stderr": {"()": f"{__name__}.StderrHandler", "formatter": "default"}},
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True, "level": "NOTSET"},
            "uvicorn.error": {"handlers": [], "propagate": True, "level": "NOTSET"},
            "uvicorn.access": {"handlers": [], "propagate": True, "level": "WARNING" if access_log else "NOTSET"},
            **{name: {"level": "WARNING"} for name in QUIETED},
        },
    }
