"""The map a planner uses, in headless Chromium with the network blocked: the offline base map,
names and search, the layout at desktop (1280x800) and phone (390x844) sizes, and print.

Screenshots and the printed PDF are saved under tests/artifacts/ (not in git).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from coverage.audit import AuditResult, audit_case
from coverage.maps import save_map
from tests.test_maps_browser import ARGS, ARTIFACTS, CHROMIUM, DEMO, _is_local, _need_chromium

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
#: A4 landscape at 96 px per inch, what the print stylesheet lays the map out on.
A4_PX = {"width": 1123, "height": 794}
HOSTILE = '<img src=x onerror="window.__pwned=1">社区{{7*7}}'

_MAP = "window[Object.keys(window).find(k => k.startsWith('map_') && window[k].getZoom)]"


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


@pytest.fixture(scope="module")
def maps(demo: AuditResult, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("layout")
    communities = demo.communities.copy()
    communities.loc[communities.index[1], "name"] = HOSTILE
    evil = dataclasses.replace(demo, communities=communities)
    return {
        "zh": save_map(demo, folder / "zh.html"),
        "en": save_map(demo, folder / "en.html", lang="en"),
        "evil": save_map(evil, folder / "evil.html"),
        "a3": save_map(demo, folder / "a3.html", paper="A3"),
    }


class Opened:
    """A map page at one viewport size, the network blocked, errors and requests recorded."""

    def __init__(self, browser: Any, path: Path, viewport: dict[str, int]) -> None:
        self.page = browser.new_page(viewport=viewport)
        self.errors: list[str] = []
        self.blocked: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

        def route(r: Any) -> None:
            if _is_local(r.request.url):
                r.continue_()
            else:
                self.blocked.append(r.request.url)
                r.abort()

        self.page.route("**/*", route)
        self.page.goto(path.as_uri())
        self.page.wait_for_function("() => window.sc_ready === true", timeout=30_000)
        self.page.wait_for_timeout(300)

    def js(self, code: str, arg: Any = None) -> Any:
        return self.page.evaluate(code.replace("MAP", _MAP), arg)

    def close(self) -> None:
        self.page.close()


@pytest.fixture
def opened(browser: Any, maps: dict[str, Path]) -> Iterator[Any]:
    pages: list[Opened] = []

    def open_(name: str, viewport: dict[str, int]) -> Opened:
        p = Opened(browser, maps[name], viewport)
        pages.append(p)
        return p

    yield open_
    for p in pages:
        p.close()


_CONTROL_BOXES = """() => {
    const map = MAP;
    const box = r => ({left: r.left, top: r.top, right: r.right, bottom: r.bottom});
    const out = [];
    for (const el of map.getContainer().querySelectorAll(
            '.leaflet-control-container .leaflet-control')) {
        const r = el.getBoundingClientRect();
        if (r.width > 0 && r.height > 0) { out.push({cls: el.className, ...box(r)}); }
    }
    return {map: box(map.getContainer().getBoundingClientRect()), controls: out};
}"""

#: Open the popup of every n-th unit of the view shown, at its label point, as a click does;
#: return, for each, the popup's box and the boxes of the controls it meets.
_POPUP_CLEAR = """(step) => {
    const map = MAP;
    const units = [];
    map.eachLayer(l => { if (l.sc_unit && l.getPopup && l.getPopup()) { units.push(l); } });
    const meets = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom
        && b.top < a.bottom;
    const out = [];
    for (let i = 0; i < units.length; i += step) {
        const l = units[i], f = l.sc_unit;
        const at = f.l ? L.latLng(f.l[1], f.l[0]) : l.getBounds().getCenter();
        map.setView(at, 15, {animate: false});
        l.openPopup(at);
        const wrap = l.getPopup().getElement().querySelector('.leaflet-popup-content-wrapper');
        const p = wrap.getBoundingClientRect();
        const m = map.getContainer().getBoundingClientRect();
        const hits = [];
        for (const el of map.getContainer().querySelectorAll(
                '.leaflet-control-container .leaflet-control')) {
            const r = el.getBoundingClientRect();
            if (r.width > 0 && r.height > 0 && meets(p, r)) { hits.push(el.className); }
        }
        const content = wrap.querySelector('.leaflet-popup-content');
        const c = content.getBoundingClientRect();
        const cut = Array.from(content.querySelectorAll('td, th'))
            .filter(td => td.getBoundingClientRect().right > c.right + 1
                          && td.getBoundingClientRect().width > 0)
            .map(td => td.textContent);
        out.push({id: f.id, hits: hits, cut: cut,
                  folded: document.querySelectorAll('.sc-auto-folded').length,
                  inside: p.left >= m.left - 1 && p.right <= m.right + 1 && p.top >= m.top - 1});
        map.closePopup();
    }
    return out;
}"""


def _covered_share(boxes: dict[str, Any], step: int = 4) -> float:
    """The share of the map container under some control, by sampling a 4-px grid."""
    m = boxes["map"]
    covered = total = 0
    for y in range(int(m["top"]), int(m["bottom"]), step):
        for x in range(int(m["left"]), int(m["right"]), step):
            total += 1
            if any(
                c["left"] <= x < c["right"] and c["top"] <= y < c["bottom"]
                for c in boxes["controls"]
            ):
                covered += 1
    return covered / total


# ---- the offline base map ------------------------------------------------------------------


def test_the_offline_base_map_draws_streets_without_a_request(opened: Any) -> None:
    p = opened("zh", DESKTOP)
    assert p.errors == [] and p.blocked == []
    assert p.js("() => MAP.sc_basemap_on") is True
    # the base map's canvas tiles hold drawn pixels (streets, water), not a blank background
    painted = p.js(
        """() => Array.from(document.querySelectorAll('canvas.sc-basemap, .sc-basemap canvas'))
            .filter(c => c.width > 0).map(c => {
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let n = 0;
                for (let i = 3; i < d.length; i += 4) { if (d[i] > 0) { n++; } }
                return n / (d.length / 4);
            })"""
    )
    assert len(painted) >= 4
    assert max(painted) > 0.05  # streets, water and parks cover part of a central tile
    # the streets are drawn again above the coloured units: their canvas has pixels too
    labels = p.js(
        """() => Array.from(document.querySelectorAll('canvas.sc-labels, .sc-labels canvas'))
            .filter(c => c.width > 0).length"""
    )
    assert labels >= 4


def test_the_base_map_is_a_base_layer_a_click_away(opened: Any) -> None:
    p = opened("zh", DESKTOP)
    assert not p.js(
        "() => document.querySelector('.sc-base-control').classList.contains('sc-collapsed')"
    )
    p.page.get_by_text("无底图").click()
    p.page.wait_for_timeout(200)
    assert p.js("() => MAP.sc_basemap_on") is False
    assert (
        p.js("() => document.querySelectorAll('.sc-basemap canvas, canvas.sc-basemap').length") == 0
    )
    p.page.get_by_text("离线底图（OpenStreetMap 数据）").click()
    p.page.wait_for_timeout(200)
    assert p.js("() => MAP.sc_basemap_on") is True
    assert p.errors == []


# ---- names and search ----------------------------------------------------------------------


def test_community_names_are_labels_when_zoomed_in(opened: Any, demo: AuditResult) -> None:
    p = opened("zh", DESKTOP)
    names = set(demo.communities["name"])
    at = {z: p.js(f"() => sc_labels_for({z}, MAP).map(k => k.c[3])") for z in (13, 15, 17)}
    assert not names & set(at[13])  # the town view names streets (街道), not communities
    assert set(demo.streets["name"]) & set(at[13])
    assert len(names & set(at[15])) >= 0.5 * len(names)  # most fit without overlapping
    assert len(names & set(at[17])) >= len(names & set(at[15]))
    # street names of the base map too, kept clear of each other
    assert any(re.search("[路街道巷]$", n) for n in at[17])


def _search(p: Opened, text: str) -> list[str]:
    p.page.fill(".sc-search-input", text)
    p.page.wait_for_timeout(100)
    return p.page.eval_on_selector_all(
        ".sc-search-results li", "els => els.map(e => e.textContent)"
    )


def test_search_finds_a_community_by_name_and_opens_its_popup(
    opened: Any, demo: AuditResult
) -> None:
    p = opened("zh", DESKTOP)
    row = demo.communities.iloc[37]
    hits = _search(p, row["name"])
    assert hits[0] == f"{row['name']}社区 {row['community_id']}"
    p.page.click(".sc-search-results li >> nth=0")
    p.page.wait_for_selector(".leaflet-popup-content .sc-pop-title")
    assert p.page.inner_text(".leaflet-popup-content .sc-pop-title") == row["name"]
    assert p.js("() => MAP.getZoom()") >= 14
    assert p.errors == []


def test_search_finds_a_street_by_id_from_another_view(opened: Any, demo: AuditResult) -> None:
    p = opened("zh", DESKTOP)
    row = demo.streets.iloc[3]
    hits = _search(p, row["street_id"].lower())
    assert hits and hits[0] == f"{row['name']}街道 {row['street_id']}"
    p.page.press(".sc-search-input", "Enter")  # the first hit
    p.page.wait_for_selector(".leaflet-popup-content .sc-pop-title")
    # the community rule is shown; the street's popup opens all the same
    assert p.page.inner_text(".leaflet-popup-content .sc-pop-title") == row["name"]
    assert _search(p, "不存在的社区名") == ["无匹配结果"]


def test_search_shows_a_hostile_name_as_text(opened: Any) -> None:
    p = opened("evil", DESKTOP)
    hits = _search(p, "onerror")
    assert hits and hits[0].startswith(HOSTILE)
    p.page.click(".sc-search-results li >> nth=0")
    p.page.wait_for_selector(".leaflet-popup-content .sc-pop-title")
    assert p.page.inner_text(".leaflet-popup-content .sc-pop-title") == HOSTILE
    p.page.wait_for_timeout(300)
    assert p.js("() => window.__pwned") is None
    assert p.js("() => document.querySelectorAll('img[src=\"x\"]').length") == 0
    assert p.dialogs == [] and p.errors == []
    # the label drawn on the canvas is the same text
    assert HOSTILE in p.js("() => sc_labels_for(17, MAP).map(k => k.c[3])")


# ---- layout --------------------------------------------------------------------------------


def test_desktop_controls_do_not_cover_each_other(opened: Any) -> None:
    p = opened("zh", DESKTOP)
    boxes = p.js(_CONTROL_BOXES)
    controls = boxes["controls"]
    m = boxes["map"]
    for c in controls:
        assert c["left"] >= m["left"] and c["right"] <= m["right"] + 0.5, c["cls"]
        assert c["top"] >= m["top"] and c["bottom"] <= m["bottom"] + 0.5, c["cls"]
    for i, a in enumerate(controls):
        for b in controls[i + 1 :]:
            overlap = (
                a["left"] < b["right"]
                and b["left"] < a["right"]
                and a["top"] < b["bottom"]
                and b["top"] < a["bottom"]
            )
            assert not overlap, (a["cls"], b["cls"])
    # on a desktop the panels are open
    assert p.js("() => document.querySelectorAll('.sc-collapsed').length") == 0
    assert _covered_share(boxes) < 0.45
    ARTIFACTS.mkdir(exist_ok=True)
    p.page.screenshot(path=str(ARTIFACTS / "map_desktop.png"))


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_desktop_popups_are_never_under_a_control_and_fit(opened: Any, lang: str) -> None:
    p = opened(lang, DESKTOP)
    opened_units = p.js(_POPUP_CLEAR, 7)
    assert len(opened_units) >= 10
    for unit in opened_units:
        assert unit["hits"] == [], unit
        assert unit["cut"] == [], unit  # the "Required" column is whole
        assert unit["inside"], unit
    # some popups needed the room of an open panel, which folded; closed, the panels reopen
    assert any(unit["folded"] for unit in opened_units)
    assert p.js("() => document.querySelectorAll('.sc-collapsed').length") == 0
    # streets too (the info panel used to hide their popups' left column)
    p.page.get_by_text(re.compile(r"^\s*W2 ")).first.click()
    p.page.wait_for_timeout(200)
    for unit in p.js(_POPUP_CLEAR, 1):
        assert unit["hits"] == [] and unit["cut"] == [] and unit["inside"], unit
    assert p.errors == []


def test_the_phone_layout_keeps_the_map(opened: Any) -> None:
    p = opened("zh", PHONE)
    folded = p.page.eval_on_selector_all(
        ".sc-collapsible", "els => els.map(e => e.classList.contains('sc-collapsed'))"
    )
    assert folded and all(folded)  # every panel starts folded on a phone
    boxes = p.js(_CONTROL_BOXES)
    assert _covered_share(boxes) <= 0.40  # the map keeps at least 60% of the screen
    ARTIFACTS.mkdir(exist_ok=True)
    p.page.screenshot(path=str(ARTIFACTS / "map_phone.png"))
    # a folded panel opens with one tap, and folds again
    p.page.click(".sc-toggle-legend")
    assert "结果（社区）" in p.page.inner_text(".sc-legend")
    p.page.click(".sc-toggle-legend")
    assert p.js("() => document.querySelector('.sc-legend').classList.contains('sc-collapsed')")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_phone_popups_fit_and_clear_the_controls(opened: Any, lang: str) -> None:
    p = opened(lang, PHONE)
    units = p.js(_POPUP_CLEAR, 9)
    assert len(units) >= 8
    for unit in units:
        assert unit["hits"] == [], unit
        assert unit["inside"], unit
        assert unit["cut"] == [], unit
    # a popup opened from an open panel folds it
    p.page.click(".sc-toggle-layers")
    p.js(_POPUP_CLEAR, 50)
    ARTIFACTS.mkdir(exist_ok=True)
    row = p.js("() => sc_data.community[0]")
    p.js(
        "(f) => { const map = MAP; map.eachLayer(l => { if (l.sc_unit && l.sc_unit.id === f.id)"
        " { map.setView([f.l[1], f.l[0]], 15, {animate: false}); l.openPopup([f.l[1], f.l[0]]); } }); }",
        row,
    )
    p.page.wait_for_timeout(200)
    p.page.screenshot(path=str(ARTIFACTS / f"map_phone_popup_{lang}.png"))
    assert p.errors == []


# ---- print ---------------------------------------------------------------------------------


def _pdf_pages(pdf: bytes) -> list[tuple[float, float]]:
    """The size (points) of every page of a PDF."""
    boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
    pages = len(re.findall(rb"/Type\s*/Page(?!s)", pdf))
    assert pages == len(boxes) or len(boxes) == 1
    return [(float(w), float(h)) for w, h in boxes][: max(pages, 1)] * (
        pages if len(boxes) == 1 else 1
    )


def test_print_hides_the_controls_and_keeps_what_a_sheet_needs(opened: Any) -> None:
    p = opened("zh", A4_PX)
    p.page.emulate_media(media="print")
    p.page.wait_for_timeout(200)
    shown = p.js(
        """() => {
            const seen = s => Array.from(document.querySelectorAll(s))
                .some(e => e.getBoundingClientRect().width > 0
                           && getComputedStyle(e).display !== 'none');
            return {
                zoom: seen('.leaflet-control-zoom'), layers: seen('.leaflet-control-layers'),
                search: seen('.sc-search'), toggles: seen('.sc-toggle'),
                legend: seen('.sc-legend .sc-legend-row'), title: seen('.sc-info-title'),
                scale: seen('.leaflet-control-scale'), north: seen('.sc-north'),
                sources: seen('.sc-info-small'), attribution: seen('.leaflet-control-attribution'),
            };
        }"""
    )
    assert shown == {
        "zoom": False,
        "layers": False,
        "search": False,
        "toggles": False,
        "legend": True,
        "title": True,
        "scale": True,
        "north": True,
        "sources": True,
        "attribution": True,
    }
    boxes = p.js(_CONTROL_BOXES)
    controls = boxes["controls"]
    for c in controls:  # everything printed lies on the sheet, nothing overlaps
        assert c["right"] <= A4_PX["width"] + 0.5 and c["bottom"] <= A4_PX["height"] + 0.5
    for i, a in enumerate(controls):
        for b in controls[i + 1 :]:
            assert not (
                a["left"] < b["right"]
                and b["left"] < a["right"]
                and a["top"] < b["bottom"]
                and b["top"] < a["bottom"]
            ), (a["cls"], b["cls"])
    ARTIFACTS.mkdir(exist_ok=True)
    p.page.screenshot(path=str(ARTIFACTS / "map_print.png"))
    pdf = p.page.pdf(prefer_css_page_size=True, print_background=True)
    (ARTIFACTS / "map_print.pdf").write_bytes(pdf)
    pages = _pdf_pages(pdf)
    assert len(pages) == 1  # one sheet: the map is not cut across pages
    width, height = pages[0]
    assert width == pytest.approx(842, abs=2) and height == pytest.approx(595, abs=2)  # A4


def test_the_a3_option_prints_on_a3_landscape(opened: Any) -> None:
    p = opened("a3", {"width": 1587, "height": 1123})
    p.page.emulate_media(media="print")
    pdf = p.page.pdf(prefer_css_page_size=True, print_background=True)
    pages = _pdf_pages(pdf)
    assert len(pages) == 1
    assert pages[0] == pytest.approx((1191, 842), abs=2)
