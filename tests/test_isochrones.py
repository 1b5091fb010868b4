"""Isochrone polygons: what they promise, checked against an obvious reference on real data.

The reference computes node distances with networkx Dijkstra (the facility as a virtual node
joined to both ends of its edge), the distance of any point ``p`` of edge ``(u, v)`` as
``min(du + p, dv + L - p)`` (plus ``s + |p - t|`` on the facility's own edge) and the reached
pieces with a plain per-edge loop. The polygons must contain every reached point and claim no
point farther than ``buffer_m`` from a reached one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely

from coverage.errors import DataError
from coverage.isochrones import (
    DEFAULT_BUFFER_M,
    facility_isochrones,
    isochrone,
    reach_area,
    reached_streets,
    service_area,
    simplify_for_display,
)
from coverage.network import WalkNetwork, build_walk_network
from coverage.rules import minutes_to_m
from coverage.snapping import DEFAULT_MAX_SNAP_M, snap_points
from tests.conftest import GRID_STEP_DEG, GRID_STEP_M, grid_osm

MINUTES = (5.0, 10.0, 15.0)
SPEED = 4.0
BUDGETS = [minutes_to_m(m, SPEED) for m in MINUTES]


# ---- the reference ---------------------------------------------------------------------------


@dataclass
class Reference:
    """Exact reach of one facility, computed the slow and obvious way."""

    node_m: np.ndarray  # distance of every node (inf beyond the search)
    edge: int  # the facility's edge, offset, snap
    offset_m: float
    snap_m: float

    def point_m(self, net: WalkNetwork, edge: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """Network distance of the points ``pos`` metres along ``edge`` from its u end."""
        du = self.node_m[net.edge_u[edge]]
        dv = self.node_m[net.edge_v[edge]]
        length = net.edge_length_m[edge]
        d = np.minimum(du + pos, dv + length - pos)
        own = edge == self.edge
        return np.where(own, np.minimum(d, self.snap_m + np.abs(pos - self.offset_m)), d)

    def reached(self, net: WalkNetwork, budget: float) -> shapely.Geometry:
        """The reached pieces as one geometry (metric CRS), by a per-edge loop."""
        pieces = []
        for e in range(net.n_edges):
            du = self.node_m[net.edge_u[e]]
            dv = self.node_m[net.edge_v[e]]
            length = net.edge_length_m[e]
            intervals = []
            if du + dv + length <= 2 * budget:
                intervals.append((0.0, length))
            else:
                if du <= budget:
                    intervals.append((0.0, budget - du))
                if dv <= budget:
                    intervals.append((length - (budget - dv), length))
            if e == self.edge and self.snap_m <= budget:
                left = budget - self.snap_m
                intervals.append((max(self.offset_m - left, 0), min(self.offset_m + left, length)))
            a, b = net.xy[net.edge_u[e]], net.xy[net.edge_v[e]]
            for lo, hi in intervals:
                f0, f1 = (lo / length, hi / length) if length > 0 else (0.0, 0.0)
                pieces.append(shapely.LineString([a + f0 * (b - a), a + f1 * (b - a)]))
        return shapely.union_all(pieces)


def nx_graph(net: WalkNetwork) -> nx.Graph:
    graph = nx.Graph()
    for u, v, length in zip(
        net.edge_u.tolist(), net.edge_v.tolist(), net.edge_length_m.tolist(), strict=True
    ):
        if not graph.has_edge(u, v) or graph[u][v]["weight"] > length:
            graph.add_edge(u, v, weight=length)
    return graph


def reference(net: WalkNetwork, graph: nx.Graph, lonlat: tuple[float, float]) -> Reference:
    snapped = snap_points(net, np.array([lonlat]))
    e = int(snapped.edge[0])
    t = float(snapped.offset_m[0])
    s = float(snapped.snap_m[0])
    u, v, length = int(net.edge_u[e]), int(net.edge_v[e]), float(net.edge_length_m[e])
    g = graph.copy()
    g.add_edge("f", u, weight=s + t)
    if v != u:
        g.add_edge("f", v, weight=s + length - t)
    dist = nx.single_source_dijkstra_path_length(g, "f", cutoff=max(BUDGETS) + 1, weight="weight")
    node_m = np.full(net.n_nodes, np.inf)
    for node, d in dist.items():
        if node != "f":
            node_m[node] = d
    return Reference(node_m, e, t, s)


def facility_points(net: WalkNetwork, n: int, seed: int) -> gpd.GeoDataFrame:
    """``n`` facilities a few metres off random streets of the largest component."""
    rng = np.random.default_rng(seed)
    main = np.flatnonzero(net.component[net.edge_u] == 0)
    edges = rng.choice(main, n, replace=False)
    frac = rng.uniform(0.1, 0.9, n)
    a, b = net.xy[net.edge_u[edges]], net.xy[net.edge_v[edges]]
    xy = a + frac[:, None] * (b - a) + rng.normal(0, 8, (n, 2))
    pts = gpd.GeoSeries(shapely.points(xy), crs=net.metric_crs).to_crs(4326)
    return gpd.GeoDataFrame(
        {"service_id": [f"s{i:02d}" for i in range(n)], "category": "clinic", "geometry": pts},
        crs=4326,
    )


@pytest.fixture(scope="module", params=["beijing", "chengdu"])
def case(
    request: pytest.FixtureRequest,
) -> tuple[WalkNetwork, gpd.GeoDataFrame, gpd.GeoDataFrame, list[Reference]]:
    net: WalkNetwork = request.getfixturevalue(f"{request.param}_net")
    fac = facility_points(net, 6, seed=11)
    iso = facility_isochrones(net, fac, minutes=MINUTES, walk_speed_kmh=SPEED, crs="metric")
    graph = nx_graph(net)
    refs = [reference(net, graph, (p.x, p.y)) for p in fac.geometry]
    return net, fac, iso, refs


# ---- guarantees on real data -----------------------------------------------------------------


def test_shape_of_result(case: tuple) -> None:
    net, fac, iso, _ = case
    assert list(iso.columns) == [
        "service_id",
        "category",
        "minutes",
        "distance_m",
        "band",
        "geometry",
    ]
    assert len(iso) == 3 * len(fac)
    assert iso["service_id"].tolist() == np.repeat(fac["service_id"], 3).tolist()
    assert iso["band"].tolist()[:3] == ["0-5 min", "0-10 min", "0-15 min"]
    np.testing.assert_allclose(iso["distance_m"].to_numpy()[:3], BUDGETS)
    assert iso.crs == net.metric_crs
    assert iso.attrs["unsnapped"] == []
    assert iso.attrs["buffer_m"] == DEFAULT_BUFFER_M
    assert set(iso.geom_type) <= {"Polygon", "MultiPolygon"}
    assert not iso.geometry.is_empty.any()


def test_polygons_are_valid_in_both_crs(case: tuple) -> None:
    net, fac, iso, _ = case
    assert shapely.is_valid(iso.geometry.values).all()
    wgs = facility_isochrones(net, fac, minutes=MINUTES, walk_speed_kmh=SPEED)
    assert wgs.crs.to_epsg() == 4326
    assert shapely.is_valid(wgs.geometry.values).all()
    back = wgs.to_crs(net.metric_crs)
    np.testing.assert_allclose(back.area, iso.area, rtol=1e-6)


def test_every_reached_point_is_inside(case: tuple) -> None:
    net, _, iso, refs = case
    for k, ref in enumerate(refs):
        for b, budget in enumerate(BUDGETS):
            poly = iso.geometry.iloc[3 * k + b]
            nodes = np.flatnonzero(ref.node_m <= budget)
            assert nodes.size > 0
            inside = shapely.dwithin(poly, shapely.points(net.xy[nodes]), 0.01)
            assert inside.all(), f"facility {k}, {budget:.0f} m: {np.sum(~inside)} nodes outside"
            # sampled points of partly reached edges (every 2 m) and the cut points themselves
            edge, pos = _samples(net, ref, budget, step_m=2.0)
            d = ref.point_m(net, edge, pos)
            reached = d <= budget + 1e-9
            pts = _points(net, edge[reached], pos[reached])
            assert shapely.dwithin(poly, pts, 0.01).all()


def test_no_unreached_point_is_claimed_beyond_the_buffer(case: tuple) -> None:
    net, _, iso, refs = case
    rng = np.random.default_rng(5)
    for k, ref in enumerate(refs[:3]):
        for b, budget in enumerate(BUDGETS):
            poly = iso.geometry.iloc[3 * k + b]
            truth = ref.reached(net, budget)
            # unreached network points (every 5 m) that the polygon contains
            edge, pos = _samples(net, ref, budget, step_m=5.0)
            d = ref.point_m(net, edge, pos)
            pts = _points(net, edge[d > budget], pos[d > budget])
            claimed = pts[shapely.contains(poly, pts)]
            assert (shapely.distance(truth, claimed) <= DEFAULT_BUFFER_M + 1e-6).all()
            # and any point of the polygon at all
            x0, y0, x1, y1 = poly.bounds
            anywhere = shapely.points(rng.uniform([x0, y0], [x1, y1], (3000, 2)))
            inside = anywhere[shapely.contains(poly, anywhere)]
            assert inside.size > 100
            assert (shapely.distance(truth, inside) <= DEFAULT_BUFFER_M + 1e-6).all()


def test_reached_length_matches_reference(case: tuple) -> None:
    net, fac, _, refs = case
    streets = reached_streets(
        net, fac.iloc[[0]], minutes=MINUTES, walk_speed_kmh=SPEED, crs="metric"
    )
    for b, budget in enumerate(BUDGETS):
        truth = refs[0].reached(net, budget)
        # the truth's projected length and our great-circle length differ by the UTM scale
        assert streets["length_m"].iloc[b] == pytest.approx(truth.length, rel=2e-3)
        assert streets.geometry.iloc[b].length == pytest.approx(truth.length, rel=1e-9)


def test_bands_nest(case: tuple) -> None:
    _, _, iso, _ = case
    polys = iso.geometry.to_numpy().reshape(-1, 3)
    for small, big in ((0, 1), (1, 2)):
        # exact up to the overlay's floating-point noise (slivers of ~1e-5 m2 on ~1 km2)
        assert shapely.covers(shapely.buffer(polys[:, big], 1e-3), polys[:, small]).all()
        leftover = shapely.area(shapely.difference(polys[:, small], polys[:, big]))
        assert (leftover < 1e-9 * shapely.area(polys[:, small])).all()
        assert (shapely.area(polys[:, small]) < shapely.area(polys[:, big])).all()


def test_rings_partition_the_largest_band(case: tuple) -> None:
    net, fac, iso, _ = case
    rings = facility_isochrones(
        net, fac, minutes=MINUTES, walk_speed_kmh=SPEED, rings=True, crs="metric"
    )
    assert rings["band"].tolist()[:3] == ["0-5 min", "5-10 min", "10-15 min"]
    assert shapely.is_valid(rings.geometry.values).all()
    ring_area = rings.area.to_numpy().reshape(-1, 3).sum(axis=1)
    np.testing.assert_allclose(ring_area, iso.area.to_numpy()[2::3], rtol=1e-9)
    r = rings.geometry.to_numpy().reshape(-1, 3)
    assert (shapely.area(shapely.intersection(r[:, 0], r[:, 1])) < 1e-6).all()


def test_single_isochrone_equals_its_row(case: tuple) -> None:
    net, fac, iso, _ = case
    for k in (0, 3):
        point = fac.geometry.iloc[k]
        one = isochrone(net, (point.x, point.y), minutes=MINUTES, crs="metric")
        assert list(one.columns) == ["minutes", "distance_m", "band", "geometry"]
        rows = iso.geometry.iloc[3 * k : 3 * k + 3].to_numpy()
        sym = shapely.area(shapely.symmetric_difference(one.geometry.to_numpy(), rows))
        assert (sym < 1e-6 * shapely.area(rows)).all()


def test_service_area_is_the_union_of_the_isochrones(case: tuple) -> None:
    net, fac, iso, _ = case
    area = service_area(net, fac, minutes=MINUTES, crs="metric")
    assert area["band"].tolist() == ["0-5 min", "0-10 min", "0-15 min"]
    assert shapely.is_valid(area.geometry.values).all()
    for b in range(3):
        union = shapely.union_all(iso.geometry.to_numpy()[b::3])
        assert area.geometry.iloc[b].area == pytest.approx(union.area, rel=1e-3)
        assert shapely.symmetric_difference(area.geometry.iloc[b], union).area < 1e-3 * union.area


def test_reach_area_from_origins(case: tuple) -> None:
    net, fac, iso, _ = case
    origins = fac.assign(community_id=["c1", "c1", "c2", "c2", "c2", "c3"])
    one = reach_area(net, origins.iloc[:2], minutes=15, crs="metric")
    assert len(one) == 1
    union = shapely.union(iso.geometry.iloc[2], iso.geometry.iloc[5])
    assert one.geometry.iloc[0].area == pytest.approx(union.area, rel=1e-3)
    per = reach_area(net, origins, minutes=15, group_column="community_id", crs="metric")
    assert per["community_id"].tolist() == ["c1", "c2", "c3"]
    assert per.geometry.iloc[0].area == pytest.approx(one.geometry.iloc[0].area, rel=1e-6)
    # the same reach; chains merged differently round the arcs of the joins a little differently
    assert per.geometry.iloc[2].area == pytest.approx(iso.geometry.iloc[17].area, rel=1e-3)


# ---- hand-made grid: answers known by construction ------------------------------------------


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> WalkNetwork:
    return build_walk_network(grid_osm(tmp_path_factory.mktemp("grid") / "grid.osm"), cache=False)


def test_grid_reached_length_and_cut_points(grid: WalkNetwork) -> None:
    # from the centre node with 1.5 blocks: the 4 centre edges + half of the 8 outer edges
    budget = 1.5 * GRID_STEP_M
    minutes = budget / (SPEED * 1000 / 60)
    centre = gpd.GeoSeries([shapely.Point(GRID_STEP_DEG, GRID_STEP_DEG)], crs=4326)
    streets = reached_streets(grid, centre, minutes=minutes, walk_speed_kmh=SPEED, crs="wgs84")
    assert streets["length_m"].iloc[0] == pytest.approx(8 * GRID_STEP_M, rel=1e-9)
    ends = shapely.get_coordinates(shapely.get_parts(streets.geometry.iloc[0]))
    half = GRID_STEP_DEG / 2
    expected_cuts = [
        (half, 0.0),
        (3 * half, 0.0),
        (half, 2 * GRID_STEP_DEG),
        (3 * half, 2 * GRID_STEP_DEG),
        (0.0, half),
        (0.0, 3 * half),
        (2 * GRID_STEP_DEG, half),
        (2 * GRID_STEP_DEG, 3 * half),
    ]
    for cut in expected_cuts:
        assert np.hypot(*(ends - cut).T).min() < 1e-7, cut  # ~1 cm
    # corners are not reached: the polygon stays buffer_m away from them
    iso = isochrone(grid, (GRID_STEP_DEG, GRID_STEP_DEG), minutes=minutes, buffer_m=10)
    poly = iso.to_crs(grid.metric_crs).geometry.iloc[0]
    far = 2 * GRID_STEP_DEG
    corners = gpd.GeoSeries(shapely.points([(0, 0), (0, far), (far, 0), (far, far)]), crs=4326)
    corner_xy = corners.to_crs(grid.metric_crs).to_numpy()
    # half a block from the nearest cut point (the projected length of half a block differs
    # from its great-circle length by the direction-dependent UTM scale, up to 0.5 % here)
    metric_streets = streets.to_crs(grid.metric_crs).geometry.iloc[0]
    half_block = shapely.distance(metric_streets, corner_xy)
    np.testing.assert_allclose(half_block, 0.5 * GRID_STEP_M, rtol=6e-3)
    np.testing.assert_allclose(shapely.distance(poly, corner_xy), half_block - 10, atol=1e-6)
    # no block is walked round: no holes
    assert shapely.get_num_interior_rings(poly) == 0


def test_grid_holes_stay_holes(grid: WalkNetwork) -> None:
    # enough to go round every block: the block interiors (farther than buffer_m) are holes
    iso = isochrone(grid, (GRID_STEP_DEG, GRID_STEP_DEG), minutes=10, buffer_m=20, crs="metric")
    poly = iso.geometry.iloc[0]
    assert shapely.get_num_interior_rings(poly) == 4
    block = (GRID_STEP_M - 40) ** 2
    for hole in poly.interiors:
        assert shapely.Polygon(hole).area == pytest.approx(block, rel=0.01)


def test_facility_farther_than_budget_has_empty_polygon(grid: WalkNetwork) -> None:
    # 100 m off the street with a 50 m budget: nothing is reached
    far = gpd.GeoDataFrame(
        {"service_id": ["x"]}, geometry=[shapely.Point(GRID_STEP_DEG / 2, -0.0009)], crs=4326
    )
    iso = facility_isochrones(grid, far, minutes=50 / (SPEED * 1000 / 60))
    assert len(iso) == 1
    assert iso.geometry.iloc[0].is_empty


# ---- reporting and errors --------------------------------------------------------------------


def test_unsnapped_facilities_are_reported(
    chengdu_net: WalkNetwork, caplog: pytest.LogCaptureFixture
) -> None:
    fac = facility_points(chengdu_net, 3, seed=2)
    far = gpd.GeoDataFrame(
        {"service_id": ["lost"], "category": ["clinic"]},
        geometry=[shapely.Point(100.0, 10.0)],
        crs=4326,
    )
    both = gpd.GeoDataFrame(gpd.pd.concat([fac, far], ignore_index=True), crs=4326)
    with caplog.at_level(logging.WARNING, logger="coverage.isochrones"):
        iso = facility_isochrones(chengdu_net, both, minutes=5)
    assert iso.attrs["unsnapped"] == [3]
    assert "lost" not in iso["service_id"].tolist()
    assert len(iso) == 3
    assert "1 of 4 facilities" in caplog.text
    with pytest.raises(DataError, match="farther than"):
        isochrone(chengdu_net, (100.0, 10.0))


def test_input_is_not_modified(chengdu_net: WalkNetwork) -> None:
    fac = facility_points(chengdu_net, 3, seed=4)
    before = fac.copy()
    facility_isochrones(chengdu_net, fac, minutes=5)
    service_area(chengdu_net, fac, minutes=5)
    assert fac.equals(before)


def test_errors_name_the_fix(chengdu_net: WalkNetwork) -> None:
    fac = facility_points(chengdu_net, 2, seed=4)
    with pytest.raises(DataError, match="id_column=None"):
        facility_isochrones(chengdu_net, fac.rename(columns={"service_id": "code"}))
    with pytest.raises(DataError, match="raise max_snap_m"):
        facility_isochrones(chengdu_net, fac, buffer_m=300)
    with pytest.raises(DataError, match="positive"):
        service_area(chengdu_net, fac, minutes=[5, -1])
    with pytest.raises(DataError, match="wgs84"):
        service_area(chengdu_net, fac, crs="utm")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="group_column"):
        reach_area(chengdu_net, fac, group_column="community_id")
    assert DEFAULT_BUFFER_M <= DEFAULT_MAX_SNAP_M


def test_simplify_for_display(case: tuple) -> None:
    net, fac, _, _ = case
    wgs = facility_isochrones(net, fac, minutes=MINUTES)
    simple = simplify_for_display(wgs, tolerance_m=5.0)
    assert simple.crs == wgs.crs
    assert shapely.is_valid(simple.geometry.values).all()
    assert simple.geometry.count_coordinates().sum() < wgs.geometry.count_coordinates().sum()
    metric = wgs.to_crs(net.metric_crs).geometry.to_numpy()
    simple_m = simple.to_crs(net.metric_crs).geometry.to_numpy()
    # boundaries move by at most the tolerance
    assert (shapely.hausdorff_distance(metric, simple_m) <= 5.0 + 0.01).all()
    assert wgs.geometry.equals(facility_isochrones(net, fac, minutes=MINUTES).geometry)


# ---- helpers ---------------------------------------------------------------------------------


def _samples(
    net: WalkNetwork, ref: Reference, budget: float, *, step_m: float
) -> tuple[np.ndarray, np.ndarray]:
    """Points every ``step_m`` along the edges near the reach (and each edge's two ends)."""
    du = ref.node_m[net.edge_u]
    dv = ref.node_m[net.edge_v]
    near = np.flatnonzero((du <= budget + 200) | (dv <= budget + 200))
    near = np.union1d(near, [ref.edge])
    edges, positions = [], []
    for e in near:
        length = net.edge_length_m[e]
        pos = np.append(np.arange(0.0, length, step_m), length)
        # the exact cut points too
        cuts = [budget - du[e], length - (budget - dv[e])]
        pos = np.append(pos, [c for c in cuts if 0 <= c <= length])
        edges.append(np.full(pos.size, e))
        positions.append(pos)
    return np.concatenate(edges), np.concatenate(positions)


def _points(net: WalkNetwork, edge: np.ndarray, pos: np.ndarray) -> np.ndarray:
    length = net.edge_length_m[edge]
    frac = np.divide(pos, length, out=np.zeros_like(pos), where=length > 0)
    a, b = net.xy[net.edge_u[edge]], net.xy[net.edge_v[edge]]
    return shapely.points(a + frac[:, None] * (b - a))


def test_reference_sanity(tmp_path: Path) -> None:
    """The reference's point distance is the nearest-facility distance of access.py."""
    from coverage.access import nearest_facility

    net = build_walk_network(grid_osm(tmp_path / "g.osm"), cache=False)
    graph = nx_graph(net)
    ref = reference(net, graph, (GRID_STEP_DEG * 0.3, 0.0))
    origins = np.array([[GRID_STEP_DEG * 1.7, 0.0], [GRID_STEP_DEG * 0.1, 0.0]])
    so = snap_points(net, origins)
    fac = snap_points(net, np.array([[GRID_STEP_DEG * 0.3, 0.0]]))
    expected = nearest_facility(net, so, fac)["distance_m"].to_numpy()
    got = ref.point_m(net, so.edge, so.offset_m)
    np.testing.assert_allclose(got, expected, atol=1e-6)
