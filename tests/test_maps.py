"""Maps without a browser: layers, labels in both languages, escaping, offline HTML, size."""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import box

from coverage.audit import AuditResult, audit_case
from coverage.maps import _bands, audit_map, save_map

DEMO = Path(__file__).parents[1] / "data" / "demo" / "case.toml"
EVIL_COMMUNITY = "<script>alert(1)</script>"
EVIL_POI = '"><img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def demo() -> AuditResult:
    return audit_case(DEMO)


def evil_result(result: AuditResult) -> AuditResult:
    """The demo with hostile names on one community and one service."""
    communities = result.communities.copy()
    communities.loc[0, "name"] = EVIL_COMMUNITY
    services = result.services.copy()
    services.loc[services["category"] == "catering", "name"] = EVIL_POI
    return dataclasses.replace(result, communities=communities, services=services)


@pytest.fixture(scope="module")
def offline_html(demo: AuditResult, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("maps") / "demo_offline.html"
    save_map(demo, path, offline=True)
    return path.read_text(encoding="utf-8")


def sc_data(text: str) -> dict:
    start = text.index("var sc_data = ") + len("var sc_data = ")
    end = text.index(";\nvar sc_config", start)
    return json.loads(text[start:end])


class _Refs(HTMLParser):
    """Every src/href attribute, every <link>, and the text of <style> elements."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "xlink:href") and value is not None:
                self.refs.append((tag, name, value))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)


# ---- layers and labels ------------------------------------------------------------------------


def controls(text: str) -> dict:
    """The arguments of ``sc_controls(...)`` in a rendered map: layer labels and variables."""
    start = re.search(r"sc_controls\(map_[0-9a-f]+, ", text)
    assert start is not None
    end = text.index(");", text.index('{"info"', start.end()))
    call = text[start.end() : end]
    # bare JavaScript variables (feature_group_..., map_..._base_0) become strings
    call = re.sub(r", ((?:map|feature_group)_[0-9a-f]+(?:_base_\d+)?)\]", r', "\1"]', call)
    bases, views, overlays, panels, default = json.loads(f"[{call}]")
    return {
        "bases": bases,
        "views": views,
        "overlays": overlays,
        "panels": panels,
        "default": default,
    }


def test_one_layer_per_rule_and_category(demo: AuditResult) -> None:
    fmap = audit_map(demo)
    groups = {
        c.get_name(): c for c in fmap._children.values() if isinstance(c, folium.FeatureGroup)
    }
    ctl = controls(fmap.get_root().render())
    views = [label for label, _ in ctl["views"]]
    overlays = [label for label, _ in ctl["overlays"]]
    for rule in demo.pack.rules:
        assert f"{rule.id} {rule.label('zh')}：结果" in views
    assert "W1 覆盖居民比例（最弱类别）" in views
    assert "W1 覆盖居民比例：购物" in views
    assert any(label.endswith("服务设施：购物（144）") for label in overlays)
    assert any(label.endswith("服务设施：晨晚练点（79）") for label in overlays)
    assert "街道边界" in overlays
    # every layer is a folium group of its own
    assert {var for _, var in ctl["views"] + ctl["overlays"]} <= set(groups)
    # exactly one rule view is shown when the map opens: W1, the first rule
    shown = [label for label, var in ctl["views"] if groups[var].show and "：结果" in label]
    assert shown == ["W1 社区“15分钟服务圈”：结果"]


def test_folium_objects_get_only_code_made_names(demo: AuditResult) -> None:
    """Labels (from rule packs and data) never become folium names, which templates handle."""
    fmap = audit_map(demo)
    names = [c.layer_name for c in fmap._children.values() if isinstance(c, folium.FeatureGroup)]
    assert names and all(re.fullmatch(r"sc_[a-z_]+(_\d+)?", n) for n in names), names


def test_rule_option_picks_the_view_shown(demo: AuditResult) -> None:
    fmap = audit_map(demo, rule="W5")
    groups = {
        c.get_name(): c for c in fmap._children.values() if isinstance(c, folium.FeatureGroup)
    }
    ctl = controls(fmap.get_root().render())
    shown = [label for label, var in ctl["views"] if groups[var].show and "：结果" in label]
    assert shown == ["W5 每个街道拥有晨晚练体育活动点5个以上：结果"]
    with pytest.raises(ValueError, match="W1, W2"):
        audit_map(demo, rule="W9")


def test_chinese_labels_legend_and_footer(offline_html: str, demo: AuditResult) -> None:
    text = offline_html
    assert '<html lang="zh-CN">' in text
    for label in ("通过", "未通过", "不可评估", "显示规则（单选）", "叠加图层", "底图", "无底图"):
        assert label in text
    assert "步行速度 4 km/h，15分钟 ≈ 1,000米" in text
    assert "© OpenStreetMap contributors" in text
    assert demo.pack.label("zh") in text
    from coverage.wording import date_text

    # the date in Chinese form, Beijing time, with the zone stated
    shown = date_text(demo.provenance["created_utc"], "zh")
    assert "年" in shown and "北京时间" in shown
    assert f"审计日期 {shown}" in text
    assert "communities.geojson" in text
    assert "纹理区分结果：实心 = 通过，斜线 = 未通过，圆点 = 不可评估" in text
    # the legend counts match the summary
    legend = json.loads(re.search(r"sc_controls\(\w+, .*?(\{\"info\".*\}), 0\);", text).group(1))
    w1 = legend["legends"][0]
    summary = demo.summary.set_index("rule").loc["W1"]
    assert f'<span class="sc-legend-n">{summary["failing"]}</span>' in w1
    assert f'<span class="sc-legend-n">{summary["not_evaluable"]}</span>' in w1


def test_english_labels(demo: AuditResult, tmp_path: Path) -> None:
    path = save_map(demo, tmp_path / "en.html", lang="en")
    text = path.read_text(encoding="utf-8")
    assert '<html lang="en">' in text
    assert "Walking speed 4 km/h: 15 min ≈ 1,000 m" in text
    assert "W1 Community 15-minute service circle: result" in text
    assert "Rule shown (pick one)" in text
    assert "Services: Shopping (144)" in text
    assert "passes 0 of 2 rules; 1 not evaluable" in text
    assert "未通过" not in text
    with pytest.raises(ValueError, match="lang"):
        audit_map(demo, lang="fr")  # type: ignore[arg-type]


def test_popup_holds_every_rule_and_distances(demo: AuditResult, offline_html: str) -> None:
    data = sc_data(offline_html)
    c = demo.communities
    row = c[(c["W1_status"] == "fail") & np.isfinite(c["median_m_shopping"])].iloc[0]
    feature = next(f for f in data["community"] if f["id"] == row["community_id"])
    popup = feature["p"]
    assert row["name"] in popup
    assert "<b>W1</b> 社区“15分钟服务圈”" in popup and "<b>W3</b> " in popup
    assert "未通过" in popup and "不可评估" in popup
    assert f"{100 * row['W1_value']:.1f}%" in popup
    assert f"{row['median_m_shopping']:,.0f} 米" in popup
    assert f"{row['p90_m_shopping']:,.0f} 米" in popup
    assert row["W1_reason_zh"] in popup
    assert "未达标类别" in popup
    assert "数据中无此类设施" in popup  # housekeeping: none in the demo data
    assert feature["t"].startswith(f"<b>{row['name']}</b><br>通过 0/2 条规则")


# ---- safety -----------------------------------------------------------------------------------


def test_names_from_data_are_escaped(demo: AuditResult, tmp_path: Path) -> None:
    path = save_map(evil_result(demo), tmp_path / "evil.html", offline=True)
    text = path.read_text(encoding="utf-8")
    assert EVIL_COMMUNITY not in text
    assert EVIL_POI not in text
    assert "<img src=x" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    # service names are text in the POI columns (set with textContent in the page)
    assert '\\"\\u003e\\u003cimg src=x onerror=alert(1)\\u003e' in text


# ---- offline and size -------------------------------------------------------------------------


def test_offline_html_has_no_external_reference(offline_html: str) -> None:
    parser = _Refs()
    parser.feed(offline_html)
    external = [r for r in parser.refs if re.match(r"^(https?:)?//", r[2].strip(), re.I)]
    assert external == []
    assert not any(tag == "link" for tag, _, _ in parser.refs)
    assert "<script src=" not in offline_html
    assert "//cdn" not in offline_html
    for css in parser.styles:
        for url in re.findall(r"url\(\s*['\"]?([^'\")]+)", css):
            assert url.startswith(("data:", "#")), url
        assert "@import" not in css
    assert "tile.openstreetmap.org" not in offline_html
    assert "L.tileLayer(" not in offline_html
    assert "L.markerClusterGroup=" in offline_html  # the plugin is inlined
    assert "leaflet.markercluster" not in re.sub(
        r"<script>.*?</script>", "", offline_html, flags=re.S
    )


def test_the_default_map_is_self_contained(demo: AuditResult, tmp_path: Path) -> None:
    """Without options the map works on an intranet: Leaflet inlined, no CDN, no web tiles."""
    text = save_map(demo, tmp_path / "default.html").read_text("utf-8")
    parser = _Refs()
    parser.feed(text)
    assert [r for r in parser.refs if re.match(r"^(https?:)?//", r[2].strip(), re.I)] == []
    assert "L.markerClusterGroup=" in text
    assert "tile.openstreetmap.org" not in text
    assert "L.tileLayer(" not in text


def test_offline_with_local_tiles(demo: AuditResult, tmp_path: Path) -> None:
    url = "http://127.0.0.1:8080/tiles/{z}/{x}/{y}.png"
    text = save_map(demo, tmp_path / "local.html", offline=True, tiles_url=url).read_text("utf-8")
    assert url in text
    assert "本地底图" in text
    assert "tile.openstreetmap.org" not in text


def test_online_html_loads_only_leaflet_and_markercluster(
    demo: AuditResult, tmp_path: Path
) -> None:
    text = save_map(demo, tmp_path / "online.html", offline=False).read_text("utf-8")
    parser = _Refs()
    parser.feed(text)
    urls = sorted(v for _, _, v in parser.refs)
    assert urls == sorted(
        [
            "https://cdn.jsdelivr.net/npm/leaflet@1.9.4/dist/leaflet.css",
            "https://cdn.jsdelivr.net/npm/leaflet@1.9.4/dist/leaflet.js",
            "https://cdn.jsdelivr.net/npm/leaflet.markercluster@1.5.3/dist/MarkerCluster.css",
            "https://cdn.jsdelivr.net/npm/leaflet.markercluster@1.5.3/dist/leaflet.markercluster.js",
        ]
    )
    assert "jquery" not in text.lower() and "bootstrap" not in text.lower()
    assert "tile.openstreetmap.org" in text
    assert '&copy; <a href=\\"https://www.openstreetmap.org/copyright\\">' in text.replace(
        "\\u0026", "&"
    ).replace("\\u003c", "<").replace("\\u003e", ">")


def test_demo_map_is_small(offline_html: str) -> None:
    assert len(offline_html.encode("utf-8")) < 5_000_000


def test_save_map_refuses_options_for_a_map(demo: AuditResult, tmp_path: Path) -> None:
    fmap = audit_map(demo)
    save_map(fmap, tmp_path / "m.html")
    with pytest.raises(TypeError, match="AuditResult"):
        save_map(fmap, tmp_path / "m.html", lang="en")


# ---- isochrones and service areas -------------------------------------------------------------


def _squares(x: float, y: float, sizes: tuple[float, ...]) -> list:
    return [box(x - s, y - s, x + s, y + s) for s in sizes]


def test_isochrone_and_service_area_layers(demo: AuditResult, tmp_path: Path) -> None:
    shop = demo.services[demo.services["category"] == "shopping"].iloc[:2]
    rows = []
    for sid, point in zip(shop["service_id"], shop.geometry, strict=True):
        for minutes, geom in zip(
            (5, 10, 15), _squares(point.x, point.y, (0.002, 0.004, 0.006)), strict=True
        ):
            rows.append(
                {"service_id": sid, "category": "shopping", "minutes": minutes, "geometry": geom}
            )
    iso = gpd.GeoDataFrame(rows, crs=4326)
    p = shop.geometry.iloc[0]
    area = gpd.GeoDataFrame(
        {"minutes": [5, 10, 15]}, geometry=_squares(p.x, p.y, (0.003, 0.006, 0.009)), crs=4326
    )
    fmap = audit_map(demo, isochrones=iso, service_areas={"shopping": area})
    text = save_map(fmap, tmp_path / "iso.html").read_text("utf-8")
    names = [label for label, _ in controls(text)["overlays"]]
    assert "等时圈：购物" in names
    assert "服务范围：购物" in names
    assert "步行时间" in text and "≤ 5 分钟" in text and "≤ 15 分钟" in text
    assert "5–10 分钟" in text  # a band's tooltip


def test_bands_are_disjoint_and_cover_the_largest() -> None:
    nested = _squares(0.0, 0.0, (1.0, 2.0, 3.0))
    bands = _bands(nested, [5, 10, 15])
    assert [(lo, hi) for lo, hi, _ in bands] == [(0.0, 5.0), (5.0, 10.0), (10.0, 15.0)]
    geoms = [g for _, _, g in bands]
    assert sum(g.area for g in geoms) == pytest.approx(nested[-1].area)
    for i in range(3):
        for j in range(i + 1, 3):
            assert shapely.intersection(geoms[i], geoms[j]).area == pytest.approx(0.0)
    # rings given as rings give the same bands
    rings = [nested[0], nested[1].difference(nested[0]), nested[2].difference(nested[1])]
    again = _bands(rings, [5, 10, 15])
    assert [g.area for _, _, g in again] == pytest.approx([g.area for g in geoms])


def test_geometry_is_simplified_and_rounded(demo: AuditResult) -> None:
    fine = sc_data(audit_map(demo, simplify_m=0, coordinate_decimals=6).get_root().render())
    coarse = sc_data(audit_map(demo, simplify_m=20, coordinate_decimals=5).get_root().render())

    def numbers(data: dict) -> int:
        return sum(len(r) for f in data["community"] for poly in f["g"] for r in poly)

    assert numbers(coarse) < numbers(fine)
    assert len(coarse["community"]) == len(fine["community"]) == len(demo.communities)


# ---- service points as columns ----------------------------------------------------------------


def poi_columns(text: str) -> dict:
    start = text.index("var sc_poi = ") + len("var sc_poi = ")
    value, end = json.JSONDecoder().raw_decode(text, start)
    value["_bytes"] = end - start
    return value


def decode_text(col: dict) -> list[str]:
    if "v" in col:
        return col["v"]
    if "t" in col:
        return [col["t"][i] for i in col["i"]]
    return [col["p"] + str(n).zfill(col["w"]) for n in itertools.accumulate(col["n"])]


def many_services(demo: AuditResult, n: int, seed: int = 3) -> AuditResult:
    """``n`` services spread over the demo, with chain-store names (repeated, as in real
    data), zero-padded ids, a category of the pack each, and snapping distances."""
    rng = np.random.default_rng(seed)
    west, south, east, north = demo.communities.total_bounds
    cats = list(demo.pack.categories)
    brands = [
        f"{b}{k}号店" for b in ("全家便利店", "美宜佳", "红旗连锁", "舞东风超市") for k in range(60)
    ]
    services = gpd.GeoDataFrame(
        {
            "service_id": [f"S{i:06d}" for i in range(n)],
            "name": rng.choice(brands, n),
            "category": rng.choice(cats, n),
            "snap_m": rng.uniform(0, 120, n),
            "on_network": rng.random(n) > 0.02,
        },
        geometry=gpd.points_from_xy(rng.uniform(west, east, n), rng.uniform(south, north, n)),
        crs=4326,
    )
    return dataclasses.replace(demo, services=services, snapped_services=None)


def test_a_service_point_costs_at_most_40_bytes(demo: AuditResult) -> None:
    n = 100_000
    result = many_services(demo, n)
    text = audit_map(result, walk_time=False).get_root().render()
    poi = poi_columns(text)
    assert poi["_bytes"] / n <= 40, poi["_bytes"] / n
    # and nothing else in the page grows with the points: no HTML per point
    assert len(text.encode("utf-8")) - poi["_bytes"] < 2_500_000


def test_service_columns_decode_to_the_services(demo: AuditResult) -> None:
    result = many_services(demo, 3_000, seed=5)
    services = result.services
    poi = poi_columns(audit_map(result, walk_time=False).get_root().render())
    ids = decode_text(poi["id"])
    names = decode_text(poi["name"])
    assert sorted(ids) == sorted(services["service_id"])
    row = services.set_index("service_id").loc[ids]
    assert names == list(row["name"])
    lon = np.cumsum(poi["x"]) / poi["k"]
    lat = np.cumsum(poi["y"]) / poi["k"]
    np.testing.assert_allclose(lon, row.geometry.x, atol=0.6e-5)
    np.testing.assert_allclose(lat, row.geometry.y, atol=0.6e-5)
    assert [poi["cats"][c] for c in poi["c"]] == list(row["category"])
    off = set(poi["off"])
    assert [i not in off for i in range(len(ids))] == list(row["on_network"])
    assert poi["snap"] == [round(v) for v in row["snap_m"]]


def test_walking_time_layers_replace_service_area_polygons(
    demo: AuditResult, tmp_path: Path
) -> None:
    text = save_map(demo, tmp_path / "time.html").read_text("utf-8")
    overlays = [label for label, _ in controls(text)["overlays"]]
    assert "步行时间：购物" in overlays
    assert not any(label.startswith("服务范围") for label in overlays)
    start = text.index("var sc_time = ") + len("var sc_time = ")
    images, _ = json.JSONDecoder().raw_decode(text, start)
    reach = {c for r in demo.pack.rules if r.kind == "reach" for c in r.all_categories}
    assert len(images) == len([o for o in overlays if o.startswith("步行时间")]) <= len(reach)
    for image in images:
        assert image["url"].startswith("data:image/png;base64,")
        assert len(image["url"]) < 400_000
        west, south, east, north = image["b"]
        assert west < east and south < north
    legend = controls(text)["panels"]["time"]
    assert "步行至最近设施的时间" in legend and "≤ 5 分钟" in legend and "每格 10 米见方" in legend
    without = audit_map(demo, walk_time=False).get_root().render()
    assert "var sc_time" not in without


def test_the_written_map_shows_walking_time_and_the_gpkg_keeps_the_polygons(
    demo: AuditResult, tmp_path: Path
) -> None:
    import pyogrio

    from coverage.report import write_outputs

    written = write_outputs(demo, tmp_path / "out")
    text = Path(written["map_html"]).read_text("utf-8")
    overlays = [label for label, _ in controls(text)["overlays"]]
    assert "步行时间：购物" in overlays
    assert not any(label.startswith("服务范围") for label in overlays)
    layers = [name for name, _ in pyogrio.list_layers(written["gpkg"])]
    assert "service_areas" in layers
