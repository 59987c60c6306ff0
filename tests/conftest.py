"""Shared fixtures: the visible sample built once per session into a temporary ROLLUP_DIR, and
clients of the app serving it (tests/support/api.py makes their settings)."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

# With the dev tools installed, selenium's trio registers a hypothesis plugin that warns when
# hypothesis is first imported. A run that imports hypothesis only in its terminal summary
# (`pytest tests/test_api.py -W error`, where the command line outranks pyproject's filter)
# then ends in that warning. Import it here, with that one warning ignored; the contract's own
# venv (python/requirements.txt) has neither package.
with warnings.catch_warnings(), contextlib.suppress(ImportError):
    warnings.filterwarnings("ignore", message="It looks like `register_random` was passed an object")
    import hypothesis  # noqa: F401

from campaign_analytics.build.pipeline import BuildResult, build
from campaign_analytics.serve.app import create_app
from campaign_analytics.settings import Settings
from tests.support.api import MakeClient, settings_for
from tests.support.datasets import VISIBLE


@pytest.fixture(scope="session")
def visible_build(tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    return build(VISIBLE, tmp_path_factory.mktemp("rollups") / "visible")


@pytest.fixture(scope="session")
def visible_rollup_dir(visible_build: BuildResult) -> Path:
    return visible_build.build.path.parents[1]


@pytest.fixture(scope="module")
def client(visible_rollup_dir: Path) -> Iterator[TestClient]:
    """The app over the visible build with the fixture thresholds, its lifespan run; one per module."""
    with TestClient(create_app(settings_for(visible_rollup_dir))) as test_client:
        yield test_client


@pytest.fixture
def make_client(visible_rollup_dir: Path) -> Iterator[MakeClient]:
    """make_client(**changes): a client of the visible build with those settings changed;
    make_client(settings): a client with exactly these. Each has its lifespan run and is closed
    after the test."""
    with contextlib.ExitStack() as stack:

        def make(settings: Settings | None = None, /, **changes: Any) -> TestClient:
            chosen = settings if settings is not None else settings_for(visible_rollup_dir, **changes)
            return stack.enter_context(TestClient(create_app(chosen)))

        yield make
