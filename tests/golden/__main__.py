"""python -m tests.golden --write: rewrite the golden CSVs from a fresh build of data/visible."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from campaign_analytics.build.pipeline import build
from tests.golden import GOLDEN_DIR, render
from tests.support.datasets import VISIBLE

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--write", action="store_true", required=True, help="overwrite tests/golden/visible/*.csv")
parser.parse_args()
with tempfile.TemporaryDirectory() as tmp:
    result = build(VISIBLE, Path(tmp) / "visible")
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in render(result.build).items():
        (GOLDEN_DIR / name).write_text(text, encoding="utf-8")
        print(f"wrote {GOLDEN_DIR / name} ({text.count(chr(10)) - 1} rows)")
