"""Walking isochrones built from the reached network only, for display.

An isochrone here is the set of points within :data:`DEFAULT_BUFFER_M` (``buffer_m``) of the
parts of the walking network that can be reached within the time budget. It is built in three
steps, all vectorised with numpy, scipy and shapely 2:

1. **Network distances.** Facilities (or residential origins) are snapped to their nearest edge
   (:func:`coverage.snapping.snap_points`) and enter the search as virtual sources with arcs
   ``s + t`` and ``s + L - t`` to the two ends of their edge (``s``: distance from the point to
   the street, ``t``: offset along the edge of length ``L``), exactly as
   :func:`coverage.access.node_distances` does. The snapping distance counts against the budget,
   as it does in the audit.
2. **Exact cuts.** On an edge ``(u, v)`` of length ``L`` whose ends are ``du`` and ``dv`` from the
   nearest source, the point ``p`` metres from ``u`` is ``min(du + p, dv + L - p)`` away. With
   budget ``B`` the edge is wholly reached when ``du + dv + L <= 2 B`` (the walks entering from
   both ends meet); otherwise the reached parts are ``[0, B - du]`` (if ``du <= B``) and
   ``[L - (B - dv), L]`` (if ``dv <= B``). A source also reaches ``[t - (B - s), t + (B - s)]``
   along its own edge before it touches a node. Edges are straight segments (the network is not
   simplified), so the cut points are interpolated in the metric CRS, where the ratio of
   great-circle to projected length is constant along one segment.
3. **Buffer.** The reached pieces are merged into polylines (:func:`shapely.line_merge`),
   buffered by ``buffer_m`` with round caps and joins, and dissolved per facility and band.

What this means for a map reader:

- every reached point of the network lies inside its polygon;
- a point inside the polygon is at most ``buffer_m`` from a reached point of the network (the
  buffer's arcs are chords inside the true circle, so the polygon never claims more);
- rivers, railways and fenced campuses are not crossed, because only walkable edges are
  buffered (no convex hulls, no point buffers); enclosed unreached land stays a hole;
- the polygons are *for display*. Whether a residence complies is decided from network distances
  at the residence (:func:`coverage.access.nearest_facility`), never by testing a point against a
  polygon: the buffer both adds land ``buffer_m`` off the street and misses buildings farther
  than ``buffer_m`` from a mapped street.

Polygons are computed and dissolved in :attr:`WalkNetwork.metric_crs` and returned in EPSG:4326 by
default (``crs="metric"`` keeps them in the metric CRS; ``gdf.to_crs(network.metric_crs)`` is a
plain reprojection).
"""

from __future__ import annotations

import itertools
import logging
import math
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.sparse import csgraph

from coverage._arrays import concat_ranges, segment_cummax
from coverage.access import node_distances
from coverage.errors import DataError
from coverage.raster import (
    burn_segments,
    check_cell_size,
    claim_radius_m,
    dilate_min,
    grid_around,
    trace_bands,
)
from coverage.raster_tiles import Tiles, TraceArrays, burn_tiles, tiles_around, trace_tiles
from coverage.rules import minutes_to_m
from coverage.snapping import DEFAULT_MAX_SNAP_M, SnappedPoints, snap_points

if TYPE_CHECKING:
    import geopandas as gpd

    from coverage.audit import AuditResult
    from coverage.network import WalkNetwork

__all__ = [
    "DEFAULT_BUFFER_M",
    "DEFAULT_CELL_M",
    "DEFAULT_MINUTES",
    "audit_service_areas",
    "facility_isochrones",
    "isochrone",
    "reach_area",
    "reached_streets",
    "service_area",
    "simplify_for_display",
]

logger = logging.getLogger(__name__)

#: Default width (m) on each side of a reached street that an isochrone covers.
#:
#: 30 m is how far a resident typically walks from a building entrance to the centre line of the
#: mapped street in a Chinese city: half the road's red-line width (branch roads and secondary
#: roads are 15-40 m wide, so 7-20 m) plus the building setback behind the red line (5-15 m in
#: municipal planning codes). Less leaves the polygons as thin lines with the buildings along the
#: street outside; more claims land that nobody reaches in time (every point of the polygon is at
#: most ``buffer_m`` from a reached street). It must not exceed the snapping limit
#: (:data:`coverage.snapping.DEFAULT_MAX_SNAP_M`, 250 m).
DEFAULT_BUFFER_M = 30.0

#: Cell size (m) of the raster path (``cell_m=``): polygons claim at most ``buffer_m`` plus one
#: cell diagonal (14 m) from a reached point; see :mod:`coverage.raster`.
DEFAULT_CELL_M = 10.0

#: The "15-minute life circle" bands, in minutes.
DEFAULT_MINUTES: tuple[float, ...] = (5.0, 10.0, 15.0)

#: Segments per quarter circle of the buffers' round caps and joins (GEOS default: 8). The arcs
#: are chords inside the true circle, so fewer segments only make the polygon a little smaller
#: (by at most ``buffer_m * (1 - cos(pi / 16))``, 2 % of ``buffer_m``), never larger.
QUAD_SEGS = 4

#: Facilities searched together (one scipy Dijkstra call on one local subgraph).
_CHUNK = 32
#: A chunk's facilities span at most this many budgets (its subgraph grows with the span).
_CHUNK_SPAN_BUDGETS = 6.0

#: Local subgraphs extend this much farther than the budget, relative and absolute: projected
#: (UTM) lengths differ from great-circle lengths by well under 1 %.
_BOX_MARGIN_REL = 0.02
_BOX_MARGIN_M = 10.0

CrsChoice = Literal["wgs84", "metric"]


# ---- inputs --------------------------------------------------------------------------------


def _budgets(minutes: float | Sequence[float], walk_speed_kmh: float) -> npt.NDArray[np.float64]:
    """Sorted, unique bands in minutes (validated)."""
    values = np.atleast_1d(np.asarray(minutes, dtype=np.float64))
    if values.ndim != 1 or values.size == 0:
        msg = f"minutes must be a number or a non-empty sequence of numbers, got {minutes!r}"
        raise DataError(msg)
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        msg = f"minutes must be positive and finite, got {minutes!r}"
        raise DataError(msg)
    if not np.isfinite(walk_speed_kmh) or walk_speed_kmh <= 0:
        msg = f"walk_speed_kmh must be positive, got {walk_speed_kmh!r} (4.0 is a typical pace)"
        raise DataError(msg)
    return np.unique(values)


