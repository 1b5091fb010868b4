"""report.html in Chromium: the static maps show offline, and the print stylesheet applies
(A4, headings kept with their charts, table headers repeated on every page)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from coverage.audit import AuditResult, audit_case
from coverage.report import write_outputs
from tests.test_maps_browser import ARGS, ARTIFACTS, CHROMIUM, _is_local, _need_chromium

pytestmark = pytest.mark.browser

DEMO = Path(__file__).parents[1] / "data" / "demo" / "case.toml"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, AuditResult]:
    result = audit_case(DEMO)
    out = tmp_path_factory.mktemp("print") / "out"
    written = write_outputs(result, out, lang="zh", outputs=["report"], service_areas=False)
    return written["report_html"], result


@pytest.fixture(scope="module")
def page(report: tuple[Path, AuditResult]) -> Iterator[tuple[Any, list[str]]]:
    _need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        outside: list[str] = []

        def route(r: Any) -> None:
            if _is_local(r.request.url):
                r.continue_()
            else:
                outside.append(r.request.url)
                r.abort()

        page.route("**/*", route)
        page.goto(report[0].as_uri())
        page.wait_for_load_state("load")
        yield page, outside
        browser.close()


def test_static_maps_show_offline(
    page: tuple[Any, list[str]], report: tuple[Path, AuditResult]
) -> None:
    p, outside = page
    widths = p.eval_on_selector_all(
        "figure.static-map img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)"
    )
    assert len(widths) == len(report[1].pack.rules)
    assert all(w == 1500 for w in widths)  # decoded from the data URIs
    assert outside == []


def test_print_stylesheet_applies(page: tuple[Any, list[str]]) -> None:
    p, _ = page
    p.emulate_media(media="print")
    style = p.evaluate(
        """() => {
        const css = (sel, prop) => getComputedStyle(document.querySelector(sel))[prop];
        return {
            thead: css('thead', 'display'),
            chart: css('.chart', 'breakInside'),
            figure: css('figure.static-map', 'breakInside'),
            h3: css('h3', 'breakAfter'),
        };
    }"""
    )
    assert style == {
        "thead": "table-header-group",
        "chart": "avoid",
        "figure": "avoid",
        "h3": "avoid",
    }
    pdf = p.pdf(prefer_css_page_size=True, print_background=True)
    assert pdf.startswith(b"%PDF")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "report-zh-print.pdf").write_bytes(pdf)
    # every page A4 portrait: 595 x 842 points
    boxes = re.findall(rb"/MediaBox \[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
    assert len(boxes) > 1
    assert all(abs(float(w) - 595.3) < 1 and abs(float(h) - 841.9) < 1 for w, h in boxes)
    p.emulate_media(media="screen")
