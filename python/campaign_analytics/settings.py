"""Runtime configuration: one frozen dataclass, read from the environment only here.

`Settings.from_env()` is called by `create_app()` and the CLI at call time (never at import),
so tests build as many differently configured apps as they like in one process.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from campaign_analytics.errors import ConfigError

DEFAULT_BENCHMARK_API_BASE = "http://127.0.0.1:8091"
DEFAULT_BENCHMARK_TIMEOUT_SECONDS = 2.0
DEFAULT_ROLLUP_CHECK_SECONDS = 1.0
# How long a client may reuse a read answer without asking again: no longer than it takes the
# service to pick up a newly published build (it checks on a short interval).
DEFAULT_CACHE_MAX_AGE_SECONDS = 5
DEFAULT_PORT = 8080
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def default_rollup_dir(dataset: str) -> Path:
    """`build/<dataset>` relative to the working directory, as docs/contract.md §6 says."""
    return Path("build") / dataset


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    dataset: str
    rollup_dir: Path
    benchmark_fixtures_file: Path | None = None
    benchmark_api_base: str = DEFAULT_BENCHMARK_API_BASE
    benchmark_timeout_seconds: float = DEFAULT_BENCHMARK_TIMEOUT_SECONDS
    # how often (at most) a request looks whether ROLLUP_DIR/current points at a new build
    rollup_check_seconds: float = DEFAULT_ROLLUP_CHECK_SECONDS
    # --- operations (http/: logs.py, middleware.py, metrics.py, install.py) ---
    log_format: str = "text"  # LOG_FORMAT: text | json
    log_level: str = "INFO"  # LOG_LEVEL
    access_log: bool = True  # ACCESS_LOG: one line per request
    metrics_enabled: bool = True  # METRICS: request counters and histograms (GET /metrics)
    prometheus_multiproc_dir: Path | None = None  # PROMETHEUS_MULTIPROC_DIR: several workers
    cache_max_age_seconds: int = DEFAULT_CACHE_MAX_AGE_SECONDS  # CACHE_MAX_AGE_SECONDS
    cors_allow_origins: tuple[str, ...] = ()  # CORS_ALLOW_ORIGINS, comma-separated; empty: CORS off

    @classmethod
    def for_data(
        cls,
        data_dir: Path | str,
        *,
        dataset: str | None = None,
        rollup_dir: Path | str | None = None,
        benchmark_fixtures_file: Path | str | None = None,
        benchmark_api_base: str = DEFAULT_BENCHMARK_API_BASE,
        benchmark_timeout_seconds: float = DEFAULT_BENCHMARK_TIMEOUT_SECONDS,
        rollup_check_seconds: float = DEFAULT_ROLLUP_CHECK_SECONDS,
    ) -> Settings:
        """Fill the defaults docs/contract.md §6 derives from DATA_DIR (dataset name, rollup folder)."""
        data = Path(data_dir)
        name = dataset or data.resolve().name
        return cls(
            data_dir=data,
            dataset=name,
            rollup_dir=Path(rollup_dir) if rollup_dir else default_rollup_dir(name),
            benchmark_fixtures_file=Path(benchmark_fixtures_file) if benchmark_fixtures_file else None,
            benchmark_api_base=benchmark_api_base.rstrip("/"),
            benchmark_timeout_seconds=benchmark_timeout_seconds,
            rollup_check_seconds=rollup_check_seconds,
        )

    @classmethod
    def for_build(
        cls,
        data_dir: Path | None = None,
        *,
        dataset: str | None = None,
        rollup_dir: Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Settings:
        """What the batch build needs: each argument given wins over its variable (DATA_DIR,
        DATASET, ROLLUP_DIR), then `for_data` fills the defaults (the CLI's --data-dir etc.)."""
        env = os.environ if environ is None else environ
        folder = data_dir or (env.get("DATA_DIR") or "").strip()
        if not folder:
            raise ConfigError("DATA_DIR is not set: point it at a folder of input files (e.g. data/visible)")
        return cls.for_data(
            folder,
            dataset=dataset or env.get("DATASET") or None,
            rollup_dir=rollup_dir or env.get("ROLLUP_DIR") or None,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        paths = cls.for_build(environ=env)
        settings = cls.for_data(
            paths.data_dir,
            dataset=paths.dataset,
            rollup_dir=paths.rollup_dir,
            benchmark_fixtures_file=env.get("BENCHMARK_FIXTURES_FILE") or None,
            benchmark_api_base=env.get("BENCHMARK_API_BASE") or DEFAULT_BENCHMARK_API_BASE,
            benchmark_timeout_seconds=_env_seconds(env, "BENCHMARK_TIMEOUT_SECONDS", DEFAULT_BENCHMARK_TIMEOUT_SECONDS),
            rollup_check_seconds=_env_seconds(env, "ROLLUP_CHECK_SECONDS", DEFAULT_ROLLUP_CHECK_SECONDS),
        )
        return replace(settings, **operations_from_env(env))  # type: ignore[arg-type]  # keys are fields


def operations_from_env(environ: Mapping[str, str] | None = None) -> dict[str, object]:
    """The operations fields of Settings (logging, metrics, HTTP caching, CORS) from the
    environment; also what the CLI uses for its own logging, where DATA_DIR may be unset."""
    env = os.environ if environ is None else environ
    log_format = (env.get("LOG_FORMAT") or "text").strip().lower()
    if log_format not in LOG_FORMATS:
        raise ConfigError(f"LOG_FORMAT={log_format!r} must be one of {', '.join(LOG_FORMATS)}")
    log_level = (env.get("LOG_LEVEL") or "INFO").strip().upper()
    if log_level not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL={log_level!r} must be one of {', '.join(LOG_LEVELS)}")
    multiproc = (env.get("PROMETHEUS_MULTIPROC_DIR") or "").strip()
    origins = tuple(o.strip().rstrip("/") for o in (env.get("CORS_ALLOW_ORIGINS") or "").split(",") if o.strip())
    return {
        "log_format": log_format,
        "log_level": log_level,
        "access_log": _flag(env, "ACCESS_LOG"),
        "metrics_enabled": _flag(env, "METRICS"),
        "prometheus_multiproc_dir": Path(multiproc) if multiproc else None,
        "cache_max_age_seconds": _whole_seconds(env.get("CACHE_MAX_AGE_SECONDS")),
        "cors_allow_origins": origins,
    }


def port_from_env(environ: Mapping[str, str] | None = None) -> int:
    """PORT if set (1..65535), else 8080: the default of `campaign-analytics serve --port`."""
    env = os.environ if environ is None else environ
    raw = (env.get("PORT") or "").strip()
    if not raw:
        return DEFAULT_PORT
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 65535:
        raise ConfigError(f"PORT={raw!r} is not a TCP port (1..65535)")
    return int(raw)


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw in ("", "1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r} must be true or false (1/0, yes/no, on/off)")


def _whole_seconds(raw: str | None) -> int:
    if raw is None or raw.strip() == "":
        return DEFAULT_CACHE_MAX_AGE_SECONDS
    if not (raw.strip().isascii() and raw.strip().isdigit()):
        raise ConfigError(f"CACHE_MAX_AGE_SECONDS={raw!r} must be a whole number of seconds >= 0")
    return int(raw.strip())


DEFAULT_MAX_HEADER_BYTES = 16 * 1024
DEFAULT_HEADER_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class ServerLimits:
    """What one HTTP connection may cost before the app sees its request (see http/protocol.py).

    `max_header_bytes`: the request line and header fields together (MAX_HEADER_BYTES);
    larger is a 431. `header_timeout_seconds`: from a request's first byte (or the connection's
    opening) to the end of its headers (HEADER_TIMEOUT_SECONDS); slower is a 408 and a close.
    Read apart from `Settings` because the HTTP server needs them without DATA_DIR.
    """

    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    header_timeout_seconds: float = DEFAULT_HEADER_TIMEOUT_SECONDS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServerLimits:
        env = os.environ if environ is None else environ
        return cls(
            max_header_bytes=_env_bytes(env, "MAX_HEADER_BYTES", DEFAULT_MAX_HEADER_BYTES),
            header_timeout_seconds=_env_seconds(env, "HEADER_TIMEOUT_SECONDS", DEFAULT_HEADER_TIMEOUT_SECONDS),
        )


def _env_bytes(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12 or int(raw) < 1024:
        raise ConfigError(f"{name}={raw!r} must be a whole number of bytes, at least 1024")
    return int(raw)


def _env_seconds(env: Mapping[str, str], name: str, default: float) -> float:
    """The variable `name` as a finite number of seconds > 0, or `default` when unset or empty."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name}={raw!r} must be a finite number > 0")
    return value
