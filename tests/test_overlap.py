"""Inputs that do not belong together are refused before any search (issue 12, section 2).

Each mismatch is one a new user makes: an OSM file of another city, an OSM file with one
footway far away, layers in EPSG:4547 metres declared as EPSG:3857 (they land in Africa), and
longitude and latitude swapped outside China. Before the check, each gave a full audit in which
every unit failed, with exit code 0.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import Point, box
from typer.testing import CliRunner

from coverage import audit as audit_module
from coverage.audit import audit_case
from coverage.case import Case
from coverage.cli import app
from coverage.errors import DataError
from coverage.network import WalkNetwork, build_walk_network
from coverage.rules import NOT_EVALUABLE
from tests.conftest import BEIJING, write_osm_xml

DEMO_DIR = Path(__file__).parents[1] / "data" / "demo"
DEMO = DEMO_DIR / "case.toml"
BBOX = re.compile(r"^\s+(network|streets|communities|services)\s+(-?\d+\.\d{4}, ){3}-?\d+\.\d{4}")

runner = CliRunner()


@pytest.fixture(scope="module")
def demo_case() -> Case:
    return Case.from_config(DEMO)


@pytest.fixture(scope="module")
def beijing(tmp_path_factory: pytest.TempPathFactory) -> WalkNetwork:
    return build_walk_network(BEIJING, cache=False)


def _bbox_lines(message: str) -> set[str]:
    return {m.group(1) for line in message.splitlines() if (m := BBOX.match(line))}


def _causes(message: str) -> list[str]:
    after = message.split("likely causes", 1)[1]
    return [line.strip()[2:].split(":", 1)[0] for line in after.splitlines()[1:]]


def _no_snapping(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any snapping fail loudly: the refusal must come before it."""

    def boom(*args: object, **kwargs: object) -> None:
        msg = "snapping ran before the cheap overlap test"
        raise AssertionError(msg)

    monkeypatch.setattr(audit_module, "snap_points", boom)


# ---- the four mismatches of the issue --------------------------------------------------------