def _bands(
    minutes: float | Sequence[float], walk_speed_kmh: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The bands in minutes (sorted, unique, validated) and their walking budgets in metres."""
    minutes_arr = _budgets(minutes, walk_speed_kmh)
    return minutes_arr, np.array([minutes_to_m(m, walk_speed_kmh) for m in minutes_arr])


def _check_buffer(buffer_m: float, max_snap_m: float) -> None:
    if not np.isfinite(buffer_m) or buffer_m <= 0:
        msg = f"buffer_m must be a positive number of metres, got {buffer_m!r}"
        raise DataError(msg)
    if buffer_m > max_snap_m:
        msg = (
            f"buffer_m={buffer_m:g} is larger than max_snap_m={max_snap_m:g}: the polygons "
            "would claim land farther from the streets than a point may be to be snapped; "
            "lower buffer_m or raise max_snap_m"
        )
        raise DataError(msg)


def _band_labels(minutes: npt.NDArray[np.float64], *, rings: bool) -> list[str]:
    lows = np.concatenate([[0.0], minutes[:-1]]) if rings else np.zeros_like(minutes)
    return [f"{lo:g}-{hi:g} min" for lo, hi in zip(lows, minutes, strict=True)]


# ---- step 1: network distances ---------------------------------------------------------------


@dataclass(frozen=True)
class _Reached:
    """Edges touched by searches, and the sources' own edges, of a set of groups.

    ``group``/``edge``/``du``/``dv`` list every (group, edge) with an end within the largest
    budget; ``src_*`` list the snapped source points with the group they belong to.
    """

    group: npt.NDArray[np.int64]
    edge: npt.NDArray[np.int64]
    du: npt.NDArray[np.float64]
    dv: npt.NDArray[np.float64]
    src_group: npt.NDArray[np.int64]
    src_edge: npt.NDArray[np.int64]
    src_offset_m: npt.NDArray[np.float64]
    src_snap_m: npt.NDArray[np.float64]


def _search_limit(budget_m: float) -> float:
    """A Dijkstra limit a hair above the budget, so that nodes exactly at it are kept."""
    return budget_m * (1.0 + 1e-9) + 1e-6


def _reached_single(network: WalkNetwork, sources: SnappedPoints, budget_m: float) -> _Reached:
    """One multi-source search (:func:`coverage.access.node_distances`) as one group."""
    usable = sources.subset(sources.ok)
    dist = node_distances(network, usable, cutoff_m=_search_limit(budget_m)).distance_m
    du = dist[network.edge_u]
    dv = dist[network.edge_v]
    edge = np.flatnonzero((du <= budget_m) | (dv <= budget_m))
    k = len(usable)
    return _Reached(
        group=np.zeros(edge.size, dtype=np.int64),
        edge=edge,
        du=du[edge],
        dv=dv[edge],
        src_group=np.zeros(k, dtype=np.int64),
        src_edge=usable.edge,
        src_offset_m=usable.offset_m,
        src_snap_m=usable.snap_m,
    )


def _source_xy(network: WalkNetwork, sources: SnappedPoints) -> npt.NDArray[np.float64]:
    """Projected position of each snapped point on its edge."""
    length = network.edge_length_m[sources.edge]
    frac = np.divide(
        sources.offset_m, length, out=np.zeros_like(sources.offset_m), where=length > 0
    )
    a = network.xy[network.edge_u[sources.edge]]
    b = network.xy[network.edge_v[sources.edge]]
    return np.asarray(a + frac[:, None] * (b - a), dtype=np.float64)


#: Side (m) of the buckets of :class:`_NodeIndex`, at least (larger on a sparse network, so
#: that there are no more buckets than nodes).
_BUCKET_M = 100.0


@dataclass(frozen=True)
class _NodeIndex:
    """The nodes bucketed on a square grid, and the edges at every node.

    What a chunk's search needs to find the nodes of its box and the edges at the nodes it
    reaches without a pass over the whole network: on a city of a million nodes, a chunk
    reaches a few thousand. Built once per network (:func:`_node_index`).
    """

    x0: float
    y0: float
    side_m: float
    n_rows: int
    n_cols: int
    #: bucket ``b`` (row-major) holds the nodes ``node_order[bucket_ptr[b]:bucket_ptr[b + 1]]``
    bucket_ptr: npt.NDArray[np.int64]
    node_order: npt.NDArray[np.int64]
    #: node ``k`` is an end of the edges ``node_edge[edge_ptr[k]:edge_ptr[k + 1]]``
    edge_ptr: npt.NDArray[np.int64]
    node_edge: npt.NDArray[np.int64]

    def nodes_in_box(
        self, xy: npt.NDArray[np.float64], lo: npt.NDArray[np.float64], hi: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.int64]:
        """The nodes with ``lo <= xy <= hi`` (both axes), bucket by bucket."""
        c0, r0 = np.floor((lo - (self.x0, self.y0)) / self.side_m).astype(np.int64)
        c1, r1 = np.floor((hi - (self.x0, self.y0)) / self.side_m).astype(np.int64)
        c0, c1 = max(int(c0), 0), min(int(c1), self.n_cols - 1)
        r0, r1 = max(int(r0), 0), min(int(r1), self.n_rows - 1)
        if c0 > c1 or r0 > r1:
            return np.zeros(0, dtype=np.int64)
        first = np.arange(r0, r1 + 1) * self.n_cols
        start = self.bucket_ptr[first + c0]
        cand = self.node_order[concat_ranges(start, self.bucket_ptr[first + c1 + 1] - start)]
        p = xy[cand]
        keep = (p[:, 0] >= lo[0]) & (p[:, 0] <= hi[0]) & (p[:, 1] >= lo[1]) & (p[:, 1] <= hi[1])
        return cand[keep]

    def edges_at(self, nodes: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The edges with an end among ``nodes``, ascending, each once."""
        start = self.edge_ptr[nodes]
        return _sorted_unique(
            self.node_edge[concat_ranges(start, self.edge_ptr[nodes + 1] - start)]
        )


def _sorted_unique(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The distinct values, ascending (a sort: faster here than numpy's hashing unique)."""
    values = np.sort(values)
    keep = np.ones(values.size, dtype=bool)
    keep[1:] = values[1:] != values[:-1]
    return values[keep]


def _runs(values: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The distinct values of an ascending array and where each first occurs."""
    first = np.flatnonzero(np.r_[True, values[1:] != values[:-1]]) if values.size else values
    return values[first], first


_NODE_INDEXES: weakref.WeakKeyDictionary[WalkNetwork, _NodeIndex] = weakref.WeakKeyDictionary()


def _node_index(network: WalkNetwork) -> _NodeIndex:
    """The network's :class:`_NodeIndex`, built on first use and kept with the network."""
    index = _NODE_INDEXES.get(network)
    if index is not None:
        return index
    xy = network.xy
    n = network.n_nodes
    lo = xy.min(axis=0) if n else np.zeros(2)
    hi = xy.max(axis=0) if n else np.zeros(2)
    extent = np.maximum(hi - lo, 1.0)
    side = max(_BUCKET_M, float(np.sqrt(extent[0] * extent[1] / max(n, 1))))
    n_cols = int(extent[0] // side) + 1
    n_rows = int(extent[1] // side) + 1
    cell = np.floor((xy - lo) / side).astype(np.int64)
    bucket = cell[:, 1] * n_cols + cell[:, 0]
    counts = np.bincount(bucket, minlength=n_rows * n_cols)
    ends = np.concatenate([network.edge_u, network.edge_v])
    by_end = np.argsort(ends, kind="stable")
    index = _NodeIndex(
        x0=float(lo[0]),
        y0=float(lo[1]),
        side_m=side,
        n_rows=n_rows,
        n_cols=n_cols,
        bucket_ptr=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        node_order=np.argsort(bucket, kind="stable").astype(np.int64),
        edge_ptr=np.concatenate([[0], np.cumsum(np.bincount(ends, minlength=n))]).astype(np.int64),
        node_edge=(by_end % max(network.n_edges, 1)).astype(np.int64),
    )
    _NODE_INDEXES[network] = index
    return index


def _reached_chunk(
    network: WalkNetwork,
    sources: SnappedPoints,
    source_group: npt.NDArray[np.int64],
    groups: npt.NDArray[np.int64],
    budget_m: float,
    *,
    scratch: npt.NDArray[np.int64] | None = None,
) -> _Reached:
    """One search per group in ``groups``, all in one Dijkstra call on a local subgraph.

    Every group gets one virtual node with arcs to both ends of its sources' edges. Paths of
    length <= ``budget_m`` never leave the bounding box of the sources grown by the budget, so
    the search runs on the nodes inside that box only; they and the edges at the nodes reached
    are found through the network's :class:`_NodeIndex`, never by a pass over all nodes or
    edges. (The order of the local nodes changes no distance: Dijkstra's distances are the
    least of the path sums, whatever order it visits the nodes in.) ``scratch`` (one int per
    node, all ``-1``, left so) saves allocating the map from network nodes to local ones per
    chunk.
    """
    n = network.n_nodes
    index = _node_index(network)
    in_chunk = np.isin(source_group, groups)
    pts = sources.subset(in_chunk)
    pts_group = source_group[in_chunk]
    local_group = np.searchsorted(groups, pts_group)
    pxy = _source_xy(network, pts)
    reach = budget_m * (1.0 + _BOX_MARGIN_REL) + _BOX_MARGIN_M
    lo = pxy.min(axis=0) - reach
    hi = pxy.max(axis=0) + reach
    ends = np.concatenate([network.edge_u[pts.edge], network.edge_v[pts.edge]])
    sub = index.nodes_in_box(network.xy, lo, hi)
    ends_xy = network.xy[ends]
    if not np.all((ends_xy >= lo) & (ends_xy <= hi)):  # an edge longer than the margin
        sub = _sorted_unique(np.concatenate([sub, ends]))
    n_sub = sub.size
    local = np.full(n, -1, dtype=np.int64) if scratch is None else scratch
    local[sub] = np.arange(n_sub)
    try:
        graph = _local_graph(network, sub, local, pts, local_group, groups.size)
        dist = csgraph.dijkstra(
            graph,
            directed=True,
            indices=n_sub + np.arange(groups.size),
            limit=_search_limit(budget_m),
        )
        # column n_sub (the first virtual node) is never reached from another group: use it
        # as "outside the box" with distance inf
        dist[:, n_sub] = np.inf
        hit = np.flatnonzero(np.minimum.reduce(dist[:, :n_sub], axis=0) <= budget_m)
        cand = index.edges_at(sub[hit])
        lu = local[network.edge_u[cand]]
        lv = local[network.edge_v[cand]]
    finally:
        local[sub] = -1
    lu[lu < 0] = n_sub
    lv[lv < 0] = n_sub
    du = dist[:, lu]
    dv = dist[:, lv]
    gi, ci = np.nonzero((du <= budget_m) | (dv <= budget_m))
    return _Reached(
        group=groups[gi],
        edge=cand[ci],
        du=du[gi, ci],
        dv=dv[gi, ci],
        src_group=pts_group,
        src_edge=pts.edge,
        src_offset_m=pts.offset_m,
        src_snap_m=pts.snap_m,
    )


def _local_graph(
    network: WalkNetwork,
    sub: npt.NDArray[np.int64],
    local: npt.NDArray[np.int64],
    pts: SnappedPoints,
    local_group: npt.NDArray[np.int64],
    n_groups: int,
) -> sp.csr_matrix:
    """The adjacency among the nodes ``sub`` (``local`` maps a node to its position in
    ``sub``, ``-1`` outside), then one virtual node per group joined to both ends of its
    sources' edges by the arcs ``s + t`` and ``s + L - t``; built as CSR arrays directly."""
    n_sub = sub.size
    adj = network.adjacency
    start = adj.indptr[sub].astype(np.int64)
    count = adj.indptr[sub + 1].astype(np.int64) - start
    pos = concat_ranges(start, count)
    col = local[adj.indices[pos]]
    keep = col >= 0
    kept = np.concatenate([[0], np.cumsum(keep)])
    row_end = np.cumsum(count)
    sub_ptr = kept[row_end] if n_sub else np.zeros(0, dtype=np.int64)

    length = network.edge_length_m[pts.edge]
    rows = np.repeat(local_group, 2)
    cols = np.column_stack(
        [local[network.edge_u[pts.edge]], local[network.edge_v[pts.edge]]]
    ).ravel()
    weights = np.column_stack([pts.snap_m + pts.offset_m, pts.snap_m + length - pts.offset_m])
    weights = np.maximum(weights.ravel(), 1e-9)  # sparse graphs may drop explicit zeros
    # several points of one group on the same node: keep the shortest arc (csr sums duplicates)
    order = np.lexsort((weights, cols, rows))
    rows, cols, weights = rows[order], cols[order], weights[order]
    first = np.ones(rows.size, dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    virtual_ptr = int(kept[-1]) + np.cumsum(np.bincount(rows[first], minlength=n_groups))
    indptr = np.concatenate([[0], sub_ptr, virtual_ptr])
    size = n_sub + n_groups
    itype = np.int32 if max(size, indptr[-1]) < 2**31 else np.int64
    return sp.csr_matrix(
        (
            np.concatenate([adj.data[pos][keep], weights[first]]),
            np.concatenate([col[keep], cols[first]]).astype(itype),
            indptr.astype(itype),
        ),
        shape=(size, size),
    )


# ---- step 2: exact cuts --------------------------------------------------------------------


@dataclass(frozen=True)
class _Pieces:
    """Reached pieces ``[start_m, end_m]`` of edges, per output row (group x band)."""

    out: npt.NDArray[np.int64]
    edge: npt.NDArray[np.int64]
    start_m: npt.NDArray[np.float64]
    end_m: npt.NDArray[np.float64]


def _cut(
    network: WalkNetwork,
    reached: _Reached,
    budgets_m: npt.NDArray[np.float64],
    *,
    group_row: npt.NDArray[np.int64],
    nested: bool = True,
) -> _Pieces:
    """The reached pieces of every touched edge for every band.

    ``group_row[g]`` is the output row of group ``g`` for the first band; band ``b`` is output
    row ``group_row[g] + b``. With ``nested``, band ``b`` lists only what band ``b - 1`` does
    not already cover wholly: edges wholly reached within the smaller budget are left out (the
    band's polygon is then the smaller band's polygon plus the buffers of these pieces).
    """
    length = network.edge_length_m[reached.edge]
    src_length = network.edge_length_m[reached.src_edge]
    outs: list[npt.NDArray[np.int64]] = []
    edges: list[npt.NDArray[np.int64]] = []
    starts: list[npt.NDArray[np.float64]] = []
    ends: list[npt.NDArray[np.float64]] = []
    total = reached.du + reached.dv + length
    done = np.zeros(reached.edge.size, dtype=bool)
    for band, budget in enumerate(budgets_m):
        full = total <= 2.0 * budget
        new_full = full & ~done if nested else full
        from_u = ~full & (reached.du <= budget)
        from_v = ~full & (reached.dv <= budget)
        done = full
        left = budget - reached.src_snap_m
        own = left >= 0
        row = group_row[reached.group] + band
        src_row = group_row[reached.src_group] + band
        outs += [row[new_full], row[from_u], row[from_v], src_row[own]]
        edges += [
            reached.edge[new_full],
            reached.edge[from_u],
            reached.edge[from_v],
            reached.src_edge[own],
        ]
        starts += [
            np.zeros(int(new_full.sum())),
            np.zeros(int(from_u.sum())),
            length[from_v] - (budget - reached.dv[from_v]),
            np.maximum(reached.src_offset_m[own] - left[own], 0.0),
        ]
        ends += [
            length[new_full],
            budget - reached.du[from_u],
            length[from_v],
            np.minimum(reached.src_offset_m[own] + left[own], src_length[own]),
        ]
    return _Pieces(
        out=np.concatenate(outs),
        edge=np.concatenate(edges),
        start_m=np.concatenate(starts),
        end_m=np.concatenate(ends),
    )


def _piece_coords(
    network: WalkNetwork, pieces: _Pieces
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Projected start and end points of the pieces (edge ends reproduced exactly)."""
    length = network.edge_length_m[pieces.edge]
    u = network.edge_u[pieces.edge]
    v = network.edge_v[pieces.edge]
    x, y = network.xy[:, 0], network.xy[:, 1]
    ends = ((x[u], x[v]), (y[u], y[v]))
    positive = length > 0

    def at(pos: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        frac = np.divide(pos, length, out=np.zeros_like(pos), where=positive)
        at_a = pos <= 0.0
        at_b = pos >= length
        point = np.empty((pos.size, 2))
        for k, (a, b) in enumerate(ends):  # x, then y
            coord = a + frac * (b - a)
            coord[at_a] = a[at_a]
            coord[at_b] = b[at_b]
            point[:, k] = coord
        return point

    return at(pieces.start_m), at(pieces.end_m)


# ---- step 3: buffer and dissolve -----------------------------------------------------------


def _buffered_parts(
    network: WalkNetwork, pieces: _Pieces, *, buffer_m: float
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.int64]]:
    """Buffers of the reached pieces merged into polylines, with their output rows (sorted)."""
    start, end = _piece_coords(network, pieces)
    point = np.all(start == end, axis=1)  # a node reached with no budget left, say
    line = ~point
    order = np.argsort(pieces.out[line], kind="stable")
    line_out = pieces.out[line][order]
    lines = shapely.linestrings(np.stack([start[line][order], end[line][order]], axis=1))
    multi_out = np.unique(line_out)
    multi = shapely.multilinestrings(lines, indices=np.searchsorted(multi_out, line_out))
    parts, part_of = shapely.get_parts(shapely.line_merge(multi), return_index=True)
    geoms = np.concatenate([parts, shapely.points(start[point])])
    out = np.concatenate([multi_out[part_of], pieces.out[point]])
    order = np.argsort(out, kind="stable")
    buffers = shapely.buffer(geoms[order], buffer_m, quad_segs=QUAD_SEGS)
    return buffers, out[order]


def _dissolve(
    buffers: npt.NDArray[np.object_], out: npt.NDArray[np.int64], n_out: int, n_bands: int
) -> npt.NDArray[np.object_]:
    """One polygon per output row: its buffers united with the next smaller band's polygon."""
    result = np.full(n_out, shapely.Polygon(), dtype=object)
    bounds = np.searchsorted(out, np.arange(n_out + 1))
    for row in range(n_out):
        mine = buffers[bounds[row] : bounds[row + 1]]
        smaller = result[row - 1] if row % n_bands else None
        if smaller is not None and not smaller.is_empty:
            # unite the new buffers first: one overlay with the big polygon, not one per level
            result[row] = shapely.union(smaller, shapely.union_all(mine)) if mine.size else smaller
        elif mine.size:
            result[row] = shapely.union_all(mine)
    return result


def _polygons(
    network: WalkNetwork,
    reached: _Reached,
    budgets_m: npt.NDArray[np.float64],
    *,
    group_row: npt.NDArray[np.int64],
    n_out: int,
    buffer_m: float,
) -> npt.NDArray[np.object_]:
    pieces = _cut(network, reached, budgets_m, group_row=group_row)
    buffers, out = _buffered_parts(network, pieces, buffer_m=buffer_m)
    return _dissolve(buffers, out, n_out, budgets_m.size)


def _grouped_pieces(
    network: WalkNetwork,
    reached: _Reached,
    budgets_m: npt.NDArray[np.float64],
    *,
    group_row: npt.NDArray[np.int64],
) -> (
    tuple[
        npt.NDArray[np.int64],
        npt.NDArray[np.float64],
        npt.NDArray[np.float64],
        npt.NDArray[np.int64],
    ]
    | None
):
    """The reached pieces of the raster paths, ordered by group (stable): each piece's group,
    start and end coordinates and band; None when nothing is reached."""
    nb = budgets_m.size
    pieces = _cut(network, reached, budgets_m, group_row=group_row)
    if pieces.out.size == 0:
        return None
    start, end = _piece_coords(network, pieces)
    order = np.argsort(pieces.out // nb, kind="stable")
    out = pieces.out[order]
    return out // nb, start[order], end[order], out % nb


def _raster_polygons(
    network: WalkNetwork,
    reached: _Reached,
    budgets_m: npt.NDArray[np.float64],
    *,
    group_row: npt.NDArray[np.int64],
    n_out: int,
    buffer_m: float,
    cell_m: float,
) -> npt.NDArray[np.object_]:
    """One polygon per output row (as :func:`_polygons`), by the raster path
    (:mod:`coverage.raster`): one grid per group, round its own reached pieces."""
    nb = budgets_m.size
    polygons = np.full(n_out, shapely.MultiPolygon(), dtype=object)
    grouped = _grouped_pieces(network, reached, budgets_m, group_row=group_row)
    if grouped is None:
        return polygons
    group, start, end, band = grouped
    bounds = np.searchsorted(group, np.arange(n_out // nb + 1))
    radius_cells = claim_radius_m(buffer_m, cell_m) / cell_m
    for g in range(n_out // nb):
        mine = slice(int(bounds[g]), int(bounds[g + 1]))
        if bounds[g] == bounds[g + 1]:
            continue
        s, e = start[mine], end[mine]
        lo = np.minimum(s.min(axis=0), e.min(axis=0))
        hi = np.maximum(s.max(axis=0), e.max(axis=0))
        grid = grid_around(lo, hi, cell_m=cell_m, pad_m=buffer_m)
        burnt = burn_segments(grid, s, e, band[mine], n_bands=nb)
        claimed = dilate_min(burnt, radius_cells=radius_cells, empty=nb)
        polygons[g * nb : (g + 1) * nb] = trace_bands(claimed, grid, n_bands=nb)
    return polygons


#: Cells of the stacked rasters traced at once (:mod:`coverage.raster_tiles`); a chunk's grids
#: beyond it are traced in several batches (each band takes a float64 copy of the cells).
_TILE_CELLS = 2_000_000


def _tiled_polygons(
    network: WalkNetwork,
    reached: _Reached,
    budgets_m: npt.NDArray[np.float64],
    *,
    group_row: npt.NDArray[np.int64],
    n_out: int,
    buffer_m: float,
    cell_m: float,
    arrays: TraceArrays,
) -> npt.NDArray[np.object_]:
    """The polygons of :func:`_raster_polygons` (one grid per group, round its own reached
    pieces), with the groups' grids stacked (:mod:`coverage.raster_tiles`): one burn, one
    dilation and one trace per band for up to :data:`_TILE_CELLS` cells of grids at once."""
    nb = budgets_m.size
    polygons = np.full(n_out, shapely.MultiPolygon(), dtype=object)
    grouped = _grouped_pieces(network, reached, budgets_m, group_row=group_row)
    if grouped is None:
        return polygons
    group, start, end, band = grouped
    present, first = _runs(group)
    lo = np.minimum(np.minimum.reduceat(start, first), np.minimum.reduceat(end, first))
    hi = np.maximum(np.maximum.reduceat(start, first), np.maximum.reduceat(end, first))
    # batches of whole groups' grids, each at most _TILE_CELLS (or one group)
    margin = 2.0 * (buffer_m + 2.0 * cell_m)
    cells = np.cumsum(np.prod(np.ceil((hi - lo + margin) / cell_m) + 2.0, axis=1))
    cuts = [0]
    while cuts[-1] < present.size:
        base = cells[cuts[-1] - 1] if cuts[-1] else 0
        cuts.append(
            max(int(np.searchsorted(cells, base + _TILE_CELLS, side="right")), cuts[-1] + 1)
        )
    piece_end = np.append(first[1:], group.size)
    radius_cells = claim_radius_m(buffer_m, cell_m) / cell_m
    for a, b in itertools.pairwise(cuts):
        tiles = tiles_around(lo[a:b], hi[a:b], cell_m=cell_m, pad_m=buffer_m)
        mine = slice(int(first[a]), int(piece_end[b - 1]))
        tile = np.searchsorted(present, group[mine]) - a
        burnt = burn_tiles(tiles, tile, start[mine], end[mine], band[mine], n_bands=nb)
        claimed = dilate_min(burnt, radius_cells=radius_cells, empty=nb)
        boxes = _band_boxes(
            tiles, tile, start[mine], end[mine], band[mine], n_bands=nb, radius_cells=radius_cells
        )
        rows = (present[a:b, None] * nb + np.arange(nb)).ravel()
        polygons[rows] = trace_tiles(claimed, tiles, n_bands=nb, boxes=boxes, arrays=arrays)
    return polygons


def _band_boxes(
    tiles: Tiles,
    tile: npt.NDArray[np.int64],
    start: npt.NDArray[np.float64],
    end: npt.NDArray[np.float64],
    band: npt.NDArray[np.int64],
    *,
    n_bands: int,
    radius_cells: float,
) -> npt.NDArray[np.int64]:
    """Per tile and band ``b``, the cells (``r0, r1, c0, c1``, half-open, in the tile's own
    cells) that the segments of bands ``<= b`` can claim, plus one cell on each side: the
    cells burnt lie in the segments' box, the claimed ones within ``radius_cells`` of them.
    ``tile`` must be ascending."""
    k = tiles.n_rows.size
    boxes = np.zeros((k, n_bands, 4), dtype=np.int64)
    grow = math.floor(radius_cells + 1e-9) + 1
    origin = np.column_stack([tiles.x0, tiles.y0])
    for b in range(n_bands):
        sel = np.flatnonzero(band <= b)
        if sel.size == 0:
            continue
        present, first = _runs(tile[sel])
        s, e = start[sel], end[sel]
        lo = np.minimum(np.minimum.reduceat(s, first), np.minimum.reduceat(e, first))
        hi = np.maximum(np.maximum.reduceat(s, first), np.maximum.reduceat(e, first))
        cell_lo = np.floor((lo - origin[present]) / tiles.cell_m).astype(np.int64) - grow
        cell_hi = np.floor((hi - origin[present]) / tiles.cell_m).astype(np.int64) + grow + 1
        boxes[present, b, 0] = np.maximum(cell_lo[:, 1], 0)
        boxes[present, b, 1] = np.minimum(cell_hi[:, 1], tiles.n_rows[present])
        boxes[present, b, 2] = np.maximum(cell_lo[:, 0], 0)
        boxes[present, b, 3] = np.minimum(cell_hi[:, 0], tiles.n_cols[present])
    return boxes


def _to_rings(polygons: npt.NDArray[np.object_], n_bands: int) -> npt.NDArray[np.object_]:
    """Band polygons (rows grouped by ``n_bands``) turned into rings: each minus the smaller."""
    grid = polygons.reshape(-1, n_bands)
    rings = grid.copy()
    if n_bands > 1:
        rings[:, 1:] = shapely.difference(grid[:, 1:], grid[:, :-1])
    return np.asarray(rings.ravel(), dtype=object)


# ---- outputs -------------------------------------------------------------------------------


def _valid(geoms: npt.NDArray[np.object_]) -> npt.NDArray[np.object_]:
    """The geometries with invalid ones repaired (polygonal parts kept)."""
    bad = ~shapely.is_valid(geoms)
    if bad.any():
        fixed = shapely.make_valid(geoms[bad], method="structure", keep_collapsed=False)
        geoms = geoms.copy()
        geoms[bad] = fixed
    return geoms


#: Spacing (m) of the control points of :func:`_interpolated_wgs84`.
_CONTROL_M = 100.0
#: Most control points :func:`_interpolated_wgs84` lays out (beyond: exact reprojection).
_CONTROL_MAX = 1_000_000
#: Vertices :func:`_interpolated_wgs84` interpolates at once (bounds its temporary arrays).
_CONTROL_BLOCK = 1 << 16
#: :func:`_interpolated_wgs84` compares every this many vertices with an exact reprojection...
_CONTROL_CHECK_EVERY = 97
#: ... and reprojects all exactly if one is off by more than this (about 1 mm).
_CONTROL_TOLERANCE_DEG = 1e-8


def _interpolated_wgs84(
    network: WalkNetwork, geoms: npt.NDArray[np.object_]
) -> npt.NDArray[np.object_]:
    """Traced polygons (metric CRS) in EPSG:4326, their vertices interpolated between exactly
    reprojected control points.

    The control points are the corners of the squares of a :data:`_CONTROL_M` grid that hold a
    vertex, reprojected by pyproj; each vertex is interpolated bilinearly between its square's
    corners. The inverse UTM projection is so smooth that this departs from an exact
    reprojection by less than 0.3 mm (at 100 m: measured up to 3° from the central meridian and
    53° N; ``tests/test_raster_tiles.py`` checks 1 mm), less than the straight edges of any
    reprojected polygon depart from the curved images of its metric edges. Every
    :data:`_CONTROL_CHECK_EVERY`-th vertex is also reprojected exactly: if one is off by more
    than :data:`_CONTROL_TOLERANCE_DEG` (vertices far outside the UTM zone), all are
    reprojected exactly. Traced polygons have a vertex every few metres along their boundary:
    about a tenth as many points are reprojected.
    """
    coords = shapely.get_coordinates(geoms)
    if coords.shape[0] == 0:
        return geoms

    def exact(xy: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        lon, lat = network.to_metric.transform(xy[:, 0], xy[:, 1], direction="INVERSE")
        return np.column_stack([lon, lat])

    x0 = math.floor(coords[:, 0].min() / _CONTROL_M)
    y0 = math.floor(coords[:, 1].min() / _CONTROL_M)
    n_cols = math.floor(coords[:, 0].max() / _CONTROL_M) - x0 + 2
    n_rows = math.floor(coords[:, 1].max() / _CONTROL_M) - y0 + 2
    if n_cols * n_rows > _CONTROL_MAX:  # vertices spread far and wide: exact reprojection
        return np.asarray(shapely.set_coordinates(geoms.copy(), exact(coords)))
    blocks = [slice(i, i + _CONTROL_BLOCK) for i in range(0, coords.shape[0], _CONTROL_BLOCK)]

    def square(block: slice) -> tuple[npt.NDArray[np.float64], ...]:
        """Each vertex's square (flat index) and position in it (0-1 along x and y)."""
        x = coords[block, 0] / _CONTROL_M - x0
        y = coords[block, 1] / _CONTROL_M - y0
        col = x.astype(np.int64)  # x >= 0: truncation is floor
        row = y.astype(np.int64)
        return row * n_cols + col, x - col, y - row

    # the control points needed: the four corners of every square holding a vertex (vertices
    # taken in blocks: a city's isochrones have millions)
    holds = np.zeros(n_rows * n_cols, dtype=bool)
    for block in blocks:
        holds[square(block)[0]] = True
    need = holds.reshape(n_rows, n_cols)
    need[1:] |= need[:-1].copy()
    need[:, 1:] |= need[:, :-1].copy()
    flat = np.flatnonzero(need)
    c_row, c_col = np.divmod(flat, n_cols)
    control = exact(np.column_stack([x0 + c_col, y0 + c_row]) * _CONTROL_M)
    grids = np.zeros((2, n_rows * n_cols))
    grids[:, flat] = control.T
    lonlat = np.empty_like(coords)
    for block in blocks:
        at, x, y = square(block)
        for k, grid in enumerate(grids):  # lon, lat
            c00 = grid[at]
            c10 = grid[at + 1] - c00
            c01 = grid[at + n_cols] - c00
            c11 = grid[at + n_cols + 1] - c00 - c10 - c01
            lonlat[block, k] = c00 + x * (c10 + y * c11) + y * c01
    # checked on a sample: far from the zone's central meridian, reproject exactly instead
    sample = slice(None, None, _CONTROL_CHECK_EVERY)
    if np.abs(lonlat[sample] - exact(coords[sample])).max() > _CONTROL_TOLERANCE_DEG:
        lonlat = exact(coords)
    return np.asarray(shapely.set_coordinates(geoms.copy(), lonlat))


def _frame(
    columns: dict[str, Any],
    polygons: npt.NDArray[np.object_],
    network: WalkNetwork,
    *,
    crs: CrsChoice,
    attrs: dict[str, Any],
    repair: bool = True,
) -> gpd.GeoDataFrame:
    import geopandas as gpd

    if crs not in ("wgs84", "metric"):
        msg = f'crs must be "wgs84" or "metric", got {crs!r}'
        raise DataError(msg)
    # GEOS overlay results are valid; reprojection can (rarely) make a sliver self-touch, so
    # validity is checked once, in the output CRS. Traced rasters (repair=False) have no
    # slivers: their vertices lie on a lattice of half cells, metres apart.
    if crs == "wgs84" and not repair:
        geometry = gpd.GeoSeries(_interpolated_wgs84(network, polygons), crs=4326)
        gdf = gpd.GeoDataFrame(columns, geometry=geometry)
        gdf.attrs.update(attrs)
        return gdf
    metric = _valid(polygons) if crs == "metric" and repair else polygons
    gdf = gpd.GeoDataFrame(columns, geometry=gpd.GeoSeries(metric, crs=network.metric_crs))
    if crs == "wgs84":
        gdf = gdf.to_crs(4326)
        if repair:
            gdf.geometry = gpd.GeoSeries(_valid(gdf.geometry.values), crs=4326, index=gdf.index)
    gdf.attrs.update(attrs)
    return gdf


def _snap(
    network: WalkNetwork,
    points: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    max_snap_m: float,
    what: str,
) -> SnappedPoints:
    snapped = snap_points(network, points, max_snap_m=max_snap_m)
    missing = snapped.unsnapped_ids
    if missing:
        shown = ", ".join(str(i) for i in missing[:10]) + (" …" if len(missing) > 10 else "")
        logger.warning(
            "%d of %d %s are farther than %g m from any walkable edge and have no isochrone "
            "(ids %s); check their coordinates or raise max_snap_m",
            len(missing),
            len(snapped),
            what,
            max_snap_m,
            shown,
        )
    return snapped


def _ids(facilities: gpd.GeoDataFrame | gpd.GeoSeries, id_column: str | None) -> npt.NDArray[Any]:
    import geopandas as gpd

    if id_column is None or isinstance(facilities, gpd.GeoSeries):
        return np.asarray(facilities.index)
    if id_column not in facilities.columns:
        msg = (
            f"the facilities have no column {id_column!r} (columns: {list(facilities.columns)}); "
            "pass id_column=<the id column>, or id_column=None to use the index"
        )
        raise DataError(msg)
    return np.asarray(facilities[id_column])


def facility_isochrones(
    network: WalkNetwork,
    facilities: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    minutes: float | Sequence[float] = DEFAULT_MINUTES,
    walk_speed_kmh: float = 4.0,
    buffer_m: float = DEFAULT_BUFFER_M,
    rings: bool = False,
    id_column: str | None = "service_id",
    category_column: str | None = "category",
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
    crs: CrsChoice = "wgs84",
    cell_m: float | None = None,
) -> gpd.GeoDataFrame:
    """One isochrone polygon per facility and time band, not dissolved.

    Each facility gets its own shortest-path search; the searches run in chunks of facilities
    that are close together, one scipy Dijkstra call per chunk on the part of the network the
    chunk can reach. Polygons are built as described in :mod:`coverage.isochrones`.

    Parameters
    ----------
    network
        The walking network.
    facilities
        Facility points (or polygons, represented by a point inside) in any CRS.
    minutes
        The time bands.
    walk_speed_kmh
        Walking speed turning minutes into metres (:func:`coverage.rules.minutes_to_m`).
    buffer_m
        Width covered on each side of a reached street; see :data:`DEFAULT_BUFFER_M`.
    rings
        ``False``: each band's full polygon (a band contains the smaller ones). ``True``: each
        band minus the next smaller one, for shading a map without overdrawing.
    id_column
        Column holding the facility id (``None``: the index).
    category_column
        Column copied to the output when the facilities have it.
    max_snap_m
        Facilities farther than this from every walkable edge get no polygon; they are logged
        and listed in ``result.attrs["unsnapped"]``.
    crs
        ``"wgs84"`` (EPSG:4326) or ``"metric"`` (:attr:`WalkNetwork.metric_crs`).
    cell_m
        ``None`` (default): exact polygons (GEOS buffers of the reached pieces). A cell size
        in metres (e.g. :data:`DEFAULT_CELL_M`): each facility's pieces are traced from its own
        raster (:mod:`coverage.raster`; the rasters of nearby facilities are processed together,
        :mod:`coverage.raster_tiles`), tens of times faster; no point is farther than
        ``buffer_m + cell_m·√2`` from a reached point, and every reached point is inside. In
        EPSG:4326 the traced vertices are interpolated between exactly reprojected points
        100 m apart, within 0.3 mm of an exact reprojection.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per snapped facility and band, facilities in input order and bands ascending:
        the id column, the category column (if present), ``minutes`` (upper end of the band),
        ``distance_m`` (the walking budget), ``band`` (label such as ``"0-10 min"`` or, with
        ``rings=True``, ``"5-10 min"``) and ``geometry`` (Polygon or MultiPolygon; empty when
        the facility is farther from its street than the budget). ``attrs`` holds
        ``unsnapped`` (ids), ``buffer_m``, ``walk_speed_kmh`` and ``metric_crs``.
    """
    minutes_arr, budgets = _bands(minutes, walk_speed_kmh)
    _check_buffer(buffer_m, max_snap_m)
    if cell_m is not None:
        check_cell_size(cell_m, buffer_m)
    ids = _ids(facilities, id_column)
    snapped = _snap(network, facilities, max_snap_m=max_snap_m, what="facilities")
    ok = np.flatnonzero(snapped.ok)
    usable = snapped.subset(snapped.ok)
    order = _spatial_order(_source_xy(network, usable)) if ok.size else ok
    polygons = _group_polygons(
        network,
        usable,
        np.arange(ok.size, dtype=np.int64),
        order,
        ok.size,
        budgets,
        buffer_m,
        cell_m=cell_m,
    )
    groups: dict[str, Any] = {id_column if id_column is not None else "facility": ids[ok]}
    if (
        category_column is not None
        and not isinstance(facilities, pd.Series)
        and category_column in facilities.columns
    ):
        groups[category_column] = np.asarray(facilities[category_column])[ok]
    frame = _band_frame(
        network,
        polygons,
        groups,
        minutes_arr,
        budgets,
        snapped=snapped,
        rings=rings,
        buffer_m=buffer_m,
        walk_speed_kmh=walk_speed_kmh,
        crs=crs,
        repair=cell_m is None,
    )
    frame.attrs["cell_m"] = cell_m
    return frame


def _chunks(
    network: WalkNetwork,
    usable: SnappedPoints,
    source_group: npt.NDArray[np.int64],
    order: npt.NDArray[np.int64],
    n_groups: int,
    budget_m: float,
) -> list[npt.NDArray[np.int64]]:
    """``order`` cut into runs of at most :data:`_CHUNK` groups whose centres span at most
    :data:`_CHUNK_SPAN_BUDGETS` budgets: few facilities far apart are searched apart, each on
    a small subgraph, not together on one spanning them all."""
    if order.size == 0:
        return []
    centre = np.zeros((n_groups, 2))
    np.add.at(centre, source_group, _source_xy(network, usable))
    counts = np.bincount(source_group, minlength=n_groups)
    centre /= np.maximum(counts, 1)[:, None]
    xs = centre[order, 0].tolist()
    ys = centre[order, 1].tolist()
    limit = _CHUNK_SPAN_BUDGETS * budget_m
    cuts = [0]
    x0 = x1 = xs[0]
    y0 = y1 = ys[0]
    for i in range(1, order.size):
        x, y = xs[i], ys[i]
        nx0, nx1, ny0, ny1 = min(x0, x), max(x1, x), min(y0, y), max(y1, y)
        if i - cuts[-1] >= _CHUNK or nx1 - nx0 > limit or ny1 - ny0 > limit:
            cuts.append(i)
            x0 = x1 = x
            y0 = y1 = y
        else:
            x0, x1, y0, y1 = nx0, nx1, ny0, ny1
    cuts.append(order.size)
    return [order[a:b] for a, b in itertools.pairwise(cuts)]


def _group_polygons(
    network: WalkNetwork,
    usable: SnappedPoints,
    source_group: npt.NDArray[np.int64],
    order: npt.NDArray[np.int64],
    n_groups: int,
    budgets: npt.NDArray[np.float64],
    buffer_m: float,
    cell_m: float | None = None,
) -> npt.NDArray[np.object_]:
    """Polygons of every group and band (row ``group * n_bands + band``; empty for groups not
    in ``order``), searched :data:`_CHUNK` groups at a time, taken along ``order`` (a spatial
    order keeps each chunk's search box small); exact, or traced from a raster of ``cell_m``."""
    nb = budgets.size
    polygons = np.full(n_groups * nb, shapely.Polygon(), dtype=object)
    scratch = np.full(network.n_nodes, -1, dtype=np.int64)
    arrays = TraceArrays()
    for chunk in _chunks(network, usable, source_group, order, n_groups, float(budgets[-1])):
        groups = np.sort(chunk)
        reached = _reached_chunk(
            network, usable, source_group, groups, float(budgets[-1]), scratch=scratch
        )
        rows = np.full(n_groups, -1, dtype=np.int64)
        rows[groups] = np.arange(groups.size) * nb
        where = (groups[:, None] * nb + np.arange(nb)).ravel()
        if cell_m is None:
            polygons[where] = _polygons(
                network,
                reached,
                budgets,
                group_row=rows,
                n_out=groups.size * nb,
                buffer_m=buffer_m,
            )
        else:
            polygons[where] = _tiled_polygons(
                network,
                reached,
                budgets,
                group_row=rows,
                n_out=groups.size * nb,
                buffer_m=buffer_m,
                cell_m=cell_m,
                arrays=arrays,
            )
    return polygons


def _band_frame(
    network: WalkNetwork,
    polygons: npt.NDArray[np.object_],
    groups: dict[str, Any],
    minutes_arr: npt.NDArray[np.float64],
    budgets: npt.NDArray[np.float64],
    *,
    snapped: SnappedPoints,
    rings: bool,
    buffer_m: float,
    walk_speed_kmh: float,
    crs: CrsChoice,
    repair: bool = True,
) -> gpd.GeoDataFrame:
    """The output frame: one row per group (the ``groups`` columns, one value per group) and
    band, bands ascending; with ``rings`` each band minus the smaller one."""
    nb = budgets.size
    n_groups = polygons.size // nb
    if rings:
        polygons = _to_rings(polygons, nb)
    columns = {name: np.repeat(values, nb) for name, values in groups.items()}
    columns["minutes"] = np.tile(minutes_arr, n_groups)
    columns["distance_m"] = np.tile(budgets, n_groups)
    columns["band"] = np.tile(_band_labels(minutes_arr, rings=rings), n_groups)
    return _frame(
        columns,
        polygons,
        network,
        crs=crs,
        attrs=_attrs(network, snapped, buffer_m, walk_speed_kmh),
        repair=repair or rings,
    )


def _attrs(
    network: WalkNetwork, snapped: SnappedPoints, buffer_m: float, walk_speed_kmh: float
) -> dict[str, Any]:
    return {
        "unsnapped": snapped.unsnapped_ids,
        "buffer_m": float(buffer_m),
        "walk_speed_kmh": float(walk_speed_kmh),
        "metric_crs": network.metric_crs.to_string(),
    }


def _spatial_order(xy: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Positions of the points along a Hilbert curve, so that chunks are compact."""
    import geopandas as gpd

    points = gpd.GeoSeries(shapely.points(xy))
    return np.asarray(np.argsort(points.hilbert_distance().to_numpy(), kind="stable"))


def _area(
    network: WalkNetwork,
    points: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    minutes: float | Sequence[float],
    walk_speed_kmh: float,
    buffer_m: float,
    rings: bool,
    max_snap_m: float,
    crs: CrsChoice,
    what: str,
    cell_m: float | None = None,
) -> gpd.GeoDataFrame:
    """Dissolved area reached from any of ``points``: one multi-source search."""
    minutes_arr, budgets = _bands(minutes, walk_speed_kmh)
    _check_buffer(buffer_m, max_snap_m)
    if cell_m is not None:
        check_cell_size(cell_m, buffer_m)
    nb = budgets.size
    snapped = _snap(network, points, max_snap_m=max_snap_m, what=what)
    polygons = np.full(nb, shapely.Polygon(), dtype=object)
    if snapped.ok.any():
        reached = _reached_single(network, snapped, float(budgets[-1]))
        if cell_m is None:
            polygons = _polygons(
                network,
                reached,
                budgets,
                group_row=np.zeros(1, dtype=np.int64),
                n_out=nb,
                buffer_m=buffer_m,
            )
        else:
            polygons = _raster_polygons(
                network,
                reached,
                budgets,
                group_row=np.zeros(1, dtype=np.int64),
                n_out=nb,
                buffer_m=buffer_m,
                cell_m=cell_m,
            )
    frame = _band_frame(
        network,
        polygons,
        {},
        minutes_arr,
        budgets,
        snapped=snapped,
        rings=rings,
        buffer_m=buffer_m,
        walk_speed_kmh=walk_speed_kmh,
        crs=crs,
        repair=cell_m is None,
    )
    frame.attrs["cell_m"] = cell_m
    return frame


def service_area(
    network: WalkNetwork,
    facilities: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    minutes: float | Sequence[float] = DEFAULT_MINUTES,
    walk_speed_kmh: float = 4.0,
    buffer_m: float = DEFAULT_BUFFER_M,
    rings: bool = False,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
    crs: CrsChoice = "wgs84",
    cell_m: float | None = None,
) -> gpd.GeoDataFrame:
    """The dissolved area within walking time of any facility of a category.

    One multi-source search from all facilities (:func:`coverage.access.node_distances`), then
    one polygon per band. It equals the union of :func:`facility_isochrones`, computed far
    faster.

    Parameters
    ----------
    network
        The walking network.
    facilities
        The facilities of one category, in any CRS.
    minutes, walk_speed_kmh, buffer_m, rings, max_snap_m, crs
        As in :func:`facility_isochrones`.
    cell_m
        ``None`` (default): the exact polygons (GEOS buffers of the reached pieces, dissolved);
        no point is farther than ``buffer_m`` from a reached point. A cell size in metres
        (e.g. :data:`DEFAULT_CELL_M`): the raster path of :mod:`coverage.raster`, tens of times
        faster on a city; no point is farther than ``buffer_m + cell_m·√2`` (the buffer plus
        one cell diagonal) from a reached point, and every reached point is still inside.
        ``cell_m`` must be at most ``buffer_m / 1.51``. In EPSG:4326 the traced vertices are
        interpolated as in :func:`facility_isochrones`.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per band: ``minutes``, ``distance_m``, ``band`` and ``geometry``; ``attrs`` as
        in :func:`facility_isochrones`, plus ``cell_m``.
    """
    return _area(
        network,
        facilities,
        minutes=minutes,
        walk_speed_kmh=walk_speed_kmh,
        buffer_m=buffer_m,
        rings=rings,
        max_snap_m=max_snap_m,
        crs=crs,
        what="facilities",
        cell_m=cell_m,
    )


def audit_service_areas(
    result: AuditResult,
    *,
    categories: Sequence[str] | None = None,
    minutes: Sequence[float] = DEFAULT_MINUTES,
    cell_m: float | None = DEFAULT_CELL_M,
    crs: CrsChoice = "wgs84",
) -> dict[str, gpd.GeoDataFrame]:
    """The service areas of an audit, per category: what ``write_outputs`` writes.

    The same categories and facilities as :func:`coverage.maps.default_service_areas` (every
    category of the pack's reach rules with a facility on the network; the audit's walking
    speed and snapping limit), by the raster path of :func:`service_area` unless
    ``cell_m=None``.

    Parameters
    ----------
    result
        An audit result with its walking network.
    categories
        Categories to compute (default: every category of the pack's reach rules).
    minutes
        The time bands.
    cell_m
        Cell size of the raster path (see :func:`service_area`); ``None``: exact polygons.
    crs
        As in :func:`facility_isochrones`.

    Returns
    -------
    dict
        Category -> the :func:`service_area` frame; categories without a facility on the
        network are left out.

    Raises
    ------
    DataError
        If the result has no walking network.
    """
    from coverage.audit import service_categories

    if result.network is None:
        msg = "the audit result has no walking network; run audit_case again to get one"
        raise DataError(msg)
    if categories is None:
        categories = result.pack.reach_categories
    services = result.services
    cats = service_categories(services)
    on_net = (
        services["on_network"].fillna(False).to_numpy(dtype=bool)
        if "on_network" in services
        else np.ones(len(services), dtype=bool)
    )
    snap = result.provenance.get("max_snap_m")
    max_snap_m = DEFAULT_MAX_SNAP_M if snap is None else float(snap)
    out: dict[str, gpd.GeoDataFrame] = {}
    for cat in dict.fromkeys(categories):
        pos = cats.loc[cats["category"] == cat, "pos"].to_numpy()
        pos = pos[on_net[pos]]
        if len(pos) == 0:
            continue
        out[cat] = service_area(
            result.network,
            services.iloc[pos],
            minutes=tuple(minutes),
            walk_speed_kmh=result.walk_speed_kmh,
            max_snap_m=max_snap_m,
            crs=crs,
            cell_m=cell_m,
        )
    return out


def reach_area(
    network: WalkNetwork,
    origins: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    minutes: float | Sequence[float] = 15.0,
    walk_speed_kmh: float = 4.0,
    buffer_m: float = DEFAULT_BUFFER_M,
    rings: bool = False,
    group_column: str | None = None,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
    crs: CrsChoice = "wgs84",
) -> gpd.GeoDataFrame:
    """Where the residents of a community can walk within the time: its reach area.

    The search starts from all of the community's origins at once (each snapped to its street;
    the walk from the residence to the street counts), so the area is the union of what every
    origin reaches.

    Parameters
    ----------
    network
        The walking network.
    origins
        Residential origins (points) in any CRS.
    minutes
        One band or several.
    walk_speed_kmh, buffer_m, rings, max_snap_m, crs
        As in :func:`facility_isochrones`.
    group_column
        Column naming the community of each origin (e.g. ``"community_id"``): one reach area
        per community, each from its own origins. ``None``: all origins are one community.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per (community and) band: the group column if given, ``minutes``,
        ``distance_m``, ``band``, ``geometry``; ``attrs`` as in :func:`facility_isochrones`.
    """
    if group_column is None:
        return _area(
            network,
            origins,
            minutes=minutes,
            walk_speed_kmh=walk_speed_kmh,
            buffer_m=buffer_m,
            rings=rings,
            max_snap_m=max_snap_m,
            crs=crs,
            what="origins",
        )
    if isinstance(origins, pd.Series) or group_column not in origins.columns:
        msg = (
            f"the origins have no column {group_column!r}; pass group_column=<the community "
            "column>, or group_column=None for one area from all origins"
        )
        raise DataError(msg)
    minutes_arr, budgets = _bands(minutes, walk_speed_kmh)
    _check_buffer(buffer_m, max_snap_m)
    snapped = _snap(network, origins, max_snap_m=max_snap_m, what="origins")
    keys, source_group = np.unique(
        np.asarray(origins[group_column]).astype(str), return_inverse=True
    )
    source_group = np.asarray(source_group, dtype=np.int64)[snapped.ok]
    usable = snapped.subset(snapped.ok)
    present = np.unique(source_group)
    order = present
    if present.size:  # groups searched in the order of their centres along a Hilbert curve
        centre = np.zeros((keys.size, 2))
        np.add.at(centre, source_group, _source_xy(network, usable))
        centre[present] /= np.bincount(source_group)[present][:, None]
        order = present[_spatial_order(centre[present])]
    polygons = _group_polygons(network, usable, source_group, order, keys.size, budgets, buffer_m)
    return _band_frame(
        network,
        polygons,
        {group_column: keys},
        minutes_arr,
        budgets,
        snapped=snapped,
        rings=rings,
        buffer_m=buffer_m,
        walk_speed_kmh=walk_speed_kmh,
        crs=crs,
    )


def reached_streets(
    network: WalkNetwork,
    points: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    minutes: float | Sequence[float] = DEFAULT_MINUTES,
    walk_speed_kmh: float = 4.0,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
    crs: CrsChoice = "wgs84",
) -> gpd.GeoDataFrame:
    """The parts of the network reachable from any of the points, cut where time runs out.

    These are the lines the polygons of :func:`service_area` buffer: drawing them shows
    exactly which streets are within the time, with no buffer.

    Parameters
    ----------
    network
        The walking network.
    points
        Facilities or origins, in any CRS.
    minutes, walk_speed_kmh, max_snap_m, crs
        As in :func:`facility_isochrones`.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per band: ``minutes``, ``distance_m``, ``band``, ``length_m`` (reached network
        length, great-circle metres as in the network) and ``geometry`` (MultiLineString of the
        reached pieces, merged where they join end to end).
    """
    import geopandas as gpd

    minutes_arr, budgets = _bands(minutes, walk_speed_kmh)
    nb = budgets.size
    snapped = _snap(network, points, max_snap_m=max_snap_m, what="points")
    lines = np.full(nb, shapely.MultiLineString(), dtype=object)
    length_m = np.zeros(nb)
    if snapped.ok.any():
        reached = _reached_single(network, snapped, float(budgets[-1]))
        pieces = _cut(
            network, reached, budgets, group_row=np.zeros(1, dtype=np.int64), nested=False
        )
        # pieces overlap where a source's own edge is also reached through a node
        pieces = _merge_intervals(pieces)
        length_m[:] = np.bincount(pieces.out, weights=pieces.end_m - pieces.start_m, minlength=nb)
        start, end = _piece_coords(network, pieces)
        keep = ~np.all(start == end, axis=1)
        order = np.argsort(pieces.out[keep], kind="stable")
        segs = shapely.linestrings(np.stack([start[keep][order], end[keep][order]], axis=1))
        out = pieces.out[keep][order]
        present = np.unique(out)
        multi = shapely.multilinestrings(segs, indices=np.searchsorted(present, out))
        merged = shapely.line_merge(multi)
        lines[present] = [
            g if g.geom_type == "MultiLineString" else shapely.MultiLineString([g]) for g in merged
        ]
    gdf = gpd.GeoDataFrame(
        {
            "minutes": minutes_arr,
            "distance_m": budgets,
            "band": _band_labels(minutes_arr, rings=False),
            "length_m": length_m,
        },
        geometry=gpd.GeoSeries(lines, crs=network.metric_crs),
    )
    if crs == "wgs84":
        gdf = gdf.to_crs(4326)
    elif crs != "metric":
        msg = f'crs must be "wgs84" or "metric", got {crs!r}'
        raise DataError(msg)
    gdf.attrs.update({"unsnapped": snapped.unsnapped_ids, "walk_speed_kmh": walk_speed_kmh})
    return gdf


def _merge_intervals(pieces: _Pieces) -> _Pieces:
    """The same reached set with overlapping pieces of one edge and row merged into one."""
    order = np.lexsort((pieces.start_m, pieces.edge, pieces.out))
    out = pieces.out[order]
    edge = pieces.edge[order]
    start = pieces.start_m[order]
    end = pieces.end_m[order]
    if out.size == 0:
        return pieces
    key_change = np.ones(out.size, dtype=bool)
    key_change[1:] = (out[1:] != out[:-1]) | (edge[1:] != edge[:-1])
    run = np.cumsum(key_change) - 1
    # the largest end among the earlier pieces of the same (row, edge)
    shifted = np.where(key_change, -np.inf, np.concatenate([[-np.inf], end[:-1]]))
    prev_end, _ = segment_cummax(shifted, run)
    first = np.flatnonzero(key_change | (start > prev_end))
    return _Pieces(
        out=out[first],
        edge=edge[first],
        start_m=start[first],
        end_m=np.maximum.reduceat(end, first),
    )


def isochrone(
    network: WalkNetwork,
    point: tuple[float, float] | shapely.Geometry,
    *,
    minutes: float | Sequence[float] = DEFAULT_MINUTES,
    walk_speed_kmh: float = 4.0,
    buffer_m: float = DEFAULT_BUFFER_M,
    rings: bool = False,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
    crs: CrsChoice = "wgs84",
) -> gpd.GeoDataFrame:
    """The isochrones of one facility.

    Parameters
    ----------
    network
        The walking network.
    point
        ``(lon, lat)`` in EPSG:4326, or a shapely geometry in EPSG:4326 (a polygon is
        represented by a point inside it).
    minutes, walk_speed_kmh, buffer_m, rings, max_snap_m, crs
        As in :func:`facility_isochrones`.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per band: ``minutes``, ``distance_m``, ``band``, ``geometry``; the same
        polygons as the facility's rows of :func:`facility_isochrones`.

    Raises
    ------
    DataError
        If the point is farther than ``max_snap_m`` from every walkable edge.
    """
    import geopandas as gpd

    if isinstance(point, shapely.Geometry):
        geom = point
    else:
        lon, lat = (float(c) for c in point)
        geom = shapely.Point(lon, lat)
    series = gpd.GeoSeries([geom], crs=4326)
    snapped = snap_points(network, series, max_snap_m=max_snap_m)
    if not snapped.ok[0]:
        msg = (
            f"the point {geom.wkt} is farther than {max_snap_m:g} m from every walkable edge "
            "of the network; check that it is in EPSG:4326 (lon, lat) inside the network's area, "
            "or raise max_snap_m"
        )
        raise DataError(msg)
    gdf = facility_isochrones(
        network,
        series,
        minutes=minutes,
        walk_speed_kmh=walk_speed_kmh,
        buffer_m=buffer_m,
        rings=rings,
        id_column=None,
        max_snap_m=max_snap_m,
        crs=crs,
    )
    return gdf.drop(columns="facility")


def simplify_for_display(gdf: gpd.GeoDataFrame, *, tolerance_m: float = 5.0) -> gpd.GeoDataFrame:
    """Lighter polygons for web maps: simplified in metres, kept valid.

    Simplification (Douglas-Peucker with topology preserved, in the local UTM zone) moves
    boundaries by up to ``tolerance_m`` both ways: the result may leave out reached street edges
    near the boundary and claim a little unreached land. Use it for drawing only, never for
    analysis.

    Parameters
    ----------
    gdf
        Polygons with a CRS (any).
    tolerance_m
        Largest distance a simplified boundary may move, in metres.

    Returns
    -------
    geopandas.GeoDataFrame
        A copy in the input's CRS with simplified, valid geometries.
    """
    import geopandas as gpd

    from coverage.crs import local_metric_crs

    if gdf.crs is None:
        msg = "the polygons have no CRS; set one (e.g. gdf.set_crs('EPSG:4326')) first"
        raise DataError(msg)
    if not np.isfinite(tolerance_m) or tolerance_m < 0:
        msg = f"tolerance_m must be a non-negative number of metres, got {tolerance_m!r}"
        raise DataError(msg)
    out = gdf.copy()
    if len(out) == 0:
        return out
    metric = gdf.crs if gdf.crs.is_projected else local_metric_crs(gdf)
    geoms = gdf.geometry.to_crs(metric).values
    simple = shapely.simplify(np.asarray(geoms, dtype=object), tolerance_m, preserve_topology=True)
    series = gpd.GeoSeries(_valid(simple), crs=metric, index=gdf.index).to_crs(gdf.crs)
    out[gdf.geometry.name] = gpd.GeoSeries(_valid(series.values), crs=gdf.crs, index=gdf.index)
    return out
