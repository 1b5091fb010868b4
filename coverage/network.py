"""The walking network: read from a local OpenStreetMap file, cached, and shared with osmnx.

The network is kept *unsimplified*: one node per OSM node used by a walkable way and one edge per
way segment (two consecutive nodes of a way). Every edge is then a straight line, which makes
snapping a point to the nearest edge, cutting an edge where a time budget runs out and drawing
isochrones exact and cheap. Edge lengths are great-circle distances computed with the formula and
earth radius of :func:`osmnx.distance.great_circle`, so node-to-node distances agree with an osmnx
graph of the same file.

Which ways are walkable follows osmnx's ``network_type="walk"`` filter tag for tag (see
:func:`is_walkable`). Differences from ``osmnx.graph_from_xml``, all deliberate:

- every walkable way is walkable in both directions (``oneway`` does not bind pedestrians);
  osmnx's default ``bidirectional=False`` would apply car one-way rules to walking;
- node references missing from a clipped extract are dropped and each way is split at the gap
  (no straight line is drawn across land the extract does not contain); osmnx raises
  "Some edges missing nodes" instead;
- all connected components are kept and reported; osmnx keeps only the largest by default;
- the graph is not simplified (``to_networkx(simplify=True)`` gives osmnx's simplified graph).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyproj
import scipy.sparse as sp
from scipy.sparse import csgraph

from coverage._io import default_cache_dir, file_sha256, read_cached, write_atomically
from coverage.errors import NetworkError

if TYPE_CHECKING:
    import geopandas as gpd
    import networkx as nx
    import shapely
    from osmium.osm import TagList

__all__ = [
    "NETWORK_FORMAT_VERSION",
    "CacheEntry",
    "NetworkReport",
    "WalkNetwork",
    "build_walk_network",
    "cache_entries",
    "clear_cache",
    "default_cache_dir",
    "download_walk_network",
    "great_circle_m",
    "is_walkable",
]

logger = logging.getLogger(__name__)

#: Bumped whenever the parsed network or its cache layout changes, so old caches are not used:
#: the version is part of the cache key, so a file of another version is never even opened
#: (no warning; it stays until :func:`clear_cache`). 3: the snapping index and the metric
#: coordinates are cached with the network.
NETWORK_FORMAT_VERSION = 3

#: The earth radius osmnx uses for great-circle lengths (``osmnx.distance.EARTH_RADIUS_M``).
EARTH_RADIUS_M = 6_371_009.0

#: Way tags kept as edge attributes (osmnx's ``settings.useful_tags_way``).
USEFUL_WAY_TAGS = (
    "access",
    "area",
    "bridge",
    "est_width",
    "highway",
    "junction",
    "landuse",
    "lanes",
    "maxspeed",
    "name",
    "oneway",
    "ref",
    "service",
    "tunnel",
    "width",
)

# osmnx 2.x, ``_overpass._get_network_filter("walk")`` with ``settings.default_access``:
#   ["highway"]["area"!~"yes"]["access"!~"private"]
#   ["highway"!~"abandoned|bus_guideway|construction|cycleway|motor|no|planned|platform|
#               proposed|raceway|razed|rest_area|services"]
#   ["foot"!~"no"]["service"!~"private"]
#   ["sidewalk"!~"separate"]["sidewalk:both"!~"separate"]
#   ["sidewalk:left"!~"separate"]["sidewalk:right"!~"separate"]
# Overpass regular expressions are unanchored and case-sensitive: ``re.search`` mirrors them.
_WALK_EXCLUDE: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("area", re.compile("yes")),
    ("access", re.compile("private")),
    (
        "highway",
        re.compile(
            "abandoned|bus_guideway|construction|cycleway|motor|no|planned|platform|"
            "proposed|raceway|razed|rest_area|services"
        ),
    ),
    ("foot", re.compile("no")),
    ("service", re.compile("private")),
    ("sidewalk", re.compile("separate")),
    ("sidewalk:both", re.compile("separate")),
    ("sidewalk:left", re.compile("separate")),
    ("sidewalk:right", re.compile("separate")),
)

#: Identifies the tag filter in cache keys; change it together with ``_WALK_EXCLUDE``.
WALK_FILTER_ID = "osmnx-2-walk"


def is_walkable(tags: Mapping[str, str] | TagList) -> bool:
    """Whether a way with these tags belongs to the walking network.

    The rules are those of osmnx's ``network_type="walk"`` Overpass filter: the way has a
    ``highway`` tag, and none of ``area``, ``access``, ``highway``, ``foot``, ``service`` and the
    ``sidewalk*`` tags matches the excluded values (``area=yes``, ``access=private``,
    motorways, cycleways, construction, ``foot=no``, ``service=private``, and centre lines whose
    sidewalks are mapped separately).

    Parameters
    ----------
    tags
        The way's OSM tags (a mapping, or pyosmium's tag list as it is).
    """
    if "highway" not in tags:
        return False
    for key, pattern in _WALK_EXCLUDE:
        value = tags.get(key)
        if value is not None and pattern.search(value):
            return False
    return True


def great_circle_m(
    lat1: npt.ArrayLike, lon1: npt.ArrayLike, lat2: npt.ArrayLike, lon2: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Great-circle distance in metres, exactly as :func:`osmnx.distance.great_circle`."""
    y1 = np.deg2rad(np.asarray(lat1, dtype=float))
    y2 = np.deg2rad(np.asarray(lat2, dtype=float))
    dy = y2 - y1
    dx = np.deg2rad(np.asarray(lon2, dtype=float)) - np.deg2rad(np.asarray(lon1, dtype=float))
    h = np.sin(dy / 2) ** 2 + np.cos(y1) * np.cos(y2) * np.sin(dx / 2) ** 2
    h = np.minimum(1.0, h)
    return np.asarray(2 * np.arcsin(np.sqrt(h)) * EARTH_RADIUS_M, dtype=np.float64)


