"""Capacity within walking reach: the two-step floating catchment (2SFCA, E2SFCA).

A street's own sports area per resident hides a street whose only stadium sits at its edge,
and credits a street for land its residents cannot reach. The floating catchment measures
what residents can reach instead (Luo & Wang 2003; the enhanced E2SFCA with distance decay,
Luo & Qi 2009):

1. each facility ``j``'s supply ``S_j`` is shared among the residents within the walking
   budget ``d0`` of it: ``R_j = S_j / sum_i P_i w(d_ij)``;
2. each resident ``i`` sums the shares of the facilities within ``d0``:
   ``A_i = sum_j R_j w(d_ij)``.

The shape follows PySAL ``access``: demand, supply and cost are three plain tables (here the
residents' population, the facilities' supply and a sparse origins × facilities matrix of
walking metres), and the tests check :func:`two_step_fca` against ``access``'s
``two_stage_fca`` on the same cost matrix.

The walking metres are the exact network distances of :mod:`coverage.access` (the ones the
reach rules use): :func:`facility_distances` runs one bounded search per facility with the
same code as :func:`coverage.access.nearest_facility`, and keeps only the pairs within the
budget, so the matrix stays sparse for a city.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.sparse import csgraph

from coverage._arrays import concat_ranges
from coverage.access import (
    PreparedOrigins,
    _append_rows,
    _source_arcs,
    edge_points,
    prepare_origins,
)
from coverage.network import Chains, WalkNetwork
from coverage.snapping import SnappedPoints

__all__ = [
    "DECAYS",
    "FacilityDistances",
    "decay_weights",
    "facility_distances",
    "two_step_fca",
]

#: The decay functions :func:`decay_weights` knows.
DECAYS = ("none", "step", "gaussian")

#: Relative slack of the search limit, so that a pair exactly at the budget is kept.
_LIMIT_SLACK = 1e-9


@dataclass(frozen=True, eq=False)
class FacilityDistances:
    """Walking metres from every origin to every facility within a budget.

    Attributes
    ----------
    distance_m
        Sparse ``(n_origins, n_facilities)`` CSR matrix; a stored entry is a pair within
        ``cutoff_m`` (a facility exactly at an origin is stored as ``0.0``: the sparsity
        pattern, not the value, says which pairs are within reach).
    facility_ids
        The facilities' ids, one per column.
    cutoff_m
        The budget the matrix was built for.
    """

    distance_m: sp.csr_matrix
    facility_ids: npt.NDArray[np.object_]
    cutoff_m: float


def facility_distances(
    network: WalkNetwork,
    origins: SnappedPoints,
    facilities: SnappedPoints,
    *,
    cutoff_m: float,
    prepared: PreparedOrigins | None = None,
) -> FacilityDistances:
    """Exact walking metres of every (origin, facility) pair within ``cutoff_m``.

    The distances are those of :func:`coverage.access.nearest_facility` run for each facility
    alone (the tests check this, pair by pair, on the demo), computed in batches: one bounded
    ``scipy.sparse.csgraph.dijkstra`` from a batch of facilities on the network contracted to
    its junctions (each facility a virtual source joined to its chain's two ends, as in
    :func:`coverage.access.node_distances`), then for every origin its place on its chain:
    through the chain's two ends or, for a facility on the same chain (its own edge
    included), along it. Only the
    pairs whose straight-line distance allows them within the budget are looked at (the
    origins bucketed in cells around each facility), not every origin of a batch's box.

    Parameters
    ----------
    network
        The walking network.
    origins, facilities
        Points snapped with :func:`coverage.snapping.snap_points`; an unsnapped origin or
        facility has no pair.
    cutoff_m
        The walking budget (m); pairs farther apart are left out.
    prepared
        :func:`coverage.access.prepare_origins` of this network and these origins, when
        several sets of facilities are paired with the same origins (what depends on the
        origins alone is then made once). The result is the same.

    Returns
    -------
    FacilityDistances
    """
    if not math.isfinite(cutoff_m) or cutoff_m <= 0:
        msg = f"cutoff_m must be a positive number of metres, got {cutoff_m!r}"
        raise ValueError(msg)
    limit = cutoff_m * (1.0 + _LIMIT_SLACK)
    shape = (len(origins), len(facilities))
    fac = np.flatnonzero(facilities.ok)
    org = np.flatnonzero(origins.ok)
    rows: list[npt.NDArray[np.int64]] = []
    cols: list[npt.NDArray[np.int64]] = []
    vals: list[npt.NDArray[np.float64]] = []
    if fac.size and org.size:
        ch = network.chains
        # the facilities as virtual sources on their chains (coverage.access.node_distances)
        f_edge = facilities.edge[fac]
        f_snap = facilities.snap_m[fac]
        f_off = facilities.offset_m[fac]
        f_chain, f_along, f_ends, f_to_ends = _source_arcs(ch, f_edge, f_off, f_snap)
        # the origins: their place on their chain, reached through the chain's two ends or
        # along it, as nearest_facility answers them (coverage.access.prepare_origins)
        if prepared is None:
            prepared = prepare_origins(network, origins)
        elif prepared.network is not network or prepared.origins is not origins:
            msg = "prepared= was made for another network or other origins (see prepare_origins)"
            raise ValueError(msg)
        on, o_snap = prepared.queries, prepared.snap_m
        # Only the (origin, facility) pairs that can lie within the budget are looked at: a
        # walk is its two snaps plus a path between the two projections, never shorter than
        # the straight line between them. The sources are batched by place (one search a
        # batch, on the part of the core graph they can reach within the limit).
        o_xy = prepared.projections
        f_xy = edge_points(network, f_edge, f_off)
        pair_f, pair_o = _candidate_pairs(
            o_xy, o_snap, f_xy, f_snap, cutoff_m, grid=_origin_grid(prepared)
        )
        perm = np.argsort(_z_order(np.floor(f_xy / max(cutoff_m, 1.0))), kind="stable")
        local = _LocalCore.of(network, limit * (1.0 + _XY_SLACK) + 1.0)
        rank = np.empty(fac.size, dtype=np.int64)
        rank[perm] = np.arange(fac.size)
        by_batch = np.argsort(rank[pair_f] // _BATCH, kind="stable")
        pair_f, pair_o = pair_f[by_batch], pair_o[by_batch]
        bounds = np.searchsorted(rank[pair_f] // _BATCH, np.arange(0, fac.size // _BATCH + 2))
        for batch, lo in enumerate(range(0, fac.size, _BATCH)):
            start_at, stop_at = bounds[batch], bounds[batch + 1]
            if start_at == stop_at:
                continue
            sources = perm[lo : lo + _BATCH]
            graph, where = local.graph(f_xy[sources], f_ends[sources], f_to_ends[sources])
            core = csgraph.dijkstra(
                graph,
                directed=True,
                indices=graph.shape[0] - sources.size + np.arange(sources.size),
                limit=limit,
                min_only=False,
            )
            j = pair_f[start_at:stop_at]  # positions among the snapped facilities
            i = pair_o[start_at:stop_at]  # positions among the snapped origins
            row = rank[j] - lo  # the facility's row of this batch's search
            d = np.minimum(
                _looked_up(core, row, where[on.a[i]]) + on.pos_m[i],
                _looked_up(core, row, where[on.b[i]]) + on.rest_m[i],
            )
            # a facility on the origin's chain (its own edge included) reaches it along it
            same = on.chain[i] == f_chain[j]
            direct = f_snap[j] + np.abs(on.pos_m[i] - f_along[j])
            dist = np.where(same, np.minimum(d, direct), d) + o_snap[i]
            keep = dist <= cutoff_m
            rows.append(org[i[keep]])
            cols.append(fac[j[keep]])
            vals.append(dist[keep])
    if rows:
        r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    else:
        r = c = np.zeros(0, dtype=np.int64)
        v = np.zeros(0)
    # explicit zeros are kept: a CSR built from (data, indices, indptr) does not prune them
    order = np.lexsort((c, r))
    r, c, v = r[order], c[order], v[order]
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(r, minlength=shape[0]), out=indptr[1:])
    matrix = sp.csr_matrix((v, c, indptr), shape=shape)
    return FacilityDistances(
        distance_m=matrix,
        facility_ids=np.asarray(facilities.index, dtype=object),
        cutoff_m=float(cutoff_m),
    )


#: Facilities searched together (one bounded Dijkstra call, one row each).
_BATCH = 32

#: Side of the square cells the origins and the core graph's nodes are bucketed in (m): the
#: places near a facility are those of the cells within reach of it (fewer than the 3 × 3
#: cells as wide as the budget: 5.06 against 9 budget² at 1 km), and the buckets do not
#: depend on the budget, so they are made once per network and per audit's origins.
_GRID_M = 250.0


def _column_min(xy: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``xy.min(axis=0)`` of an ``(n, 2)`` array, one column at a time (numpy's reduction
    across rows of two columns took ~4 ms for a city's origins)."""
    return np.array([xy[:, 0].min(), xy[:, 1].min()])


