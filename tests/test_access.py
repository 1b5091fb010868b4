"""Nearest-facility distances: exact against networkx Dijkstra on the osmnx graph of the same
file, known answers on a hand-made grid, islands, unsnapped points and monotonicity."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pyproj
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage.access import nearest_facility, node_distances
from coverage.network import WalkNetwork, build_walk_network, great_circle_m
from coverage.snapping import snap_points
from tests.conftest import BEIJING, CHENGDU, GRID_STEP_DEG, GRID_STEP_M, grid_osm
from tests.reference import (
    brute_force_snap,
    inserted_graph,
    osmnx_walk_graph,
    reference_nearest,
)


@pytest.mark.parametrize("src", [BEIJING, CHENGDU], ids=["beijing", "chengdu"])
def test_distances_match_networkx_dijkstra_on_osmnx_graph(src: Path, tmp_path: Path) -> None:
    net = build_walk_network(src, cache=False)
    graph = osmnx_walk_graph(src, tmp_path)
    rng = np.random.default_rng(7)
    west, south, east, north = net.bbox
    origins = np.column_stack([rng.uniform(west, east, 300), rng.uniform(south, north, 300)])
    facilities = np.column_stack([rng.uniform(west, east, 12), rng.uniform(south, north, 12)])
    so = snap_points(net, origins, max_snap_m=250)
    sf = snap_points(net, facilities, max_snap_m=250)
    ours = nearest_facility(net, so, sf)["distance_m"].to_numpy()

    ref_o = brute_force_snap(graph, origins, net.metric_crs, 250)
    ref_f = brute_force_snap(graph, facilities, net.metric_crs, 250)
    # the same points are snapped (brute force over all edges vs the spatial index)
    assert [r is not None for r in ref_o] == list(so.ok)
    np.testing.assert_allclose(so.snap_m[so.ok], [r[3] for r in ref_o if r], atol=1e-6)
    reference = reference_nearest(graph, ref_o, ref_f)
    assert np.isfinite(reference).sum() > 100
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(reference))
    np.testing.assert_array_equal(np.isinf(ours), np.isinf(reference))
    finite = np.isfinite(reference)
    assert np.abs(ours[finite] - reference[finite]).max() < 0.5


@pytest.mark.parametrize("src", [BEIJING, CHENGDU], ids=["beijing", "chengdu"])
def test_node_distances_match_networkx_multi_source(src: Path, tmp_path: Path) -> None:
    net = build_walk_network(src, cache=False)
    graph = osmnx_walk_graph(src, tmp_path)
    rng = np.random.default_rng(3)
    pick = rng.choice(net.n_nodes, 20, replace=False)
    # a facility exactly on a node: snapped at offset 0 of one of its edges
    lonlat = np.column_stack([net.lon[pick], net.lat[pick]])
    nodes = node_distances(net, snap_points(net, lonlat), cutoff_m=1500)
    ref = nx.multi_source_dijkstra_path_length(
        graph, {int(n) for n in net.node_id[pick]}, cutoff=1500, weight="length"
    )
    ours = dict(zip(net.node_id.tolist(), nodes.distance_m.tolist(), strict=True))
    reached = {n for n, d in ours.items() if np.isfinite(d)}
    assert reached == set(ref)
    assert max(abs(ours[n] - d) for n, d in ref.items()) < 0.5


@pytest.mark.parametrize("src", [BEIJING, CHENGDU], ids=["beijing", "chengdu"])
def test_crowded_off_street_facilities_match_networkx(src: Path, tmp_path: Path) -> None:
    """Many facilities on the same streets, each a different distance off it: a node's
    nearest is then often not the facility whose projection is next to it (regression)."""
    net = build_walk_network(src, cache=False)
    graph = osmnx_walk_graph(src, tmp_path)
    rng = np.random.default_rng(5)
    hubs = rng.choice(net.n_nodes, 40, replace=False)
    to_metric = pyproj.Transformer.from_crs(4326, net.metric_crs, always_xy=True)
    hx, hy = to_metric.transform(net.lon[hubs], net.lat[hubs])
    # 10 shops around each of 40 spots, up to 120 m away
    x = np.repeat(hx, 10) + rng.uniform(-120, 120, 400)
    y = np.repeat(hy, 10) + rng.uniform(-120, 120, 400)
    lon, lat = to_metric.transform(x, y, direction="INVERSE")
    facilities = np.column_stack([lon, lat])
    sf = snap_points(net, facilities, max_snap_m=250)
    ch = net.chains
    on_chain = pd.Series(ch.edge_chain[sf.edge[sf.ok]])
    assert (on_chain.value_counts() >= 3).sum() >= 20  # many chains hold several facilities
    nodes = node_distances(net, sf, cutoff_m=600)

    ref_f = brute_force_snap(graph, facilities, net.metric_crs, 250)
    g = inserted_graph(graph, [], ref_f)
    ref = nx.multi_source_dijkstra_path_length(
        g, [("f", k) for k, f in enumerate(ref_f) if f is not None], cutoff=600, weight="w"
    )
    ours = dict(zip(net.node_id.tolist(), nodes.distance_m.tolist(), strict=True))
    ref_nodes = {n: d for n, d in ref.items() if not isinstance(n, tuple)}
    assert {n for n, d in ours.items() if np.isfinite(d)} == set(ref_nodes)
    assert max(abs(ours[n] - d) for n, d in ref_nodes.items()) < 0.5
    # the facility named for each node is at the distance reported
    reached = np.flatnonzero(np.isfinite(nodes.distance_m))
    assert (nodes.source[reached] >= 0).all()
    for pos in rng.choice(reached, 100, replace=False):
        single = nx.single_source_dijkstra_path_length(
            g, ("f", int(nodes.source[pos])), cutoff=600, weight="w"
        )
        assert single[int(net.node_id[pos])] == pytest.approx(nodes.distance_m[pos], abs=0.5)


def test_a_nearer_facility_behind_a_farther_one_on_the_same_street() -> None:
    """A straight street of bends (one chain): A on the street at 40 m, B 100 m off it at
    50 m. From 60 m on, A (20 m away) is nearer than B, although B's projection is closer."""
    step = 10.0
    deg = (
        step / great_circle_m(np.array([0.0]), np.array([0.0]), np.array([0.0]), np.array([1.0]))[0]
    )
    graph = nx.MultiDiGraph(crs="EPSG:4326")
    for i in range(11):
        graph.add_node(i, x=i * deg, y=0.0)
    for i in range(10):
        graph.add_edge(i, i + 1, length=step)
        graph.add_edge(i + 1, i, length=step)
    net = WalkNetwork.from_networkx(graph)
    assert net.chains.core_nodes.size == 2  # the two dead ends
    north_100m = 100.0 * deg / step
    sf = snap_points(net, np.array([[4 * deg, 0.0], [5 * deg, north_100m]]))
    assert sf.snap_m == pytest.approx([0.0, 100.0], abs=0.5)
    nodes = node_distances(net, sf)
    by_id = dict(zip(net.node_id.tolist(), nodes.distance_m.tolist(), strict=True))
    expected = {i: abs(i - 4) * step for i in range(11)}
    assert by_id == pytest.approx(expected, abs=0.01)
    assert set(nodes.source.tolist()) == {0}


