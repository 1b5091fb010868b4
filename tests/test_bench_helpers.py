"""The benchmark's own reference methods do the work they are said to do (nothing is timed).

``scripts/bench.py`` compares our build with a bare pyosmium read "with the same filter", and
``scripts/bench_growth.py`` crops the network to a given size; a floor that read other ways, or
a crop that broke the network's invariants, would make the published ratios wrong.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from coverage.network import build_walk_network

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
CHENGDU = Path(__file__).resolve().parent / "data" / "osm" / "chengdu-center.osm.bz2"

pytest.importorskip("osmium", reason="the benchmark's floor reads OSM files with pyosmium")


@pytest.fixture(scope="module")
def bench_modules() -> Iterator[Any]:
    sys.path.insert(0, str(SCRIPTS))
    try:
        import bench

        sys.modules.setdefault("bench", bench)
        yield bench
    finally:
        sys.path.remove(str(SCRIPTS))


def test_bare_read_sees_exactly_the_ways_the_build_keeps(bench_modules: Any) -> None:
    net = build_walk_network(CHENGDU, cache=False)
    refs = np.array(bench_modules.bare_pyosmium_walk_read(CHENGDU), dtype=np.int64).reshape(-1, 3)
    ids = np.unique(refs[:, 0])
    # every node of the network is a referenced node of a walkable way, and vice versa (the
    # extract has no references to nodes outside it, so nothing is dropped)
    assert net.report is not None and net.report.dropped_node_refs == 0
    np.testing.assert_array_equal(ids, net.node_id)
    # locations are the same 1e-7 degree integers the build divides
    first = {r[0]: (r[1], r[2]) for r in refs.tolist()}
    pos = np.searchsorted(net.node_id, ids)
    xs = np.array([first[i][0] for i in ids.tolist()]) / 1e7
    np.testing.assert_allclose(xs, net.lon[pos], rtol=0, atol=1e-12)


def test_crop_keeps_the_nearest_nodes_and_only_edges_between_them(bench_modules: Any) -> None:
    from bench_growth import crop_network

    net = build_walk_network(CHENGDU, cache=False)
    crop = crop_network(net, 2000)
    assert crop.n_nodes == 2000
    assert np.all(np.diff(crop.node_id) > 0), "node ids stay sorted, as WalkNetwork needs"
    assert np.isin(crop.node_id, net.node_id).all()
    # each cropped edge is an edge of the original network between the same two nodes
    original = set(
        zip(net.node_id[net.edge_u].tolist(), net.node_id[net.edge_v].tolist(), strict=True)
    )
    cropped = zip(
        crop.node_id[crop.edge_u].tolist(), crop.node_id[crop.edge_v].tolist(), strict=True
    )
    assert set(cropped) <= original
    # and every original edge between two kept nodes is kept
    kept = np.isin(net.node_id, crop.node_id)
    assert crop.n_edges == int((kept[net.edge_u] & kept[net.edge_v]).sum())
    np.testing.assert_allclose(
        np.sort(crop.edge_length_m),
        np.sort(net.edge_length_m[kept[net.edge_u] & kept[net.edge_v]]),
    )
