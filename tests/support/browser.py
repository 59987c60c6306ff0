"""Headless Debian Chromium under Selenium, for tests/test_browser.py and scripts/screenshot.py.

Only the system's browser and driver are used (`chromium`, `chromedriver` from Debian's
`chromium` and `chromium-driver`; scripts/install-browser.sh installs them): the driver path
is given explicitly, so Selenium Manager never looks for (or downloads) one. The flags keep a
headless Chromium off the network entirely, which also proves the page needs none.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BROWSER_NAMES = ("chromium", "chromium-browser")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--force-device-scale-factor=1",
    "--hide-scrollbars",
    "--lang=en-US",
)


def missing() -> str | None:
    """Why a browser test cannot run here, or None when it can."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (it is in the dev extra: pip install -e '.[dev]')"
    if browser_path() is None or shutil.which("chromedriver") is None:
        return (
            "Debian's chromium and chromium-driver are not installed (no `chromium`/`chromedriver` on PATH); "
            "run scripts/install-browser.sh (apt-get install chromium chromium-driver)"
        )
    return None


def browser_path() -> str | None:
    for name in BROWSER_NAMES:
        if found := shutil.which(name):
            return found
    return None


@contextlib.contextmanager
def chromium(width: int = 1280, height: int = 900) -> Iterator[Any]:
    """A Selenium driver for a fresh headless Chromium with its own empty profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = browser_path() or "chromium"
        for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(executable_path=shutil.which("chromedriver") or "chromedriver")
        driver = webdriver.Chrome(service=service, options=options)
        try:
            driver.set_page_load_timeout(30)
            yield driver
        finally:
            driver.quit()


def resize(driver: Any, width: int, height: int) -> None:
    """Make the viewport (not the window) `width` x `height` CSS pixels."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )


def full_page_screenshot(driver: Any, path: Path, width: int) -> Path:
    """A PNG of the whole page at `width` CSS pixels (the viewport grown to the page's height)."""
    resize(driver, width, 900)
    height = int(driver.execute_script("return Math.ceil(document.documentElement.scrollHeight)"))
    resize(driver, width, max(height, 200))
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
    resize(driver, width, 900)
    return path
