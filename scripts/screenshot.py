"""Regenerate docs/explorer.png: the explorer's campaign view of cmp-002 at 1280 px.

    PYTHONPATH=python:. .venv/bin/python scripts/screenshot.py [docs/explorer.png]

Builds the visible sample into a temporary folder, serves it on 127.0.0.1 (a free port) with
its fixture thresholds, and photographs the page in headless Debian Chromium (tests/support/browser.py;
scripts/install-browser.sh installs it). Nothing is fetched from the network.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from tests.support import browser
from tests.support.datasets import REPO, VISIBLE
from tests.support.live_server import serve

from campaign_analytics.build.pipeline import build
from campaign_analytics.serve.app import create_app
from campaign_analytics.settings import Settings

CAMPAIGN = "cmp-002"  # has an alert day, so the chart shows every mark


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "explorer.png"
    problem = browser.missing()
    if problem is not None:
        print(f"screenshot: {problem}", file=sys.stderr)
        return 1
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with tempfile.TemporaryDirectory(prefix="explorer-shot-") as tmp:
        result = build(VISIBLE, Path(tmp) / "visible")
        settings = Settings.for_data(
            VISIBLE, rollup_dir=result.build.path.parents[1], benchmark_fixtures_file=VISIBLE / "benchmarks.json"
        )
        with serve(create_app(settings)) as url, browser.chromium() as driver:
            browser.resize(driver, 1280, 900)
            driver.get(f"{url}/#campaign={CAMPAIGN}")
            WebDriverWait(driver, 15).until(
                lambda d: (
                    d.find_elements(By.CSS_SELECTOR, "#creator-table tbody tr")
                    and d.find_elements(By.CSS_SELECTOR, 'figure[data-series="roas"] circle.point')
                    and d.find_elements(By.CSS_SELECTOR, "#campaign-rows tr")
                ),
                "the campaign view did not finish loading",
            )
            # the build id in the corner changes with every build; keep the picture stable
            driver.execute_script("document.getElementById('build').textContent = 'build 20260101T000000Z-visible'")
            time.sleep(0.3)  # let a resize-triggered redraw settle
            browser.full_page_screenshot(driver, out, 1280)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
