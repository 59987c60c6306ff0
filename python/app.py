"""The ASGI entry point: `uvicorn app:app` (with PYTHONPATH=python) serves the environment's
settings; `from app import create_app` builds apps with any settings.

`app` is made on first access (PEP 562), not at import, so importing this module never
raises whatever the environment says; `uvicorn app:app` without DATA_DIR still stops at start
with the configuration error (one line, exit code 1).
"""

from __future__ import annotations

from typing import Any

from campaign_analytics.errors import ConfigError
from campaign_analytics.serve.app import create_app

__all__ = ["app", "create_app"]  # noqa: F822 (`app` is made on first access, below)


def __getattr__(name: str) -> Any:
    if name == "app":
        try:
            application = create_app()
        except ConfigError as exc:  # a server start without settings: say so, no traceback
            raise SystemExit(f"campaign-analytics: {exc.detail}") from None
        globals()["app"] = application  # made once; later lookups find it without this hook
        return application
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
