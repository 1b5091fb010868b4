"""Spreading community populations over origins: hand-made squares with known answers."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from coverage.errors import DataError
from coverage.population import (
    compare_points_population,
    population_sources,
    spread_population,
)

UTM = "EPSG:32650"  # Wuhan's UTM zone; the squares below are in metres
X0, Y0 = 500_000.0, 3_380_000.0


def sq(x: float, y: float, w: float, h: float | None = None) -> box:
    return box(X0 + x, Y0 + y, X0 + x + w, Y0 + y + (w if h is None else h))


@pytest.fixture
def communities() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "community_id": ["A", "B", "C", "D", "E", "F"],
            "street_id": ["S1", "S1", "S2", "S2", "S2", None],
            "population": [1000.0, 800.0, 1600.0, 77.0, 0.0, np.nan],
            "geometry": [
                sq(0, 0, 200),  # buildings
                sq(300, 0, 200),  # residential land on its left half
                sq(600, 0, 200),  # nothing known: whole-community grid
                sq(900, 0, 20),  # smaller than one grid cell
                sq(1000, 0, 200),  # nobody lives here
                sq(1300, 0, 200),  # unknown population
            ],
        },
        crs=UTM,
    )


@pytest.fixture
def buildings() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "building": ["apartments", "residential", "school", "yes", "yes"],
            "levels": [2.0, np.nan, 5.0, 3.0, np.nan],
            "geometry": [
                sq(10, 10, 10),  # 100 m² x 2 levels
                sq(50, 50, 10, 20),  # 200 m² x unknown levels -> median of known residential = 2
                sq(100, 100, 50),  # a school: not residential
                sq(150, 10, 10),  # building=yes outside residential land use: not counted
                sq(310, 10, 10),  # building=yes inside B's residential land: counted
            ],
        },
        crs=UTM,
    )


@pytest.fixture
def residential() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"landuse": ["residential"]}, geometry=[sq(300, 0, 100, 200)], crs=UTM)


def by_comm(origins: gpd.GeoDataFrame, cid: str) -> gpd.GeoDataFrame:
    return origins[origins.community_id == cid]


def test_known_answers(communities, buildings, residential) -> None:
    o = spread_population(communities, buildings=buildings, residential=residential, grid_m=50)
    assert o.crs.to_epsg() == 4326
    assert list(o.columns) == [
        "origin_id", "community_id", "street_id", "population", "source", "geometry",
    ]  # fmt: skip
    assert o.origin_id.is_unique

    a = by_comm(o, "A")
    assert list(a.source.unique()) == ["building"]
    # weights 100 x 2 = 200 and 200 x 2 = 400: the unknown levels are the median of the known
    # levels of the residential buildings (only the apartments' 2; the building=yes with 3
    # levels lies outside residential land and is not residential)
    assert sorted(a.population) == pytest.approx([1000 / 3, 2000 / 3])
    assert set(a.street_id) == {"S1"}

    b = by_comm(o, "B")  # the building=yes inside residential land use wins over the grid
    assert list(b.source) == ["building"] and b.population.sum() == 800.0

    c = by_comm(o, "C")
    assert set(c.source) == {"grid"} and len(c) == 16
    assert np.allclose(c.population, 100.0)

    d = by_comm(o, "D")
    assert len(d) == 1 and d.population.iloc[0] == 77.0
    centre = gpd.GeoSeries([sq(900, 0, 20).centroid], crs=UTM).to_crs(4326).iloc[0]
    assert d.geometry.iloc[0].distance(centre) < 1e-6

    assert set(o.community_id) == {"A", "B", "C", "D"}
    assert o.attrs["communities_without_origins"] == ["E", "F"]


def test_residential_grid_stays_on_residential_land(communities, residential) -> None:
    o = spread_population(communities, residential=residential, grid_m=50).to_crs(UTM)
    b = by_comm(o, "B")
    assert set(b.source) == {"residential_grid"}
    assert len(b) == 8  # 2 x 4 cells of the 100 m x 200 m residential half
    assert np.allclose(b.population, 100.0)
    assert (b.geometry.x < X0 + 400).all()


def test_totals_are_preserved(communities) -> None:
    comm = communities.copy()
    comm["population"] = [12345.0, 7.0, 1e7 / 3, 1.0, 0.0, 99999.0]
    o = spread_population(comm, grid_m=37.0)
    sums = o.groupby("community_id").population.sum()
    for cid, total in zip(comm.community_id, comm.population, strict=True):
        if total > 0:
            assert math.isclose(sums[cid], total, rel_tol=1e-12)
    assert math.isclose(o.population.sum(), comm.population.sum(), rel_tol=1e-12)


def test_building_split_between_communities() -> None:
    comm = gpd.GeoDataFrame(
        {"community_id": ["L", "R"], "population": [100.0, 100.0]},
        geometry=[sq(0, 0, 100), sq(100, 0, 100)],
        crs=UTM,
    )
    blds = gpd.GeoDataFrame(
        {"building": ["apartments", "apartments"], "levels": [1.0, 1.0]},
        geometry=[sq(80, 0, 40, 10), sq(10, 50, 20, 20)],  # the first straddles the border
        crs=UTM,
    )
    o = spread_population(comm, buildings=blds).to_crs(UTM)
    left = by_comm(o, "L").sort_values("population")
    # left: 200 m² of the straddling building and 400 m² of the other one
    assert left.population.tolist() == pytest.approx([100 / 3, 200 / 3])
    right = by_comm(o, "R")
    assert len(right) == 1 and right.population.iloc[0] == 100.0
    assert right.geometry.iloc[0].x > X0 + 100
    assert "street_id" in o.columns and o.street_id.isna().all()


def test_points_take_precedence(communities, buildings) -> None:
    pts = gpd.GeoDataFrame(
        {"population": [1.0, 3.0]},
        geometry=[Point(X0 + 20, Y0 + 20), Point(X0 + 180, Y0 + 180)],
        crs=UTM,
    )
    o = spread_population(communities, buildings=buildings, points=pts)
    a = by_comm(o, "A")
    assert set(a.source) == {"points"}
    assert sorted(a.population) == [250.0, 750.0]


def test_default_levels_option(communities, buildings) -> None:
    o = spread_population(communities, buildings=buildings, default_levels=1.0)
    a = by_comm(o, "A")
    assert sorted(a.population) == pytest.approx([500.0, 500.0])  # 100 x 2 vs 200 x 1


def test_inputs_are_not_mutated(communities, buildings, residential) -> None:
    before = [communities.copy(), buildings.copy(), residential.copy()]
    spread_population(communities, buildings=buildings, residential=residential)
    for original, now in zip(before, [communities, buildings, residential], strict=True):
        pd.testing.assert_frame_equal(original, now)


def test_any_crs_in(communities) -> None:
    o1 = spread_population(communities)
    o2 = spread_population(communities.to_crs(4326))
    assert len(o1) == len(o2)
    assert math.isclose(o1.population.sum(), o2.population.sum())


def test_errors(communities) -> None:
    with pytest.raises(DataError, match="missing column"):
        spread_population(communities.drop(columns="population"))
    dup = communities.copy()
    dup.loc[1, "community_id"] = "A"
    with pytest.raises(DataError, match="duplicated community_id"):
        spread_population(dup)
    neg = communities.copy()
    neg.loc[2, "population"] = -5
    with pytest.raises(DataError, match=r"negative.*C"):
        spread_population(neg)
    with pytest.raises(DataError, match="grid_m"):
        spread_population(communities, grid_m=0)
    with pytest.raises(DataError, match="no CRS"):
        spread_population(communities.set_crs(None, allow_override=True))
    with pytest.raises(TypeError):
        spread_population(pd.DataFrame(communities))  # type: ignore[arg-type]


def test_empty_result(communities) -> None:
    zero = communities.assign(population=0.0)
    o = spread_population(zero)
    assert o.empty and o.crs.to_epsg() == 4326
    assert o.attrs["communities_without_origins"] == list(zero.community_id)


def test_points_for_some_communities_leave_the_others_to_the_fallbacks(
    communities, buildings, residential
) -> None:
    # points in B and C only; A falls back to its buildings, B keeps its points, C its
    # points, D (no point) to its single cell
    pts = gpd.GeoDataFrame(
        {
            "origin_id": ["p1", "p2", "p3"],
            "population": [300.0, 100.0, 1600.0],
        },
        geometry=[Point(X0 + 350, Y0 + 50), Point(X0 + 450, Y0 + 150), Point(X0 + 700, Y0 + 100)],
        crs=UTM,
    )
    o = spread_population(communities, buildings=buildings, residential=residential, points=pts)
    sources = population_sources(communities, o)
    assert sources.to_dict() == {
        "A": "building",
        "B": "points",
        "C": "points",
        "D": "grid",
        "E": "none",
        "F": "none",
    }
    b = by_comm(o, "B").set_index("origin_id")
    assert b.population.to_dict() == {"p1": 600.0, "p2": 200.0}  # weights scaled to 800
    assert by_comm(o, "C").origin_id.tolist() == ["p3"]
    sums = o.groupby("community_id").population.sum()
    assert sums.to_dict() == pytest.approx({"A": 1000.0, "B": 800.0, "C": 1600.0, "D": 77.0})


def test_a_point_on_a_shared_border_counts_for_one_community() -> None:
    comm = gpd.GeoDataFrame(
        {"community_id": ["L", "R"], "population": [100.0, 100.0]},
        geometry=[sq(0, 0, 100), sq(100, 0, 100)],
        crs=UTM,
    )
    pts = gpd.GeoDataFrame(
        {"population": [50.0, 50.0]},
        geometry=[Point(X0 + 100, Y0 + 50), Point(X0 + 150, Y0 + 50)],  # the first on the border
        crs=UTM,
    )
    o = spread_population(comm, points=pts)
    assert len(o) == 2  # not three: the border point is not in both
    assert population_sources(comm, o).to_dict() == {"L": "points", "R": "points"}
    # a community_id carried by the point (read_origins) decides
    o = spread_population(comm, points=pts.assign(community_id=["R", "R"]))
    assert population_sources(comm, o).to_dict() == {"L": "grid", "R": "points"}


def test_points_that_sum_far_from_the_population_are_listed(communities) -> None:
    pts = gpd.GeoDataFrame(
        {"population": [810.0, 190.0, 1000.0, 700.0, 10.0]},
        geometry=[
            Point(X0 + 10, Y0 + 10),  # A: 810 + 190 = 1,000 of 1,000
            Point(X0 + 20, Y0 + 10),
            Point(X0 + 350, Y0 + 10),  # B: 1,000 of 800 (+25%)
            Point(X0 + 650, Y0 + 10),  # C: 700 of 1,600 (-56%)
            Point(X0 + 1050, Y0 + 10),  # E: 10 of 0
        ],
        crs=UTM,
    )
    off = compare_points_population(communities, pts)
    assert off["community_id"].tolist() == ["B", "C", "E"]
    assert off.set_index("community_id")["ratio"].to_dict() == pytest.approx(
        {"B": 1.25, "C": 0.4375, "E": math.inf}
    )
    # within 20%: 960 of 800 is exactly +20%, not reported
    edge = pts.assign(population=[810.0, 190.0, 960.0, 1600.0, 0.0])
    assert compare_points_population(communities, edge).empty
    # relative weights cannot be compared
    assert compare_points_population(
        communities, pts.rename(columns={"population": "weight"})
    ).empty
