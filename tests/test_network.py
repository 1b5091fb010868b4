"""The walking network: filter, formats, clipped extracts, islands, cache and osmnx interop."""

from __future__ import annotations

import bz2
import hashlib
import json
import shutil
from pathlib import Path

import networkx as nx
import numpy as np
import osmium
import osmnx as ox
import pytest

from coverage.errors import NetworkError
from coverage.network import WalkNetwork, build_walk_network, great_circle_m, is_walkable
from tests.conftest import BEIJING, CHENGDU, GRID_STEP_M, grid_osm, write_osm_xml


@pytest.mark.parametrize(
    ("tags", "walkable"),
    [
        ({"highway": "footway"}, True),
        ({"highway": "residential", "oneway": "yes"}, True),  # one-way binds cars, not feet
        ({"highway": "primary"}, True),
        ({"highway": "steps"}, True),
        ({"highway": "service", "service": "parking_aisle"}, True),
        ({"highway": "motorway"}, False),
        ({"highway": "motorway_link"}, False),
        ({"highway": "cycleway"}, False),
        ({"highway": "construction"}, False),
        ({"highway": "proposed"}, False),
        ({"highway": "residential", "foot": "no"}, False),
        ({"highway": "residential", "access": "private"}, False),
        ({"highway": "service", "service": "private"}, False),
        ({"highway": "primary", "sidewalk": "separate"}, False),
        ({"highway": "primary", "sidewalk:both": "separate"}, False),
        ({"highway": "primary", "sidewalk:left": "separate"}, False),
        ({"highway": "pedestrian", "area": "yes"}, False),
        ({"building": "yes"}, False),
    ],
)
def test_walk_filter_matches_osmnx_rules(tags: dict[str, str], walkable: bool) -> None:
    assert is_walkable(tags) is walkable


def test_grid_distances_known_by_construction(tmp_path: Path) -> None:
    net = build_walk_network(grid_osm(tmp_path / "grid.osm"), cache=False)
    assert net.n_nodes == 9
    assert net.n_edges == 12
    np.testing.assert_allclose(net.edge_length_m, GRID_STEP_M, rtol=1e-9)
    from scipy.sparse.csgraph import dijkstra

    dist = dijkstra(net.adjacency, directed=False, indices=[0])[0]
    order = np.argsort(net.node_id)
    # node ids are 1 + row * 3 + col: Manhattan distance in grid steps
    expected = np.array([r + c for r in range(3) for c in range(3)]) * GRID_STEP_M
    np.testing.assert_allclose(dist[order], expected, rtol=1e-9)


def test_great_circle_matches_osmnx() -> None:
    rng = np.random.default_rng(1)
    lat1, lat2 = rng.uniform(-60, 60, 100), rng.uniform(-60, 60, 100)
    lon1, lon2 = rng.uniform(-180, 180, 100), rng.uniform(-180, 180, 100)
    np.testing.assert_allclose(
        great_circle_m(lat1, lon1, lat2, lon2), ox.distance.great_circle(lat1, lon1, lat2, lon2)
    )


def _write_pbf(src: Path, dst: Path) -> Path:
    with osmium.SimpleWriter(str(dst)) as writer:
        for obj in osmium.FileProcessor(str(src)):
            writer.add(obj)
    return dst


def test_osm_bz2_and_pbf_give_the_same_network(tmp_path: Path) -> None:
    plain = tmp_path / "beijing.osm"
    plain.write_bytes(bz2.decompress(BEIJING.read_bytes()))
    pbf = _write_pbf(BEIJING, tmp_path / "beijing.osm.pbf")
    nets = [build_walk_network(p, cache=False) for p in (BEIJING, plain, pbf)]
    first = nets[0]
    assert first.n_edges > 500
    for other in nets[1:]:
        np.testing.assert_array_equal(other.node_id, first.node_id)
        np.testing.assert_array_equal(other.edge_u, first.edge_u)
        np.testing.assert_array_equal(other.edge_v, first.edge_v)
        np.testing.assert_allclose(other.lon, first.lon)
        np.testing.assert_allclose(other.edge_length_m, first.edge_length_m)


