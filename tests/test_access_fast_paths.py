"""The search's fast paths against networkx Dijkstra and against the plain answer at every node:
answering only at the nodes asked for (``node_distances(..., at=)``, what ``nearest_facility``
uses), and the search without the dead ends of the core graph (filled in afterwards). Real
extracts (Beijing, Chengdu) and a hand-made network with a dead end behind a bend, a loop,
parallel chains of different lengths and a lone two-node piece."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest

from coverage.access import _pruned_core, nearest_facility, node_distances
from coverage.network import WalkNetwork
from coverage.snapping import snap_points
from tests.reference import (
    inserted_graph,
    points_on_edges,
    reference_nearest,
    snapped_as_reference,
)

TOLERANCE_M = 1e-5


def _reference_nodes(
    graph: nx.MultiDiGraph, facilities: list, cutoff_m: float | None
) -> dict[int, float]:
    g = inserted_graph(graph, [], facilities)
    sources = [("f", k) for k, f in enumerate(facilities) if f is not None]
    dist = nx.multi_source_dijkstra_path_length(g, sources, cutoff=cutoff_m, weight="w")
    return {n: d for n, d in dist.items() if not isinstance(n, tuple)}


def _assert_matches_reference(
    net: WalkNetwork,
    distance_m: np.ndarray,
    ref: dict[int, float],
    nodes: np.ndarray | None = None,
) -> None:
    ids = net.node_id if nodes is None else net.node_id[nodes]
    ours = dict(zip(ids.tolist(), distance_m.tolist(), strict=True))
    assert {n for n, d in ours.items() if np.isfinite(d)} == {n for n in ref if n in ours}
    worst = max((abs(ours[n] - d) for n, d in ref.items() if n in ours), default=0.0)
    assert worst < TOLERANCE_M


def _backward_points(net: WalkNetwork, rng: np.random.Generator, count: int) -> np.ndarray:
    """Points on edges that run against their chain's direction."""
    backward = np.flatnonzero(~net.chains.edge_forward)
    assert backward.size > count
    return points_on_edges(net, rng.choice(backward, count, replace=False), rng)


def _dead_end_points(net: WalkNetwork, rng: np.random.Generator, count: int) -> np.ndarray:
    """Points on the edges of dead-end chains (and on the dead ends themselves)."""
    ch = net.chains
    dead = ch.core_nodes[_pruned_core(ch).dead_end]
    assert dead.size > count
    pick = rng.choice(dead, count, replace=False)
    at_node = np.column_stack([net.lon[pick], net.lat[pick]])
    edges = np.flatnonzero(np.isin(net.edge_u, pick) | np.isin(net.edge_v, pick))
    return np.vstack([at_node, points_on_edges(net, rng.choice(edges, count, replace=False), rng)])


@pytest.mark.parametrize("cutoff_m", [None, 800.0])
def test_search_matches_networkx_with_facilities_inside_chains_and_on_dead_ends(
    real_with_osmnx: tuple[WalkNetwork, nx.MultiDiGraph], cutoff_m: float | None
) -> None:
    net, graph = real_with_osmnx
    rng = np.random.default_rng(17)
    west, south, east, north = net.bbox
    scattered = np.column_stack([rng.uniform(west, east, 40), rng.uniform(south, north, 40)])
    points = np.vstack([scattered, _dead_end_points(net, rng, 15), _backward_points(net, rng, 10)])
    sf = snap_points(net, points, max_snap_m=250)
    ch = net.chains
    edge = sf.edge[sf.ok]
    # what the cases cover: sources inside chains, on edges that run against their chain,
    # and on the chains of dead ends left out of the search
    assert (~ch.core[net.edge_u[edge]] | ~ch.core[net.edge_v[edge]]).sum() >= 10
    assert (~ch.edge_forward[edge]).sum() >= 5 and ch.edge_forward[edge].sum() >= 5
    dead = ch.core_nodes[_pruned_core(ch).dead_end]
    assert (np.isin(net.edge_u[edge], dead) | np.isin(net.edge_v[edge], dead)).sum() >= 15

    ref = _reference_nodes(graph, snapped_as_reference(net, sf), cutoff_m)
    every = node_distances(net, sf, cutoff_m=cutoff_m)
    _assert_matches_reference(net, every.distance_m, ref)
    # dead ends are right although the search leaves them out
    _assert_matches_reference(net, every.distance_m[dead], ref, nodes=dead)
    at = np.concatenate([rng.choice(net.n_nodes, 3000), dead, ch.core_nodes[:50]])
    some = node_distances(net, sf, cutoff_m=cutoff_m, at=at)
    _assert_matches_reference(net, some.distance_m, ref, nodes=at)


