"""Which candidate covers which origin: bounded tile searches, a sparse matrix."""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp
from scipy.sparse import csgraph

from coverage._arrays import concat_ranges
from coverage.snapping import SnappedPoints

if TYPE_CHECKING:
    from coverage.network import WalkNetwork


__all__ = ["COVER_TOLERANCE_M", "TILE_M", "candidate_coverage"]

logger = logging.getLogger(__name__)


#: Side of the square tiles candidates are searched from together (m).
TILE_M = 500.0
#: A candidate covers an origin when the walk is at most the budget less this (m).
COVER_TOLERANCE_M = 1e-6
#: Straight-line distances in the metric CRS may exceed walked (great-circle) lengths by the
#: projection's scale factor (UTM: at most ~1.001 inside a zone); searches keep this margin.
_SCALE_MARGIN = 1.002


# ---- coverage ---------------------------------------------------------------------------------


def _cells(xy: npt.NDArray[np.float64], size: float) -> tuple[npt.NDArray[np.int64], ...]:
    cell = np.floor(xy / size).astype(np.int64)
    return cell[:, 0], cell[:, 1]


def _snapped_xy(network: WalkNetwork, points: SnappedPoints) -> npt.NDArray[np.float64]:
    """The metric position of each snapped point's projection on its edge."""
    ok = points.ok
    out = np.full((len(points), 2), np.nan)
    edge = points.edge[ok]
    frac = points.offset_m[ok] / np.maximum(network.edge_length_m[edge], 1e-12)
    a, b = network.xy[network.edge_u[edge]], network.xy[network.edge_v[edge]]
    out[ok] = a + frac[:, None] * (b - a)
    return out


