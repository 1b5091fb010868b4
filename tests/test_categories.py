"""The category mapping: shipped YAML, classification rules, user overrides and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from coverage.categories import (
    CATEGORIES,
    CategoryMap,
    category_label,
    load_category_map,
    tags_from_columns,
)
from coverage.errors import DataError


@pytest.fixture(scope="module")
def cmap() -> CategoryMap:
    return load_category_map()


def test_categories_are_the_agreed_tuple() -> None:
    assert CATEGORIES == (
        "shopping", "housekeeping", "catering", "express", "repair", "power", "water",
        "telecom", "government_service_centre", "community_service_centre", "exercise_point",
        "sports_ground", "convenience_store", "breakfast", "pharmacy", "laundry", "hairdresser",
        "fresh_market", "supermarket", "primary_school", "kindergarten", "clinic",
        "elderly_care", "park", "nursery", "elderly_service_station",
        "community_health_station", "general_supermarket", "fitness_facility", "football_pitch",
        "open_public_space", "public_green", "activity_ground",
    )  # fmt: skip


def test_every_category_has_both_labels() -> None:
    assert category_label("shopping") == "购物"
    assert category_label("shopping", "en") == "Shopping"
    for cat in CATEGORIES:
        assert category_label(cat, "zh")
        assert category_label(cat, "en")
    with pytest.raises(ValueError, match="unknown category"):
        category_label("bakery")
    with pytest.raises(ValueError, match="lang"):
        category_label("park", "fr")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"shop": "supermarket"}, ["supermarket", "shopping", "general_supermarket"]),
        ({"shop": "convenience"}, ["convenience_store", "shopping"]),
        ({"shop": "mall"}, ["shopping"]),
        ({"shop": "bakery"}, ["shopping"]),
        ({"amenity": "restaurant"}, ["catering"]),
        ({"amenity": "fast_food", "name": "早餐店"}, ["breakfast", "catering"]),
        ({"amenity": "parcel_locker"}, ["express"]),
        ({"amenity": "post_office"}, ["express"]),
        ({"shop": "laundry"}, ["laundry", "housekeeping"]),
        ({"shop": "car_repair"}, ["repair"]),
        ({"craft": "shoemaker"}, ["repair"]),
        ({"office": "energy_supplier"}, ["power"]),
        ({"office": "water_utility"}, ["water"]),
        ({"office": "telecommunication"}, ["telecom"]),
        ({"leisure": "fitness_station"}, ["exercise_point", "fitness_facility"]),
        ({"leisure": "pitch"}, ["sports_ground", "exercise_point", "fitness_facility"]),
        ({"amenity": "marketplace"}, ["fresh_market", "shopping"]),
        ({"amenity": "pharmacy"}, ["pharmacy"]),
        ({"shop": "hairdresser"}, ["hairdresser"]),
        ({"amenity": "kindergarten"}, ["kindergarten"]),
        ({"amenity": "clinic"}, ["clinic"]),
        ({"amenity": "nursing_home"}, ["elderly_care"]),
        ({"leisure": "park"}, ["park", "exercise_point", "open_public_space", "public_green"]),
        ({"amenity": "school", "isced:level": "1"}, ["primary_school"]),
        ({"amenity": "school", "name": "武汉市育才小学"}, ["primary_school"]),
        ({"amenity": "school", "name": "武汉市第六中学"}, []),
        ({"amenity": "university"}, []),
        ({"highway": "footway"}, []),
        ({}, []),
    ],
)
def test_osm_tags(cmap: CategoryMap, tags: dict[str, str], expected: list[str]) -> None:
    assert cmap.classify_osm_tags_all(tags) == expected
    assert cmap.classify_osm_tags(tags) == (expected[0] if expected else None)


@pytest.mark.parametrize(
    ("name", "primary"),
    [
        ("江汉区政务服务中心", "government_service_centre"),
        ("民族街道办事处", "government_service_centre"),
        ("花楼水塔社区党群服务中心", "community_service_centre"),
        ("某某社区居委会", "community_service_centre"),
        ("菜鸟驿站(华中里店)", "express"),
        ("丰巢快递柜", "express"),
        ("国网武汉供电营业厅", "power"),
        ("武汉市自来水营业厅", "water"),
        ("中国移动营业厅(解放大道店)", "telecom"),
        ("好帮手家政", "housekeeping"),
        ("老张家电维修", "repair"),
        ("江滩晨练点", "exercise_point"),
        ("社区卫生服务中心", "clinic"),
        ("幸福养老院", "elderly_care"),
    ],
)
def test_names_win_over_tags(cmap: CategoryMap, name: str, primary: str) -> None:
    # a vague or misleading tag: the Chinese name is more specific
    assert cmap.classify_osm_tags({"amenity": "cafe", "name": name}) == primary
    assert cmap.classify_amap("070000", name) == primary


def test_multi_valued_tags_and_name_zh(cmap: CategoryMap) -> None:
    assert cmap.classify_osm_tags_all({"shop": "convenience;hairdresser"}) == [
        "convenience_store",
        "shopping",
        "hairdresser",
    ]
    assert cmap.classify_osm_tags({"office": "yes", "name:zh": "党群服务中心"}) == (
        "community_service_centre"
    )
    with pytest.raises(TypeError):
        cmap.classify_osm_tags(["shop"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("050100", ["catering"]),
        ("060400", ["supermarket", "shopping", "general_supermarket"]),
        ("060200", ["convenience_store", "shopping"]),
        ("061100", ["shopping"]),
        ("070500", ["express"]),
        ("070401", ["express"]),
        ("070600", ["telecom"]),
        ("070900", ["water"]),
        ("071000", ["power"]),
        ("071100", ["hairdresser"]),
        ("071500", ["laundry", "housekeeping"]),
        ("090300", ["clinic"]),
        ("090601", ["pharmacy"]),
        ("110101", ["park", "exercise_point", "open_public_space", "public_green"]),
        ("141203", ["primary_school"]),
        ("141204", ["kindergarten"]),
        ("141202", []),
        ("150000", []),
        (None, []),
        ("", []),
        (
            "60400",
            ["supermarket", "shopping", "general_supermarket"],
        ),  # leading zero lost in a spreadsheet
        ("050000|060400", ["catering", "supermarket", "shopping", "general_supermarket"]),
    ],
)
def test_amap_codes(cmap: CategoryMap, code: str | None, expected: list[str]) -> None:
    assert cmap.classify_amap_all(code, None) == expected
    assert cmap.classify_amap(code, None) == (expected[0] if expected else None)


def test_amap_name_before_code(cmap: CategoryMap) -> None:
    assert cmap.classify_amap_all("060000", "某某菜市场") == ["fresh_market", "shopping"]
    assert cmap.classify_amap("130000", "某某街道便民服务中心") == "government_service_centre"


def test_extra_yaml_extends_and_overrides(tmp_path: Path) -> None:
    extra = tmp_path / "mine.yaml"
    extra.write_text(
        """
