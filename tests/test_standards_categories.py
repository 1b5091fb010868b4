"""The categories the national fitness, 完整居住社区, GB 50180 green and SDG 11.7.1 packs need,
on real POIs of the test extracts (tests/data/osm, © OpenStreetMap contributors, ODbL)."""

from __future__ import annotations

import geopandas as gpd
import pytest

from coverage.categories import CATEGORIES, category_label, load_category_map
from coverage.osm_features import read_osm_services

NEW = (
    "nursery",
    "elderly_service_station",
    "community_health_station",
    "general_supermarket",
    "fitness_facility",
    "football_pitch",
    "open_public_space",
    "public_green",
    "activity_ground",
)


@pytest.fixture(scope="module")
def beijing() -> gpd.GeoDataFrame:
    return read_osm_services("tests/data/osm/beijing-haidian-cau.osm.bz2").set_index("service_id")


@pytest.fixture(scope="module")
def chengdu() -> gpd.GeoDataFrame:
    return read_osm_services("tests/data/osm/chengdu-center.osm.bz2").set_index("service_id")


def test_new_categories_have_labels() -> None:
    for cat in NEW:
        assert cat in CATEGORIES
        assert category_label(cat, "zh") and category_label(cat, "en")
    assert category_label("football_pitch", "zh") == "足球场地"


@pytest.mark.parametrize(
    ("city", "sid", "name", "wanted"),
    [
        ("beijing", "w167169164", "中国农业大学东区社区卫生服务中心", "community_health_station"),
        ("beijing", "n10707024844", "物美", "general_supermarket"),
        ("beijing", "n9100397732", "优享健身", "fitness_facility"),
        ("beijing", "w595098640", "社区健身器材", "fitness_facility"),
        ("beijing", "w595098643", "畅乐园", "open_public_space"),
        ("beijing", "w595098643", "畅乐园", "public_green"),
        ("beijing", "w552083646", "", "football_pitch"),
        ("chengdu", "w103295076", "人民公园", "open_public_space"),
        ("chengdu", "w113812098", "中山广场", "activity_ground"),
        ("chengdu", "n1695929995", "喔喔超市", "general_supermarket"),
        ("chengdu", "n1445504994", "省体育馆", "fitness_facility"),
        ("chengdu", "w239428437", "", "nursery"),
    ],
)
def test_real_pois_serve_the_new_categories(
    request: pytest.FixtureRequest, city: str, sid: str, name: str, wanted: str
) -> None:
    services = request.getfixturevalue(city)
    row = services.loc[sid]
    assert row["name"] == name
    assert wanted in row["categories"].split(";")


def test_new_categories_never_change_a_primary_category(
    beijing: gpd.GeoDataFrame, chengdu: gpd.GeoDataFrame
) -> None:
    # they come after the older ones, so that audits under the older packs do not move
    for services in (beijing, chengdu):
        assert not services["category"].isin(NEW).any()


def test_football_needs_soccer_and_squares_are_not_green() -> None:
    cmap = load_category_map()
    assert "football_pitch" not in cmap.classify_osm_tags_all(
        {"leisure": "pitch", "sport": "tennis"}
    )
    assert "football_pitch" in cmap.classify_osm_tags_all({"leisure": "pitch", "sport": "soccer"})
    square = cmap.classify_osm_tags_all({"place": "square"})
    assert "open_public_space" in square and "public_green" not in square
    assert "football_pitch" in cmap.classify_osm_tags_all({"name": "小足球场"})


@pytest.mark.parametrize(
    ("name", "wanted"),
    [
        ("阳光托育中心", "nursery"),
        ("水果湖街道老年服务站", "elderly_service_station"),
        ("中南路社区卫生服务站", "community_health_station"),
    ],
)
def test_names_of_the_kit(name: str, wanted: str) -> None:
    assert wanted in load_category_map().classify_osm_tags_all({"name": name})


@pytest.mark.parametrize(
    ("code", "wanted"),
    [("060400", "general_supermarket"), ("080105", "football_pitch"), ("110101", "public_green")],
)
def test_amap_codes_of_the_new_categories(code: str, wanted: str) -> None:
    assert wanted in load_category_map().classify_amap_all(code, None)
