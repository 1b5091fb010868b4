"""One preparation of the origins for every category's search (``prepare_origins``, what
``audit_case`` does): on real extracts, each set of facilities searched from the prepared
origins gives the networkx Dijkstra distances, names a facility at exactly that distance, and
equals the search without the preparation to the last bit."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from coverage.access import nearest_facility, prepare_origins
from coverage.network import WalkNetwork
from coverage.snapping import snap_points
from tests.reference import (
    points_on_edges,
    reference_nearest,
    snapped_as_reference,
)

TOLERANCE_M = 1e-5


def test_every_category_from_prepared_origins_matches_networkx(
    real_with_osmnx: tuple[WalkNetwork, nx.MultiDiGraph],
) -> None:
    net, graph = real_with_osmnx
    rng = np.random.default_rng(41)
    west, south, east, north = net.bbox
    origins = np.column_stack([rng.uniform(west, east, 300), rng.uniform(south, north, 300)])
    so = snap_points(net, origins, max_snap_m=250)
    assert so.ok.sum() > 100 and (~so.ok).sum() > 0  # some origins off the network
    prepared = prepare_origins(net, so)
    ref_o = snapped_as_reference(net, so)
    # "categories": scattered facilities, facilities on the origins' own edges (reached
    # without passing a node, two on one edge), a single facility, and none on the network
    own = so.edge[so.ok][:12]
    # other edges of the origins' chains (the run of edges between two junctions): reached
    # along the chain without passing its ends
    ch = net.chains
    chains = ch.edge_chain[so.edge[so.ok][12:40]]
    same_chain = np.flatnonzero(
        np.isin(ch.edge_chain, chains) & ~np.isin(np.arange(ch.edge_chain.size), so.edge[so.ok])
    )
    sets = {
        "scattered": np.column_stack([rng.uniform(west, east, 30), rng.uniform(south, north, 30)]),
        "own edges": points_on_edges(net, np.concatenate([own, own[:3]]), rng),
        "same chains": points_on_edges(net, rng.choice(same_chain, 20, replace=False), rng),
        "one": np.column_stack([rng.uniform(west, east, 1), rng.uniform(south, north, 1)]),
        "off the network": np.array([[west - 1.0, south - 1.0]]),
    }
    for name, points in sets.items():
        sf = snap_points(net, points, max_snap_m=250)
        ref_f = snapped_as_reference(net, sf)
        if sf.ok.any():
            reference = reference_nearest(graph, ref_o, ref_f)
        else:  # nothing to reach
            reference = np.where(so.ok, np.inf, np.nan)
        for cutoff_m in (None, 700.0):
            ours = nearest_facility(net, so, sf, cutoff_m=cutoff_m, prepared=prepared)
            plain = nearest_facility(net, so, sf, cutoff_m=cutoff_m)
            d = ours["distance_m"].to_numpy()
            np.testing.assert_array_equal(d, plain["distance_m"].to_numpy())  # the very values
            # the arrays an audit reads: the same distances, the facility as its position
            arrays_d, arrays_at = prepared.nearest(sf, cutoff_m)
            np.testing.assert_array_equal(arrays_d, d)
            at = nearest_facility(net, so, sf, cutoff_m=cutoff_m, prepared=prepared, positions=True)
            np.testing.assert_array_equal(arrays_at, at["facility"].to_numpy())
            assert ours["facility"].equals(plain["facility"])
            expected = (
                reference if cutoff_m is None else np.where(reference > cutoff_m, np.inf, reference)
            )
            np.testing.assert_array_equal(np.isnan(d), np.isnan(expected))
            np.testing.assert_array_equal(np.isinf(d), np.isinf(expected))
            finite = np.isfinite(expected)
            assert np.abs(d[finite] - expected[finite]).max(initial=0.0) < TOLERANCE_M, name
            # the facility named is at that distance (networkx, that facility alone)
            named = ours["facility"].to_numpy()
            assert (named[finite] != None).all() and (named[~finite] == None).all()  # noqa: E711
            for i in np.flatnonzero(finite)[:8]:
                k = int(named[i])
                alone = [f if j == k else None for j, f in enumerate(ref_f)]
                d_alone = reference_nearest(graph, [ref_o[i]], alone)[0]
                assert abs(d_alone - d[i]) < TOLERANCE_M, (name, i)
        if name == "own edges":
            # the case is covered: origins whose nearest facility is on their own edge
            first = np.flatnonzero(so.ok)[:12]
            named_edge = sf.edge[named[first].astype(np.int64)]
            assert (named_edge == so.edge[first]).sum() >= 6
        if name == "same chains":
            # and origins whose nearest facility is on their chain, but not on their edge
            on = np.flatnonzero(finite & (named != None))  # noqa: E711
            f_edge = sf.edge[named[on].astype(np.int64)]
            same = (ch.edge_chain[f_edge] == ch.edge_chain[so.edge[on]]) & (f_edge != so.edge[on])
            assert same.sum() >= 3


def test_prepared_origins_must_be_the_searched_ones(beijing_net: WalkNetwork) -> None:
    net = beijing_net
    west, south, east, north = net.bbox
    points = np.array([[(west + east) / 2, (south + north) / 2], [west, south]])
    so = snap_points(net, points, max_snap_m=250)
    other = snap_points(net, points[::-1], max_snap_m=250)
    sf = snap_points(net, points[:1], max_snap_m=250)
    with pytest.raises(ValueError, match="prepare_origins"):
        nearest_facility(net, so, sf, prepared=prepare_origins(net, other))
