"""Case: TOML configuration, frames in memory, provenance, validation and description."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
from shapely.geometry import Point, box

from coverage.case import DEFAULT_MAX_SNAP_M, Case
from coverage.crs import gcj02_to_wgs84
from coverage.errors import ConfigError, DataError
from coverage.load import ValidationReport

STREETS = gpd.GeoDataFrame(
    {"code": ["420103001", "420103002"], "name": ["民族街道", "花楼街道"]},
    geometry=[box(114.30, 30.50, 114.31, 30.51), box(114.31, 30.50, 114.32, 30.51)],
    crs=4490,
)
COMMUNITIES = gpd.GeoDataFrame(
    {
        "cid": ["001", "002", "003"],
        "cname": ["江汉社区", "友谊社区", "前进社区"],
        "pop": [3200, 4100, 0],
    },
    geometry=[
        box(114.301, 30.501, 114.305, 30.505),
        box(114.305, 30.501, 114.309, 30.505),
        box(114.311, 30.501, 114.319, 30.509),
    ],
    crs=4490,
)
POIS_GBK = (
    "id,名称,category,lng,lat\n"
    "1,江汉卫生服务中心,clinic,114.306,30.503\n"
    "2,花楼幼儿园,kindergarten,114.315,30.505\n"
    "3,远处超市,supermarket,114.50,30.70\n"
)


def write_case(tmp_path: Path, toml: str | None = None) -> Path:
    STREETS.to_file(tmp_path / "streets.geojson")
    COMMUNITIES.to_file(tmp_path / "communities.gpkg", layer="communities")
    (tmp_path / "pois.csv").write_bytes(POIS_GBK.encode("gbk"))
    (tmp_path / "area.osm").write_text("<osm version='0.6'/>", encoding="utf-8")
    (tmp_path / "pop.csv").write_text("x,y,people\n114.302,30.502,40\n", encoding="utf-8")
    config = tmp_path / "case.toml"
    config.write_text(toml if toml is not None else CONFIG, encoding="utf-8")
    return config


CONFIG = """
[case]
name = "江汉 test"
pack = "wuhan-1plus10"
walk_speed_kmh = 4.5
max_snap_m = 200

[network]
osm = "area.osm"

[streets]
path = "streets.geojson"
id = "code"
name = "name"

[communities]
path = "communities.gpkg"
layer = "communities"
id = "cid"
name = "cname"
population = "pop"

[services]
path = "pois.csv"
encoding = "auto"
lon = "lng"
lat = "lat"
coordinate_system = "gcj02"
id = "id"
name = "名称"
category = "category"