def _z_order(cells: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """The Z-order (Morton) key of integer cells ``(n, 2)``: cells near in the key are near
    in the plane, so consecutive facilities of a batch lie close together."""
    ij = (cells - _column_min(cells)).astype(np.int64) & 0x1FFFFF
    key = np.zeros(ij.shape[0], dtype=np.int64)
    for bit in range(21):
        key |= ((ij[:, 0] >> bit) & 1) << (2 * bit) | ((ij[:, 1] >> bit) & 1) << (2 * bit + 1)
    return key


@dataclass(frozen=True, eq=False)
class _Grid:
    """Points bucketed in square cells of :data:`_GRID_M`, sorted by cell."""

    corner: npt.NDArray[np.float64]
    shape: tuple[int, int]
    order: npt.NDArray[np.int64]
    sorted_key: npt.NDArray[np.int64]

    @classmethod
    def of(cls, xy: npt.NDArray[np.float64]) -> _Grid:
        corner = _column_min(xy) if xy.size else np.zeros(2)
        ij = np.floor((xy - corner) / _GRID_M).astype(np.int64)
        shape = (int(ij[:, 0].max(initial=0)) + 1, int(ij[:, 1].max(initial=0)) + 1)
        key = ij[:, 0] * shape[1] + ij[:, 1]
        order = np.argsort(key, kind="stable")
        return cls(corner=corner, shape=shape, order=order, sorted_key=key[order])

    def cells_near(
        self, xy: npt.NDArray[np.float64], radius: float
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """The cells within ``radius`` of each place ``xy``: (place, cell key) pairs, cells
        off the grid left out."""
        k = math.ceil(radius / _GRID_M)
        d = np.arange(-k, k + 1)
        dx, dy = (a.ravel() for a in np.meshgrid(d, d, indexing="ij"))
        # the nearest two points of cells dx, dy apart are (|dx| - 1, |dy| - 1) cells apart
        gap = np.hypot(np.maximum(np.abs(dx) - 1, 0), np.maximum(np.abs(dy) - 1, 0))
        near = gap * _GRID_M <= radius
        dx, dy = dx[near], dy[near]
        ij = np.floor((xy - self.corner) / _GRID_M).astype(np.int64)
        ci, cj = ij[:, 0:1] + dx, ij[:, 1:2] + dy
        on = (ci >= 0) & (ci < self.shape[0]) & (cj >= 0) & (cj < self.shape[1])
        place = np.broadcast_to(np.arange(xy.shape[0])[:, None], on.shape)[on]
        return place.astype(np.int64), (ci * self.shape[1] + cj)[on]

    def items(
        self, keys: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """The points in the cells ``keys``: for each, the position of its key and its own."""
        lo = np.searchsorted(self.sorted_key, keys, side="left")
        counts = np.searchsorted(self.sorted_key, keys, side="right") - lo
        return np.repeat(np.arange(keys.size), counts), self.order[concat_ranges(lo, counts)]


_CORE_GRIDS: weakref.WeakKeyDictionary[Chains, _Grid] = weakref.WeakKeyDictionary()
_ORIGIN_GRIDS: weakref.WeakKeyDictionary[PreparedOrigins, _Grid] = weakref.WeakKeyDictionary()


def _origin_grid(prepared: PreparedOrigins) -> _Grid:
    """The grid of the prepared origins' projections (made once per audit's origins: every
    catchment category pairs its facilities with them)."""
    grid = _ORIGIN_GRIDS.get(prepared)
    if grid is None:
        grid = _ORIGIN_GRIDS[prepared] = _Grid.of(prepared.projections)
    return grid


def _core_grid(network: WalkNetwork) -> _Grid:
    """The grid of the network's core nodes (made once per network: it does not depend on
    the budget)."""
    ch = network.chains
    grid = _CORE_GRIDS.get(ch)
    if grid is None:
        grid = _CORE_GRIDS[ch] = _Grid.of(network.xy[ch.core_nodes])
    return grid


@dataclass(frozen=True, eq=False)
class _LocalCore:
    """The core graph cut, for a batch of facilities, to the nodes a walk within the limit
    can reach: those in the cells within ``radius`` of each facility (a node farther than
    ``radius`` in a straight line from a facility's projection is farther than the limit
    along the network). Dijkstra on the cut-out graph gives the same distances within the
    limit, with rows of its size instead of the city's."""

    adjacency: sp.csr_matrix
    grid: _Grid
    radius: float
    where: npt.NDArray[np.int64]

    @classmethod
    def of(cls, network: WalkNetwork, radius: float) -> _LocalCore:
        ch = network.chains
        return cls(
            adjacency=ch.adjacency,
            grid=_core_grid(network),
            radius=radius,
            where=np.full(ch.core_nodes.size, -1, dtype=np.int64),
        )

    def graph(
        self,
        f_xy: npt.NDArray[np.float64],
        f_ends: npt.NDArray[np.int64],
        f_to_ends: npt.NDArray[np.float64],
    ) -> tuple[sp.csr_matrix, npt.NDArray[np.int64]]:
        """The core graph cut to the cells around the facilities projected at ``f_xy``, with
        one virtual source per facility appended last (arcs to its chain's ends ``f_ends`` of
        lengths ``f_to_ends``, dropped where the end lies outside), and the position in it of
        every core node (-1 outside; the array is reused by the next call)."""
        _, keys = self.grid.cells_near(f_xy, self.radius)
        _, nodes = self.grid.items(np.unique(keys))
        where = self.where
        where[:] = -1
        where[nodes] = np.arange(nodes.size)
        cut = self.adjacency[nodes][:, nodes]
        inside = where[f_ends] >= 0
        graph = _append_rows(
            cut,
            where[f_ends][inside],
            f_to_ends[inside],
            counts=inside.sum(axis=1),
        )
        return graph, where


def _looked_up(
    core: npt.NDArray[np.float64], row: npt.NDArray[np.int64], col: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """``core[row, col]``, ``inf`` where ``col`` is -1 (a node outside the cut-out graph)."""
    out = core[row, np.maximum(col, 0)]
    out[col < 0] = np.inf
    return out


#: Relative slack of the straight-line bounds (:func:`_candidate_pairs`, :class:`_LocalCore`),
#: and a metre more. The network's lengths are great-circle metres on osmnx's sphere
#: (R = 6,371,009 m) and its coordinates UTM on the WGS 84 ellipsoid: a straight line in the
#: coordinates is up to ~0.6 % longer than the same stretch in network metres (the sphere
#: against the ellipsoid's radii of curvature; 0.33 % seen on Chengdu's edges), times UTM's
#: scale (≤ 1.001 inside a zone at mid-latitudes). 1 % holds for any city.
_XY_SLACK = 1e-2


def _candidate_pairs(
    o_xy: npt.NDArray[np.float64],
    o_snap: npt.NDArray[np.float64],
    f_xy: npt.NDArray[np.float64],
    f_snap: npt.NDArray[np.float64],
    cutoff_m: float,
    *,
    grid: _Grid | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Every (facility, origin) whose projections ``f_xy`` and ``o_xy`` lie within
    ``cutoff_m`` less both snaps (with :data:`_XY_SLACK` and a metre) of each other: no other
    pair can be within the budget.

    The origins are bucketed in the cells of a :class:`_Grid` (``grid``, when the caller has
    it); each facility looks at the cells within the budget of it.
    """
    if grid is None:
        grid = _Grid.of(o_xy)
    place, keys = grid.cells_near(f_xy, cutoff_m * (1.0 + _XY_SLACK) + 1.0)
    at_key, o_at = grid.items(keys)
    f_at = place[at_key]
    reach = np.maximum(cutoff_m - f_snap[f_at] - o_snap[o_at], 0.0) * (1.0 + _XY_SLACK) + 1.0
    gx = o_xy[:, 0][o_at] - f_xy[:, 0][f_at]
    gy = o_xy[:, 1][o_at] - f_xy[:, 1][f_at]
    near = gx * gx + gy * gy <= reach * reach
    return f_at[near].astype(np.int64), o_at[near].astype(np.int64)


def decay_weights(
    distance_m: npt.ArrayLike,
    budget_m: float,
    *,
    decay: str = "none",
    step_weights: Sequence[float] = (),
) -> npt.NDArray[np.float64]:
    """The weight of a walk of ``distance_m`` within a budget of ``budget_m``.

    Parameters
    ----------
    distance_m
        Walking metres (any shape).
    budget_m
        The catchment's budget: walks longer than this weigh 0.
    decay
        ``none``: 1 within the budget (2SFCA). ``step``: the budget cut into
        ``len(step_weights)`` equal bands, the band's weight (E2SFCA, Luo & Qi 2009, used
        1.0, 0.68, 0.22). ``gaussian``: ``(exp(-(d/d0)²/2) - exp(-1/2)) / (1 - exp(-1/2))``,
        1 at the facility and 0 at the budget (Dai 2010).
    step_weights
        The bands' weights for ``step``, nearest band first.

    Returns
    -------
    numpy.ndarray
        Weights in [0, 1], the shape of ``distance_m``.
    """
    d = np.asarray(distance_m, dtype=float)
    inside = d <= budget_m
    if decay == "none":
        w = np.ones(d.shape)
    elif decay == "step":
        if not step_weights:
            msg = "decay='step' needs step_weights"
            raise ValueError(msg)
        bands = np.asarray(step_weights, dtype=float)
        finite = np.where(np.isfinite(d), np.clip(d, 0.0, None), budget_m)
        band = np.floor(finite / budget_m * bands.size).astype(np.int64)
        w = bands[np.clip(band, 0, bands.size - 1)]
    elif decay == "gaussian":
        floor = math.exp(-0.5)
        w = (np.exp(-0.5 * (d / budget_m) ** 2) - floor) / (1.0 - floor)
    else:
        msg = f"decay must be one of {', '.join(DECAYS)}, got {decay!r}"
        raise ValueError(msg)
    return np.where(inside, np.clip(w, 0.0, 1.0), 0.0)


def two_step_fca(
    demand: npt.ArrayLike,
    supply: npt.ArrayLike,
    cost: sp.spmatrix,
    *,
    budget_m: float,
    decay: str = "none",
    step_weights: Sequence[float] = (),
) -> npt.NDArray[np.float64]:
    """Supply per resident that each origin reaches (2SFCA, or E2SFCA with a decay).

    Parameters
    ----------
    demand
        Residents at each origin (``n_origins``).
    supply
        Supply of each facility (``n_facilities``), e.g. m² of sports ground; NaN counts as 0
        (the caller reports the value as a lower bound).
    cost
        Sparse ``(n_origins, n_facilities)`` walking metres; only stored pairs are within
        reach (a stored 0 is a facility at the origin).
    budget_m, decay, step_weights
        See :func:`decay_weights`.

    Returns
    -------
    numpy.ndarray
        ``A_i`` per origin: the sum over the facilities within the budget of
        ``w_ij * S_j / sum_k P_k w_kj``. 0 where nothing is reached.
    """
    pop = np.nan_to_num(np.asarray(demand, dtype=float), nan=0.0)
    sup = np.nan_to_num(np.asarray(supply, dtype=float), nan=0.0)
    coo = sp.coo_matrix(cost)
    w = decay_weights(coo.data, budget_m, decay=decay, step_weights=step_weights)
    weights = sp.csr_matrix((w, (coo.row, coo.col)), shape=coo.shape)
    served = weights.T @ pop  # residents each facility serves, weighted
    ratio = np.divide(sup, served, out=np.zeros(sup.shape), where=served > 0)
    return np.asarray(weights @ ratio, dtype=float)