def test_osm_file_of_another_city_is_refused_before_snapping(
    demo_case: Case, beijing: WalkNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_snapping(monkeypatch)
    with pytest.raises(DataError) as info:  # exit code 1 on the command line
        audit_case(demo_case, network=beijing)
    from coverage.overlap import InputMismatchError

    assert isinstance(info.value, InputMismatchError)
    message = str(info.value)
    assert "100.0% of residents" in message
    assert "100.0% of services (444 of 444)" in message
    assert _bbox_lines(message) == {"network", "streets", "communities", "services"}
    assert "116.3339, 39.9873, 116.3658, 40.0209" in message  # the Beijing network's box
    assert _causes(message)[0] == "wrong OSM file"
    assert "osmium extract -b 104.0421,30.6528,104.1296,30.7279" in message


def _osm_with_ways(path: Path, ways: Sequence[Sequence[tuple[float, float]]]) -> Path:
    nodes: dict[int, tuple[float, float]] = {}
    refs: list[tuple[int, list[int], dict[str, str]]] = []
    for w, coords in enumerate(ways):
        ids = []
        for lon, lat in coords:
            nodes[len(nodes) + 1] = (lon, lat)
            ids.append(len(nodes))
        refs.append((100 + w, ids, {"highway": "footway"}))
    return write_osm_xml(path, nodes, refs)


def test_osm_file_with_one_far_away_footway_is_refused(
    demo_case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one 100 m footway 5 km east of the demo's boundaries
    osm = _osm_with_ways(tmp_path / "one.osm", [[(104.18, 30.69), (104.181, 30.69)]])
    network = build_walk_network(osm, cache=False)
    _no_snapping(monkeypatch)
    with pytest.raises(DataError, match=r"100\.0% of residents"):
        audit_case(demo_case, network=network)


def test_a_footway_whose_box_covers_the_area_is_refused_by_the_exact_shares(
    demo_case: Case, tmp_path: Path
) -> None:
    # a diagonal footway across the whole area: the boxes overlap, the snapping tells
    osm = _osm_with_ways(tmp_path / "diagonal.osm", [[(104.0, 30.6), (104.2, 30.8)]])
    network = build_walk_network(osm, cache=False)
    with pytest.raises(DataError) as info:
        audit_case(demo_case, network=network)
    message = str(info.value)
    shares = re.search(r"(\d+\.\d)% of residents \(([\d,]+) of ([\d,]+)\)", message)
    assert shares is not None
    assert "at least" not in message  # exact shares, from the snapping
    off, total = (float(shares.group(i).replace(",", "")) for i in (2, 3))
    assert 0.5 < off / total < 1.0


def test_metres_declared_as_web_mercator_are_refused(
    demo_case: Case, chengdu_net: WalkNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    def misdeclared(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        return gdf.to_crs(4547).set_crs(3857, allow_override=True)

    case = Case.from_frames(
        streets=misdeclared(demo_case.streets),
        communities=misdeclared(demo_case.communities),
        services=misdeclared(demo_case.services),
        osm_path=demo_case.osm_path,
    )
    west, south, east, north = case.communities.total_bounds
    assert -10 < west < east < 10 and 20 < south < north < 35  # they landed in Africa
    _no_snapping(monkeypatch)
    with pytest.raises(DataError) as info:
        audit_case(case, network=chengdu_net)
    message = str(info.value)
    assert _causes(message)[0] == "CRS declared wrong"  # a Chinese network, layers outside China
    assert _bbox_lines(message) == {"network", "streets", "communities", "services"}


# a hand-made case in Heidelberg, where both longitude (8.7) and latitude (49.4) are below 90
LON0, LAT0, STEP = 8.69, 49.41, 0.001


def _heidelberg(tmp_path: Path, *, swap: bool) -> tuple[Case, WalkNetwork]:
    nodes = {1 + r * 5 + c: (LON0 + c * STEP, LAT0 + r * STEP) for r in range(5) for c in range(5)}
    ways = [
        (100 + r, [1 + r * 5 + c for c in range(5)], {"highway": "residential"}) for r in range(5)
    ]
    ways += [
        (200 + c, [1 + r * 5 + c for r in range(5)], {"highway": "residential"}) for c in range(5)
    ]
    network = build_walk_network(write_osm_xml(tmp_path / "hd.osm", nodes, ways), cache=False)

    def xy(geom: shapely.Geometry) -> shapely.Geometry:
        return shapely.transform(geom, lambda c: c[:, ::-1]) if swap else geom

    area = box(LON0 - STEP / 2, LAT0 - STEP / 2, LON0 + 4.5 * STEP, LAT0 + 4.5 * STEP)
    streets = gpd.GeoDataFrame(
        {"street_id": ["S1"], "name": ["Altstadt"]}, geometry=[xy(area)], crs=4326
    )
    communities = gpd.GeoDataFrame(
        {"community_id": ["C1"], "name": ["Altstadt"], "street_id": ["S1"], "population": [100.0]},
        geometry=[xy(area)],
        crs=4326,
    )
    services = gpd.GeoDataFrame(
        {"service_id": ["s1"], "name": ["Laden"], "category": ["shopping"]},
        geometry=[xy(Point(LON0 + STEP, LAT0))],
        crs=4326,
    )
    origins = gpd.GeoDataFrame(
        {"origin_id": ["o1"], "population": [100.0]},
        geometry=[xy(Point(LON0 + 2 * STEP, LAT0 + 2 * STEP))],
        crs=4326,
    )
    case = Case.from_frames(
        streets=streets, communities=communities, services=services, origins=origins, name="hd"
    )
    return case, network


def test_swapped_axes_outside_china_are_refused_and_named(tmp_path: Path) -> None:
    case, network = _heidelberg(tmp_path, swap=True)
    with pytest.raises(DataError) as info:
        audit_case(case, network=network)
    message = str(info.value)
    assert _causes(message)[0] == "swapped axes"
    assert "swapping them puts streets, communities, services on the network" in message
    # the same case with the axes the right way round is audited
    case, network = _heidelberg(tmp_path, swap=False)
    result = audit_case(case, network=network)
    assert result.services["on_network"].all()


# ---- below the limit ----------------------------------------------------------------------


def _grid_case(tmp_path: Path, *, far_population: float) -> tuple[Case, WalkNetwork]:
    """A 3 x 3 grid on the equator (C1 on it, 1,000 residents) and a community C2 1.1 km east
    of it whose residents are all off the network."""
    step = 0.001
    nodes = {1 + r * 3 + c: (c * step, r * step) for r in range(3) for c in range(3)}
    ways = [
        (100 + r, [1 + r * 3 + c for c in range(3)], {"highway": "residential"}) for r in range(3)
    ]
    ways += [
        (200 + c, [1 + r * 3 + c for r in range(3)], {"highway": "residential"}) for c in range(3)
    ]
    network = build_walk_network(write_osm_xml(tmp_path / "grid.osm", nodes, ways), cache=False)
    near, far = box(-step, -step, 3 * step, 3 * step), box(0.012, 0.0, 0.014, 0.002)
    streets = gpd.GeoDataFrame(
        {"street_id": ["S1"], "name": ["S1"]},
        geometry=[box(-step, -step, 0.015, 3 * step)],
        crs=4326,
    )
    communities = gpd.GeoDataFrame(
        {
            "community_id": ["C1", "C2"],
            "name": ["C1", "C2"],
            "street_id": ["S1", "S1"],
            "population": [1000.0, far_population],
        },
        geometry=[near, far],
        crs=4326,
    )
    services = gpd.GeoDataFrame(
        {"service_id": ["s1"], "name": ["shop"], "category": ["shopping"]},
        geometry=[Point(0.0, 0.0)],
        crs=4326,
    )
    origins = gpd.GeoDataFrame(
        {"origin_id": ["o1", "o2"], "population": [1000.0, far_population]},
        geometry=[Point(step, step), Point(0.013, 0.001)],
        crs=4326,
    )
    case = Case.from_frames(
        streets=streets, communities=communities, services=services, origins=origins, name="g"
    )
    return case, network


def test_a_community_with_every_resident_off_the_network_is_not_evaluable(tmp_path: Path) -> None:
    case, network = _grid_case(tmp_path, far_population=500.0)  # 1/3 off: below the limit
    result = audit_case(case, network=network)
    c2 = result.communities.set_index("community_id").loc["C2"]
    assert c2["W1_status"] == NOT_EVALUABLE  # never "fail 0.0%"
    assert (
        "all 500 residents' origins lie more than 250 m from any walkable street" in c2["W1_reason"]
    )
    assert "全部500名居民的出发点距任何可步行道路都超过250米" in c2["W1_reason_zh"]
    assert np.isnan(c2["W1_value"]) and np.isnan(c2["W1_share_shopping"])
    assert np.isinf(c2["median_m_shopping"])  # farther than the search limit
    c1 = result.communities.set_index("community_id").loc["C1"]
    assert c1["W1_share_shopping"] == 1.0


def test_more_than_half_the_residents_off_the_network_is_refused(tmp_path: Path) -> None:
    case, network = _grid_case(tmp_path, far_population=1001.0)  # 50.02% off
    with pytest.raises(DataError, match=r"50\.0% of residents \(1,001 of 2,001\)"):
        audit_case(case, network=network)
    from coverage.audit import check_case_overlap

    case, network = _grid_case(tmp_path, far_population=1000.0)  # exactly half: audited
    assert check_case_overlap(case, network=network).share_residents_off_network == 0.5


def test_services_that_overlap_no_boundary_are_refused(
    demo_case: Case, chengdu_net: WalkNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = demo_case.services.copy()
    services["geometry"] = services.geometry.translate(0.3, 0.0)  # 30 km east
    case = Case.from_frames(
        streets=demo_case.streets, communities=demo_case.communities, services=services
    )
    _no_snapping(monkeypatch)
    with pytest.raises(DataError, match="services do not even overlap the boundaries"):
        audit_case(case, network=chengdu_net)


def test_a_city_wide_services_file_is_audited_with_a_district_network(
    demo_case: Case, chengdu_net: WalkNetwork
) -> None:
    """A bureau's POI export covers the whole city; the OSM extract covers the district.

    Three quarters of these services lie 20 km away, off the network: they cannot serve any
    resident, so they do not count in the services' share, and the audit decides exactly as
    with the district's services alone.
    """
    import pandas as pd

    far = []
    for i, (dx, dy) in enumerate([(0.2, 0.0), (-0.2, 0.0), (0.0, 0.2)]):
        copy = demo_case.services.copy()
        copy["service_id"] = copy["service_id"] + f"-far{i}"
        copy["geometry"] = copy.geometry.translate(dx, dy)
        far.append(copy)
    city = gpd.GeoDataFrame(
        pd.concat([demo_case.services, *far], ignore_index=True), crs=demo_case.services.crs
    )
    case = Case.from_frames(
        streets=demo_case.streets, communities=demo_case.communities, services=city
    )
    district = Case.from_frames(
        streets=demo_case.streets,
        communities=demo_case.communities,
        services=demo_case.services,
    )
    wide = audit_case(case, network=chengdu_net)
    alone = audit_case(district, network=chengdu_net)
    status = [c for c in alone.communities.columns if c.endswith("_status")]
    assert status
    pd.testing.assert_frame_equal(wide.communities[status], alone.communities[status])
    # far services still refuse a case when no service at all lies near the communities
    lonely = city[city["service_id"].str.contains("-far")]
    only_far = Case.from_frames(
        streets=demo_case.streets, communities=demo_case.communities, services=lonely
    )
    with pytest.raises(DataError, match="no service lies closer"):
        audit_case(only_far, network=chengdu_net)


# ---- the command line ------------------------------------------------------------------------


def _wrong_osm_case(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = DEMO.read_text(encoding="utf-8")
    text = text.replace('osm = "chengdu-center.osm.bz2"', f"osm = '{BEIJING.as_posix()}'")
    for name in ("streets", "communities", "services"):
        text = text.replace(f'"{name}.geojson"', f"'{(DEMO_DIR / f'{name}.geojson').as_posix()}'")
    text = text.replace(
        '"chengdu-center.osm.bz2"', f"'{(DEMO_DIR / 'chengdu-center.osm.bz2').as_posix()}'"
    )
    path = folder / "case.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_cli_audit_and_validate_refuse_with_exit_1(tmp_path: Path) -> None:
    config = _wrong_osm_case(tmp_path / "case")
    audited = runner.invoke(app, ["audit", str(config), "--out", str(tmp_path / "out"), "--quiet"])
    assert audited.exit_code == 1, audited.output
    assert "do not cover the same place" in " ".join(audited.output.split())  # rich wraps
    assert not (tmp_path / "out" / "summary.json").exists()
    validated = runner.invoke(app, ["validate", str(config)])
    assert validated.exit_code == 1, validated.output
    assert "error: [network]" in validated.output
    assert "do not cover the same place" in validated.output
    for name in ("network", "streets", "communities", "services"):
        assert re.search(rf"^\s+{name}\s+\d", validated.output, flags=re.MULTILINE)
    assert runner.invoke(app, ["validate", str(DEMO)]).exit_code == 0