[residents]
grid_m = 50
points = { path = "pop.csv", population = "people", lon = "x", lat = "y" }
"""


def test_from_config(tmp_path: Path) -> None:
    config = write_case(tmp_path)
    case = Case.from_config(config)
    assert case.name == "江汉 test"
    assert case.pack == "wuhan-1plus10"
    assert case.walk_speed_kmh == 4.5
    assert case.max_snap_m == 200.0
    assert case.osm_path == (tmp_path / "area.osm").resolve()
    assert case.config_path == config.resolve()
    assert case.streets.crs.to_epsg() == 4326
    assert case.communities["street_id"].tolist() == ["420103001", "420103001", "420103002"]
    assert case.services["name"].tolist() == ["江汉卫生服务中心", "花楼幼儿园", "远处超市"]
    lon, lat = gcj02_to_wgs84(114.306, 30.503)
    assert case.services.geometry.iloc[0].x == pytest.approx(lon)
    assert case.services.geometry.iloc[0].y == pytest.approx(lat)
    assert case.residents["grid_m"] == 50.0
    assert case.residents["points"] == (tmp_path / "pop.csv").resolve()
    assert case.origins is not None
    assert case.origins["community_id"].tolist() == ["001"]
    # provenance: every input file with the sha256 of its contents
    pois = str((tmp_path / "pois.csv").resolve())
    assert case.sources[pois] == hashlib.sha256(POIS_GBK.encode("gbk")).hexdigest()
    assert str(config.resolve()) in case.sources
    assert str((tmp_path / "area.osm").resolve()) in case.sources
    # findings: community 003 has no residents, service 3 lies outside every street
    messages = [f.message for f in case.findings]
    assert any("community 003 has no residents" in m for m in messages)
    assert any("outside every street" in m for m in messages)
    assert all(f.severity == "warning" for f in case.findings)
    with pytest.raises(dataclasses.FrozenInstanceError):
        case.name = "other"  # type: ignore[misc]


def test_validate_and_describe(tmp_path: Path) -> None:
    case = Case.from_config(write_case(tmp_path))
    report = case.validate()
    assert isinstance(report, ValidationReport)
    assert report.ok
    # no duplicates between load and re-check; the pack's categories without a facility added
    pack_findings = [f for f in report if f not in case.findings]
    assert len(report) == len(case.findings) + len(pack_findings)
    assert [f.message.split(";")[0] for f in pack_findings] == [
        "no facility at all in the data for: shopping (W1), housekeeping (W1), catering (W1), "
        "express (W1), repair (W1), power (W1), water (W1), telecom (W1), "
        "government_service_centre (W2), community_service_centre (W3), sports_ground (W4), "
        "exercise_point (W5, W6)"
    ]
    text = case.describe()
    assert "communities: 3, population 7,300" in text
    assert "kindergarten: 1" in text
    assert "EPSG:32650" in text
    assert "pois.csv  sha256:" in text
    assert "origins:     1 points, population 40" in text


@pytest.mark.parametrize(
    ("old", "new", "pattern"),
    [
        (
            "max_snap_m = 200",
            "max_snap_m = 200\nspeed = 3",
            r"\[case\]: unknown key\(s\) 'speed'.*walk_speed_kmh",
        ),
        (
            'id = "code"',
            'id = "code"\nlayr = "x"',
            r"\[streets\]: unknown key\(s\) 'layr'; valid keys are path, id",
        ),
        ('population = "pop"', "", r"\[communities\]: missing required key\(s\) 'population'"),
        ("[network]", "[netwrk]", r"unknown section\(s\) \[netwrk\]"),
        (
            'path = "pois.csv"',
            'path = "missing.csv"',
            r"\[services\] path = 'missing.csv': file not found \(looked for /",
        ),
        (
            'category = "category"',
            'category = "category"\nclassify = "amap"',
            "both 'category' and 'classify'",
        ),
        ('category = "category"', "", "needs 'category'"),
        ('category = "category"', 'classify = "baidu"', "classify = 'baidu'"),
        (
            "walk_speed_kmh = 4.5",
            'walk_speed_kmh = "fast"',
            "walk_speed_kmh must be a positive number",
        ),
    ],
)
def test_config_errors(tmp_path: Path, old: str, new: str, pattern: str) -> None:
    assert old in CONFIG
    config = write_case(tmp_path, CONFIG.replace(old, new, 1))
    with pytest.raises(ConfigError, match=pattern):
        Case.from_config(config)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        Case.from_config(tmp_path / "nope.toml")


def test_bad_toml(tmp_path: Path) -> None:
    config = write_case(tmp_path, "[case\nname=")
    with pytest.raises(ConfigError, match="TOML"):
        Case.from_config(config)


def test_data_errors_pass_through(tmp_path: Path) -> None:
    config = write_case(tmp_path, CONFIG.replace('population = "pop"', 'population = "people"'))
    with pytest.raises(DataError, match=r"communities\.gpkg: no column 'people'"):
        Case.from_config(config)


class FakeCategoryMap:
    """Stands in for coverage.categories.CategoryMap (classification is tested there)."""

    def __init__(self, extra: Path | None) -> None:
        from coverage.categories import CATEGORIES

        self.extra = extra
        self.labels = {c: {"zh": c, "en": c} for c in CATEGORIES}  # messages name categories

    def classify_amap(self, typecode: str | None, name: str | None) -> str | None:
        if typecode == "090100":
            return "clinic"
        if name is not None and name.endswith("幼儿园"):
            return "kindergarten"
        return None

    def classify_osm_tags(self, tags: Mapping[str, str]) -> str | None:
        return {"pharmacy": "pharmacy", "clinic": "clinic"}.get(tags.get("amenity", ""))

    def classify_amap_all(self, typecode: str | None, name: str | None) -> list[str]:
        found = self.classify_amap(typecode, name)
        return [found] if found else []

    def classify_osm_tags_all(self, tags: Mapping[str, str]) -> list[str]:
        found = self.classify_osm_tags(tags)
        return [found] if found else []


@pytest.fixture
def fake_categories(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    import coverage.categories

    calls: list[Any] = []

    def load_category_map(extra: str | Path | None = None) -> FakeCategoryMap:
        calls.append(extra)
        return FakeCategoryMap(None if extra is None else Path(extra))

    monkeypatch.setattr(coverage.categories, "load_category_map", load_category_map)
    return calls


def test_classify_amap_with_extra_mapping(tmp_path: Path, fake_categories: list[Any]) -> None:
    config = write_case(tmp_path)
    (tmp_path / "amap.csv").write_text(
        "id,name,typecode,location_lng,location_lat\n"
        "a1,社区诊所,090100,114.306,30.503\n"
        "a2,花楼幼儿园,141204,114.315,30.505\n"
        "a3,银行,160100,114.316,30.505\n",
        encoding="utf-8",
    )
    (tmp_path / "my_categories.yaml").write_text("names: []\n", encoding="utf-8")
    services = """[services]
