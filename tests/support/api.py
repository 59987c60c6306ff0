"""Settings over a built dataset and the JSON body of an answer, for the tests of the API
(the `client` and `make_client` fixtures in tests/conftest.py are made from these)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from pydantic import BaseModel

from campaign_analytics.settings import Settings
from tests.support.datasets import VISIBLE

# the `make_client` fixture: make_client(**changes) or make_client(settings)
MakeClient = Callable[..., TestClient]


def settings_for(
    rollup_dir: Path, fixture: Path | None = VISIBLE / "benchmarks.json", *, data: Path = VISIBLE, **changes: Any
) -> Settings:
    """Settings serving `data` (the visible sample) from the builds in `rollup_dir`, with its
    thresholds from `fixture` (None: from the HTTP service), then any field changed by name."""
    base = Settings.for_data(data, rollup_dir=rollup_dir, benchmark_fixtures_file=fixture)
    return dataclasses.replace(base, **changes)


def body_of(response: Any, model: type[BaseModel] | None = None) -> Any:
    """The JSON body of a 200; with a model, also proves the body is what the OpenAPI schema says."""
    assert response.status_code == 200, response.text
    body = response.json()
    if model is not None:
        assert model.model_validate(body).model_dump(mode="json") == body
    return body