@dataclass(frozen=True)
class NetworkReport:
    """What a planner needs to trust a walking network."""

    source: str
    nodes: int
    edges: int
    length_km: float
    bbox: tuple[float, float, float, float]
    component_sizes: tuple[int, ...]
    ways_kept: int
    dropped_node_refs: int
    ways_split_at_gaps: int
    ways_dropped: int
    build_seconds: float
    from_cache: bool = False

    @property
    def components(self) -> int:
        """Number of connected components (islands) in the network."""
        return len(self.component_sizes)

    def as_dict(self) -> dict[str, Any]:
        """The report as plain JSON-able values."""
        return {
            "source": self.source,
            "nodes": self.nodes,
            "edges": self.edges,
            "length_km": round(self.length_km, 3),
            "bbox": list(self.bbox),
            "components": self.components,
            "component_sizes": list(self.component_sizes),
            "ways_kept": self.ways_kept,
            "dropped_node_refs": self.dropped_node_refs,
            "ways_split_at_gaps": self.ways_split_at_gaps,
            "ways_dropped": self.ways_dropped,
            "build_seconds": round(self.build_seconds, 3),
            "from_cache": self.from_cache,
        }

    def __str__(self) -> str:
        sizes = self.component_sizes
        small = sizes[1:]
        if small:
            shown = ", ".join(f"{s:,}" for s in small[:10]) + (" …" if len(small) > 10 else "")
            islands = f"{len(small):,} islands besides the largest ({sum(small):,} nodes: {shown})"
        else:
            islands = "no islands"
        west, south, east, north = self.bbox
        lines = [
            f"source           {self.source}",
            f"nodes            {self.nodes:,}",
            f"edges            {self.edges:,} (way segments, each walkable both ways)",
            f"total length     {self.length_km:,.1f} km",
            f"bounding box     {west:.5f}, {south:.5f}, {east:.5f}, {north:.5f} (W, S, E, N)",
            f"components       {self.components:,}; largest {sizes[0] if sizes else 0:,} nodes;"
            f" {islands}",
            f"ways kept        {self.ways_kept:,}",
            f"dropped refs     {self.dropped_node_refs:,} node references missing from the file"
            f" ({self.ways_split_at_gaps:,} ways split at gaps, {self.ways_dropped:,} ways left"
            " with < 2 nodes)",
            f"build time       {self.build_seconds:.2f} s"
            + (" (from cache)" if self.from_cache else ""),
        ]
        return "\n".join(lines)


