"""Static maps of every rule: title, legend with counts, true scale bar, north arrow, the
walking network, sources and date; PNG and SVG; embedded in report.html; CJK font fallback."""

from __future__ import annotations

import io
import logging
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import AxesImage
from matplotlib.patches import Rectangle
from PIL import Image

from coverage import static_maps
from coverage.audit import AuditResult, audit_case
from coverage.network import great_circle_m
from coverage.report import render_report_html, write_outputs
from coverage.rules import FAIL, NOT_EVALUABLE, PASS
from coverage.static_maps import (
    DPI,
    FIGSIZE_IN,
    render_rule_maps,
    rule_figure,
    write_static_maps,
)
from coverage.wording import status_text

DEMO = Path(__file__).parents[1] / "data" / "demo" / "case.toml"


@pytest.fixture(scope="module")
def demo() -> AuditResult:
    return audit_case(DEMO)


def _texts(fig: object) -> list[str]:
    return [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]  # type: ignore[attr-defined]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_rule_map_has_title_legend_counts_and_sources(demo: AuditResult, lang: str) -> None:
    for rule in demo.pack.rules:
        fig = rule_figure(demo, rule, lang=lang)
        ax = fig.axes[0]
        assert ax.get_title(loc="left") == f"{rule.id} {rule.label(lang)}"
        table = demo.communities if rule.unit == "community" else demo.streets
        statuses = table[f"{rule.id}_status"].astype(object)
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        # the counts in the legend are those of the table (a brute-force count)
        for code in (PASS, FAIL, NOT_EVALUABLE):
            assert f"{status_text(code, lang)}  {int((statuses == code).sum())}" in legend
        texts = " ".join(_texts(fig))
        assert "chengdu-center.osm.bz2" in texts and "© OpenStreetMap contributors" in texts
        assert ("北京时间" in texts) if lang == "zh" else ("UTC" in texts)
        assert str(DEMO.parent) not in texts  # file names, not where they are


def test_the_network_is_the_basemap(demo: AuditResult) -> None:
    fig = rule_figure(demo, "W1", lang="zh")
    ax = fig.axes[0]
    networks = [a for a in (*ax.collections, *ax.images) if a.get_gid() == "network"]
    assert len(networks) == 1 and isinstance(networks[0], AxesImage)
    # the image covers exactly the map's extent, and it shows lines
    assert tuple(networks[0].get_extent()) == (*ax.get_xlim(), *ax.get_ylim())
    rgba = np.asarray(networks[0].get_array())
    assert rgba[..., 3].any()
    assert demo.network is not None
    segments = static_maps.Basemap(demo).segments
    assert segments is not None and len(segments) == demo.network.n_edges


def test_scale_bar_is_true_against_great_circle_distances(demo: AuditResult) -> None:
    """The map is drawn in metres: a segment's length on the map equals its great-circle
    length (the network's own formula) to 0.5%, so the scale bar's length is true."""
    fig = rule_figure(demo, "W2", lang="en")
    ax = fig.axes[0]
    net = demo.network
    assert net is not None
    segments = static_maps.Basemap(demo).segments  # what the map's network image is burnt from
    assert segments is not None
    long = np.argsort(net.edge_length_m)[-200:]  # the longest segments: least rounding
    on_map = np.array([np.hypot(*(segments[i][1] - segments[i][0])) for i in long])
    u, v = net.edge_u[long], net.edge_v[long]
    true = great_circle_m(net.lat[u], net.lon[u], net.lat[v], net.lon[v])
    assert np.allclose(on_map, true, rtol=0.005)
    bars = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_zorder() == 10]
    assert len(bars) == 4
    length_m = sum(b.get_width() for b in bars)
    label = next(t for t in ax.texts if t.get_gid() == "scale-bar").get_text()
    value = float(re.match(r"([\d.]+)", label).group(1))  # type: ignore[union-attr]
    assert length_m == pytest.approx(value * (1000 if "km" in label else 1))
    x0, x1 = ax.get_xlim()
    assert 0.05 * (x1 - x0) <= length_m <= 0.25 * (x1 - x0)


