"""The offline base map: what is read from the OSM file, the cache, the encoding and its budget.

References: the walking network built from the same file decides which ways are walkable; a
hand-made OSM file has known kinds; a slow decoder in Python checks the encoding against the
geometries it came from.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal

import coverage.basemap
from coverage.basemap import (
    BASEMAP_BUDGET_BYTES,
    BASEMAP_KINDS,
    BASEMAP_LEVELS,
    encode_basemap,
    read_osm_basemap,
)
from coverage.crs import wgs84_to_gcj02
from coverage.errors import DataError
from coverage.network import WalkNetwork
from tests.conftest import CHENGDU, write_osm_xml


@pytest.fixture(scope="module")
def chengdu() -> gpd.GeoDataFrame:
    return read_osm_basemap(CHENGDU, cache=False)


def decode(encoded: dict, level: int) -> dict[str, list[shapely.Geometry]]:
    """The slow reference decoder: every kind's geometries of one level, in degrees."""
    lv = encoded["levels"][level]
    q = lv["q"]
    out: dict[str, list[shapely.Geometry]] = {}

    def coords(flat: list[int]) -> np.ndarray:
        return np.cumsum(np.array(flat, dtype=np.int64).reshape(-1, 2), axis=0) * q

    for key, lines in lv["lines"].items():
        kind = encoded["kinds"][int(key)]
        out.setdefault(kind, []).extend(shapely.LineString(coords(f)) for f in lines)
    for key, polys in lv["areas"].items():
        kind = encoded["kinds"][int(key)]
        out.setdefault(kind, []).extend(
            shapely.Polygon(coords(p[0]), [coords(r) for r in p[1:]]) for p in polys
        )
    return out


