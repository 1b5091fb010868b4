"""The raster path of the service areas (``service_area(..., cell_m=...)``), checked against the
slow reference of ``tests/test_isochrones.py`` (networkx Dijkstra, per-edge reach) on the
Beijing and Chengdu extracts, and against the exact GEOS polygons.

Its promise (``coverage/raster.py``): every reached point of the network is inside; no point
of a polygon is farther than ``buffer_m + cell_m·√2`` from a reached point.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
import shapely

from coverage.errors import DataError
from coverage.isochrones import (
    DEFAULT_BUFFER_M,
    DEFAULT_CELL_M,
    facility_isochrones,
    service_area,
)
from coverage.network import WalkNetwork
from coverage.raster import Grid, check_cell_size, dilate_min, segment_samples, trace_polygons
from tests.test_isochrones import (
    BUDGETS,
    MINUTES,
    SPEED,
    Reference,
    _points,
    facility_points,
    nx_graph,
    reference,
)

GUARANTEE_M = DEFAULT_BUFFER_M + DEFAULT_CELL_M * math.sqrt(2.0)


@pytest.fixture(scope="module", params=["beijing", "chengdu"])
def area(
    request: pytest.FixtureRequest,
) -> tuple[WalkNetwork, gpd.GeoDataFrame, gpd.GeoDataFrame, list[Reference]]:
    net: WalkNetwork = request.getfixturevalue(f"{request.param}_net")
    fac = facility_points(net, 4, seed=23)
    raster = service_area(
        net, fac, minutes=MINUTES, walk_speed_kmh=SPEED, crs="metric", cell_m=DEFAULT_CELL_M
    )
    graph = nx_graph(net)
    refs = [reference(net, graph, (p.x, p.y)) for p in fac.geometry]
    return net, fac, raster, refs


def _union_distance(net: WalkNetwork, refs: list[Reference], edge: np.ndarray, pos: np.ndarray):
    """Distance from the nearest of the facilities (the service area's search)."""
    return np.min([ref.point_m(net, edge, pos) for ref in refs], axis=0)


def _all_samples(net: WalkNetwork, step_m: float) -> tuple[np.ndarray, np.ndarray]:
    counts = np.floor(net.edge_length_m / step_m).astype(int) + 2
    edge = np.repeat(np.arange(net.n_edges), counts)
    first = np.cumsum(counts) - counts
    k = np.arange(edge.size) - np.repeat(first, counts)
    pos = np.minimum(k * step_m, net.edge_length_m[edge])
    return edge, pos


def test_raster_areas_are_valid_nested_and_labelled(area: tuple) -> None:
    _, _, raster, _ = area
    assert raster["band"].tolist() == ["0-5 min", "0-10 min", "0-15 min"]
    assert raster.attrs["cell_m"] == DEFAULT_CELL_M
    polys = raster.geometry.to_numpy()
    assert shapely.is_valid(polys).all()
    assert not shapely.is_empty(polys).any()
    for small, big in ((0, 1), (1, 2)):
        assert shapely.area(shapely.difference(polys[small], polys[big])) < 1e-6
        assert shapely.area(polys[small]) < shapely.area(polys[big])


def test_every_reached_point_is_inside_the_raster_area(area: tuple) -> None:
    net, _, raster, refs = area
    edge, pos = _all_samples(net, 2.0)
    d = _union_distance(net, refs, edge, pos)
    for b, budget in enumerate(BUDGETS):
        poly = raster.geometry.iloc[b]
        reached = d <= budget
        assert reached.sum() > 100
        pts = _points(net, edge[reached], pos[reached])
        inside = shapely.covers(poly, pts)
        assert inside.all(), f"{budget:.0f} m: {np.sum(~inside)} reached points outside"
        nodes = np.flatnonzero(np.min([r.node_m for r in refs], axis=0) <= budget)
        assert shapely.covers(poly, shapely.points(net.xy[nodes])).all()


def test_raster_area_claims_nothing_beyond_buffer_plus_a_cell_diagonal(area: tuple) -> None:
    net, _, raster, refs = area
    rng = np.random.default_rng(9)
    edge, pos = _all_samples(net, 5.0)
    d = _union_distance(net, refs, edge, pos)
    for b, budget in enumerate(BUDGETS):
        poly = raster.geometry.iloc[b]
        truth = shapely.union_all([ref.reached(net, budget) for ref in refs])
        # unreached network points the polygon claims
        pts = _points(net, edge[d > budget], pos[d > budget])
        claimed = pts[shapely.covers(poly, pts)]
        assert claimed.size > 0
        assert (shapely.distance(truth, claimed) <= GUARANTEE_M + 1e-6).all()
        # any point of the polygon at all, and its vertices (the farthest points it claims)
        # (points scattered round its vertices: the bounding box of facilities far apart is
        # mostly outside the polygon)
        coords = shapely.get_coordinates(poly)
        picks = coords[rng.integers(0, len(coords), 6000)]
        anywhere = shapely.points(picks + rng.uniform(-40, 40, picks.shape))
        inside = anywhere[shapely.contains(poly, anywhere)]
        assert inside.size > 100
        assert (shapely.distance(truth, inside) <= GUARANTEE_M + 1e-6).all()
        vertices = shapely.points(shapely.get_coordinates(poly))
        assert (shapely.distance(truth, vertices) <= GUARANTEE_M + 1e-6).all()


def test_raster_area_is_close_to_the_exact_one(area: tuple) -> None:
    net, fac, raster, _ = area
    exact = service_area(net, fac, minutes=MINUTES, walk_speed_kmh=SPEED, crs="metric")
    for b in range(len(MINUTES)):
        ours = raster.geometry.iloc[b]
        ref = exact.geometry.iloc[b]
        # the exact polygon grown by a cell diagonal holds the raster one, and the raster one
        # holds most of the exact one (it differs along the boundary only)
        grown = shapely.buffer(ref, DEFAULT_CELL_M * math.sqrt(2.0) + 1e-6)
        assert shapely.area(shapely.difference(ours, grown)) < 1e-6 * ours.area
        assert shapely.area(shapely.difference(ref, ours)) < 0.1 * ref.area
        assert ours.area == pytest.approx(ref.area, rel=0.25)


def test_raster_facility_isochrones_keep_the_promise(area: tuple) -> None:
    net, fac, _, refs = area
    iso = facility_isochrones(
        net, fac, minutes=MINUTES, walk_speed_kmh=SPEED, crs="metric", cell_m=DEFAULT_CELL_M
    )
    exact = facility_isochrones(net, fac, minutes=MINUTES, walk_speed_kmh=SPEED, crs="metric")
    assert iso["service_id"].tolist() == exact["service_id"].tolist()
    assert iso.attrs["cell_m"] == DEFAULT_CELL_M
    assert shapely.is_valid(iso.geometry.values).all()
    edge, pos = _all_samples(net, 3.0)
    for k, ref in enumerate(refs):
        d = ref.point_m(net, edge, pos)
        for b, budget in enumerate(BUDGETS):
            poly = iso.geometry.iloc[3 * k + b]
            reached = _points(net, edge[d <= budget], pos[d <= budget])
            assert shapely.covers(poly, reached).all(), (k, budget)
            truth = ref.reached(net, budget)
            vertices = shapely.points(shapely.get_coordinates(poly))
            assert (shapely.distance(truth, vertices) <= GUARANTEE_M + 1e-6).all(), (k, budget)
            # thin polygons (a few streets in 5 minutes) lose relatively more along their edges
            ref_poly = exact.geometry.iloc[3 * k + b]
            assert shapely.area(shapely.difference(ref_poly, poly)) < 0.2 * ref_poly.area


def test_raster_area_in_wgs84_matches_the_metric_one(chengdu_net: WalkNetwork) -> None:
    fac = facility_points(chengdu_net, 3, seed=5)
    metric = service_area(chengdu_net, fac, minutes=10, crs="metric", cell_m=8.0)
    wgs = service_area(chengdu_net, fac, minutes=10, cell_m=8.0)
    assert wgs.crs.to_epsg() == 4326
    assert shapely.is_valid(wgs.geometry.values).all()
    np.testing.assert_allclose(wgs.to_crs(chengdu_net.metric_crs).area, metric.area, rtol=1e-6)


def test_cell_size_is_checked(chengdu_net: WalkNetwork) -> None:
    fac = facility_points(chengdu_net, 2, seed=4)
    with pytest.raises(DataError, match=r"cell_m <= 19\.8"):
        service_area(chengdu_net, fac, minutes=5, cell_m=25.0)
    with pytest.raises(DataError, match="positive"):
        check_cell_size(0.0, 30.0)
    check_cell_size(19.8, 30.0)


# ---- the primitives, on cases known by construction -------------------------------------------


def test_segment_samples_are_at_most_a_step_apart() -> None:
    start = np.array([[0.0, 0.0], [5.0, 5.0], [0.0, 0.0]])
    end = np.array([[25.0, 0.0], [5.0, 5.0], [0.0, 10.0]])
    x, y, count = segment_samples(start, end, step_m=10.0)
    assert count.tolist() == [4, 1, 2]
    np.testing.assert_allclose(x[:4], [0, 25 / 3, 50 / 3, 25])
    assert (x[4], y[4]) == (5.0, 5.0)
    np.testing.assert_allclose(y[5:], [0, 10])


def test_dilate_min_is_a_disc() -> None:
    values = np.full((11, 11), 9, dtype=np.uint8)
    values[5, 5] = 1
    values[0, 0] = 0
    out = dilate_min(values, radius_cells=2.9, empty=9)
    rows, cols = np.indices(out.shape)
    disc = (rows - 5) ** 2 + (cols - 5) ** 2 <= 2.9**2
    corner = rows**2 + cols**2 <= 2.9**2
    expected = np.where(corner, 0, np.where(disc, 1, 9))
    np.testing.assert_array_equal(out, expected)


def test_trace_polygons_of_known_shapes() -> None:
    grid = Grid(0.0, 0.0, 10.0, 40, 40)
    mask = np.zeros((40, 40), dtype=bool)
    mask[2:6, 2:8] = True  # a 4 x 6 block of cells: centres span 30 x 50 m, +5 m each side
    mask[20:30, 20:30] = True  # a 10 x 10 block with a hole of 2 x 2 cells
    mask[24:26, 24:26] = False
    poly = trace_polygons(mask, grid)
    assert poly.geom_type == "MultiPolygon" and shapely.is_valid(poly)
    parts = sorted(poly.geoms, key=lambda p: p.bounds[0])
    assert len(parts) == 2
    # marching squares with sides cut at midpoints: each block's centres grown by half a cell,
    # with the corners cut off (a 5 m triangle each: 12.5 m2)
    assert parts[0].bounds == (20.0, 20.0, 80.0, 60.0)
    assert parts[0].area == pytest.approx(60 * 40 - 4 * 12.5)
    # only the corners: the vertices along the straight sides are dropped (8 + closing one)
    assert len(parts[0].exterior.coords) == 9
    assert len(parts[1].interiors) == 1
    hole = shapely.Polygon(parts[1].interiors[0])
    # the hole: the 2 x 2 empty cells' centres (10 m apart) grown by half a cell, a diamond-cut
    # square of 20 x 20 m minus its four corners
    assert hole.area == pytest.approx(20 * 20 - 4 * 12.5)
    assert not shapely.is_empty(trace_polygons(mask, grid))
    assert shapely.is_empty(trace_polygons(np.zeros((5, 5), dtype=bool), Grid(0, 0, 1, 5, 5)))
