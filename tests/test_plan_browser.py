"""The plan's map in headless Chromium: the 现状 / 规划后 switch shows the proposed sites and the
re-audit's statuses, with hostile names executing nothing (see tests/test_maps_browser.py for
Chromium)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from coverage.plan_report import write_plan_outputs
from tests.test_maps_browser import Page, browser  # noqa: F401 - the fixture
from tests.test_plan_outputs import hostile_plan  # noqa: F401 - the fixture

pytestmark = pytest.mark.browser


def test_plan_switch_shows_the_sites(browser: Any, hostile_plan: Any, tmp_path: Path) -> None:  # noqa: F811
    written = write_plan_outputs(hostile_plan, tmp_path / "out", lang="zh")
    page = Page(browser, written["map_html"])
    count = "() => document.querySelectorAll('path[stroke=\"#6f42c1\"]').length"
    assert page.page.evaluate(count) == 0  # 现状: today's map, no plan
    page.page.get_by_text("规划后").click()
    page.page.wait_for_timeout(300)
    assert page.page.evaluate(count) == len(hostile_plan.sites)
    page.page.get_by_text("现状").click()
    page.page.wait_for_timeout(300)
    assert page.page.evaluate(count) == 0
    assert not page.errors, page.errors
    assert not page.dialogs  # no name ran as code
    assert not page.blocked  # offline: no request left the machine
