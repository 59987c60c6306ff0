"""Shared fixtures: the visible sample built once per session into a temporary ROLLUP_DIR."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaign_analytics.build import BuildResult, build
from tests.datasets import VISIBLE


@pytest.fixture(scope="session")
def visible_build(tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    return build(VISIBLE, tmp_path_factory.mktemp("rollups") / "visible")


@pytest.fixture(scope="session")
def visible_rollup_dir(visible_build: BuildResult) -> Path:
    return visible_build.build.path.parents[1]