@dataclass(frozen=True, eq=False)
class WalkNetwork:
    """An unsimplified, undirected walking network held as arrays.

    Nodes are rows of ``node_id``/``lon``/``lat``; edges are rows of ``edge_u``/``edge_v``
    (positions into the node arrays), ``edge_length_m`` and ``edge_way`` (the OSM way id).
    Every edge is a straight segment walkable in both directions.
    """

    node_id: npt.NDArray[np.int64]
    lon: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]
    edge_u: npt.NDArray[np.int64]
    edge_v: npt.NDArray[np.int64]
    edge_length_m: npt.NDArray[np.float64]
    edge_way: npt.NDArray[np.int64]
    way_tags: dict[int, dict[str, str]] = field(default_factory=dict, repr=False)
    report: NetworkReport | None = None

    # ---- sizes -------------------------------------------------------------------------
    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(self.node_id.shape[0])

    @property
    def n_edges(self) -> int:
        """Number of edges (way segments)."""
        return int(self.edge_u.shape[0])

    def __repr__(self) -> str:
        return f"WalkNetwork({self.n_nodes:,} nodes, {self.n_edges:,} edges)"

    # ---- derived structures (computed once, on first use) -------------------------------
    @cached_property
    def metric_crs(self) -> pyproj.CRS:
        """The local projected CRS (UTM zone of the network's centre) for metric work."""
        from coverage.crs import local_metric_crs

        return local_metric_crs(self.bbox)

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) in degrees."""
        if self.n_nodes == 0:
            return (0.0, 0.0, 0.0, 0.0)
        return (
            float(self.lon.min()),
            float(self.lat.min()),
            float(self.lon.max()),
            float(self.lat.max()),
        )

    @cached_property
    def to_metric(self) -> pyproj.Transformer:
        """Transformer from (lon, lat) in EPSG:4326 to (x, y) in :attr:`metric_crs`."""
        return pyproj.Transformer.from_crs(4326, self.metric_crs, always_xy=True)

    @cached_property
    def xy(self) -> npt.NDArray[np.float64]:
        """Node coordinates in :attr:`metric_crs`, shape (n_nodes, 2)."""
        x, y = self.to_metric.transform(self.lon, self.lat)
        return np.column_stack([x, y])

    @cached_property
    def edge_lines(self) -> npt.NDArray[np.object_]:
        """Edges as shapely LineStrings in :attr:`metric_crs`."""
        import shapely

        coords = np.stack([self.xy[self.edge_u], self.xy[self.edge_v]], axis=1)
        return np.asarray(shapely.linestrings(coords), dtype=object)

    @cached_property
    def edge_tree(self) -> shapely.STRtree:
        """A spatial index over :attr:`edge_lines`."""
        import shapely

        return shapely.STRtree(self.edge_lines)

    @cached_property
    def adjacency(self) -> sp.csr_matrix:
        """Symmetric sparse adjacency (shortest parallel edge) for scipy.sparse.csgraph."""
        return _adjacency(self.n_nodes, self.edge_u, self.edge_v, self.edge_length_m)

    @cached_property
    def chains(self) -> Chains:
        """The network contracted to its intersections and dead ends (see :class:`Chains`)."""
        return _build_chains(self.n_nodes, self.edge_u, self.edge_v, self.edge_length_m)

    @cached_property
    def component(self) -> npt.NDArray[np.int64]:
        """Component label of every node; 0 is the largest component."""
        _, labels = csgraph.connected_components(self.adjacency, directed=False)
        counts = np.bincount(labels)
        order = np.argsort(-counts, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        return np.asarray(rank[labels], dtype=np.int64)

    @property
    def component_sizes(self) -> tuple[int, ...]:
        """Sizes of the connected components, largest first."""
        if self.n_nodes == 0:
            return ()
        return tuple(int(c) for c in np.bincount(self.component))

    # ---- conversions ---------------------------------------------------------------------
    def nodes_gdf(self) -> gpd.GeoDataFrame:
        """Nodes as a GeoDataFrame in EPSG:4326 indexed by OSM node id (osmnx's ``osmid``)."""
        import geopandas as gpd

        return gpd.GeoDataFrame(
            {"x": self.lon, "y": self.lat, "component": self.component},
            geometry=gpd.points_from_xy(self.lon, self.lat),
            index=pd_index(self.node_id, "osmid"),
            crs="EPSG:4326",
        )

    def edges_gdf(self) -> gpd.GeoDataFrame:
        """Edges as a GeoDataFrame in EPSG:4326 with ``u``, ``v`` (OSM node ids), ``osmid``
        (way id), ``highway``, ``name`` and ``length`` in metres."""
        import geopandas as gpd
        import shapely

        coords = np.stack(
            [
                np.column_stack([self.lon[self.edge_u], self.lat[self.edge_u]]),
                np.column_stack([self.lon[self.edge_v], self.lat[self.edge_v]]),
            ],
            axis=1,
        )
        highway = [self.way_tags.get(int(w), {}).get("highway") for w in self.edge_way]
        name = [self.way_tags.get(int(w), {}).get("name") for w in self.edge_way]
        return gpd.GeoDataFrame(
            {
                "u": self.node_id[self.edge_u],
                "v": self.node_id[self.edge_v],
                "osmid": self.edge_way,
                "highway": highway,
                "name": name,
                "length": self.edge_length_m,
            },
            geometry=shapely.linestrings(coords),
            crs="EPSG:4326",
        )

    def to_networkx(self, *, simplify: bool = False) -> nx.MultiDiGraph:
        """An osmnx-compatible ``MultiDiGraph`` (EPSG:4326; both directions of every edge).

        Nodes are keyed by OSM node id with ``x``, ``y`` and ``street_count``; edges carry
        ``osmid`` (way id), ``length`` (m), ``oneway=False``, ``reversed`` and the way's useful
        tags, as osmnx names them. With ``simplify=True`` the graph is passed through
        :func:`osmnx.simplify_graph`.
        """
        import networkx as nx

        graph: nx.MultiDiGraph[int] = nx.MultiDiGraph(
            crs="epsg:4326", created_with="service-coverage"
        )
        ids = self.node_id.tolist()
        graph.add_nodes_from(
            (nid, {"x": x, "y": y})
            for nid, x, y in zip(ids, self.lon.tolist(), self.lat.tolist(), strict=True)
        )
        u_ids = self.node_id[self.edge_u].tolist()
        v_ids = self.node_id[self.edge_v].tolist()
        for u, v, length, way in zip(
            u_ids, v_ids, self.edge_length_m.tolist(), self.edge_way.tolist(), strict=True
        ):
            # osmnx stores ``oneway`` as a bool; on foot every edge is two-way
            attrs = {**self.way_tags.get(way, {}), "osmid": way, "length": length, "oneway": False}
            graph.add_edge(u, v, **attrs, reversed=False)
            graph.add_edge(v, u, **attrs, reversed=True)
        import osmnx as ox

        counts = ox.stats.count_streets_per_node(graph)
        nx.set_node_attributes(graph, values=counts, name="street_count")
        if simplify:
            graph = ox.simplify_graph(graph)
        return graph

    @classmethod
    def from_networkx(cls, graph: nx.MultiDiGraph | nx.MultiGraph | nx.Graph) -> WalkNetwork:
        """Read a networkx/osmnx graph in EPSG:4326 (simplified or not).

        Edge ``geometry`` (osmnx's simplified edges) is expanded into segments; interior points
        get negative synthetic node ids. Lengths are recomputed from the coordinates so that the
        graph is consistent with one built from a file. Every edge becomes walkable both ways.
        """
        crs = graph.graph.get("crs", "epsg:4326")
        if pyproj.CRS.from_user_input(crs).is_projected:
            msg = (
                f"the graph is in a projected CRS ({crs}); convert it first with "
                "osmnx.project_graph(G, to_latlong=True)"
            )
            raise NetworkError(msg)
        coords: dict[int, tuple[float, float]] = {}
        for nid, data in graph.nodes(data=True):
            if "x" not in data or "y" not in data:
                msg = f"graph node {nid!r} has no 'x'/'y' coordinates (osmnx attribute names)"
                raise NetworkError(msg)
            coords[int(nid)] = (float(data["x"]), float(data["y"]))
        synthetic: dict[tuple[float, float], int] = {}
        by_xy = {xy: nid for nid, xy in coords.items()}
        seen: set[tuple[int, int, int]] = set()
        us: list[int] = []
        vs: list[int] = []
        ways: list[int] = []
        way_tags: dict[int, dict[str, str]] = {}
        for u, v, data in graph.edges(data=True):
            way = data.get("osmid", -1)
            way = int(way[0] if isinstance(way, list) else way)
            if way not in way_tags:
                way_tags[way] = {
                    k: str(data[k]) for k in USEFUL_WAY_TAGS if k in data and data[k] is not None
                }
            geom = data.get("geometry")
            chain = [int(u), int(v)]
            if geom is not None:
                chain = []
                for xy in geom.coords:
                    key = (float(xy[0]), float(xy[1]))
                    nid = by_xy.get(key)
                    if nid is None:
                        nid = synthetic.setdefault(key, -1 - len(synthetic))
                        coords[nid] = key
                    chain.append(nid)
            for a, b in pairwise(chain):
                if a == b:
                    continue
                pair = (min(a, b), max(a, b), way)
                if pair in seen:
                    continue
                seen.add(pair)
                us.append(a)
                vs.append(b)
                ways.append(way)
        node_id = np.array(sorted(coords), dtype=np.int64)
        lon = np.array([coords[int(n)][0] for n in node_id])
        lat = np.array([coords[int(n)][1] for n in node_id])
        u_pos = np.searchsorted(node_id, np.array(us, dtype=np.int64))
        v_pos = np.searchsorted(node_id, np.array(vs, dtype=np.int64))
        return _assemble(
            node_id,
            lon,
            lat,
            u_pos,
            v_pos,
            np.array(ways, dtype=np.int64),
            way_tags,
            source="<networkx graph>",
            stats=_ParseStats(ways_kept=len(way_tags)),
            started=time.perf_counter(),
        )


@dataclass(frozen=True, eq=False)
class Chains:
    """The walking network contracted to its "core" nodes (intersections and dead ends).

    Most nodes of an unsimplified OSM network only bend a street (degree 2). A chain is a run
    of edges through such nodes between two core nodes (or a closed ring, which then gets one
    core node). Shortest paths are searched on the core graph, several times smaller, and the
    distance of a node inside a chain follows exactly from its two ends: ``min(D[a] + x,
    D[b] + L - x)``, plus any source on the chain itself.

    Attributes
    ----------
    core
        Mask of core nodes, shape (n_nodes,).
    core_nodes
        Node positions of the core nodes; ``core_index`` maps back (-1 for chain interiors).
    node_chain, node_pos_m
        For chain-interior nodes: the chain and the distance from its start (else -1 / NaN).
    edge_chain, edge_start_m, edge_forward
        For every edge: its chain, the position of its ``u`` end along the chain, and whether
        ``u -> v`` runs in the chain's direction.
    chain_a, chain_b, chain_length_m
        Core positions (into ``core_nodes``) of each chain's start and end, and its length.
    adjacency
        The core graph: one arc per chain, the shortest of parallel chains, no loops.
    """

    core: npt.NDArray[np.bool_]
    core_nodes: npt.NDArray[np.int64]
    core_index: npt.NDArray[np.int64]
    node_chain: npt.NDArray[np.int64]
    node_pos_m: npt.NDArray[np.float64]
    edge_chain: npt.NDArray[np.int64]
    edge_start_m: npt.NDArray[np.float64]
    edge_forward: npt.NDArray[np.bool_]
    chain_a: npt.NDArray[np.int64]
    chain_b: npt.NDArray[np.int64]
    chain_length_m: npt.NDArray[np.float64]
    adjacency: sp.csr_matrix

    @cached_property
    def interior(self) -> ChainInterior:
        """The chain-interior nodes, sorted by (chain, position), with their chain's ends and
        length, gathered once."""
        nodes = np.flatnonzero(~self.core)
        nodes = nodes[np.lexsort((self.node_pos_m[nodes], self.node_chain[nodes]))]
        chain = self.node_chain[nodes]
        pos = self.node_pos_m[nodes]
        scale = float(self.chain_length_m.max(initial=0.0)) * 2.0 + 1.0
        return ChainInterior(
            nodes=nodes,
            chain=chain,
            pos_m=pos,
            rest_m=self.chain_length_m[chain] - pos,
            a=self.chain_a[chain],
            b=self.chain_b[chain],
            chain_start=np.searchsorted(chain, np.arange(self.chain_length_m.size + 1)),
            key_scale=scale,
            key=chain * scale + pos,
        )


@dataclass(frozen=True, eq=False)
class ChainInterior:
    """Per chain-interior node, sorted by (chain, position): its chain, distances to the
    chain's start (``pos_m``) and end (``rest_m``), the chain's core ends, and the sort key
    ``chain * key_scale + position``. The nodes of chain ``c`` are the slice
    ``chain_start[c]:chain_start[c + 1]``."""

    nodes: npt.NDArray[np.int64]
    chain: npt.NDArray[np.int64]
    pos_m: npt.NDArray[np.float64]
    rest_m: npt.NDArray[np.float64]
    a: npt.NDArray[np.int64]
    b: npt.NDArray[np.int64]
    chain_start: npt.NDArray[np.int64]
    key_scale: float
    key: npt.NDArray[np.float64]


def _build_chains(
    n: int,
    u: npt.NDArray[np.int64],
    v: npt.NDArray[np.int64],
    length: npt.NDArray[np.float64],
) -> Chains:
    """Find the chains with two sparse-graph passes (components, then positions)."""
    m = u.size
    core = np.bincount(np.concatenate([u, v]), minlength=n) != 2
    edges = np.arange(m)
    while True:
        # every incidence of an edge on a core node becomes a stub of its own, so that the
        # components of this graph are the chains (paths from stub to stub) or rings
        gu = np.where(core[u], n + 2 * edges, u)
        gv = np.where(core[v], n + 2 * edges + 1, v)
        size = n + 2 * m
        split = _adjacency(size, gu, gv, length)
        _, label = csgraph.connected_components(split, directed=False)
        stubs = np.concatenate([gu[core[u]], gv[core[v]]])
        rings = np.setdiff1d(np.unique(label[gu]), label[stubs])
        if rings.size == 0:
            break
        # a ring of bends has no core node: make its lowest node one
        ring_nodes = np.flatnonzero(np.isin(label[:n], rings))
        first = np.unique(label[ring_nodes], return_index=True)[1]
        core[ring_nodes[first]] = True
    chain_label, edge_chain = np.unique(label[gu], return_inverse=True)
    n_chains = chain_label.size
    # each chain's start is its lowest stub, its end the highest (a path has two)
    stub_chain = np.searchsorted(chain_label, label[stubs])
    order = np.lexsort((stubs, stub_chain))
    stubs, stub_chain = stubs[order], stub_chain[order]
    first = np.r_[0, np.flatnonzero(np.diff(stub_chain)) + 1]
    last = np.r_[first[1:] - 1, stubs.size - 1]
    assert np.array_equal(stub_chain[first], np.arange(n_chains)), "every chain has stubs"
    start = stubs[first]
    end = stubs[last]
    pos = csgraph.dijkstra(split, directed=False, indices=start, min_only=True)
    stub_node = np.where((start - n) % 2 == 0, u[(start - n) // 2], v[(start - n) // 2])
    end_node = np.where((end - n) % 2 == 0, u[(end - n) // 2], v[(end - n) // 2])
    core_nodes = np.flatnonzero(core)
    core_index = np.full(n, -1, dtype=np.int64)
    core_index[core_nodes] = np.arange(core_nodes.size)
    chain_a = core_index[stub_node]
    chain_b = core_index[end_node]
    chain_length = pos[end]
    node_chain = np.full(n, -1, dtype=np.int64)
    interior = ~core
    node_chain[interior] = np.searchsorted(chain_label, label[:n][interior])
    node_pos = np.where(interior, pos[:n], np.nan)
    pos_u = pos[gu]
    pos_v = pos[gv]
    loops = chain_a == chain_b
    return Chains(
        core=core,
        core_nodes=core_nodes,
        core_index=core_index,
        node_chain=node_chain,
        node_pos_m=node_pos,
        edge_chain=edge_chain.astype(np.int64),
        edge_start_m=pos_u,
        edge_forward=pos_v >= pos_u,
        chain_a=chain_a,
        chain_b=chain_b,
        chain_length_m=chain_length,
        adjacency=_adjacency(
            core_nodes.size, chain_a[~loops], chain_b[~loops], chain_length[~loops]
        ),
    )


def pd_index(values: npt.NDArray[Any], name: str) -> Any:
    """A pandas Index with a name (kept here so the module imports pandas lazily)."""
    import pandas as pd

    return pd.Index(values, name=name)


@dataclass
class _ParseStats:
    ways_kept: int = 0
    dropped_node_refs: int = 0
    ways_split_at_gaps: int = 0
    ways_dropped: int = 0


def _adjacency(
    n: int,
    u: npt.NDArray[np.int64],
    v: npt.NDArray[np.int64],
    length: npt.NDArray[np.float64],
) -> sp.csr_matrix:
    """Symmetric CSR matrix keeping the shortest of parallel edges.

    ``scipy.sparse`` sums duplicate entries, which would turn two parallel ways into one
    twice as long, so duplicates are resolved to their minimum first. Zero lengths (two OSM
    nodes at the same spot) become a tiny positive weight, since sparse graphs may treat an
    explicit zero as "no edge".
    """
    rows = np.concatenate([u, v])
    cols = np.concatenate([v, u])
    weights = np.maximum(np.concatenate([length, length]), 1e-9)
    # one int64 key per (row, col) sorts as the pair does, and the sorted, deduplicated
    # entries are the CSR arrays themselves (no COO -> CSR conversion)
    key = rows * np.int64(n) + cols
    del rows, cols
    order = np.lexsort((weights, key))
    key, weights = key[order], weights[order]
    first = np.ones(key.size, dtype=bool)
    first[1:] = key[1:] != key[:-1]
    key, weights = key[first], weights[first]
    index_type = np.int32 if max(n, key.size) < 2**31 else np.int64
    indptr = np.zeros(n + 1, dtype=index_type)
    np.cumsum(np.bincount(key // n, minlength=n), out=indptr[1:])
    return sp.csr_matrix((weights, (key % n).astype(index_type), indptr), shape=(n, n))


def _assemble(
    node_id: npt.NDArray[np.int64],
    lon: npt.NDArray[np.float64],
    lat: npt.NDArray[np.float64],
    u: npt.NDArray[np.int64],
    v: npt.NDArray[np.int64],
    way: npt.NDArray[np.int64],
    way_tags: dict[int, dict[str, str]],
    *,
    source: str,
    stats: _ParseStats,
    started: float,
) -> WalkNetwork:
    length = great_circle_m(lat[u], lon[u], lat[v], lon[v])
    net = WalkNetwork(
        node_id=node_id,
        lon=lon,
        lat=lat,
        edge_u=u.astype(np.int64),
        edge_v=v.astype(np.int64),
        edge_length_m=length,
        edge_way=way,
        way_tags=way_tags,
    )
    report = NetworkReport(
        source=source,
        nodes=net.n_nodes,
        edges=net.n_edges,
        length_km=float(length.sum() / 1000.0),
        bbox=net.bbox,
        component_sizes=net.component_sizes,
        ways_kept=stats.ways_kept,
        dropped_node_refs=stats.dropped_node_refs,
        ways_split_at_gaps=stats.ways_split_at_gaps,
        ways_dropped=stats.ways_dropped,
        build_seconds=time.perf_counter() - started,
    )
    # set on the instance built above so that its cached adjacency/components are kept
    object.__setattr__(net, "report", report)
    return net


#: osmium's integer coordinate of an undefined location (node missing from the file).
_UNDEFINED_COORDINATE = 2**31 - 1


def _parse_osm_file(path: Path) -> WalkNetwork:
    """Read the walkable ways of an OSM file with pyosmium into a :class:`WalkNetwork`.

    The Python loop only copies node ids and integer coordinates (1e-7 degree) out of each
    walkable way; finding gaps, segments and node positions is done afterwards with numpy.
    """
    import osmium

    started = time.perf_counter()
    try:
        processor = (
            osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
            .with_locations()
            .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
            .with_filter(osmium.filter.KeyFilter("highway"))
        )
    except (RuntimeError, OSError) as exc:
        msg = f"{path}: cannot be read as an OSM file (.osm, .osm.bz2, .osm.pbf): {exc}"
        raise NetworkError(msg) from exc

    # node id, x, y of every way node, in order, flat: one list of ints is the cheapest to fill
    # and to turn into an array (a list of tuples costs twice as much)
    entries: list[int] = []
    push = entries.append
    way_ids: list[int] = []
    way_sizes: list[int] = []
    way_tags: dict[int, dict[str, str]] = {}
    try:
        for way in processor:
            assert isinstance(way, osmium.osm.Way)  # the entity filter lets only ways through
            tag_list = way.tags
            # the filter reads the few keys it needs from osmium's tag list itself; only the
            # kept ways pay for a dict of their useful tags
            if not is_walkable(tag_list):
                continue
            size = 0
            for nd in way.nodes:
                loc = nd.location
                push(nd.ref)
                push(loc.x)
                push(loc.y)
                size += 1
            way_ids.append(way.id)
            way_sizes.append(size)
            get = tag_list.get
            way_tags[way.id] = {k: val for k in USEFUL_WAY_TAGS if (val := get(k)) is not None}
    except RuntimeError as exc:
        msg = f"{path}: error while reading the OSM data: {exc}"
        raise NetworkError(msg) from exc

    flat = np.array(entries, dtype=np.int64).reshape(-1, 3)
    del entries
    sizes = np.asarray(way_sizes, dtype=np.int64)
    way_of_entry = np.repeat(np.arange(sizes.size), sizes)
    valid = (flat[:, 1] != _UNDEFINED_COORDINATE) & (flat[:, 2] != _UNDEFINED_COORDINATE)
    # a segment joins two consecutive nodes of the same way that are both in the file
    seg = np.flatnonzero((way_of_entry[1:] == way_of_entry[:-1]) & valid[1:] & valid[:-1])
    stats = _ParseStats(dropped_node_refs=int((~valid).sum()))
    seg_way_pos = way_of_entry[seg]
    ways_with_segments = np.unique(seg_way_pos)
    stats.ways_kept = int(ways_with_segments.size)
    stats.ways_dropped = int(sizes.size - ways_with_segments.size)
    if stats.dropped_node_refs:
        # runs of valid nodes per way: a way with more than one run was split at a gap
        run_start = valid & np.concatenate(
            [[True], (way_of_entry[1:] != way_of_entry[:-1]) | ~valid[:-1]]
        )
        runs = np.bincount(
            way_of_entry[run_start & _has_next_valid(valid, way_of_entry)], minlength=sizes.size
        )
        stats.ways_split_at_gaps = int((runs > 1).sum())
        dropped_ways = set(range(sizes.size)) - set(ways_with_segments.tolist())
        for pos in dropped_ways:
            way_tags.pop(way_ids[pos], None)

    if seg.size == 0:
        msg = (
            f"{path}: no walkable ways found (ways with a highway tag that osmnx's 'walk' filter "
            "keeps); check that the file covers the study area and contains highway=* ways"
        )
        raise NetworkError(msg)

    # nodes are the ends of segments only: references missing from the file are not nodes
    ends = np.concatenate([seg, seg + 1])
    node_id, first, inverse = np.unique(flat[ends, 0], return_index=True, return_inverse=True)
    lon = flat[ends[first], 1] / 1e7
    lat = flat[ends[first], 2] / 1e7
    u = inverse[: seg.size]
    v = inverse[seg.size :]
    way_arr = np.asarray(way_ids, dtype=np.int64)[seg_way_pos]
    keep = u != v  # a way that repeats a node in a row has a zero-length self loop
    return _assemble(
        node_id,
        lon,
        lat,
        u[keep],
        v[keep],
        way_arr[keep],
        way_tags,
        source=str(path),
        stats=stats,
        started=started,
    )


def _has_next_valid(
    valid: npt.NDArray[np.bool_], way_of_entry: npt.NDArray[np.int64]
) -> npt.NDArray[np.bool_]:
    """Entries whose next entry is a valid node of the same way (a run of >= 2 nodes)."""
    nxt = np.zeros(valid.size, dtype=bool)
    nxt[:-1] = valid[1:] & (way_of_entry[1:] == way_of_entry[:-1])
    return nxt


# ---- cache ---------------------------------------------------------------------------------


def _cache_path(cache_dir: Path, content_hash: str) -> Path:
    key = hashlib.sha256(
        f"{content_hash}|{WALK_FILTER_ID}|v{NETWORK_FORMAT_VERSION}".encode()
    ).hexdigest()[:32]
    return cache_dir / "networks" / f"{key}.npz"


def _save_cache(net: WalkNetwork, path: Path, *, osm_sha256: str | None = None) -> None:
    """Write the cache file atomically: a unique temporary file in the same folder, renamed.

    Processes building the same network at the same time each write their own temporary file;
    the last rename wins, and a reader sees either no file or a complete one.
    """
    assert net.report is not None
    meta = {
        "report": net.report.as_dict(),
        "way_tags": {str(k): v for k, v in net.way_tags.items()},
        "osm_file": net.report.source,
        "osm_sha256": osm_sha256,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    index_type = np.int32 if net.n_nodes < 2**31 else np.int64
    arrays: dict[str, npt.NDArray[Any]] = {
        "node_id": net.node_id,
        "lon": net.lon,
        "lat": net.lat,
        "edge_u": net.edge_u.astype(index_type),
        "edge_v": net.edge_v.astype(index_type),
        "edge_length_m": net.edge_length_m,
        "edge_way": net.edge_way,
        "meta": np.frombuffer(json.dumps(meta, ensure_ascii=False).encode(), dtype=np.uint8),
    }
    arrays |= _search_arrays(net)
    write_atomically(path, lambda stream: np.savez(stream, **arrays))  # type: ignore[arg-type]


_CSR = ("indptr", "indices", "data")


def _search_arrays(net: WalkNetwork) -> dict[str, npt.NDArray[Any]]:
    """What a search needs besides the graph (adjacency, components, chains, the metric
    coordinates and the snapping index), so that a network loaded from the cache is ready to
    snap and query at once."""
    from coverage.snapping import segment_index_arrays

    out: dict[str, npt.NDArray[Any]] = {"component": net.component, "xy": net.xy}
    out |= {f"adj_{k}": getattr(net.adjacency, k) for k in _CSR}
    chains = net.chains
    for name in Chains.__dataclass_fields__:
        value = getattr(chains, name)
        if isinstance(value, sp.csr_matrix):
            out |= {f"chains_adj_{k}": getattr(value, k) for k in _CSR}
        else:
            out[f"chains_{name}"] = value
    return out | segment_index_arrays(net)


def _csr(arrays: dict[str, npt.NDArray[Any]], prefix: str, n: int) -> sp.csr_matrix:
    data, indices, indptr = (arrays[prefix + k] for k in ("data", "indices", "indptr"))
    return sp.csr_matrix((data, indices, indptr), shape=(n, n))


def _restore_search_arrays(net: WalkNetwork, arrays: dict[str, npt.NDArray[Any]]) -> None:
    """Put the cached search structures where the cached properties would compute them."""
    from coverage.snapping import restore_segment_index

    n = net.n_nodes
    n_core = int(arrays["chains_core_nodes"].size)
    net.__dict__["component"] = arrays["component"]
    net.__dict__["adjacency"] = _csr(arrays, "adj_", n)
    fields: dict[str, Any] = {
        name: arrays[f"chains_{name}"]
        for name in Chains.__dataclass_fields__
        if name != "adjacency"
    }
    fields["adjacency"] = _csr(arrays, "chains_adj_", n_core)
    net.__dict__["chains"] = Chains(**fields)
    net.__dict__["xy"] = arrays["xy"]
    restore_segment_index(net, arrays)


def _load_cache(path: Path, *, source: str, started: float) -> WalkNetwork:
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(data["meta"].tobytes().decode())
        arrays = {k: data[k] for k in data.files if k != "meta"}
    saved = meta["report"]
    report = NetworkReport(
        source=source,
        nodes=saved["nodes"],
        edges=saved["edges"],
        length_km=saved["length_km"],
        bbox=(saved["bbox"][0], saved["bbox"][1], saved["bbox"][2], saved["bbox"][3]),
        component_sizes=tuple(saved["component_sizes"]),
        ways_kept=saved["ways_kept"],
        dropped_node_refs=saved["dropped_node_refs"],
        ways_split_at_gaps=saved["ways_split_at_gaps"],
        ways_dropped=saved["ways_dropped"],
        build_seconds=time.perf_counter() - started,
        from_cache=True,
    )
    net = WalkNetwork(
        node_id=arrays["node_id"],
        lon=arrays["lon"],
        lat=arrays["lat"],
        edge_u=arrays["edge_u"].astype(np.int64),
        edge_v=arrays["edge_v"].astype(np.int64),
        edge_length_m=arrays["edge_length_m"],
        edge_way=arrays["edge_way"],
        way_tags={int(k): v for k, v in meta["way_tags"].items()},
        report=report,
    )
    _restore_search_arrays(net, arrays)
    return net


def build_walk_network(
    path: str | os.PathLike[str],
    *,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
) -> WalkNetwork:
    """Build the walking network of a local OpenStreetMap file.

    Parameters
    ----------
    path
        An ``.osm``, ``.osm.bz2`` or ``.osm.pbf`` file. Extracts clipped from a larger file are
        fine: missing node references are dropped, counted in the report, and ways are split
        at the gap.
    cache
        Reuse (and store) the built network in the on-disk cache, keyed by the file's content
        hash and the walk filter.
    cache_dir
        Where the cache lives; default :func:`default_cache_dir`.

    Returns
    -------
    WalkNetwork
        With ``.report`` describing nodes, edges, length, bounding box, components, dropped
        references and build time.
    """
    started = time.perf_counter()
    src = Path(path)
    if not src.is_file():
        msg = f"{src}: no such OSM file (expected .osm, .osm.bz2 or .osm.pbf)"
        raise NetworkError(msg)
    if not cache:
        return _parse_osm_file(src)
    content_hash = file_sha256(src)
    cache_file = _cache_path(Path(cache_dir) if cache_dir else default_cache_dir(), content_hash)
    net = read_cached(
        cache_file,
        lambda file: _load_cache(file, source=str(src), started=started),
        what="network cache",
        source=src,
        log=logger,
    )
    if net is not None:
        logger.info("walking network of %s loaded from cache %s", src, cache_file)
        return net
    net = _parse_osm_file(src)
    try:
        _save_cache(net, cache_file, osm_sha256=content_hash)
    except OSError as exc:
        logger.warning("could not write the network cache %s: %s", cache_file, exc)
    return net


@dataclass(frozen=True)
class CacheEntry:
    """One file of the cache, as :func:`cache_entries` lists it.

    Attributes
    ----------
    path
        The cache file.
    kind
        ``"network"`` (a walking network with its search and snapping structures) or
        ``"osm features"`` (buildings or land use read from an OSM file, see
        :mod:`coverage.osm_features`) or ``"origins"`` (residential origins, see
        :mod:`coverage.origin_cache`).
    size_bytes
        Its size.
    osm_file
        The OSM file it was built from (its path at the time), if recorded and readable.
    osm_sha256
        That file's SHA-256, if recorded.
    created_utc
        When it was written, if recorded.
    nodes, edges
        The network's size, if readable.
    reader, rows
        For OSM features: what was read (``buildings``, ``landuse``) and how many rows; for
        origins: ``origins`` and how many.
    error
        Why the file cannot be read (it is then rebuilt on next use), else None.
    """

    path: Path
    size_bytes: int
    kind: str = "network"
    osm_file: str | None = None
    osm_sha256: str | None = None
    created_utc: str | None = None
    nodes: int | None = None
    edges: int | None = None
    reader: str | None = None
    rows: int | None = None
    error: str | None = None


#: The cache's sub-folders and the kind of entry each holds.
_CACHE_KINDS = (
    ("networks", "network"),
    ("osm-features", "osm features"),
    ("origins", "origins"),
)


def cache_entries(cache_dir: str | os.PathLike[str] | None = None) -> list[CacheEntry]:
    """The files of the cache (networks, OSM features, origins), with what each holds.

    Parameters
    ----------
    cache_dir
        The cache folder; default :func:`default_cache_dir`.

    Returns
    -------
    list[CacheEntry]
        Networks first, then OSM features, then origins, each sorted by path; leftover
        temporary files of
        interrupted writes are listed too, with an ``error``.
    """
    base = Path(cache_dir) if cache_dir else default_cache_dir()
    entries: list[CacheEntry] = []
    for sub, kind in _CACHE_KINDS:
        folder = base / sub
        if not folder.is_dir():
            continue
        for path in sorted(p for p in folder.iterdir() if p.is_file()):
            size = path.stat().st_size
            if path.suffix != ".npz":
                entries.append(
                    CacheEntry(path, size, kind, error="temporary file of an interrupted write")
                )
                continue
            try:
                with np.load(path, allow_pickle=False) as data:
                    meta = json.loads(data["meta"].tobytes().decode())
            except Exception as exc:  # described, not raised
                entries.append(
                    CacheEntry(path, size, kind, error=f"unreadable ({type(exc).__name__})")
                )
                continue
            report = meta.get("report", {})
            entries.append(
                CacheEntry(
                    path,
                    size,
                    kind,
                    osm_file=meta.get("osm_file") or report.get("source"),
                    osm_sha256=meta.get("osm_sha256"),
                    created_utc=meta.get("created_utc"),
                    nodes=report.get("nodes"),
                    edges=report.get("edges"),
                    reader=meta.get("reader"),
                    rows=meta.get("rows"),
                )
            )
    return entries


def clear_cache(cache_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """Delete every file of the cache (networks, OSM features, origins).

    Parameters
    ----------
    cache_dir
        The cache folder; default :func:`default_cache_dir`.

    Returns
    -------
    list[Path]
        The files deleted.
    """
    deleted: list[Path] = []
    for entry in cache_entries(cache_dir):
        entry.path.unlink(missing_ok=True)
        deleted.append(entry.path)
    return deleted


def download_walk_network(
    *,
    place: str | None = None,
    polygon: shapely.Polygon | shapely.MultiPolygon | None = None,
) -> WalkNetwork:
    """Download a walking network from the Overpass API with osmnx (needs the internet).

    This is the only function of the package that goes online, and it does so only when
    called. Give either a place name that Nominatim knows or a polygon in EPSG:4326.
    """
    import osmnx as ox

    if (place is None) == (polygon is None):
        msg = "give exactly one of place= or polygon="
        raise TypeError(msg)
    if place is not None:
        graph = ox.graph_from_place(place, network_type="walk", simplify=False, retain_all=True)
    else:
        graph = ox.graph_from_polygon(polygon, network_type="walk", simplify=False, retain_all=True)
    net = WalkNetwork.from_networkx(graph)
    assert net.report is not None
    return replace(net, report=replace(net.report, source=f"osmnx download: {place or 'polygon'}"))