def _clip(src: Path, dst: Path, bbox: tuple[float, float, float, float]) -> tuple[int, int]:
    """Cut an extract as osmium/osm.org do: nodes inside the box, and every way with a node
    inside, whole (so some of its references point outside). Returns (walkable refs outside,
    walkable ways kept)."""
    west, south, east, north = bbox
    inside: set[int] = set()
    for node in osmium.FileProcessor(str(src), osmium.osm.NODE):
        if west <= node.location.lon <= east and south <= node.location.lat <= north:
            inside.add(node.id)
    missing_refs = 0
    kept_ways = 0
    with osmium.SimpleWriter(str(dst)) as writer:
        for obj in osmium.FileProcessor(str(src), osmium.osm.NODE | osmium.osm.WAY):
            if obj.is_node():
                if obj.id in inside:
                    writer.add(obj)
                continue
            refs = [n.ref for n in obj.nodes]
            if not any(r in inside for r in refs):
                continue
            writer.add(obj)
            if is_walkable({t.k: t.v for t in obj.tags}):
                missing_refs += sum(r not in inside for r in refs)
                kept_ways += 1
    return missing_refs, kept_ways


def test_clipped_extract_loads_and_counts_dropped_refs(tmp_path: Path) -> None:
    clipped = tmp_path / "chengdu-clipped.osm"
    missing, _ = _clip(CHENGDU, clipped, (104.07, 30.67, 104.10, 30.70))
    assert missing > 0
    with pytest.raises(Exception, match="missing nodes"):
        ox.graph_from_xml(clipped, bidirectional=True, retain_all=True)
    net = build_walk_network(clipped, cache=False)
    assert net.report is not None
    assert net.report.dropped_node_refs == missing
    assert net.report.ways_split_at_gaps >= 0
    assert "dropped refs" in str(net.report)
    # every kept node lies inside the box: nothing was invented outside it
    assert net.lon.min() >= 104.07 and net.lon.max() <= 104.10


def test_way_is_split_at_a_gap_not_bridged(tmp_path: Path) -> None:
    nodes = {1: (0.0, 0.0), 2: (0.001, 0.0), 4: (0.003, 0.0), 5: (0.004, 0.0)}
    path = write_osm_xml(tmp_path / "gap.osm", nodes, [(7, [1, 2, 3, 4, 5], {"highway": "path"})])
    net = build_walk_network(path, cache=False)
    assert net.report is not None
    assert net.report.dropped_node_refs == 1
    assert net.report.ways_split_at_gaps == 1
    assert net.n_edges == 2  # 1-2 and 4-5; no straight line 2-4 across the missing node
    assert net.report.components == 2


def test_islands_are_kept_and_reported(tmp_path: Path) -> None:
    net = build_walk_network(grid_osm(tmp_path / "grid.osm", island=True), cache=False)
    assert net.report is not None
    assert net.report.component_sizes == (9, 2)
    assert "1 islands besides the largest (2 nodes" in str(net.report)


def test_no_walkable_ways_is_a_clear_error(tmp_path: Path) -> None:
    path = write_osm_xml(
        tmp_path / "m.osm", {1: (0.0, 0.0), 2: (0.01, 0.0)}, [(1, [1, 2], {"highway": "motorway"})]
    )
    with pytest.raises(NetworkError, match="no walkable ways"):
        build_walk_network(path, cache=False)
    with pytest.raises(NetworkError, match="no such OSM file"):
        build_walk_network(tmp_path / "absent.osm.pbf")


def test_cache_roundtrip_and_key(tmp_path: Path) -> None:
    src = tmp_path / "b.osm"
    src.write_bytes(bz2.decompress(BEIJING.read_bytes()))
    built = build_walk_network(src, cache_dir=tmp_path / "c")
    cached = build_walk_network(src, cache_dir=tmp_path / "c")
    assert built.report is not None and cached.report is not None
    assert not built.report.from_cache and cached.report.from_cache
    np.testing.assert_array_equal(cached.edge_u, built.edge_u)
    np.testing.assert_array_equal(cached.edge_length_m, built.edge_length_m)
    assert cached.way_tags == built.way_tags
    assert cached.report.component_sizes == built.report.component_sizes
    # another file content -> another cache entry, never a stale network
    grid = grid_osm(tmp_path / "g.osm")
    shutil.copy(grid, src)
    other = build_walk_network(src, cache_dir=tmp_path / "c")
    assert other.report is not None and not other.report.from_cache
    assert other.n_nodes == 9