def candidate_coverage(
    network: WalkNetwork,
    candidates: SnappedPoints,
    origins: SnappedPoints,
    *,
    budget_m: float,
    tile_m: float = TILE_M,
) -> sp.csr_matrix:
    """Which candidates cover which origins: walk <= ``budget_m`` (less the tolerance).

    Parameters
    ----------
    network
        The walking network.
    candidates, origins
        Snapped points (unsnapped ones cover and are covered by nothing).
    budget_m
        The walking budget.
    tile_m
        Side of the tiles searched together.

    Returns
    -------
    scipy.sparse.csr_matrix
        Boolean, shape (len(candidates), len(origins)).
    """
    n_c, n_o = len(candidates), len(origins)
    limit = float(budget_m) - COVER_TOLERANCE_M
    rows: list[npt.NDArray[np.int64]] = []
    cols: list[npt.NDArray[np.int64]] = []
    cand = np.flatnonzero(candidates.ok)
    orig_ok = np.flatnonzero(origins.ok)
    if cand.size == 0 or orig_ok.size == 0 or limit < 0:
        return sp.csr_matrix((n_c, n_o), dtype=bool)
    adjacency = network.adjacency
    xy = network.xy
    cand_xy = _snapped_xy(network, candidates)[cand]
    radius = limit * _SCALE_MARGIN + 1.0
    ring = math.ceil(radius / tile_m)
    # nodes bucketed by tile
    nx_, ny_ = _cells(xy, tile_m)
    node_order = np.lexsort((ny_, nx_))
    node_keys = np.column_stack([nx_[node_order], ny_[node_order]])
    uniq, starts = np.unique(node_keys, axis=0, return_index=True)
    ends = np.r_[starts[1:], node_order.size]
    bucket = {
        (int(k[0]), int(k[1])): (int(s), int(e)) for k, s, e in zip(uniq, starts, ends, strict=True)
    }
    # origins by the nodes of their edge
    o_edge = origins.edge[orig_ok]
    o_u, o_v = network.edge_u[o_edge], network.edge_v[o_edge]
    o_off, o_snap = origins.offset_m[orig_ok], origins.snap_m[orig_ok]
    o_len = network.edge_length_m[o_edge]
    # candidates by tile
    cx, cy = _cells(cand_xy, tile_m)
    order = np.lexsort((cy, cx))
    keys = np.column_stack([cx[order], cy[order]])
    t_uniq, t_start = np.unique(keys, axis=0, return_index=True)
    t_end = np.r_[t_start[1:], order.size]
    local = np.full(network.n_nodes, -1, dtype=np.int64)
    for key, lo, hi in zip(t_uniq, t_start, t_end, strict=True):
        members = cand[order[lo:hi]]
        parts = [
            node_order[s:e]
            for dx in range(-ring, ring + 1)
            for dy in range(-ring, ring + 1)
            if (s_e := bucket.get((int(key[0]) + dx, int(key[1]) + dy))) is not None
            for s, e in (s_e,)
        ]
        if not parts:
            continue
        nodes = np.concatenate(parts)
        local[nodes] = np.arange(nodes.size)
        counts = np.diff(adjacency.indptr)[nodes]
        pos = concat_ranges(adjacency.indptr[nodes], counts)
        to = local[adjacency.indices[pos]]
        keep = to >= 0
        frm = np.repeat(np.arange(nodes.size), counts)[keep]
        m = nodes.size
        k = members.size
        e = candidates.edge[members]
        off, snap = candidates.offset_m[members], candidates.snap_m[members]
        length = network.edge_length_m[e]
        lu, lv = local[network.edge_u[e]], local[network.edge_v[e]]
        virt = np.arange(m, m + k)
        ok_u, ok_v = lu >= 0, (lv >= 0) & (lv != lu)
        src = np.concatenate([frm, virt[ok_u], virt[ok_v]])
        dst = np.concatenate([to[keep], lu[ok_u], lv[ok_v]])
        weight = np.concatenate(
            [
                adjacency.data[pos][keep],
                np.maximum(snap + off, 1e-9)[ok_u],
                np.maximum(snap + length - off, 1e-9)[ok_v],
            ]
        )
        graph = sp.csr_matrix((weight, (src, dst)), shape=(m + k, m + k))
        dist = csgraph.dijkstra(graph, directed=True, indices=virt, limit=limit)
        # origins with an end of their edge in the region
        ou, ov = local[o_u], local[o_v]
        near = np.flatnonzero((ou >= 0) | (ov >= 0))
        if near.size:
            du = np.where(ou[near] >= 0, dist[:, np.maximum(ou[near], 0)], np.inf)
            dv = np.where(ov[near] >= 0, dist[:, np.maximum(ov[near], 0)], np.inf)
            walk = o_snap[near] + np.minimum(o_off[near] + du, o_len[near] - o_off[near] + dv)
            ci, oi = np.nonzero(walk <= limit)
            rows.append(members[ci])
            cols.append(orig_ok[near[oi]])
            # the direct walk along an edge shared by a candidate and an origin
            same = np.flatnonzero(np.isin(o_edge[near], e))
            if same.size:
                pairs = pd.DataFrame({"edge": e, "ci": np.arange(k)}).merge(
                    pd.DataFrame({"edge": o_edge[near][same], "oi": near[same]}), on="edge"
                )
                c_i = pairs["ci"].to_numpy(dtype=np.int64)
                o_i = pairs["oi"].to_numpy(dtype=np.int64)
                direct = o_snap[o_i] + np.abs(o_off[o_i] - off[c_i]) + snap[c_i]
                hit = direct <= limit
                rows.append(members[c_i[hit]])
                cols.append(orig_ok[o_i[hit]])
        local[nodes] = -1
    if not rows:
        return sp.csr_matrix((n_c, n_o), dtype=bool)
    r, c = np.concatenate(rows), np.concatenate(cols)
    matrix = sp.csr_matrix((np.ones(r.size, dtype=bool), (r, c)), shape=(n_c, n_o))
    matrix.sum_duplicates()
    matrix.data[:] = True
    return matrix