categories:
  park: {en: Public park}
names:
  - any: [社区书屋]
    categories: [community_service_centre]
osm_tags:
  - tags: {amenity: [cafe]}
    categories: [breakfast, catering]
amap:
  "0503": [breakfast, catering]
""",
        encoding="utf-8",
    )
    cmap = load_category_map(extra)
    assert cmap.label("park", lang="en") == "Public park"
    assert cmap.label("park", lang="zh") == "公园"
    assert cmap.classify_osm_tags({"amenity": "library", "name": "花楼社区书屋"}) == (
        "community_service_centre"
    )
    assert cmap.classify_osm_tags({"amenity": "cafe"}) == "breakfast"
    assert cmap.classify_osm_tags({"shop": "supermarket"}) == "supermarket"  # shipped rule kept
    assert cmap.classify_amap("050300", None) == "breakfast"
    assert cmap.classify_amap("050100", None) == "catering"
    assert str(extra) in cmap.sources
    # the shipped map is unchanged
    assert load_category_map().classify_osm_tags({"amenity": "cafe"}) == "catering"


def test_replace_rules(tmp_path: Path) -> None:
    extra = tmp_path / "only.yaml"
    extra.write_text(
        "replace_rules: true\nosm_tags:\n  - tags: {shop: '*'}\n    categories: [shopping]\n",
        encoding="utf-8",
    )
    cmap = load_category_map(extra)
    assert cmap.classify_osm_tags_all({"shop": "supermarket"}) == ["shopping"]
    assert cmap.classify_osm_tags({"amenity": "pharmacy"}) is None


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("categories:\n  bakery: {zh: 面包, en: Bakery}\n", r"categories\.bakery"),
        (
            "names:\n  - any: [面包]\n    categories: [bakery]\n",
            r"names\[0\]\.categories.*'bakery'",
        ),
        ("names:\n  - categories: [park]\n", r"names\[0\]: a name rule needs 'any'"),
        ("osm_tags:\n  - tags: {}\n    categories: [park]\n", r"osm_tags\[0\]\.tags"),
        (
            "osm_tags:\n  - tags: {shop: [x]}\n    categories: [park]\n    when: 1\n",
            r"osm_tags\[0\].*when",
        ),
        ("amap:\n  '060': [shopping]\n", r"amap\.060"),
        ("amap:\n  0604: [shopping]\n", r"amap\.388"),
        ("version: 2\n", "version"),
        ("colours: {}\n", "colours"),
        ("- a\n- b\n", "top level"),
        ("names: [\n", "YAML"),
    ],
)
def test_bad_extra_names_file_and_key(tmp_path: Path, text: str, match: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=match) as info:
        load_category_map(bad)
    assert "bad.yaml" in str(info.value)


def test_missing_extra_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        load_category_map(tmp_path / "nope.yaml")


# ------------------------------------------------------------------ tags from table columns


def test_tags_from_columns_reads_key_value_pairs() -> None:
    tags = tags_from_columns({"类型": "amenity=restaurant", "名称": "川味小馆"})
    assert tags["amenity"] == "restaurant"
    several = tags_from_columns({"tags": "amenity=cafe;cuisine=chinese;japanese"})
    assert several["amenity"] == "cafe"
    assert several["cuisine"] == "chinese;japanese"  # OSM's own ";" lists stay whole
    # GDAL's other_tags column of an OSM layer
    gdal = tags_from_columns({"other_tags": '"amenity"=>"pharmacy","opening_hours"=>"24/7"'})
    assert gdal["amenity"] == "pharmacy"
    # a tag that is a column of its own keeps the column's value
    assert tags_from_columns({"amenity": "clinic", "x": "amenity=bank"})["amenity"] == "clinic"
    # text that merely contains "=" is not a list of tags
    assert set(tags_from_columns({"note": "门牌=12号 旁边"})) == {"note"}
    # empty cells are no tags
    assert tags_from_columns({"a": None, "b": float("nan"), "c": "  "}) == {}


def test_tags_from_columns_uses_the_name_column(cmap: CategoryMap) -> None:
    row = {"名称": "幸福菜市场", "name": "Xingfu"}
    assert tags_from_columns(row, name_column="名称")["name"] == "幸福菜市场"
    assert cmap.classify_osm_tags(tags_from_columns(row, name_column="名称")) == "fresh_market"
    assert cmap.classify_osm_tags(
        tags_from_columns({"名称": "启蒙星幼儿园"}, name_column="名称")
    ) == ("kindergarten")
    assert cmap.classify_osm_tags(tags_from_columns({"类型": "amenity=restaurant"})) == "catering"
