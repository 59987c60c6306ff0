"""python/requirements.txt is derived from pyproject.toml and constraints.txt, never edited."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import requirements  # noqa: E402


def test_requirements_txt_is_what_pyproject_and_constraints_say() -> None:
    rendered = requirements.render((ROOT / "pyproject.toml").read_text(), (ROOT / "constraints.txt").read_text())
    assert (ROOT / "python" / "requirements.txt").read_text() == rendered, "stale: run `make requirements`"


def test_a_stale_file_is_caught(tmp_path: Path) -> None:
    pyproject = (ROOT / "pyproject.toml").read_text().replace('"polars>=1.30",', '"polars>=1.30",\n    "six",')
    with pytest.raises(SystemExit, match=r"six is a dependency in pyproject\.toml but has no pin"):
        requirements.render(pyproject, (ROOT / "constraints.txt").read_text())
    bumped = (ROOT / "constraints.txt").read_text().replace("fastapi==", "fastapi==9")
    assert "fastapi==9" in requirements.render((ROOT / "pyproject.toml").read_text(), bumped)
    assert (
        requirements.render((ROOT / "pyproject.toml").read_text(), bumped)
        != (ROOT / "python" / "requirements.txt").read_text()
    )


def test_every_pin_names_a_runtime_or_contract_dependency() -> None:
    lines = [line for line in (ROOT / "python" / "requirements.txt").read_text().splitlines() if "==" in line]
    names = {line.split("==")[0] for line in lines}
    assert {"fastapi", "uvicorn", "polars", "httpx", "pytest", "httpx2"} <= names
    assert subprocess.run([sys.executable, str(ROOT / "scripts" / "requirements.py"), "--check"]).returncode == 0