@pytest.mark.parametrize("cutoff_m", [None, 600.0, 150.0])
def test_answers_at_some_nodes_equal_the_answer_at_every_node(
    real_with_osmnx: tuple[WalkNetwork, nx.MultiDiGraph], cutoff_m: float | None
) -> None:
    net, _ = real_with_osmnx
    rng = np.random.default_rng(23)
    west, south, east, north = net.bbox
    for count in (1, 7, 120):
        points = np.column_stack([rng.uniform(west, east, count), rng.uniform(south, north, count)])
        sf = snap_points(net, points, max_snap_m=250)
        every = node_distances(net, sf, cutoff_m=cutoff_m)
        at = np.concatenate([rng.choice(net.n_nodes, 2000), net.chains.core_nodes[:30]])
        some = node_distances(net, sf, cutoff_m=cutoff_m, at=at)
        np.testing.assert_array_equal(some.distance_m, every.distance_m[at])  # the very values
        np.testing.assert_array_equal(some.source, every.source[at])
        assert some.cutoff_m == every.cutoff_m
    empty = node_distances(net, sf, at=np.zeros(0, dtype=np.int64))
    assert empty.distance_m.shape == (0,) and empty.source.shape == (0,)
    none = node_distances(net, sf.subset(np.zeros(len(sf), dtype=bool)), at=[3, 1, 3])
    assert np.isinf(none.distance_m).all() and (none.source == -1).all()


def test_nearest_facility_matches_networkx_with_origins_near_dead_ends(
    real_with_osmnx: tuple[WalkNetwork, nx.MultiDiGraph],
) -> None:
    net, graph = real_with_osmnx
    rng = np.random.default_rng(29)
    west, south, east, north = net.bbox
    origins = np.vstack(
        [
            np.column_stack([rng.uniform(west, east, 200), rng.uniform(south, north, 200)]),
            _dead_end_points(net, rng, 30),
        ]
    )
    facilities = np.vstack(
        [
            np.column_stack([rng.uniform(west, east, 40), rng.uniform(south, north, 40)]),
            _dead_end_points(net, np.random.default_rng(31), 5),
        ]
    )
    so = snap_points(net, origins, max_snap_m=250)
    sf = snap_points(net, facilities, max_snap_m=250)
    ours = nearest_facility(net, so, sf, cutoff_m=1200)["distance_m"].to_numpy()
    reference = reference_nearest(
        graph, snapped_as_reference(net, so), snapped_as_reference(net, sf)
    )
    reference = np.where(reference > 1200, np.inf, reference)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(reference))
    np.testing.assert_array_equal(np.isinf(ours), np.isinf(reference))
    finite = np.isfinite(reference)
    assert finite.sum() > 30 and (~finite).sum() > 10  # some beyond the cutoff
    assert np.abs(ours[finite] - reference[finite]).max() < TOLERANCE_M


# ---- a hand-made network with every special case -------------------------------------------

STEP = 0.001  # degrees; about 111 m on the equator


def _special_network() -> WalkNetwork:
    """J1 (0, 0) and J2 (2, 0) (in STEP units) joined by a straight chain through a bend B
    (1, 0) and by a longer parallel chain over (0, 1), (1, 1.5), (2, 1); a loop at J2 over
    (3, 0.5), (3, -0.5); a dead end D1 at (-2, 0) behind a bend (-1, 0); a dead end D2 at
    (2, -1) next to J2; and, apart, a lone two-node piece (10, 10)-(11, 10)."""
    xy = {
        1: (0, 0),  # J1
        2: (2, 0),  # J2
        3: (1, 0),  # B
        4: (0, 1),
        5: (1, 1.5),
        6: (2, 1),
        7: (3, 0.5),
        8: (3, -0.5),
        9: (-1, 0),
        10: (-2, 0),  # D1
        11: (2, -1),  # D2
        12: (10, 10),
        13: (11, 10),
    }
    ways = [[1, 3, 2], [1, 4, 5, 6, 2], [2, 7, 8, 2], [1, 9, 10], [2, 11], [12, 13]]
    graph = nx.MultiDiGraph(crs="EPSG:4326")
    for nid, (x, y) in xy.items():
        graph.add_node(nid, x=x * STEP, y=y * STEP)
    for way, refs in enumerate(ways, start=100):
        for u, v in itertools.pairwise(refs):
            graph.add_edge(u, v, osmid=way, length=1.0)
            graph.add_edge(v, u, osmid=way, length=1.0)
    return WalkNetwork.from_networkx(graph)


def _lonlat(*points: tuple[float, float]) -> np.ndarray:
    return np.array([[x * STEP, y * STEP] for x, y in points])


#: Facilities: on D1 itself, inside D1's chain (off the street), on the loop, on the longer
#: parallel chain, on D2's edge, on the lone piece, and at J1.
FACILITIES = _lonlat((-2, 0), (-1.5, 0.2), (3, 0), (1, 1.6), (2, -0.6), (10.5, 10), (0, 0))


