"""Service POIs, buildings and land use read from real and hand-made OSM files."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import geopandas as gpd
import pytest

from coverage.categories import CATEGORIES, load_category_map
from coverage.errors import DataError
from coverage.osm_features import read_osm_buildings, read_osm_landuse, read_osm_services

BEIJING = Path(__file__).parent / "data" / "osm" / "beijing-haidian-cau.osm.bz2"


@pytest.fixture(scope="module")
def services() -> gpd.GeoDataFrame:
    return read_osm_services(BEIJING).set_index("service_id", drop=False)


# What a person reading the Beijing extract would call these objects (id, name, category).
BEIJING_EXPECTED = [
    ("n1785669301", "中国农业大学东校区幼儿园", "kindergarten"),
    ("w167304641", "中国农业大学附属实验小学", "primary_school"),
    ("w1393226242", "北京石油学院附属小学(月华分校)", "primary_school"),
    ("w167169164", "中国农业大学东区社区卫生服务中心", "clinic"),  # amenity=hospital
    ("n5770454055", "近邻宝", "express"),  # a parcel-locker brand, tagged post_office
    ("n4505490788", "中国联通", "telecom"),
    ("n10707024844", "物美", "supermarket"),
    ("n1785717574", "", "laundry"),
    ("n1785670165", "", "pharmacy"),
    ("n8057418630", "同仁堂", "pharmacy"),
    ("n1785670624", "", "fresh_market"),  # amenity=marketplace
    ("n1787479971", "", "fresh_market"),  # shop=greengrocer
    ("w595098640", "社区健身器材", "exercise_point"),  # tagged leisure=sports_centre
    ("w247351546", "矿大体育场", "sports_ground"),
    ("w595098643", "畅乐园", "park"),
    ("n1372364012", "肯德基", "catering"),
    ("n9100397732", "优享健身", "exercise_point"),
    ("n1785670022", "", "hairdresser"),
    ("n1785606323", "", "convenience_store"),
]


@pytest.mark.parametrize(("sid", "name", "category"), BEIJING_EXPECTED)
def test_beijing_pois_get_the_categories_a_reader_would_give(
    services: gpd.GeoDataFrame, sid: str, name: str, category: str
) -> None:
    row = services.loc[sid]
    assert row["name"] == name
    assert row["category"] == category


def test_beijing_secondary_categories(services: gpd.GeoDataFrame) -> None:
    assert services.loc["n10707024844", "categories"] == "supermarket;shopping;general_supermarket"
    assert services.loc["n1787511636", "categories"] == "convenience_store;shopping;hairdresser"
    assert "exercise_point" in services.loc["w247351546", "categories"].split(";")


def test_beijing_not_services(services: gpd.GeoDataFrame) -> None:
    # universities, a middle school, banks, research offices serve none of the categories
    for sid in ("w55816439", "w365816824", "n1785706317", "w594899438", "w412323508"):
        assert sid not in services.index


def test_services_schema(services: gpd.GeoDataFrame) -> None:
    assert list(services.columns[:7]) == [
        "service_id", "name", "category", "categories", "area_m2", "windows", "osm_tags",
    ]  # fmt: skip
    assert services.crs.to_epsg() == 4326
    assert services.service_id.is_unique
    assert set(services.category) <= set(CATEGORIES)
    kinds = services.geometry.geom_type
    assert kinds.isin(["Point", "Polygon", "MultiPolygon"]).all()
    # an object mapped as an area keeps its polygon; nodes and open ways become points
    assert (kinds[services.area_m2.notna()] != "Point").all()
    assert (kinds[services.area_m2.isna()] == "Point").all()
    minx, miny, maxx, maxy = services.total_bounds
    assert 116.3 < minx < maxx < 116.4 and 39.9 < miny < maxy < 40.1
    nodes = services[services.service_id.str.startswith("n")]
    assert nodes.area_m2.isna().all()
    assert services.windows.isna().all()
    tags = json.loads(services.loc["n10707024844", "osm_tags"])
    assert tags["shop"] == "supermarket" and tags["name"] == "物美"


def test_polygon_areas_are_metric(services: gpd.GeoDataFrame) -> None:
    # the running track of the mining university's stadium: a standard 400 m track field
    # covers roughly 1.5-2.5 ha
    stadium = services.loc["w247351546"]
    assert 8_000 < stadium.area_m2 < 40_000
    pitches = services[services.osm_tags.str.contains('"leisure": "pitch"')]
    assert (pitches.area_m2 > 100).all()


def test_areas_as_points_on_request() -> None:
    kept = read_osm_services(BEIJING).set_index("service_id")
    points = read_osm_services(BEIJING, keep_areas=False).set_index("service_id")
    assert (points.geometry.geom_type == "Point").all()
    assert points.index.equals(kept.index)
    # the point lies on its polygon's surface, and the area is kept
    areas = kept.area_m2.notna()
    assert areas.sum() > 10
    assert points.geometry[areas].within(kept.geometry[areas]).all()
    assert points.area_m2.equals(kept.area_m2)


def test_custom_category_map(tmp_path: Path) -> None:
    extra = tmp_path / "extra.yaml"
    extra.write_text(
        "osm_tags:\n  - tags: {amenity: [bank]}\n    categories: [shopping]\n", encoding="utf-8"
    )
    s = read_osm_services(BEIJING, category_map=load_category_map(extra))
    assert "n1785706317" in set(s.service_id)


def test_buildings() -> None:
    b = read_osm_buildings(BEIJING)
    assert len(b) > 200
    assert b.building_id.is_unique
    assert set(b.columns) >= {"building_id", "building", "levels", "name", "area_m2", "geometry"}
    assert b.geom_type.isin(["Polygon", "MultiPolygon"]).all()
    assert (b.area_m2 > 0).all()
    assert b.levels.isna().any()  # most buildings have no building:levels
    known = b.levels.dropna()
    assert len(known) > 0 and (known > 0).all()
    assert (b.building == "residential").sum() > 10


def test_landuse() -> None:
    r = read_osm_landuse(BEIJING)
    assert len(r) > 0 and (r.landuse == "residential").all()
    assert r.geom_type.isin(["Polygon", "MultiPolygon"]).all()
    both = read_osm_landuse(BEIJING, values=("residential", "commercial", "education"))
    assert len(both) >= len(r)


CLIPPED = """<?xml version='1.0' encoding='UTF-8'?>
<osm version="0.6" generator="hand">
  <bounds minlat="30.0" minlon="114.0" maxlat="30.01" maxlon="114.01"/>
  <node id="1" lat="30.001" lon="114.001"/>
  <node id="2" lat="30.001" lon="114.002"/>
  <node id="3" lat="30.002" lon="114.002"/>
  <node id="4" lat="30.002" lon="114.001"/>
  <node id="5" lat="30.005" lon="114.005">
    <tag k="amenity" v="pharmacy"/><tag k="name" v="大药房"/></node>
  <way id="10"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="4"/><nd ref="1"/>
    <tag k="leisure" v="park"/><tag k="name" v="小公园"/></way>
  <way id="11"><nd ref="1"/><nd ref="2"/><nd ref="99"/><nd ref="98"/><nd ref="1"/>
    <tag k="leisure" v="pitch"/></way>
  <way id="12"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="4"/><nd ref="1"/>
    <tag k="building" v="apartments"/><tag k="building:levels" v="18"/></way>
  <way id="13"><nd ref="3"/><nd ref="97"/><nd ref="96"/><nd ref="3"/>
    <tag k="building" v="residential"/></way>
  <way id="14"><nd ref="1"/><nd ref="95"/><nd ref="94"/><nd ref="1"/>
    <tag k="landuse" v="residential"/></way>
