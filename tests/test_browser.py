"""The explorer page in a real browser: headless Debian Chromium, driven by Selenium, against a
real uvicorn server over the visible sample on 127.0.0.1 (tests/support/live_server.py).

Skipped, with the reason in pytest's summary, when Chromium, ChromeDriver or Selenium are
missing; with REQUIRE_BROWSER_TESTS=1 (CI) a missing browser fails instead. Screenshots at
1280 and 390 CSS pixels are written to build/screenshots/ for a person to look at.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from campaign_analytics.serve.app import create_app
from campaign_analytics.settings import Settings
from tests.support import browser
from tests.support.api import settings_for
from tests.support.datasets import REPO, VISIBLE
from tests.support.live_server import serve
from tests.support.stub_benchmarks import closed_port_url

SCREENSHOTS = REPO / "build" / "screenshots"
WAIT_SECONDS = 15
TIMES, EN_DASH = "\u00d7", "\u2013"  # the page prints ROAS as "2.68" + TIMES, ranges as "1" + EN_DASH + "6"
EM_DASH = "\u2014"  # a total the campaign does not have yet

_missing = browser.missing()
if _missing is not None and os.environ.get("REQUIRE_BROWSER_TESTS") == "1":
    raise RuntimeError(f"REQUIRE_BROWSER_TESTS=1 but the browser tests cannot run: {_missing}")
pytestmark = pytest.mark.skipif(_missing is not None, reason=f"browser test skipped: {_missing}")


@pytest.fixture(scope="module")
def live_url(visible_rollup_dir: Path) -> Iterator[str]:
    settings = settings_for(visible_rollup_dir)
    with serve(create_app(settings)) as url:
        yield url


@pytest.fixture(scope="module")
def down_url(visible_rollup_dir: Path) -> Iterator[str]:
    """The same data with the benchmark service configured over HTTP on a closed port."""
    settings = Settings.for_data(
        VISIBLE, rollup_dir=visible_rollup_dir, benchmark_api_base=closed_port_url(), benchmark_timeout_seconds=1
    )
    with serve(create_app(settings)) as url:
        yield url


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    with browser.chromium() as chromium:
        yield chromium


@pytest.fixture
def page(driver: Any) -> Iterator[Any]:
    browser.resize(driver, 1280, 900)
    driver.get_log("browser")  # start each test with an empty console
    yield driver


def wait(driver: Any, condition: Any, message: str) -> Any:
    """Until `condition` holds; an element the page re-rendered meanwhile (stale) is looked
    up again on the next try instead of failing the test."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    waiting = WebDriverWait(driver, WAIT_SECONDS, ignored_exceptions=(StaleElementReferenceException,))
    return waiting.until(lambda d: condition(d), message)


def click(driver: Any, selector: str) -> None:
    """Click the first element matching `selector`, found afresh if the page re-rendered it."""
    wait(driver, lambda d: css(d, selector)[0].click() or True, f"cannot click {selector}")


def css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, selector))


def open_page(driver: Any, url: str) -> None:
    # a new document each time: the fragment alone would only re-render the open page
    driver.get("about:blank")
    driver.get(url)


def open_campaign(driver: Any, base: str, campaign_id: str) -> None:
    open_page(driver, f"{base}/#campaign={campaign_id}")
    wait(driver, lambda d: css(d, "#campaign-title") or css(d, "#detail-pane .notice"), f"{campaign_id} never showed")


def list_ids(driver: Any) -> list[str]:
    return [row.get_attribute("data-campaign") for row in css(driver, "#campaign-rows tr")]