def test_a_hand_made_file_gives_each_kind(tmp_path: Path) -> None:
    nodes = {i: (104.0 + 0.001 * (i % 10), 30.0 + 0.001 * (i // 10)) for i in range(40)}
    ways = [
        (1, [0, 1, 2], {"highway": "primary", "name": "人民路"}),
        (2, [10, 11], {"highway": "residential"}),
        (3, [20, 21], {"highway": "footway"}),
        (4, [30, 31], {"highway": "motorway"}),
        (5, [3, 4], {"highway": "primary", "foot": "no"}),
        (6, [5, 6], {"railway": "rail"}),
        (7, [7, 8], {"railway": "subway", "tunnel": "yes"}),
        (8, [12, 13], {"waterway": "river", "name": "府河"}),
        (9, [14, 15, 25, 24, 14], {"natural": "water"}),
        (10, [16, 17, 27, 26, 16], {"leisure": "park", "name": "人民公园"}),
        (11, [18, 19], {"highway": "construction"}),
        (12, [32, 33, 34, 32], {"building": "yes"}),
    ]
    path = write_osm_xml(tmp_path / "hand.osm", nodes, ways)
    text = path.read_text("utf-8").replace(
        "</osm>",
        '<node id="100" version="1" lat="30.02" lon="104.002">'
        '<tag k="place" v="neighbourhood"/><tag k="name" v="九里小区"/></node>\n</osm>',
    )
    path.write_text(text, "utf-8")
    frame = read_osm_basemap(path, cache=False)
    kinds = dict(zip(frame["feature_id"], frame["kind"], strict=True))
    assert kinds == {
        "n100": "place",
        "w1": "major",
        "w2": "street",
        "w3": "path",
        "w4": "nowalk",  # a motorway
        "w5": "nowalk",  # foot=no
        "w6": "rail",
        "w8": "river",
        "w9": "water",
        "w10": "green",
    }  # the subway in a tunnel, the construction site and the building are not drawn
    names = dict(zip(frame["feature_id"], frame["name"], strict=True))
    assert names["w1"] == "人民路" and names["n100"] == "九里小区"
    assert frame.crs.equals("EPSG:4326")
    assert set(frame["kind"]) <= set(BASEMAP_KINDS)


def test_walkable_ways_are_the_walking_network(
    chengdu: gpd.GeoDataFrame, chengdu_net: WalkNetwork
) -> None:
    """The streets drawn as walkable are exactly the ways the audit walks on."""
    network_ways = {f"w{w}" for w in np.unique(chengdu_net.edge_way)}
    walkable = set(chengdu.loc[chengdu["kind"].isin(["major", "street", "path"]), "feature_id"])
    not_walkable = set(chengdu.loc[chengdu["kind"] == "nowalk", "feature_id"])
    assert network_ways <= walkable
    assert not (network_ways & not_walkable)
    assert not_walkable  # central Chengdu has motorways and sidewalk-mapped roads
    # a way drawn walkable that the network lacks would be one it dropped: none here
    assert walkable - network_ways == set()


def test_the_demo_file_has_what_a_planner_orients_by(chengdu: gpd.GeoDataFrame) -> None:
    counts = chengdu["kind"].value_counts()
    for kind in ("major", "street", "path", "nowalk", "rail", "river", "water", "green", "place"):
        assert counts.get(kind, 0) > 0, kind
    assert (chengdu.loc[chengdu["kind"] == "place", "name"] != "").all()
    assert "沙河公园" in set(chengdu.loc[chengdu["kind"] == "green", "name"])


def test_a_cached_read_equals_a_fresh_one(
    chengdu: gpd.GeoDataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = read_osm_basemap(CHENGDU, cache_dir=tmp_path)
    assert len(list((tmp_path / "osm-features").glob("basemap-*.npz"))) == 1

    def refuse(*args: object, **kwargs: object) -> object:
        msg = "the OSM file was read again"
        raise AssertionError(msg)

    monkeypatch.setattr(coverage.basemap, "_read_basemap", refuse)
    cached = read_osm_basemap(CHENGDU, cache_dir=tmp_path)
    assert_geodataframe_equal(cached, first, check_dtype=True)
    assert (cached.geometry.to_wkb() == chengdu.geometry.to_wkb()).all()


def test_a_missing_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"missing\.osm\.pbf: OSM file not found"):
        read_osm_basemap(tmp_path / "missing.osm.pbf")


@pytest.mark.parametrize("level", range(len(BASEMAP_LEVELS)))
def test_the_encoding_decodes_to_the_simplified_geometries(
    chengdu: gpd.GeoDataFrame, level: int
) -> None:
    """Both ways: every decoded vertex lies within the level's tolerance plus one quantum of
    the source geometries of its kind, and every source vertex (of a feature the level keeps)
    within that of the decoded ones; the level holds exactly the kinds it should."""
    spec = BASEMAP_LEVELS[level]
    encoded = encode_basemap(chengdu)
    decoded = decode(encoded, level)
    drawn = set(spec.kinds) - {"place"}
    present = set(chengdu["kind"]) - {"place"}
    assert set(decoded) == drawn & present
    metric = chengdu.estimate_utm_crs()
    source = chengdu.to_crs(metric)
    # a quantum is quantum_deg of longitude and latitude: at most 1.2 x 111 km x quantum_deg
    slack = spec.tolerance_m + 1.2 * spec.quantum_deg * 111_320 + 0.01
    for kind, geoms in decoded.items():
        rows = source[source["kind"] == kind]
        if kind in ("green", "water"):
            rows = rows[rows.geometry.area >= spec.min_area_m2]
        truth = shapely.union_all(
            shapely.boundary(rows.geometry.to_numpy())
            if kind in ("green", "water")
            else rows.geometry.to_numpy()
        )
        ours_geoms = gpd.GeoSeries(geoms, crs=4326).to_crs(metric).to_numpy()
        ours = shapely.union_all(
            shapely.boundary(ours_geoms) if kind in ("green", "water") else ours_geoms
        )
        ours_pts = shapely.points(shapely.get_coordinates(ours))
        truth_pts = shapely.points(shapely.get_coordinates(truth))
        assert shapely.distance(ours_pts, truth).max() <= slack, kind
        assert shapely.distance(truth_pts, ours).max() <= slack, kind


def test_levels_coarse_to_fine_grow(chengdu: gpd.GeoDataFrame) -> None:
    encoded = encode_basemap(chengdu)
    sizes = [len(json.dumps(lv)) for lv in encoded["levels"]]
    assert sizes == sorted(sizes)
    assert [lv["z"] for lv in encoded["levels"]] == [lv.max_zoom for lv in BASEMAP_LEVELS]


def test_the_demo_base_map_keeps_its_budget(chengdu: gpd.GeoDataFrame) -> None:
    """The budget the README states: the demo's base map is well under 1.5 MB (about 0.3)."""
    size = len(json.dumps(encode_basemap(chengdu), ensure_ascii=False, separators=(",", ":")))
    assert size < BASEMAP_BUDGET_BYTES == 1_500_000
    assert size < 450_000


def test_over_budget_drops_the_finest_levels(
    chengdu: gpd.GeoDataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    full = encode_basemap(chengdu)
    coarse = len(json.dumps(full["levels"][0], separators=(",", ":")))
    small = encode_basemap(chengdu, budget_bytes=coarse + 60_000)
    assert len(small["levels"]) == 1
    assert small["levels"][0]["lines"] == full["levels"][0]["lines"]
    assert small["levels"][0]["z"] == BASEMAP_LEVELS[-1].max_zoom  # drawn at every zoom
    assert "larger than its budget" in caplog.text


def test_labels_name_places_and_streets(chengdu: gpd.GeoDataFrame) -> None:
    encoded = encode_basemap(chengdu)
    kinds = encoded["kinds"]
    labelled = {encoded["names"][lab[3]] for lab in encoded["labels"]}
    places = set(chengdu.loc[chengdu["kind"] == "place", "name"])
    assert places <= labelled
    assert any(kinds[lab[4]] in ("major", "street") for lab in encoded["labels"])
    for lab in encoded["labels"]:
        assert -90 <= lab[2] <= 90  # street names read left to right
        lon, lat = lab[0] / 1e5, lab[1] / 1e5
        assert 104.0 < lon < 104.2 and 30.6 < lat < 30.8


def test_a_shift_moves_every_coordinate_by_the_gcj02_offset(chengdu: gpd.GeoDataFrame) -> None:
    def shift(xy: np.ndarray) -> np.ndarray:
        lon, lat = wgs84_to_gcj02(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    plain = encode_basemap(chengdu)
    moved = encode_basemap(chengdu, shift=shift)
    a = plain["labels"][0]
    b = moved["labels"][0]
    lon, lat = wgs84_to_gcj02(a[0] / 1e5, a[1] / 1e5)
    assert abs(b[0] / 1e5 - lon) < 2e-5 and abs(b[1] / 1e5 - lat) < 2e-5
    assert abs(b[0] - a[0]) > 100  # the offset in Chengdu is hundreds of metres


def test_an_empty_file_gives_an_empty_base_map(tmp_path: Path) -> None:
    path = write_osm_xml(tmp_path / "empty.osm", {1: (104.0, 30.0)}, [])
    frame = read_osm_basemap(path, cache=False)
    assert len(frame) == 0
    assert encode_basemap(frame) == {
        "kinds": list(BASEMAP_KINDS),
        "names": [],
        "levels": [],
        "labels": [],
    }