path = "amap.csv"
lon = "location_lng"
lat = "location_lat"
coordinate_system = "gcj02"
id = "id"
name = "name"
classify = "amap"
typecode = "typecode"

[categories]
extra = "my_categories.yaml"
"""
    text = CONFIG.split("[services]")[0] + services + "\n[residents]\ngrid_m = 50\n"
    config.write_text(text, encoding="utf-8")
    case = Case.from_config(config)
    assert case.services["category"].tolist() == ["clinic", "kindergarten", None]
    assert fake_categories == [(tmp_path / "my_categories.yaml").resolve()]
    assert str((tmp_path / "my_categories.yaml").resolve()) in case.sources
    assert any("no category" in f.message and f.ids == ("a3",) for f in case.findings)


@pytest.mark.parametrize("declared", [None, "gcj02", "wgs84"])
def test_amap_services_without_a_coordinate_system_are_flagged(
    tmp_path: Path, fake_categories: list[Any], declared: str | None
) -> None:
    config = write_case(tmp_path)
    (tmp_path / "amap.csv").write_text(
        "id,name,typecode,location_lng,location_lat\n"
        "a1,社区诊所,090100,114.306,30.503\n"
        "a2,花楼幼儿园,141204,114.315,30.505\n",
        encoding="utf-8",
    )
    line = "" if declared is None else f'coordinate_system = "{declared}"\n'
    services = (
        '[services]\npath = "amap.csv"\nlon = "location_lng"\nlat = "location_lat"\n'
        f'{line}id = "id"\nname = "name"\nclassify = "amap"\ntypecode = "typecode"\n'
    )
    text = CONFIG.split("[services]")[0] + services + "\n[residents]\ngrid_m = 50\n"
    config.write_text(text, encoding="utf-8")
    case = Case.from_config(config)
    flagged = [f for f in case.findings if "no coordinate_system" in f.message]
    if declared is None:
        assert len(flagged) == 1
        message = flagged[0].message
        assert flagged[0].severity == "warning" and flagged[0].layer == "services"
        assert str(config) in message and "amap.csv" in message
        assert 'coordinate_system = "gcj02"' in message
        assert "no coordinate_system" in str(case.validate())
    else:
        assert flagged == []


def test_classify_osm_tag_columns(tmp_path: Path, fake_categories: list[Any]) -> None:
    config = write_case(tmp_path)
    gpd.GeoDataFrame(
        {"osm_id": ["n1", "n2"], "amenity": ["pharmacy", None], "shop": [None, "bakery"]},
        geometry=[Point(114.306, 30.503), Point(114.315, 30.505)],
        crs=4326,
    ).to_file(tmp_path / "osm_pois.geojson")
    services = '[services]\npath = "osm_pois.geojson"\nid = "osm_id"\nclassify = "osm"\n'
    config.write_text(CONFIG.split("[services]")[0] + services, encoding="utf-8")
    case = Case.from_config(config)
    assert case.services["category"].tolist() == ["pharmacy", None]
    assert fake_categories == [None]


def test_from_frames_with_column_mapping() -> None:
    case = Case.from_frames(
        streets=STREETS,
        communities=COMMUNITIES,
        services=gpd.GeoDataFrame(
            {"kind": ["park"]}, geometry=[box(114.302, 30.502, 114.303, 30.503)], crs=4326
        ),
        columns={
            "streets": {"id": "code"},
            "communities": {"id": "cid", "name": "cname", "population": "pop"},
            "services": {"category": "kind"},
        },
        osm_path="x.osm",
    )
    assert case.communities["street_id"].tolist() == ["420103001", "420103001", "420103002"]
    assert case.services["service_id"].tolist() == ["0"]
    assert case.services.geometry.iloc[0].geom_type == "Polygon"
    assert case.osm_path == Path("x.osm")
    assert case.max_snap_m == DEFAULT_MAX_SNAP_M
    assert case.sources == {}
    assert "cid" not in STREETS.columns  # inputs untouched
    assert list(COMMUNITIES.columns) == ["cid", "cname", "pop", "geometry"]


def test_from_frames_canonical_round_trip() -> None:
    first = Case.from_frames(
        streets=STREETS,
        communities=COMMUNITIES,
        services=gpd.GeoDataFrame(
            {"category": ["clinic"]}, geometry=[Point(114.302, 30.502)], crs=4326
        ),
        columns={"streets": {"id": "code"}, "communities": {"id": "cid", "population": "pop"}},
    )
    again = Case.from_frames(
        streets=first.streets, communities=first.communities, services=first.services
    )
    assert again.streets[["street_id", "name"]].equals(first.streets[["street_id", "name"]])
    assert again.communities["street_id"].tolist() == first.communities["street_id"].tolist()
    assert again.services["category"].tolist() == ["clinic"]


def test_from_frames_unknown_column_key() -> None:
    with pytest.raises(ConfigError, match=r"columns\['streets'\]: unknown key\(s\) 'code'"):
        Case.from_frames(
            streets=STREETS,
            communities=COMMUNITIES,
            services=STREETS,
            columns={"streets": {"code": "id"}},
        )


def test_docstring_example_is_a_valid_config() -> None:
    import tomllib

    import coverage.case
    from coverage.case import _check_config

    doc = coverage.case.__doc__ or ""
    block = doc.split("A complete example::", 1)[1].split("\nEach layer section", 1)[0]
    example = "\n".join(line[4:] for line in block.splitlines())
    config = tomllib.loads(example)
    _check_config(config, Path("example.toml"))  # raises ConfigError on unknown keys
    assert config["services"]["coordinate_system"] == "gcj02"


# ------------------------------------------------------------------------ services from OSM

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"


def demo_case_with_services(tmp_path: Path, services: str) -> Path:
    """The demo case copied to ``tmp_path`` with its [services] section replaced."""
    for name in ("streets.geojson", "communities.geojson", "chengdu-center.osm.bz2"):
        (tmp_path / name).write_bytes((DEMO / name).read_bytes())
    text = (DEMO / "case.toml").read_text(encoding="utf-8")
    before, after = text.split("[services]")
    rest = after[after.index("\n[") :]
    config = tmp_path / "case.toml"
    config.write_text(before + services + rest, encoding="utf-8")
    return config


def test_osm_file_as_services_source(tmp_path: Path) -> None:
    from coverage.osm_features import read_osm_services

    config = demo_case_with_services(
        tmp_path, '[services]\npath = "chengdu-center.osm.bz2"\nclassify = "osm"\n'
    )
    case = Case.from_config(config)
    expected = read_osm_services(tmp_path / "chengdu-center.osm.bz2")
    # the project's own OSM reader: every service has a category, none is lost
    assert len(case.services) == len(expected) > 100
    assert case.services["category"].notna().all()
    assert case.services["service_id"].tolist() == expected["service_id"].tolist()
    assert case.services["categories"].tolist() == expected["categories"].tolist()
    polygons = expected["area_m2"].notna()
    assert polygons.any()
    assert case.services.loc[polygons.to_numpy(), "area_m2"].gt(0).all()
    assert not any("no category" in f.message for f in case.findings)


@pytest.mark.parametrize(
    ("lines", "pattern"),
    [
        ('category = "category"', 'OSM file.*classify = "osm"'),
        ('classify = "osm"\nid = "osm_id"', "id do.*not apply to an OSM file"),
        ('classify = "osm"\nlayer = "points"', "layer do.*not apply to an OSM file"),
    ],
)
def test_osm_file_as_services_source_options(tmp_path: Path, lines: str, pattern: str) -> None:
    config = demo_case_with_services(
        tmp_path, f'[services]\npath = "chengdu-center.osm.bz2"\n{lines}\n'
    )
    with pytest.raises(ConfigError, match=pattern):
        Case.from_config(config)


POIS_NAMED = gpd.GeoDataFrame(
    {
        "编号": ["p1", "p2", "p3", "p4", "p5"],
        "名称": ["幸福菜市场", "启蒙星幼儿园", "川味小馆", "同仁堂", "无名小店"],
        "类型": [
            None,
            None,
            "amenity=restaurant",
            "amenity=pharmacy;healthcare=pharmacy",
            "building=yes",
        ],
    },
    geometry=[Point(114.302 + 0.003 * i, 30.503) for i in range(5)],
    crs=4326,
)


def test_classify_osm_uses_the_configured_name_column(tmp_path: Path) -> None:
    config = write_case(tmp_path)
    POIS_NAMED.to_file(tmp_path / "pois.geojson")
    services = '[services]\npath = "pois.geojson"\nid = "编号"\nname = "名称"\nclassify = "osm"\n'
    config.write_text(CONFIG.split("[services]")[0] + services, encoding="utf-8")
    case = Case.from_config(config)
    category = dict(zip(case.services["service_id"], case.services["category"], strict=True))
    assert category["p1"] == "fresh_market"
    assert category["p2"] == "kindergarten"
    assert case.services.set_index("service_id").loc["p1", "name"] == "幸福菜市场"


def test_classify_osm_reads_key_value_tag_columns(tmp_path: Path) -> None:
    config = write_case(tmp_path)
    POIS_NAMED.to_file(tmp_path / "pois.geojson")
    services = '[services]\npath = "pois.geojson"\nid = "编号"\nclassify = "osm"\n'
    config.write_text(CONFIG.split("[services]")[0] + services, encoding="utf-8")
    case = Case.from_config(config)
    category = dict(zip(case.services["service_id"], case.services["category"], strict=True))
    assert category["p3"] == "catering"  # 类型 = amenity=restaurant
    assert category["p4"] == "pharmacy"  # two pairs separated by ";"
    assert category["p5"] is None  # building=yes serves nothing


# ---- settings, pack paths and sizes checked before the work (issue 12, section 6) -----------


def test_a_pack_path_is_relative_to_the_case_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from coverage.rules import load_pack

    folder = tmp_path / "case"
    folder.mkdir()
    shipped = Path(__file__).parents[1] / "coverage" / "packs" / "wuhan-1plus10.yaml"
    (folder / "packs").mkdir()
    (folder / "packs" / "mine.yaml").write_text(
        shipped.read_text(encoding="utf-8"), encoding="utf-8"
    )
    config = write_case(
        folder, CONFIG.replace('pack = "wuhan-1plus10"', 'pack = "packs/mine.yaml"')
    )
    monkeypatch.chdir(tmp_path)  # another working directory than the case's
    case = Case.from_config(config)
    assert Path(case.pack) == folder / "packs" / "mine.yaml"
    assert str(folder / "packs" / "mine.yaml") in case.sources
    assert load_pack(case.pack).id == "wuhan-1plus10"
    missing = write_case(folder, CONFIG.replace('pack = "wuhan-1plus10"', 'pack = "nope.yaml"'))
    with pytest.raises(ConfigError, match=r"pack = 'nope\.yaml': rule pack file not found"):
        Case.from_config(missing)


@pytest.mark.parametrize("speed", ["50", "0.5", "12"])
def test_walking_speed_range_is_checked_at_load(tmp_path: Path, speed: str) -> None:
    config = write_case(
        tmp_path, CONFIG.replace("walk_speed_kmh = 4.5", f"walk_speed_kmh = {speed}")
    )
    with pytest.raises(ConfigError, match=r"\[case\] walk_speed_kmh = .*: a walking speed is 1-8"):
        Case.from_config(config)
    with pytest.raises(ConfigError, match="a walking speed is 1-8 km/h"):
        Case.from_frames(
            streets=STREETS,
            communities=COMMUNITIES,
            services=STREETS.iloc[:0].assign(category=[]),
            columns={"streets": {"id": "code"}, "communities": {"id": "cid", "population": "pop"}},
            walk_speed_kmh=float(speed),
        )


def test_audit_case_checks_speed_and_share_with_the_same_ranges() -> None:
    from coverage.audit import audit_case

    case = Case.from_frames(
        streets=STREETS,
        communities=COMMUNITIES,
        services=gpd.GeoDataFrame(
            {"category": ["clinic"]}, geometry=[Point(114.302, 30.502)], crs=4326
        ),
        columns={"streets": {"id": "code"}, "communities": {"id": "cid", "population": "pop"}},
        osm_path="never-read.osm",
    )
    with pytest.raises(ConfigError, match=r"walk_speed_kmh = 9\.5: a walking speed is 1-8 km/h"):
        audit_case(case, walk_speed_kmh=9.5)
    with pytest.raises(ConfigError, match=r"min_population_share = 90: give a share .* \(0, 1\]"):
        audit_case(case, min_population_share=90)


def test_an_infinite_population_is_refused_at_load() -> None:
    communities = COMMUNITIES.assign(pop=[3200.0, float("inf"), 0.0])
    with pytest.raises(DataError, match=r"1 communities have an infinite population \(ids 002\)"):
        Case.from_frames(
            streets=STREETS,
            communities=communities,
            services=gpd.GeoDataFrame(
                {"category": ["clinic"]}, geometry=[Point(114.302, 30.502)], crs=4326
            ),
            columns={"streets": {"id": "code"}, "communities": {"id": "cid", "population": "pop"}},
        )


def test_an_origin_grid_too_large_is_refused_before_the_work() -> None:
    import time

    from coverage.audit import audit_case
    from coverage.population import MAX_GRID_CELLS, spread_population

    huge = gpd.GeoDataFrame(
        {"code": ["S1"], "name": ["大"]}, geometry=[box(110.0, 25.0, 115.0, 30.0)], crs=4326
    )
    communities = gpd.GeoDataFrame(
        {"cid": ["C1"], "pop": [1000.0]}, geometry=[box(110.0, 25.0, 115.0, 30.0)], crs=4326
    )
    case = Case.from_frames(
        streets=huge,
        communities=communities,
        services=gpd.GeoDataFrame(
            {"category": ["clinic"]}, geometry=[Point(112.0, 27.0)], crs=4326
        ),
        columns={"streets": {"id": "code"}, "communities": {"id": "cid", "population": "pop"}},
        osm_path="never-read.osm",  # refused before the network is built
    )
    started = time.perf_counter()
    pattern = (
        rf"origin grid of 50 m would need [\d,]+ cells, more than the limit of {MAX_GRID_CELLS:,}"
    )
    with pytest.raises(DataError, match=pattern) as info:
        audit_case(case)
    assert "C1" in str(info.value) and "grid_m = " in str(info.value)
    with pytest.raises(DataError, match=pattern):
        spread_population(case.communities, grid_m=50.0)
    assert time.perf_counter() - started < 5.0
    # with a coarse enough grid, the same community is fine
    origins = spread_population(case.communities, grid_m=5_000.0)
    assert origins["population"].sum() == pytest.approx(1000.0)