def console_errors(driver: Any) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def no_horizontal_scroll(driver: Any) -> bool:
    return bool(driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth"))


def test_the_list_shows_every_campaign_with_its_metrics(page: Any, live_url: str) -> None:
    open_page(page, live_url + "/")
    wait(page, lambda d: len(list_ids(d)) == 6, "the list never showed 6 campaigns")
    assert list_ids(page) == ["cmp-001", "cmp-002", "cmp-003", "cmp-004", "cmp-005", "cmp-006"]
    with_metrics = [r.get_attribute("data-campaign") for r in css(page, "#campaign-rows tr:not(.empty)")]
    assert with_metrics == ["cmp-001", "cmp-002", "cmp-003", "cmp-004", "cmp-005"]
    spring = css(page, '#campaign-rows tr[data-campaign="cmp-001"]')[0]
    assert "Spring Launch" in spring.text
    assert [c.text for c in css(page, '#campaign-rows tr[data-campaign="cmp-001"] td')] == [
        "890.00",
        "3,230.00",
        "21",
        "4.24%",
        "3.63" + TIMES,
    ]
    dormant = css(page, '#campaign-rows tr[data-campaign="cmp-006"]')[0]
    assert "Dormant Q4, paused" in dormant.text and "no metrics yet" in dormant.text
    assert css(page, "#page-info")[0].text == f"1{EN_DASH}6 of 6"
    # everything the page loaded came from this server
    loaded = page.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded and all(url.startswith(live_url + "/") for url in loaded), loaded
    assert console_errors(page) == []
    browser.full_page_screenshot(page, SCREENSHOTS / "list-1280.png", 1280)


def test_searching_spring_leaves_cmp_001(page: Any, live_url: str) -> None:
    open_page(page, live_url + "/")
    wait(page, lambda d: len(list_ids(d)) == 6, "the list never loaded")
    css(page, "#search")[0].send_keys("spring")
    wait(page, lambda d: list_ids(d) == ["cmp-001"], "searching 'spring' did not leave cmp-001 alone")
    assert "q=spring" in page.current_url
    assert css(page, "#page-info")[0].text == f"1{EN_DASH}1 of 1"


def test_sorting_by_a_column_header(page: Any, live_url: str) -> None:
    open_page(page, live_url + "/")
    wait(page, lambda d: len(list_ids(d)) == 6, "the list never loaded")
    click(page, 'button.sort-button[data-sort="roas"]')  # numbers sort high to low first
    order = ["cmp-001", "cmp-003", "cmp-004", "cmp-002", "cmp-005", "cmp-006"]
    wait(page, lambda d: list_ids(d) == order, "ROAS header did not sort by ROAS descending")
    click(page, 'button.sort-button[data-sort="roas"]')
    wait(page, lambda d: list_ids(d) == order[::-1], "a second click did not reverse the order")


def test_cmp_002_chart_has_4_points_per_line_and_marks_2026_01_03(page: Any, live_url: str) -> None:
    open_page(page, live_url + "/")
    wait(page, lambda d: len(list_ids(d)) == 6, "the list never loaded")
    click(page, '#campaign-rows tr[data-campaign="cmp-002"] a.campaign-link')
    wait(page, lambda d: len(css(d, 'figure[data-series="roas"] circle.point')) == 4, "the chart never drew")
    assert css(page, "#campaign-title")[0].text == "Holiday Push"
    for series, minimum in (("ctr", "0.03"), ("roas", "2.5")):
        points = css(page, f'figure[data-series="{series}"] circle.point')
        assert [p.get_attribute("data-date") for p in points] == [
            "2026-01-01",
            "2026-01-02",
            "2026-01-03",
            "2026-01-04",
        ]
        alert_points = css(page, f'figure[data-series="{series}"] circle.point.alert')
        assert [p.get_attribute("data-date") for p in alert_points] == ["2026-01-03"]
        bands = css(page, f'figure[data-series="{series}"] rect.alert-band')
        assert [b.get_attribute("data-date") for b in bands] == ["2026-01-03"]
        assert [t.get_attribute("data-value") for t in css(page, f'figure[data-series="{series}"] line.threshold')] == [
            minimum
        ]
    alerts = css(page, "#alerts li.alert-item")
    assert [a.get_attribute("data-date") for a in alerts] == ["2026-01-03"]
    assert [c.get_attribute("data-issue") for c in css(page, "#alerts .chip")] == [
        "ctr_below_threshold",
        "roas_below_threshold",
    ]
    kpis = {k.get_attribute("data-key"): k.find_element("css selector", "dd").text for k in css(page, ".kpi")}
    assert kpis["total_spend"] == "710.00" and kpis["roas"] == "2.68" + TIMES and kpis["ctr"] == "3.52%"
    wait(page, lambda d: len(css(d, "#creator-table tbody tr")) == 2, "cmp-002's two creators never showed")
    assert console_errors(page) == []
    browser.full_page_screenshot(page, SCREENSHOTS / "campaign-1280.png", 1280)


def test_cmp_005_lists_spend_without_conversions(page: Any, live_url: str) -> None:
    open_campaign(page, live_url, "cmp-005")
    wait(page, lambda d: css(d, "#alerts li.alert-item"), "cmp-005's alert never showed")
    alert = css(page, "#alerts li.alert-item")[0]
    assert alert.get_attribute("data-date") == "2026-01-06"
    chips = css(page, "#alerts .chip")
    assert [c.get_attribute("data-issue") for c in chips] == ["roas_below_threshold", "spend_without_conversions"]
    assert "Spend without conversions" in alert.text


def test_the_creator_limit_is_selectable(page: Any, live_url: str) -> None:
    from selenium.webdriver.support.ui import Select

    open_campaign(page, live_url, "cmp-004")
    wait(page, lambda d: len(css(d, "#creator-table tbody tr")) == 4, "cmp-004's four creators never showed")
    Select(css(page, "#creator-limit")[0]).select_by_value("3")
    wait(page, lambda d: len(css(d, "#creator-table tbody tr")) == 3, "limit 3 did not cut the list")
    ranked = [r.get_attribute("data-creator") for r in css(page, "#creator-table tbody tr")]
    assert ranked == ["crt-003", "crt-004", "crt-006"]
    csv_link = css(page, '#creator-table a[href*="format=csv"]')[0].get_attribute("href")
    assert "limit=3" in csv_link


def test_a_campaign_without_metrics_says_so(page: Any, live_url: str) -> None:
    open_campaign(page, live_url, "cmp-006")
    wait(page, lambda d: "No daily metrics" in css(d, "#charts")[0].text, "cmp-006 had no empty-state message")
    assert css(page, "figure.chart") == []
    alerts = css(page, "#alerts")[0].text
    assert "No metrics yet" in alerts and "No alerts" not in alerts
    assert "no metrics yet" in css(page, ".detail-head")[0].text
    # its totals read as in the list: a dash each, not 0 or 0.00 %
    assert {k.text for k in css(page, ".kpi dd")} == {EM_DASH}
    wait(page, lambda d: css(d, '#campaign-rows tr[data-campaign="cmp-006"] td'), "the list beside it did not show")
    cells = css(page, '#campaign-rows tr[data-campaign="cmp-006"] td')
    assert cells and {c.text for c in cells} == {EM_DASH}


def test_an_unknown_campaign_says_not_found(page: Any, live_url: str) -> None:
    open_campaign(page, live_url, "cmp-999")
    assert "campaign 'cmp-999' not found" in css(page, "#detail-pane .notice")[0].text


def test_benchmark_service_down_is_said_plainly(page: Any, down_url: str) -> None:
    open_campaign(page, down_url, "cmp-002")
    wait(page, lambda d: css(d, "#benchmark-status"), "no message about the benchmark service")
    message = css(page, "#benchmark-status")[0]
    assert message.is_displayed()
    assert "Benchmark service unavailable" in message.text
    # the days are still drawn, without threshold lines or alert marks
    wait(page, lambda d: len(css(d, 'figure[data-series="ctr"] circle.point')) == 4, "the chart was not drawn")
    assert css(page, "line.threshold") == [] and css(page, "rect.alert-band") == []
    assert "unavailable" in css(page, "#alerts")[0].text
    # the one expected console error: the 502 itself
    assert all("502" in error for error in console_errors(page))
    browser.full_page_screenshot(page, SCREENSHOTS / "benchmark-down-1280.png", 1280)


def test_usable_at_390_px(page: Any, live_url: str) -> None:
    browser.resize(page, 390, 844)
    open_page(page, live_url + "/")
    wait(page, lambda d: len(list_ids(d)) == 6, "the list never loaded at 390 px")
    assert no_horizontal_scroll(page)
    assert page.execute_script("return window.innerWidth") == 390
    browser.full_page_screenshot(page, SCREENSHOTS / "list-390.png", 390)
    browser.resize(page, 390, 844)
    click(page, '#campaign-rows tr[data-campaign="cmp-002"] a.campaign-link')
    wait(page, lambda d: len(css(d, 'figure[data-series="ctr"] circle.point')) == 4, "no chart at 390 px")
    assert not css(page, "#list-pane")[0].is_displayed()  # one column: the campaign replaces the list
    assert no_horizontal_scroll(page)
    chart_width = page.execute_script("return document.querySelector('figure.chart svg').getBoundingClientRect().width")
    assert 250 <= chart_width <= 390
    browser.full_page_screenshot(page, SCREENSHOTS / "campaign-390.png", 390)
    browser.resize(page, 390, 844)
    click(page, "button.back")
    wait(page, lambda d: css(d, "#list-pane")[0].is_displayed(), "the back button did not bring the list back")
    assert console_errors(page) == []


def test_screenshots_were_written() -> None:
    names = sorted(p.name for p in SCREENSHOTS.glob("*.png"))
    for name in ("list-1280.png", "campaign-1280.png", "campaign-390.png", "list-390.png"):
        assert name in names
        assert (SCREENSHOTS / name).stat().st_size > 5_000
    assert json.dumps(names)
