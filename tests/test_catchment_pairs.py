"""The catchment pair search's bounded candidates (origins bucketed in cells around each
facility, many batches of facilities) against the plain answer: one reach search per
facility, on a real extract with facilities spread over many cells, on origins' own edges and
on their chains."""

from __future__ import annotations

import numpy as np
import pytest

from coverage.access import edge_points, nearest_facility, prepare_origins
from coverage.catchment import (
    _BATCH,
    _XY_SLACK,
    _candidate_pairs,
    _Grid,
    facility_distances,
)
from coverage.network import WalkNetwork
from coverage.snapping import snap_points
from tests.reference import points_on_edges


@pytest.mark.parametrize("cutoff_m", [250.0, 700.0])
def test_pairs_equal_one_reach_search_per_facility(
    chengdu_net: WalkNetwork, cutoff_m: float
) -> None:
    net = chengdu_net
    rng = np.random.default_rng(53)
    west, south, east, north = net.bbox
    origins = np.vstack(
        [
            np.column_stack([rng.uniform(west, east, 300), rng.uniform(south, north, 300)]),
            points_on_edges(net, rng.choice(net.edge_u.size, 1500, replace=False), rng),
        ]
    )
    so = snap_points(net, origins, max_snap_m=250)
    own = rng.choice(so.edge[so.ok], 15, replace=False)  # on origins' own edges
    facilities = np.vstack(
        [
            np.column_stack([rng.uniform(west, east, 30), rng.uniform(south, north, 30)]),
            points_on_edges(net, rng.choice(net.edge_u.size, 60, replace=False), rng),
            points_on_edges(net, own, rng),
        ]
    )
    sf = snap_points(net, facilities, max_snap_m=250)
    assert sf.ok.sum() > 2 * _BATCH  # several batches
    pairs = facility_distances(net, so, sf, cutoff_m=cutoff_m)
    # with the origins prepared once (as an audit does for its catchments): the same pairs
    again = facility_distances(net, so, sf, cutoff_m=cutoff_m, prepared=prepare_origins(net, so))
    assert (again.distance_m != pairs.distance_m).nnz == 0
    coo = pairs.distance_m.tocoo()
    got = np.full((len(so), len(sf)), np.inf)
    got[coo.row, coo.col] = coo.data
    for j in range(len(sf)):
        one = np.zeros(len(sf), dtype=bool)
        one[j] = True
        alone = nearest_facility(net, so, sf.subset(one), cutoff_m=cutoff_m)["distance_m"]
        expected = np.where(np.isnan(alone.to_numpy()), np.inf, alone.to_numpy())
        within = expected <= cutoff_m
        np.testing.assert_array_equal(np.isfinite(got[:, j]), within)
        np.testing.assert_allclose(got[within, j], expected[within], rtol=0, atol=1e-9)
    # the cases are covered: many pairs, and pairs whose facility is on the origin's own edge
    assert coo.nnz > 200
    assert (so.edge[coo.row] == sf.edge[coo.col]).sum() >= 10


def test_candidate_pairs_hold_every_pair_within_the_straight_line_bound() -> None:
    rng = np.random.default_rng(59)
    o_xy = rng.uniform(0, 5000, (3000, 2))
    f_xy = rng.uniform(-200, 5200, (70, 2))
    o_snap = rng.uniform(0, 150, 3000)
    f_snap = rng.uniform(0, 80, 70)
    f_at, o_at = _candidate_pairs(o_xy, o_snap, f_xy, f_snap, 400.0)
    got = set(zip(f_at.tolist(), o_at.tolist(), strict=True))
    assert len(got) == f_at.size  # each pair once
    gap = np.hypot(*(o_xy[None, :, :] - f_xy[:, None, :]).transpose(2, 0, 1))
    bound = 400.0 - f_snap[:, None] - o_snap[None, :]
    must = set(zip(*np.nonzero(gap <= bound), strict=True))
    assert must <= got and len(must) > 100
    # and no pair far beyond it
    assert (gap[f_at, o_at] <= np.maximum(bound[f_at, o_at], 0.0) * 1.01 + 1.0).all()


@pytest.mark.parametrize("name", ["beijing_net", "chengdu_net"])
def test_projections_lie_on_the_edges_at_their_offsets(
    request: pytest.FixtureRequest, name: str
) -> None:
    """The straight-line bounds of the pair search measure from each point's projection: it
    lies on its edge's segment, ``offset_m`` network metres from the edge's first node; and
    no edge is longer in the metric coordinates than the bounds' slack allows."""
    net: WalkNetwork = request.getfixturevalue(name)
    rng = np.random.default_rng(61)
    snapped = snap_points(net, points_on_edges(net, rng.choice(net.edge_u.size, 400), rng))
    ok = snapped.ok
    edge = snapped.edge[ok]
    at = edge_points(net, edge, snapped.offset_m[ok])
    u, v = net.xy[net.edge_u[edge]], net.xy[net.edge_v[edge]]
    from_u = np.hypot(*(at - u).T)
    seg = np.hypot(*(v - u).T)
    np.testing.assert_allclose(from_u + np.hypot(*(v - at).T), seg, rtol=0, atol=1e-6)
    long = seg > 1
    np.testing.assert_allclose(
        from_u[long] * net.edge_length_m[edge][long] / seg[long],
        snapped.offset_m[ok][long],
        rtol=1e-9,
        atol=1e-6,
    )
    # every edge: metric straight line against network metres (osmnx's sphere against UTM
    # on the ellipsoid), within the slack the bounds allow
    every = np.hypot(*(net.xy[net.edge_v] - net.xy[net.edge_u]).T)
    real = net.edge_length_m > 1
    assert (every[real] / net.edge_length_m[real]).max() < 1 + _XY_SLACK


@pytest.mark.parametrize("radius", [90.0, 250.0, 1010.0, 2020.0])
def test_grid_cells_near_a_place_hold_every_point_within_the_radius(radius: float) -> None:
    """The buckets of the pair search and of the cut-out graphs: the cells near a place
    (some of them off the grid) hold every point within ``radius`` of it."""
    rng = np.random.default_rng(67)
    points = rng.uniform(0, 6000, (4000, 2))
    places = rng.uniform(-700, 6700, (60, 2))
    grid = _Grid.of(points)
    place, keys = grid.cells_near(places, radius)
    at_key, found = grid.items(keys)
    got = set(zip(place[at_key].tolist(), found.tolist(), strict=True))
    assert len(got) == found.size  # each point once per place
    gap = np.hypot(*(points[None, :, :] - places[:, None, :]).transpose(2, 0, 1))
    must = set(zip(*np.nonzero(gap <= radius), strict=True))
    assert must <= got and len(must) > 50