def test_networkx_interop_roundtrip(beijing_net) -> None:  # type: ignore[no-untyped-def]
    graph = beijing_net.to_networkx()
    assert isinstance(graph, nx.MultiDiGraph)
    assert graph.number_of_edges() == 2 * beijing_net.n_edges
    # osmnx functions work on it
    nodes, edges = ox.graph_to_gdfs(graph)
    assert {"x", "y", "street_count"} <= set(nodes.columns)
    assert {"osmid", "length", "highway"} <= set(edges.columns)
    simple = beijing_net.to_networkx(simplify=True)
    assert len(simple) < len(graph)
    # and both come back with the same distances
    src = int(beijing_net.node_id[0])
    for g in (graph, simple):
        back = type(beijing_net).from_networkx(g)
        ref = nx.single_source_dijkstra_path_length(graph, src, weight="length")
        from scipy.sparse.csgraph import dijkstra

        d = dijkstra(
            back.adjacency, directed=False, indices=[int(np.searchsorted(back.node_id, src))]
        )[0]
        for nid, length in [(n, ln) for n, ln in ref.items() if n in g][:500]:
            pos = int(np.searchsorted(back.node_id, nid))
            assert back.node_id[pos] == nid
            assert abs(d[pos] - length) < 1e-6


# ---- a cache that is damaged or written concurrently ----------------------------------------


