"""The demo map in headless Chromium, with the network blocked.

Needs Debian's Chromium at /usr/bin/chromium (``apt-get update && apt-get install -y chromium``,
plus ``fonts-noto-cjk`` for Chinese glyphs). Without it these tests skip, except under CI
(environment variable ``CI`` set), where they fail: CI installs Chromium (``.ci/run``).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pytest

from coverage.audit import AuditResult, audit_case
from coverage.maps import save_map

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
INSTALL = "apt-get update && apt-get install -y chromium fonts-noto-cjk"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
DEMO = Path(__file__).parents[1] / "data" / "demo" / "case.toml"
ARTIFACTS = Path(__file__).parent / "artifacts"
EVIL_COMMUNITY = "<script>alert(1)</script>"
EVIL_POI = '"><img src=x onerror=alert(1)>'


def _need_chromium() -> None:
    reason = f"Chromium not found at {CHROMIUM}; install it with: {INSTALL}"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "the playwright package is missing: pip install -e '.[test]'"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


def _is_local(url: str) -> bool:
    parsed = urlparse(url)
    if parsed.scheme in ("file", "data", "about", "blob"):
        return True
    return parsed.hostname in ("localhost", "127.0.0.1", "::1")


@pytest.fixture(scope="module")
def demo() -> AuditResult:
    return audit_case(DEMO)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


class Page:
    """A page with the network blocked and everything it tried recorded."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.page = browser.new_page(viewport={"width": 1400, "height": 900})
        self.requests: list[str] = []
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

        def on_dialog(dialog: Any) -> None:
            self.dialogs.append(dialog.message)
            dialog.dismiss()

        self.page.on("dialog", on_dialog)

        def route(r: Any) -> None:
            if _is_local(r.request.url):
                r.continue_()
            else:
                self.blocked.append(r.request.url)
                r.abort()

        self.page.route("**/*", route)
        self.page.goto(path.as_uri())
        self.page.wait_for_function("() => window.sc_data !== undefined")
        self.page.wait_for_timeout(300)

    def map_name(self) -> str:
        return str(
            self.page.evaluate(
                "() => Object.keys(window).find(k => k.startsWith('map_') && window[k].getZoom)"
            )
        )

    def open_unit_popup(self, unit_id: str, latlng: tuple[float, float]) -> str:
        """Centre the map on a point inside the unit, click it for real, return the popup."""
        name = self.map_name()
        self.page.evaluate(
            "([name, lat, lng]) => { window[name].setView([lat, lng], 16, {animate: false}); }",
            [name, latlng[0], latlng[1]],
        )
        self.page.wait_for_timeout(200)
        point = self.page.evaluate(
            """([name, lat, lng]) => {
                const map = window[name];
                const p = map.latLngToContainerPoint([lat, lng]);
                const r = map.getContainer().getBoundingClientRect();
                return [r.left + p.x, r.top + p.y];
            }""",
            [name, latlng[0], latlng[1]],
        )
        hit = self.page.evaluate(
            "([x, y]) => { const e = document.elementFromPoint(x, y); return e && e.tagName; }",
            point,
        )
        if hit == "path":
            self.page.mouse.click(point[0], point[1])
        else:  # a marker or a panel covers the point: fire the layer's click instead
            self.page.evaluate(
                """([name, id, lat, lng]) => {
                    const map = window[name];
                    map.eachLayer(l => {
                        if (l.sc_unit && l.sc_unit.id === id && l.fire) {
                            l.fire('click', {latlng: L.latLng(lat, lng)});
                        }
                    });
                }""",
                [name, unit_id, latlng[0], latlng[1]],
            )
        self.page.wait_for_selector(".leaflet-popup-content", timeout=5000)
        return str(self.page.inner_text(".leaflet-popup-content"))


