"""Tile servers under the map: ``--tiles``, ``[map]`` in the case file, and the GCJ-02 shift.

The shift is checked against published WGS-84 -> GCJ-02 pairs (the test vectors of
googollee/eviltransform, also used in tests/test_crs.py): a service placed at the WGS-84 point
is drawn at the published GCJ-02 point.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
import shapely
from typer.testing import CliRunner

from coverage.audit import AuditResult, audit_case
from coverage.case import Case
from coverage.cli import app
from coverage.crs import wgs84_to_gcj02
from coverage.errors import ConfigError
from coverage.map_tiles import shift_bounds, shift_frame, tile_crs, tile_source
from coverage.maps import audit_map, save_map
from coverage.settings import check_tile_crs, check_tile_url
from tests.test_cli import write_case

DEMO = Path(__file__).parents[1] / "data" / "demo" / "case.toml"
AMAP = "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}"
TENCENT = "https://rt{s}.map.gtimg.com/tile?z={z}&x={x}&y={-y}&styleid=1000&version=256"
TIANDITU = (
    "http://t{s}.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
    "&LAYER=vec&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}"
    "&TILECOL={x}&tk=KEY"
)
#: Published WGS-84 -> GCJ-02 vectors (lon, lat).
PUBLISHED = [
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),  # Shanghai
    ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),  # Shenzhen
    ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),  # Beijing
]


@pytest.fixture(scope="module")
def demo() -> AuditResult:
    return audit_case(DEMO)


def script_json(text: str, name: str) -> object:
    start = text.index(f"var {name} = ") + len(f"var {name} = ")
    end = text.index(";\n", start)
    return json.loads(text[start:end])


def poi_coordinates(text: str) -> np.ndarray:
    poi = script_json(text, "sc_poi")
    assert isinstance(poi, dict)
    return np.column_stack([np.cumsum(poi["x"]), np.cumsum(poi["y"])]) / poi["k"]


# ---- which coordinates a tile server draws in -----------------------------------------------


@pytest.mark.parametrize(
    ("url", "crs"),
    [
        (AMAP, "gcj02"),
        ("https://wprd01.is.autonavi.com/appmaptile?x={x}&y={y}&z={z}&style=7", "gcj02"),
        (TENCENT, "gcj02"),
        ("http://mt{s}.google.cn/vt/lyrs=m&x={x}&y={y}&z={z}", "gcj02"),
        (TIANDITU, "wgs84"),
        ("http://tiles.local/{z}/{x}/{y}.png", "wgs84"),
        ("tiles/{z}/{x}/{y}.png", "wgs84"),
        ("https://evil-autonavi.com.example/{z}/{x}/{y}.png", "wgs84"),  # not Amap's host
    ],
)
def test_tile_crs_recognises_gcj02_hosts(url: str, crs: str) -> None:
    assert tile_crs(url) == crs


def test_the_case_says_what_the_tiles_are_drawn_in() -> None:
    assert tile_crs("http://tiles.local/{z}/{x}/{y}.png", crs="GCJ-02") == "gcj02"
    assert tile_crs(AMAP, crs="wgs84") == "wgs84"
    with pytest.raises(ConfigError, match=r"'bd09'.*'wgs84'.*'gcj02'"):
        tile_crs(AMAP, crs="bd09")


def test_baidu_tiles_are_refused_with_the_reason() -> None:
    with pytest.raises(ConfigError, match="BD-09 on Baidu's own tile grid"):
        tile_crs("http://online{s}.map.bdimg.com/tile/?qt=tile&x={x}&y={y}&z={z}")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://tiles.local/{x}/{y}.png", r"lacks \{z\}"),
        ("http://tiles.local/tile.png", r"lacks \{z\}, \{x\}, \{y\}"),
        ("javascript:alert(1)//{z}/{x}/{y}", "only http"),
        ("data:text/html,{z}{x}{y}", "only http"),
        ("", "give a tile URL template"),
    ],
)
def test_a_bad_tile_url_says_what_is_wrong(url: str, why: str) -> None:
    with pytest.raises(ConfigError, match=f"--tiles = .*{why}"):
        check_tile_url(url, where="--tiles")


def test_tms_and_relative_urls_are_tile_urls() -> None:
    assert check_tile_url(TENCENT, where="x") == TENCENT
    assert check_tile_url(" tiles/{z}/{x}/{y}.png ", where="x") == "tiles/{z}/{x}/{y}.png"
    assert check_tile_crs("WGS84", where="x") == "wgs84"


def test_known_providers_get_their_credit_and_subdomains(demo: AuditResult) -> None:
    source = tile_source(demo, url=AMAP)
    assert source == {
        "url": AMAP,
        "attribution": "© 高德地图 AutoNavi",
        "crs": "gcj02",
        "subdomains": "1234",
    }
    own = tile_source(demo, url=TENCENT, attribution="内网", subdomains="01")
    assert own["attribution"] == "内网" and own["subdomains"] == "01"
    assert tile_source(demo)["url"] is None  # the demo case has no [map]


# ---- the case file's [map] -------------------------------------------------------------------


def _case_with(tmp_path: Path, table: str) -> Path:
    path = write_case(tmp_path)
    path.write_text(path.read_text("utf-8") + "\n[map]\n" + table, encoding="utf-8")
    return path


def test_the_case_file_sets_the_tile_server(tmp_path: Path) -> None:
    path = _case_with(
        tmp_path,
        f'tiles = "{TIANDITU}"\nattribution = "天地图 · 某区自然资源局"\ncrs = "wgs84"\n',
    )
    case = Case.from_config(path)
    assert case.map_options == {
        "tiles": TIANDITU,
        "attribution": "天地图 · 某区自然资源局",
        "crs": "wgs84",
    }
    result = audit_case(case)
    assert result.provenance["map"] == case.map_options
    text = audit_map(result).get_root().render()
    assert json.dumps(TIANDITU) in text
    assert "天地图 · 某区自然资源局 · © OpenStreetMap contributors" in text


def test_a_hostile_tile_url_in_the_case_file_stays_data(tmp_path: Path) -> None:
    url = "http://t.local/{z}/{x}/{y}.png?{{7*7}}</script><script>window.__pwned=1</script>"
    path = _case_with(tmp_path, f"tiles = '{url}'\nattribution = '{{{{ 7*191 }}}}'\n")
    text = save_map(audit_case(Case.from_config(path)), tmp_path / "m.html").read_text("utf-8")
    assert "window.__pwned=1</script>" not in text  # never closes the script
    assert url.replace("</", "<\\/") in text  # the URL, verbatim, as a JSON string
    assert "{{ 7*191 }} · © OpenStreetMap contributors" in text
    assert "1337 · ©" not in text


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('tiles = "http://x/{z}/{x}.png"\n', r"\[map\] tiles = .*lacks \{y\}"),
        ('tiles = "http://x/{z}/{x}/{y}.png"\ncrs = "bd09"\n', r"\[map\] crs = 'bd09'"),
        ('attribution = "局"\n', r"\[map\] attribution without 'tiles'"),
        ('tiles = "http://x/{z}/{x}/{y}.png"\nzoom = 3\n', r"\[map\]: unknown key\(s\) 'zoom'"),
        ("tiles = 3\n", r"\[map\] tiles = 3"),
    ],
)
def test_a_bad_map_table_is_refused(tmp_path: Path, table: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Case.from_config(_case_with(tmp_path, table))


# ---- the GCJ-02 shift ------------------------------------------------------------------------


def test_shift_frame_moves_points_to_the_published_gcj02_coordinates() -> None:
    import geopandas as gpd

    frame = gpd.GeoDataFrame(geometry=[shapely.Point(w) for w, _ in PUBLISHED], crs="EPSG:4326")
    moved = shift_frame(frame)
    for (_, gcj), point in zip(PUBLISHED, moved.geometry, strict=True):
        assert point.x == pytest.approx(gcj[0], abs=1e-9)
        assert point.y == pytest.approx(gcj[1], abs=1e-9)
    assert frame.geometry.iloc[0].x == PUBLISHED[0][0][0]  # the input is not changed
    west, south, east, north = shift_bounds((*PUBLISHED[1][0], *PUBLISHED[0][0]))
    assert (west, south) == pytest.approx(PUBLISHED[1][1], abs=1e-9)
    assert (east, north) == pytest.approx(PUBLISHED[0][1], abs=1e-9)


def _moved_services(demo: AuditResult) -> AuditResult:
    services = demo.services.copy()
    shops = services.index[services["category"] == "shopping"][: len(PUBLISHED)]
    for row, (wgs, _) in zip(shops, PUBLISHED, strict=True):
        services.loc[row, "geometry"] = shapely.Point(wgs)
    return dataclasses.replace(demo, services=services)


def test_on_gcj02_tiles_every_layer_is_drawn_in_gcj02(demo: AuditResult) -> None:
    moved = _moved_services(demo)
    plain = audit_map(moved, simplify_m=0).get_root().render()
    gcj = audit_map(moved, tiles_url=AMAP, simplify_m=0).get_root().render()
    # services: the published points
    drawn = {tuple(p) for p in np.round(poi_coordinates(gcj), 5)}
    for _, (lon, lat) in PUBLISHED:
        assert (round(lon, 5), round(lat, 5)) in drawn
    # the other services and every community vertex: WGS-84 moved by the transform
    before = poi_coordinates(plain)
    after = poi_coordinates(gcj)
    lon, lat = wgs84_to_gcj02(before[:, 0], before[:, 1])
    far = np.hypot(np.sort(after[:, 0]) - np.sort(lon), np.sort(after[:, 1]) - np.sort(lat))
    assert far.max() < 2e-5
    data_plain, data_gcj = script_json(plain, "sc_data"), script_json(gcj, "sc_data")
    assert isinstance(data_plain, dict) and isinstance(data_gcj, dict)
    a = np.cumsum(np.array(data_plain["community"][0]["g"][0][0]).reshape(-1, 2), axis=0) / 1e6
    b = np.cumsum(np.array(data_gcj["community"][0]["g"][0][0]).reshape(-1, 2), axis=0) / 1e6
    lon, lat = wgs84_to_gcj02(a[:, 0], a[:, 1])
    assert np.abs(b[:, 0] - lon).max() < 2e-6 and np.abs(b[:, 1] - lat).max() < 2e-6
    assert np.hypot(*(b - a).T).min() > 1e-3  # hundreds of metres in Chengdu
    # labels, walking-time images and the offline base map move too
    names_plain, names_gcj = script_json(plain, "sc_names"), script_json(gcj, "sc_names")
    assert isinstance(names_plain, dict) and isinstance(names_gcj, dict)
    la, lb = names_plain["community"][0][1:], names_gcj["community"][0][1:]
    assert lb == pytest.approx(list(wgs84_to_gcj02(*la)), abs=2e-5)
    ta, tb = script_json(plain, "sc_time"), script_json(gcj, "sc_time")
    assert isinstance(ta, list) and isinstance(tb, list)
    assert tb[0]["b"] == pytest.approx(list(shift_bounds(tuple(ta[0]["b"]))), abs=1e-6)
    ba, bb = script_json(plain, "sc_basemap"), script_json(gcj, "sc_basemap")
    assert isinstance(ba, dict) and isinstance(bb, dict)
    lab_a, lab_b = ba["labels"][0], bb["labels"][0]
    gx, gy = wgs84_to_gcj02(lab_a[0] / 1e5, lab_a[1] / 1e5)
    assert (lab_b[0] / 1e5, lab_b[1] / 1e5) == pytest.approx((gx, gy), abs=2e-5)
    # and the tiles are the default base map, credited
    assert json.dumps(AMAP) in gcj
    assert "© 高德地图 AutoNavi · © OpenStreetMap contributors" in gcj
    # the audit itself is untouched
    assert moved.services.geometry.iloc[0].equals(_moved_services(demo).services.geometry.iloc[0])


def test_wgs84_tiles_shift_nothing(demo: AuditResult) -> None:
    plain = audit_map(demo).get_root().render()
    tianditu = audit_map(demo, tiles_url=TIANDITU).get_root().render()
    np.testing.assert_array_equal(poi_coordinates(plain), poi_coordinates(tianditu))


def test_a_hostile_attribution_stays_text(demo: AuditResult, tmp_path: Path) -> None:
    evil = '<img src=x onerror="window.__pwned=1">{{7*7}}'
    text = save_map(
        demo,
        tmp_path / "m.html",
        tiles_url="http://t.local/{z}/{x}/{y}.png",
        tiles_attribution=evil,
    ).read_text("utf-8")
    assert "<img src=x" not in text
    assert "&lt;img src=x onerror=&quot;window.__pwned=1&quot;&gt;{{7*7}}" in text


# ---- the command line ------------------------------------------------------------------------


def test_cli_tiles_reach_the_map(tmp_path: Path) -> None:
    url = "http://tiles.bureau.local/{z}/{x}/{y}.png"
    result = CliRunner().invoke(
        app,
        ["demo", "--out", str(tmp_path / "out"), "--outputs", "map", "--quiet", "--tiles", url],
    )
    assert result.exit_code == 0, result.output
    text = (tmp_path / "out" / "map.html").read_text("utf-8")
    assert json.dumps(url) in text
    summary = json.loads((tmp_path / "out" / "summary.json").read_text("utf-8"))
    assert summary["provenance"]["map"] == {"tiles": url}


def test_cli_gcj02_tiles_shift_the_map(tmp_path: Path) -> None:
    url = "http://tiles.bureau.local/{z}/{x}/{y}.png"
    args = ["demo", "--out", str(tmp_path / "o"), "--outputs", "map", "--quiet", "--tiles", url]
    plain = CliRunner().invoke(app, args)
    assert plain.exit_code == 0, plain.output
    before = poi_coordinates((tmp_path / "o" / "map.html").read_text("utf-8"))
    shifted = CliRunner().invoke(app, [*args, "--tiles-crs", "gcj02"])
    assert shifted.exit_code == 0, shifted.output
    after = poi_coordinates((tmp_path / "o" / "map.html").read_text("utf-8"))
    lon, lat = wgs84_to_gcj02(before[:, 0], before[:, 1])
    assert np.abs(np.sort(after[:, 0]) - np.sort(lon)).max() < 2e-5
    assert np.abs(np.sort(after[:, 1]) - np.sort(lat)).max() < 2e-5


def test_cli_refuses_a_bad_tile_url(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["demo", "--out", str(tmp_path / "o"), "--tiles", "http://x/tile.png"]
    )
    assert result.exit_code == 2
    assert re.search(r"lacks \{z\}, \{x\}, \{y\}", result.output)