def test_north_arrow_points_up(demo: AuditResult) -> None:
    fig = rule_figure(demo, "W1", lang="zh")
    arrows = [t for t in fig.axes[0].texts if t.get_gid() == "north-arrow"]
    assert len(arrows) == 1 and arrows[0].get_text() == "北"
    tip, tail = arrows[0].xy, arrows[0].xyann
    assert tip[0] == tail[0] and tip[1] > tail[1]


def test_png_and_svg(demo: AuditResult, tmp_path: Path) -> None:
    maps = render_rule_maps(demo, lang="zh", rules=["W1", "W4"])
    assert [m.rule_id for m in maps] == ["W1", "W4"]
    for m in maps:
        with Image.open(io.BytesIO(m.images["png"])) as image:
            assert image.size == (round(FIGSIZE_IN[0] * DPI), round(FIGSIZE_IN[1] * DPI))
        root = ET.fromstring(m.images["svg"])
        assert root.tag.endswith("svg")
    written = write_static_maps(maps, tmp_path / "maps")
    assert sorted(p.name for paths in written.values() for p in paths) == [
        "W1.png",
        "W1.svg",
        "W4.png",
        "W4.svg",
    ]
    again = render_rule_maps(demo, lang="zh", rules=["W1"])
    assert again[0].images["svg"] == maps[0].images["svg"]  # the same audit, the same file


def test_rule_ids_become_safe_file_names(demo: AuditResult, tmp_path: Path) -> None:
    png = {"png": b"x"}
    maps = [
        static_maps.RuleMap("../../evil", "t", png),
        static_maps.RuleMap("a/b", "t", png),
        static_maps.RuleMap("A/B", "t", png),
    ]
    written = write_static_maps(maps, tmp_path / "maps")
    files = [p for paths in written.values() for p in paths]
    assert len({p.name.lower() for p in files}) == 3
    assert all(p.parent == tmp_path / "maps" for p in files)


def test_without_a_cjk_font_a_warning_and_still_a_map(
    demo: AuditResult, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(static_maps, "CJK_FONTS", ("No Such Font Sans",))
    monkeypatch.setattr(static_maps, "_CJK_FILES", re.compile("no-such-font-file"))
    static_maps.cjk_font.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="coverage.static_maps"):
            maps = render_rule_maps(demo, lang="zh", formats=["png"], rules=["W2"])
        assert "no CJK font" in caplog.text and "fonts-noto-cjk" in caplog.text
        assert maps[0].images["png"].startswith(b"\x89PNG")
    finally:
        static_maps.cjk_font.cache_clear()


def test_a_cjk_font_is_found_when_installed() -> None:
    from matplotlib import font_manager

    files = [f for f in font_manager.findSystemFonts() if static_maps._CJK_FILES.search(f)]
    if not files:
        pytest.skip("no CJK font installed (apt-get install fonts-noto-cjk; CI installs it)")
    assert static_maps.cjk_font() in static_maps.CJK_FONTS


def test_report_embeds_the_maps_and_prints_cleanly(demo: AuditResult, tmp_path: Path) -> None:
    written = write_outputs(
        demo, tmp_path / "out", lang="zh", outputs=["report", "static"], service_areas=False
    )
    page = written["report_html"].read_text(encoding="utf-8")
    assert page.count('src="data:image/png;base64,') == len(demo.pack.rules)
    assert re.search(r'(src|href)="https?:', page) is None  # still one file, offline
    assert "@page{size:A4" in page
    assert "break-inside:avoid" in page and "thead{display:table-header-group}" in page
    # every chart sits with its heading in one block that does not break
    assert page.count('<div class="chart"><h3>') == page.count("<svg")
    folder = written["static_maps"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"{r.id}.{ext}" for r in demo.pack.rules for ext in ("png", "svg")
    )
    # a second run replaces the folder, never mixes the two
    written = write_outputs(demo, tmp_path / "out", lang="zh", outputs=["csv"])
    assert not (tmp_path / "out" / "static-maps").exists()


def test_report_without_maps_has_no_images(demo: AuditResult) -> None:
    assert "data:image/png" not in render_report_html(demo, lang="en")