</osm>
"""


def test_clipped_extract_skips_and_counts(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "clipped.osm"
    path.write_text(CLIPPED, encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="coverage.osm_features"):
        s = read_osm_services(path)
    assert list(s.service_id) == ["n5", "w10"]
    assert list(s.category) == ["pharmacy", "park"]
    # ~96 m x ~111 m
    assert 9_000 < s.set_index("service_id").loc["w10", "area_m2"] < 12_500
    assert "1 area(s) could not be built" in caplog.text and "w11" in caplog.text

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="coverage.osm_features"):
        b = read_osm_buildings(path)
    assert list(b.building_id) == ["w12"]
    assert b.levels.iloc[0] == 18.0
    assert "w13" in caplog.text
    assert read_osm_landuse(path).empty


def test_bad_paths(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        read_osm_services(tmp_path / "missing.osm.pbf")
    other = tmp_path / "data.csv"
    other.write_text("a,b\n", encoding="utf-8")
    with pytest.raises(DataError, match="not an OSM file"):
        read_osm_buildings(other)
    broken = tmp_path / "broken.osm"
    broken.write_text("<osm><node id='1' lat=", encoding="utf-8")
    with pytest.raises(DataError, match=r"broken\.osm"):
        read_osm_services(broken)


def test_levels_parsing() -> None:
    from coverage.osm_features import _parse_levels

    assert _parse_levels("6") == 6.0
    assert _parse_levels("3;5") == 5.0
    assert _parse_levels("2.5") == 2.5
    assert math.isnan(_parse_levels(None))
    assert math.isnan(_parse_levels("many"))