def test_the_special_network_has_its_special_cases() -> None:
    net = _special_network()
    ch = net.chains
    pruned = _pruned_core(ch)
    core_ids = set(net.node_id[ch.core_nodes].tolist())
    assert core_ids == {1, 2, 10, 11, 12, 13}
    # the dead ends D1, D2 are left out of the search; the lone piece's ends are not (each is
    # the other's only neighbour)
    assert set(net.node_id[ch.core_nodes[pruned.dead_end]].tolist()) == {10, 11}
    assert set(net.node_id[ch.core_nodes[pruned.partner]].tolist()) == {1, 2}
    out = np.zeros(ch.core_nodes.size, dtype=bool)
    out[pruned.dead_end] = True
    rows = np.repeat(np.arange(ch.core_nodes.size), np.diff(pruned.adjacency.indptr))
    assert not out[rows].any() and not out[pruned.adjacency.indices].any()
    assert pruned.adjacency.nnz == ch.adjacency.nnz - 2 * pruned.dead_end.size
    loops = ch.chain_a == ch.chain_b
    assert loops.sum() == 1  # the loop at J2
    a, b = np.minimum(ch.chain_a, ch.chain_b), np.maximum(ch.chain_a, ch.chain_b)
    pairs = list(zip(a[~loops].tolist(), b[~loops].tolist(), strict=True))
    assert len(pairs) - len(set(pairs)) == 1  # two parallel chains J1-J2


@pytest.mark.parametrize("size", [1, 2, 3])
def test_special_network_matches_networkx_for_every_set_of_facilities(size: int) -> None:
    net = _special_network()
    graph = net.to_networkx()
    sf_all = snap_points(net, FACILITIES, max_snap_m=250)
    assert sf_all.ok.all()
    origins = _lonlat((-1.8, 0.1), (-0.5, 0), (1, 0.1), (2.9, 0.4), (2, -0.9), (10.2, 10), (1, 1.4))
    so = snap_points(net, origins, max_snap_m=250)
    for chosen in itertools.combinations(range(len(FACILITIES)), size):
        mask = np.zeros(len(FACILITIES), dtype=bool)
        mask[list(chosen)] = True
        sf = sf_all.subset(mask)
        ref_f = snapped_as_reference(net, sf)
        for cutoff_m in (None, 250.0):
            ref = _reference_nodes(graph, ref_f, cutoff_m)
            every = node_distances(net, sf, cutoff_m=cutoff_m)
            _assert_matches_reference(net, every.distance_m, ref)
            at = np.array([9, 0, 12, 9, 5])
            some = node_distances(net, sf, cutoff_m=cutoff_m, at=at)
            np.testing.assert_array_equal(some.distance_m, every.distance_m[at])
            np.testing.assert_array_equal(some.source, every.source[at])
        ours = nearest_facility(net, so, sf)["distance_m"].to_numpy()
        reference = reference_nearest(graph, snapped_as_reference(net, so), ref_f)
        np.testing.assert_array_equal(np.isinf(ours), np.isinf(reference))
        finite = np.isfinite(reference)
        assert np.abs(ours[finite] - reference[finite]).max(initial=0.0) < TOLERANCE_M


def test_a_dead_end_is_reached_by_its_own_source_before_its_junction() -> None:
    """A facility at D1 itself: D1 is 0 m away and names it, although the search leaves D1 out;
    a facility at J1 and one at D1: the bend between them goes to the nearer."""
    net = _special_network()
    sf = snap_points(net, _lonlat((-2, 0), (0, 0)), max_snap_m=250)
    nodes = node_distances(net, sf)
    by_id = dict(zip(net.node_id.tolist(), nodes.distance_m.tolist(), strict=True))
    src = dict(zip(net.node_id.tolist(), nodes.source.tolist(), strict=True))
    assert by_id[10] == pytest.approx(0.0, abs=1e-6)
    assert src[10] == 0 and src[1] == 1
    bend = int(np.searchsorted(net.node_id, 9))  # the bend between J1 and D1
    half = net.edge_length_m[(net.edge_u == bend) | (net.edge_v == bend)]
    assert half.size == 2 and half[0] == pytest.approx(half[1], rel=1e-9)
    assert by_id[9] == pytest.approx(float(half.min()), rel=1e-9)


def test_at_must_be_node_positions() -> None:
    net = _special_network()
    sf = snap_points(net, FACILITIES[:1], max_snap_m=250)
    with pytest.raises(TypeError, match="node positions"):
        node_distances(net, sf, at=np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="outside"):
        node_distances(net, sf, at=[0, net.n_nodes])
    with pytest.raises(ValueError, match="outside"):
        node_distances(net, sf, at=[-1])