def _cache_file(cache_dir: Path) -> Path:
    files = list((cache_dir / "networks").glob("*.npz"))
    assert len(files) == 1, files
    return files[0]


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage"])
def test_an_unreadable_cache_is_rebuilt_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    src = grid_osm(tmp_path / "grid.osm")
    built = build_walk_network(src, cache_dir=tmp_path / "c")
    cached = _cache_file(tmp_path / "c")
    data = cached.read_bytes()
    cached.write_bytes(
        {"empty": b"", "truncated": data[: len(data) // 2], "garbage": b"\x00PK\x03 not a zip"}[
            damage
        ]
    )
    with caplog.at_level("WARNING", logger="coverage.network"):
        again = build_walk_network(src, cache_dir=tmp_path / "c")
    assert again.report is not None and not again.report.from_cache
    np.testing.assert_array_equal(again.edge_length_m, built.edge_length_m)
    assert str(cached) in caplog.text and "rebuilding" in caplog.text
    # the rebuilt cache is whole again
    third = build_walk_network(src, cache_dir=tmp_path / "c")
    assert third.report is not None and third.report.from_cache


def _build_in_process(args: tuple[str, str]) -> int:
    src, cache_dir = args
    return build_walk_network(src, cache_dir=cache_dir).n_edges


def test_concurrent_cold_builds_leave_a_loadable_cache(tmp_path: Path) -> None:
    import multiprocessing

    expected = build_walk_network(BEIJING, cache=False).n_edges
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        for round_ in range(4):
            cache_dir = tmp_path / f"round{round_}"
            sizes = pool.map(_build_in_process, [(str(BEIJING), str(cache_dir))] * 4)
            assert sizes == [expected] * 4
            folder = cache_dir / "networks"
            assert [p.suffix for p in folder.iterdir()] == [".npz"]  # no temporary file left
            net = build_walk_network(BEIJING, cache_dir=cache_dir)
            assert net.report is not None and net.report.from_cache
            assert net.n_edges == expected


def test_cache_entries_and_clear(tmp_path: Path) -> None:
    from coverage.network import cache_entries, clear_cache

    cache_dir = tmp_path / "c"
    assert cache_entries(cache_dir) == []
    src = grid_osm(tmp_path / "grid.osm")
    net = build_walk_network(src, cache_dir=cache_dir)
    (entry,) = cache_entries(cache_dir)
    assert entry.osm_file == str(src) and entry.error is None
    assert entry.nodes == net.n_nodes and entry.size_bytes == entry.path.stat().st_size
    assert entry.osm_sha256 is not None and len(entry.osm_sha256) == 64
    (cache_dir / "networks" / "broken.npz").write_bytes(b"")
    entries = cache_entries(cache_dir)
    assert [e.error for e in entries if e.path.name == "broken.npz"] == ["unreadable (EOFError)"]
    assert sorted(p.name for p in clear_cache(cache_dir)) == sorted(e.path.name for e in entries)
    assert cache_entries(cache_dir) == []


def test_concurrent_writers_never_share_a_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two writers of the same cache entry, the second starting while the first writes."""
    import coverage.network as network_module

    net = build_walk_network(grid_osm(tmp_path / "grid.osm"), cache=False)
    target = tmp_path / "c" / "networks" / "entry.npz"
    real_savez = np.savez
    temporary: list[str] = []

    def savez(file: object, **arrays: object) -> None:
        temporary.append(str(getattr(file, "name", file)))
        if len(temporary) == 1:  # the second writer runs while the first is writing
            network_module._save_cache(net, target)
        real_savez(file, **arrays)  # type: ignore[arg-type]

    monkeypatch.setattr(network_module.np, "savez", savez)
    network_module._save_cache(net, target)
    assert len(temporary) == 2 and temporary[0] != temporary[1]
    monkeypatch.undo()
    loaded = network_module._load_cache(target, source="grid", started=0.0)
    np.testing.assert_array_equal(loaded.edge_length_m, net.edge_length_m)
    assert [p.name for p in target.parent.iterdir()] == ["entry.npz"]


def _network_fingerprint(net: WalkNetwork) -> str:
    """SHA-256 of the network's arrays in their order (floats rounded to 1e-9) and way tags."""
    digest = hashlib.sha256()
    for ints in (net.node_id, net.edge_u, net.edge_v, net.edge_way):
        digest.update(np.ascontiguousarray(ints, dtype="<i8").tobytes())
    for floats in (net.lon, net.lat, net.edge_length_m):
        digest.update(np.round(np.asarray(floats, dtype="<f8"), 9).tobytes())
    tags = {str(k): v for k, v in sorted(net.way_tags.items())}
    digest.update(json.dumps(tags, sort_keys=True, ensure_ascii=False).encode())
    return digest.hexdigest()


# computed with the parser of main at 283fb67, before the build was made faster (issue 13):
# the faster parser must give the very same network, array for array
_MAIN_283FB67_FINGERPRINTS = {
    BEIJING.name: "7c7250c4251de798da0816d851d455db817d2679647118afdeefdbc91858b1bf",
    CHENGDU.name: "3932ae1f9da7ed2a4e41d0777937467bbac5479e65431dc77351d9ea6fff1210",
}


@pytest.mark.parametrize("osm", [BEIJING, CHENGDU], ids=["beijing", "chengdu"])
def test_network_arrays_are_those_of_the_reference_parser(osm: Path) -> None:
    net = build_walk_network(osm, cache=False)
    assert _network_fingerprint(net) == _MAIN_283FB67_FINGERPRINTS[osm.name]


def test_adjacency_keeps_the_shortest_parallel_edge_as_a_plain_loop_would() -> None:
    from coverage.network import _adjacency

    rng = np.random.default_rng(5)
    n, m = 40, 400  # many parallel edges, some zero lengths, some loops
    u = rng.integers(0, n, m)
    v = rng.integers(0, n, m)
    length = rng.choice([0.0, 1.0, 2.5, 7.0], m)
    best: dict[tuple[int, int], float] = {}
    for a, b, w in zip(u.tolist(), v.tolist(), length.tolist(), strict=True):
        for key in ((a, b), (b, a)):
            best[key] = min(best.get(key, np.inf), max(w, 1e-9))
    adjacency = _adjacency(n, u, v, length)
    assert adjacency.has_canonical_format
    coo = adjacency.tocoo()
    got = dict(
        zip(zip(coo.row.tolist(), coo.col.tolist(), strict=True), coo.data.tolist(), strict=True)
    )
    assert got == best
