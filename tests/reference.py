"""Slow, obvious references the fast paths are checked against: osmnx's own graph of a file,
nearest edges by checking every edge, and networkx Dijkstra."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import osmium
import osmnx as ox
import pyproj

from coverage.network import is_walkable
from tests.conftest import write_osm_xml


def osmnx_walk_graph(src: Path, tmp: Path) -> nx.MultiDiGraph:
    """osmnx's own graph of the file's walkable ways (bidirectional, all components)."""
    ways = []
    used: set[int] = set()
    for way in osmium.FileProcessor(str(src), osmium.osm.WAY):
        tags = {t.k: t.v for t in way.tags}
        if is_walkable(tags):
            refs = [n.ref for n in way.nodes]
            ways.append((way.id, refs, tags))
            used.update(refs)
    nodes = {
        n.id: (n.location.lon, n.location.lat)
        for n in osmium.FileProcessor(str(src), osmium.osm.NODE)
        if n.id in used
    }
    path = write_osm_xml(tmp / "walk.osm", nodes, ways)
    return ox.graph_from_xml(path, bidirectional=True, retain_all=True, simplify=False)


def brute_force_snap(
    graph: nx.MultiDiGraph, lonlat: np.ndarray, crs: pyproj.CRS, max_snap_m: float
) -> list[tuple[int, int, float, float] | None]:
    """Nearest edge of every point by checking every edge (u, v, offset along u->v, snap)."""
    tr = pyproj.Transformer.from_crs(4326, crs, always_xy=True)
    edges = [(u, v) for u, v in {tuple(sorted((u, v))) for u, v, _ in graph.edges(keys=True)}]
    ux, uy = tr.transform(
        [graph.nodes[u]["x"] for u, _ in edges], [graph.nodes[u]["y"] for u, _ in edges]
    )
    vx, vy = tr.transform(
        [graph.nodes[v]["x"] for _, v in edges], [graph.nodes[v]["y"] for _, v in edges]
    )
    a = np.column_stack([ux, uy])
    b = np.column_stack([vx, vy])
    ab = b - a
    ab2 = np.maximum((ab**2).sum(axis=1), 1e-12)
    px, py = tr.transform(lonlat[:, 0], lonlat[:, 1])
    out: list[tuple[int, int, float, float] | None] = []
    for p in np.column_stack([px, py]):
        t = np.clip(((p - a) * ab).sum(axis=1) / ab2, 0, 1)
        proj = a + t[:, None] * ab
        d = np.hypot(*(p - proj).T)
        i = int(np.argmin(d))
        if d[i] > max_snap_m:
            out.append(None)
            continue
        u, v = edges[i]
        length = float(graph.edges[u, v, 0]["length"])
        out.append((u, v, float(t[i]) * length, float(d[i])))
    return out


def inserted_graph(graph: nx.MultiDiGraph, origins: list, facilities: list) -> nx.Graph:
    """The undirected graph with every snapped facility ("f", k) and origin ("o", i) inserted
    on its edge (snaps as from :func:`brute_force_snap`; None = not snapped)."""
    g = nx.Graph()
    for u, v, data in graph.edges(data=True):
        w = data["length"]
        if not g.has_edge(u, v) or g.edges[u, v]["w"] > w:
            g.add_edge(u, v, w=w)
    for tag, points in (("f", facilities), ("o", origins)):
        for i, p in enumerate(points):
            if p is None:
                continue
            u, v, t, s = p
            length = graph.edges[u, v, 0]["length"]
            g.add_edge((tag, i), u, w=s + t)
            g.add_edge((tag, i), v, w=s + length - t)
    for i, o in enumerate(origins):  # a facility on the origin's own edge, directly
        for k, f in enumerate(facilities):
            if o is not None and f is not None and f[:2] == o[:2]:
                g.add_edge(("o", i), ("f", k), w=o[3] + abs(o[2] - f[2]) + f[3])
    return g


def reference_nearest(graph: nx.MultiDiGraph, origins: list, facilities: list) -> np.ndarray:
    """networkx multi-source Dijkstra with origins and facilities inserted on their edges."""
    g = inserted_graph(graph, origins, facilities)
    sources = [("f", k) for k, f in enumerate(facilities) if f is not None]
    dist = nx.multi_source_dijkstra_path_length(g, sources, weight="w")
    return np.array(
        [np.nan if o is None else dist.get(("o", i), np.inf) for i, o in enumerate(origins)]
    )


def snapped_as_reference(net: Any, snapped: Any) -> list[tuple[int, int, float, float] | None]:
    """Our snapping (:class:`coverage.snapping.SnappedPoints` on ``net``) in the form the
    functions here take (u, v, offset from u, snap), so that a reference search starts from
    exactly the same points; ``None`` for a point off the network."""
    out: list[tuple[int, int, float, float] | None] = []
    for e, off, snap in zip(snapped.edge, snapped.offset_m, snapped.snap_m, strict=True):
        if e < 0:
            out.append(None)
            continue
        u, v = int(net.node_id[net.edge_u[e]]), int(net.node_id[net.edge_v[e]])
        out.append((u, v, float(off), float(snap)))
    return out


def points_on_edges(net: Any, edges: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(lon, lat) of one point inside each of ``edges`` of ``net`` (10-90 % along its chord)."""
    t = rng.uniform(0.1, 0.9, edges.size)
    lon = net.lon[net.edge_u[edges]] * (1 - t) + net.lon[net.edge_v[edges]] * t
    lat = net.lat[net.edge_u[edges]] * (1 - t) + net.lat[net.edge_v[edges]] * t
    return np.column_stack([lon, lat])
