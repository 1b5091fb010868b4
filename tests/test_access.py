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
from tests.reference import brute_force_snap, osmnx_walk_graph, reference_nearest


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


def test_kdtree_snapping_matches_the_rtree_everywhere(chengdu_net: WalkNetwork) -> None:
    """The sampled k-d tree search finds edges exactly as near as shapely's R-tree does,
    including at intersections and on densely noded curves (the fallback path)."""
    import shapely

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
