"""Shared fixtures: the visible sample built once per session into a temporary ROLLUP_DIR."""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import pytest

# With the dev tools installed, selenium's trio registers a hypothesis plugin that warns when
# hypothesis is first imported. A run that imports hypothesis only in its terminal summary
# (`pytest tests/test_api.py -W error`, where the command line outranks pyproject's filter)
# then ends in that warning. Import it here, with that one warning ignored; the contract's own
# venv (python/requirements.txt) has neither package.
with warnings.catch_warnings(), contextlib.suppress(ImportError):
    warnings.filterwarnings("ignore", message="It looks like `register_random` was passed an object")
    import hypothesis  # noqa: F401

from campaign_analytics.build.pipeline import BuildResult, build
from tests.support.datasets import VISIBLE


@pytest.fixture(scope="session")
def visible_build(tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    return build(VISIBLE, tmp_path_factory.mktemp("rollups") / "visible")


@pytest.fixture(scope="session")
def visible_rollup_dir(visible_build: BuildResult) -> Path:
    return visible_build.build.path.parents[1]
