"""The ASGI entry point: `uvicorn app:app` (with PYTHONPATH=python) serves the environment's
settings; `from app import create_app` builds apps with any settings.

`app` is made on first access (PEP 562), not at import, so importing this module never
raises whatever the environment says; `uvicorn app:app` without DATA_DIR, or with nothing it
can serve, still stops at start with one line saying what to fix (exit code 1).
"""

from __future__ import annotations

from typing import Any

from campaign_analytics.serve.app import create_app, create_app_for_server

__all__ = ["app", "create_app"]  # noqa: F822 (`app` is made on first access, below)


def __getattr__(name: str) -> Any:
    if name == "app":
        application = create_app_for_server()
        globals()["app"] = application  # made once; later lookups find it without this hook
        return application
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