def test_a_node_without_edges_does_not_hide_the_street() -> None:
    """A point 1 m from a node that has no edge, 50 m from a street, snaps to the street."""
    deg = (
        1.0 / great_circle_m(np.array([0.0]), np.array([0.0]), np.array([0.0]), np.array([1.0]))[0]
    )
    graph = nx.MultiDiGraph(crs="EPSG:4326")
    graph.add_node(1, x=0.0, y=0.0)
    graph.add_node(2, x=100 * deg, y=0.0)
    graph.add_node(3, x=50 * deg, y=51 * deg)  # no edge
    graph.add_edge(1, 2, length=100.0)
    graph.add_edge(2, 1, length=100.0)
    net = WalkNetwork.from_networkx(graph)
    assert net.n_nodes == 3
    snapped = snap_points(net, np.array([[50 * deg, 50 * deg]]))
    assert snapped.ok.all()
    assert snapped.snap_m[0] == pytest.approx(50.0, abs=0.5)


def test_snapped_distances_known_by_construction(tmp_path: Path) -> None:
    net = build_walk_network(grid_osm(tmp_path / "grid.osm", island=True), cache=False)
    step = GRID_STEP_DEG
    lat_m = GRID_STEP_M / step  # metres per degree on the equator
    # facility: 10 m north of the middle of the bottom-left horizontal edge
    facility = [(0.5 * step, 10 / lat_m)]
    origins = pd.DataFrame(
        {
            "lon": [2 * step, 1.5 * step, 0.25 * step, 0.0205, 0.5 * step],
            "lat": [2 * step, 1.0 * step + 20 / lat_m, 0.0, 0.0, 0.01],
        },
        index=["far-corner", "mid-edge", "same-edge", "island", "off-network"],
    )
    import geopandas as gpd

    pts = gpd.GeoDataFrame(
        geometry=gpd.points_from_xy(origins["lon"], origins["lat"]), index=origins.index, crs=4326
    )
    so = snap_points(net, pts, max_snap_m=250)
    sf = snap_points(net, np.array(facility))
    assert so.unsnapped_ids == ["off-network"]
    result = nearest_facility(net, so, sf)
    d = result["distance_m"]
    h = GRID_STEP_M
    # snap distances are measured in the UTM zone (ellipsoid), edge lengths on osmnx's sphere:
    # 10 m north on the sphere is 9.95 m in UTM here, hence a 0.25 m tolerance
    assert d["far-corner"] == pytest.approx(10 + 0.5 * h + 3 * h, abs=0.25)
    assert d["mid-edge"] == pytest.approx(20 + 0.5 * h + h + 0.5 * h + 10, abs=0.25)
    assert d["same-edge"] == pytest.approx(0.25 * h + 10, abs=0.25)
    assert d["island"] == np.inf
    assert np.isnan(d["off-network"])
    assert result["facility"]["far-corner"] == 0
    assert pd.isna(result["facility"]["island"])
    capped = nearest_facility(net, so, sf, cutoff_m=2 * h)["distance_m"]
    assert capped["far-corner"] == np.inf
    assert capped["same-edge"] == pytest.approx(0.25 * h + 10, abs=0.25)