@pytest.fixture(scope="module")
def offline_map(demo: AuditResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_map(demo, tmp_path_factory.mktemp("browser") / "demo.html", offline=True)


@pytest.fixture
def page(browser: Any, offline_map: Path) -> Iterator[Page]:
    p = Page(browser, offline_map)
    yield p
    p.page.close()


def test_no_errors_and_no_request_leaves_the_machine(page: Page) -> None:
    assert page.errors == []
    assert page.blocked == []
    assert [u for u in page.requests if not _is_local(u)] == []


def test_polygons_render(page: Page, demo: AuditResult) -> None:
    n_paths = page.page.evaluate(
        "() => document.querySelectorAll('.leaflet-overlay-pane path').length"
    )
    # W1 is shown: one path per community, plus the street outlines
    assert n_paths >= len(demo.communities)
    fills = page.page.evaluate(
        "() => Array.from(document.querySelectorAll('.leaflet-overlay-pane path'))"
        ".map(p => p.getAttribute('fill'))"
    )
    assert "url(#sc-hatch-fail)" in fills and "url(#sc-dots-na)" in fills


def test_layer_control_lists_rules_services_and_base_maps(page: Page, demo: AuditResult) -> None:
    labels = page.page.eval_on_selector_all(
        ".leaflet-control-layers label", "els => els.map(e => e.textContent.trim())"
    )
    for rule in demo.pack.rules:
        assert f"{rule.id} {rule.label('zh')}：结果" in labels
    assert "W1 覆盖居民比例（最弱类别）" in labels
    assert any(label.startswith("购 服务设施：购物") for label in labels)
    assert "街道边界" in labels
    assert "无底图" in labels
    headings = page.page.eval_on_selector_all(".sc-ctl-h", "els => els.map(e => e.textContent)")
    assert headings == ["显示规则（单选）", "叠加图层", "底图"]
    checked = page.page.eval_on_selector_all(
        ".leaflet-control-layers-base input:checked",
        "els => els.map(e => e.parentElement.textContent.trim())",
    )
    assert "W1 社区“15分钟服务圈”：结果" in checked


def test_switching_rule_updates_legend(page: Page) -> None:
    page.page.get_by_text("W5 每个街道拥有晨晚练体育活动点5个以上：结果").click()
    page.page.wait_for_timeout(200)
    legend = page.page.inner_text(".sc-legend")
    assert "W5" in legend and "街道" in legend
    assert page.page.inner_text("#sc-info-view").startswith("W5")
    assert page.errors == []


def test_click_community_opens_its_full_result(page: Page, demo: AuditResult) -> None:
    c = demo.communities
    row = c[(c["W1_status"] == "fail") & np.isfinite(c["median_m_shopping"])].iloc[0]
    inside = row.geometry.representative_point()
    text = page.open_unit_popup(row["community_id"], (inside.y, inside.x))
    assert row["name"] in text
    assert f"常住人口 {row['population']:,.0f} 人" in text
    assert "通过 0/2 条规则，1 条不可评估" in text
    assert "未通过" in text and "不可评估" in text
    assert f"{100 * row['W1_value']:.1f}%" in text
    assert row["W1_reason_zh"] in text
    assert ("购物 \N{BALLOT X}" in text) == ("shopping" in row["W1_missing"])
    assert f"{row['median_m_shopping']:,.0f} 米" in text
    assert f"{row['p90_m_shopping']:,.0f} 米" in text
    share = row["W1_share_shopping"]
    assert f"{100 * share:.1f}%" in text
    assert not math.isnan(share)


def test_hostile_names_render_as_text(browser: Any, demo: AuditResult, tmp_path: Path) -> None:
    communities = demo.communities.copy()
    communities.loc[0, "name"] = EVIL_COMMUNITY
    services = demo.services.copy()
    cat = services["category"] == "catering"
    services.loc[cat, "name"] = EVIL_POI
    evil = dataclasses.replace(demo, communities=communities, services=services)
    path = save_map(evil, tmp_path / "evil.html", offline=True)
    p = Page(browser, path)
    try:
        row = communities.iloc[0]
        inside = row.geometry.representative_point()
        text = p.open_unit_popup(row["community_id"], (inside.y, inside.x))
        assert EVIL_COMMUNITY in text  # shown as text
        # open a hostile POI's popup: the cluster group's popup, built for that marker
        p.page.evaluate(
            """(name) => {
                const map = window[name];
                let done = false;
                map.eachLayer(l => {
                    if (!done && l instanceof L.MarkerClusterGroup) {
                        const m = l.getLayers().find(x => sc_poi_name(x.sc_i).includes('onerror'));
                        // a clustered marker is not on the map: open its content at its place
                        if (m) {
                            L.popup().setLatLng(m.getLatLng())
                                .setContent(l.getPopup().getContent()(m)).openOn(map);
                            done = true;
                        }
                    }
                });
            }""",
            p.map_name(),
        )
        p.page.wait_for_function(
            "() => document.querySelector('.leaflet-popup-content')"
            " && document.querySelector('.leaflet-popup-content').textContent.includes('onerror')"
        )
        poi = p.page.inner_text(".leaflet-popup-content")
        assert EVIL_POI in poi
        p.page.wait_for_timeout(300)
        assert p.dialogs == []
        assert p.page.evaluate("() => document.querySelectorAll('img[src=\"x\"]').length") == 0
        assert p.page.evaluate("() => document.querySelectorAll('body script').length") >= 0
        assert not p.page.evaluate(
            "() => Array.from(document.querySelectorAll('.leaflet-popup-content script')).length"
        )
        assert p.errors == []
    finally:
        p.page.close()


def test_screenshot(page: Page) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    out = ARTIFACTS / "demo_map.png"
    page.page.screenshot(path=str(out))
    assert out.stat().st_size > 50_000
    # the Chinese glyphs come from a CJK font, not the fallback boxes
    fonts = page.page.evaluate("() => document.fonts.check('16px \"Noto Sans CJK SC\"', '社区')")
    assert fonts


#: Names that ran code or vanished before: each must show as exactly this text.
HOSTILE = [
    '<img src=x onerror="window.__pwned=1">',
    "<script>window.__pwned=1</script>",
    "{{7*7}}",
    "{{ 7*191 }}{% raw %}</script><b>x",
    '"><svg onload="window.__pwned=1">',
    "Joe's {{ snack }} bar",
    "</script><script>window.__pwned=1</script>",
    "<!--<script>",
    "\u202e社区{#3",
]

_OPEN_UNITS = """(name) => {
    const map = window[name];
    const units = [];
    map.eachLayer(l => { if (l.sc_unit && l.getPopup && l.getPopup()) { units.push(l); } });
    const out = [];
    for (const l of units) {
        const at = l.getBounds().getCenter();
        l.fire('click', {latlng: at});
        // this layer's own elements: a closed popup stays in the page while it fades out
        const pop = l.getPopup().getElement().querySelector('.leaflet-popup-content');
        l.openTooltip(at);
        const tip = l.getTooltip().getElement().querySelector('b');
        out.push({
            id: l.sc_unit.id,
            title: pop.querySelector('.sc-pop-title').textContent,
            muted: pop.querySelector('.sc-muted').textContent,
            tip: tip ? tip.textContent : null,
            scripts: pop.querySelectorAll('script, img, svg:not(.sc-sw)').length,
        });
        l.closeTooltip();
    }
    map.closePopup();
    return out;
}"""

_OPEN_SERVICES = """(name) => {
    const map = window[name];
    const out = [];
    map.eachLayer(g => {
        if (!(g instanceof L.MarkerClusterGroup)) { return; }
        // one popup and one tooltip on the cluster group build each marker's content
        const popupOf = g.getPopup().getContent(), tipOf = g.getTooltip().getContent();
        for (const m of g.getLayers()) {
            // a clustered marker is not on the map: open its own content at its place
            const popup = L.popup().setLatLng(m.getLatLng()).setContent(popupOf(m)).openOn(map);
            const pop = popup.getElement().querySelector('.leaflet-popup-content');
            const tip = L.tooltip().setLatLng(m.getLatLng()).setContent(tipOf(m)).addTo(map);
            out.push({
                title: pop.querySelector('.sc-pop-title').textContent,
                id: pop.querySelectorAll('.sc-muted')[0].textContent,
                tip: tip.getElement().querySelector('b').textContent,
                scripts: pop.querySelectorAll('script, img, svg').length,
            });
            tip.remove();
        }
    });
    map.closePopup();
    return out;
}"""


def test_hostile_names_everywhere_run_nothing(
    browser: Any, demo: AuditResult, tmp_path: Path
) -> None:
    """Hostile names on every community, street and service and on the case: every popup and
    tooltip shows them as text, and no injected script runs."""

    def cycle(n: int, offset: int) -> list[str]:
        return [HOSTILE[(i + offset) % len(HOSTILE)] + f" #{i}" for i in range(n)]

    communities = demo.communities.copy()
    communities["name"] = cycle(len(communities), 0)
    streets = demo.streets.copy()
    streets["name"] = cycle(len(streets), 3)
    services = demo.services.copy()
    services["name"] = cycle(len(services), 5)
    case_name = "<script>window.__pwned=1</script>{{7*7}} 案例"
    evil = dataclasses.replace(
        demo, case_name=case_name, communities=communities, streets=streets, services=services
    )
    p = Page(browser, save_map(evil, tmp_path / "evil.html"))
    try:
        page = p.page
        name = p.map_name()
        assert page.title() == f"{case_name} — {demo.pack.label('zh')}"
        assert page.inner_text(".sc-info-title") == case_name

        expected = dict(zip(communities["community_id"], communities["name"], strict=True))
        street_names = dict(zip(streets["street_id"], streets["name"], strict=True))
        opened = page.evaluate(_OPEN_UNITS, name)
        assert len(opened) == len(communities)
        for unit in opened:
            assert unit["title"] == expected[unit["id"]]
            assert unit["tip"] == expected[unit["id"]]
            assert unit["scripts"] == 0
        row = communities.iloc[0]
        first = next(u for u in opened if u["id"] == row["community_id"])
        assert f"街道 {street_names[row['street_id']]}" in first["muted"]

        street_rule = next(r for r in demo.pack.rules if r.unit == "street")
        page.get_by_text(f"{street_rule.id} {street_rule.label('zh')}：结果").click()
        page.wait_for_timeout(200)
        opened = page.evaluate(_OPEN_UNITS, name)
        assert len(opened) == len(streets)
        for unit in opened:
            assert unit["title"] == street_names[unit["id"]]
            assert unit["tip"] == street_names[unit["id"]]
            assert unit["scripts"] == 0

        service_names = dict(zip(services["service_id"], services["name"], strict=True))
        shown = page.evaluate(_OPEN_SERVICES, name)
        assert len(shown) >= 100
        for poi in shown:
            sid = poi["id"].split(" ", 1)[1]
            assert poi["title"] == service_names[sid]
            assert poi["tip"] == service_names[sid]
            assert poi["scripts"] == 0

        page.wait_for_timeout(500)  # an injected onerror would have fired by now
        assert page.evaluate("() => window.__pwned") is None
        assert page.evaluate("() => document.querySelectorAll('img[src=\"x\"]').length") == 0
        assert p.dialogs == []
        assert p.errors == []
        assert p.blocked == []  # the default map is self-contained
    finally:
        p.page.close()


def test_the_page_signals_ready(page: Page) -> None:
    assert page.page.evaluate("() => window.sc_ready") is True


def test_a_service_popup_shows_its_name_category_and_id(
    browser: Any, demo: AuditResult, tmp_path: Path
) -> None:
    """Click a service point for real: the popup, built in the page from the columns, shows
    the name, the categories and the id verbatim."""
    services = demo.services.copy()
    shop = services.index[services["category"] == "shopping"][0]
    name = '<b>"旺旺"</b> & {{x}} 超市'
    services.loc[shop, "name"] = name
    sid = services.loc[shop, "service_id"]
    point = services.loc[shop, "geometry"]
    path = save_map(dataclasses.replace(demo, services=services), tmp_path / "poi.html")
    p = Page(browser, path)
    try:
        p.page.wait_for_function("() => window.sc_ready === true")
        icon = p.page.evaluate_handle(
            """([name, sid, lat, lng]) => {
                const map = window[name];
                map.setView([lat, lng], 18, {animate: false});
                let found = null;
                map.eachLayer(l => {
                    if (l.sc_i !== undefined && sc_poi_text(sc_poi.id, l.sc_i) === sid) {
                        found = l;
                    }
                });
                return found && found._icon;
            }""",
            [p.map_name(), sid, point.y, point.x],
        )
        # its own icon receives the click (another marker may overlap it on screen)
        icon.as_element().dispatch_event("click")
        p.page.wait_for_selector(".leaflet-popup-content .sc-pop-title")
        title = p.page.inner_text(".leaflet-popup-content .sc-pop-title")
        body = p.page.inner_text(".leaflet-popup-content")
        assert title == name
        assert "服务类别：购物" in body
        assert f"编号 {sid}" in body
        assert p.page.evaluate("() => document.querySelectorAll('.sc-pop-poi b').length") == 0
        assert p.errors == []
    finally:
        p.page.close()


def test_walking_time_layer_draws_its_image_and_legend(page: Page) -> None:
    page.page.get_by_text("步行时间：购物").click()
    page.page.wait_for_timeout(300)
    size = page.page.evaluate(
        "() => { const i = document.querySelector('img.sc-time');"
        " return i && i.complete ? [i.naturalWidth, i.naturalHeight] : null; }"
    )
    assert size is not None and size[0] > 100 and size[1] > 100
    legend = page.page.inner_text(".sc-legend")
    assert "步行至最近设施的时间" in legend and "≤ 5 分钟" in legend
    assert page.errors == []