def test_nearest_facility_identifies_the_facility(beijing_net: WalkNetwork) -> None:
    rng = np.random.default_rng(11)
    pick = rng.choice(beijing_net.n_nodes, 5, replace=False)
    fac = np.column_stack([beijing_net.lon[pick], beijing_net.lat[pick]])
    sf = snap_points(beijing_net, fac)
    # an origin exactly at each facility is 0 m from it (the facility itself)
    res = nearest_facility(beijing_net, snap_points(beijing_net, fac), sf)
    np.testing.assert_allclose(res["distance_m"], 0.0, atol=1e-6)
    assert list(res["facility"]) == list(range(5))


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_fac=st.integers(1, 8),
    cutoff=st.sampled_from([None, 300.0, 800.0]),
)
def test_adding_a_facility_never_increases_a_distance(
    beijing_net: WalkNetwork, seed: int, n_fac: int, cutoff: float | None
) -> None:
    rng = np.random.default_rng(seed)
    west, south, east, north = beijing_net.bbox
    o = snap_points(
        beijing_net, np.column_stack([rng.uniform(west, east, 60), rng.uniform(south, north, 60)])
    )
    f_all = np.column_stack(
        [rng.uniform(west, east, n_fac + 1), rng.uniform(south, north, n_fac + 1)]
    )
    fewer = nearest_facility(beijing_net, o, snap_points(beijing_net, f_all[:-1]), cutoff_m=cutoff)
    more = nearest_facility(beijing_net, o, snap_points(beijing_net, f_all), cutoff_m=cutoff)
    a = fewer["distance_m"].to_numpy()
    b = more["distance_m"].to_numpy()
    ok = ~np.isnan(a)
    assert (b[ok] <= a[ok] + 1e-9).all()
    if cutoff is not None:
        assert (b[np.isfinite(b)] <= cutoff).all()


def test_great_circle_edge_lengths_are_positive(chengdu_net: WalkNetwork) -> None:
    again = great_circle_m(
        chengdu_net.lat[chengdu_net.edge_u],
        chengdu_net.lon[chengdu_net.edge_u],
        chengdu_net.lat[chengdu_net.edge_v],
        chengdu_net.lon[chengdu_net.edge_v],
    )
    np.testing.assert_allclose(again, chengdu_net.edge_length_m)
    assert (chengdu_net.edge_length_m >= 0).all()


@pytest.mark.parametrize("candidates", [1, 3, None], ids=["all-fallback", "3", "default"])
def test_kdtree_snapping_matches_the_rtree_everywhere(
    chengdu_net: WalkNetwork, candidates: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sampled k-d tree search finds edges exactly as near as shapely's R-tree does,
    including at intersections and on densely noded curves. With one candidate every point
    takes the whole-radius path (the one crowded spots take)."""
    import shapely

    import coverage.snapping

    if candidates is not None:
        monkeypatch.setattr(coverage.snapping, "_CANDIDATES", candidates)

    rng = np.random.default_rng(2)
    at_nodes = chengdu_net.xy[rng.choice(chengdu_net.n_nodes, 400, replace=False)]
    jittered = at_nodes + rng.normal(0, 15, at_nodes.shape)
    west, south, east, north = chengdu_net.bbox
    lonlat = np.column_stack([rng.uniform(west, east, 400), rng.uniform(south, north, 400)])
    transformer = pyproj.Transformer.from_crs(4326, chengdu_net.metric_crs, always_xy=True)
    scattered = np.column_stack(transformer.transform(lonlat[:, 0], lonlat[:, 1]))
    xy = np.vstack([at_nodes, jittered, scattered])
    from coverage.snapping import _nearest_edges

    _, _, dist = _nearest_edges(chengdu_net, xy, 250.0)
    (hit, _), ref = chengdu_net.edge_tree.query_nearest(
        shapely.points(xy), max_distance=250.0, return_distance=True, all_matches=False
    )
    hit, first = np.unique(hit, return_index=True)
    expected = np.full(len(xy), np.nan)
    expected[hit] = ref[first]
    np.testing.assert_array_equal(np.isnan(dist), np.isnan(expected))
    np.testing.assert_allclose(dist[~np.isnan(dist)], expected[~np.isnan(expected)], atol=1e-6)
