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
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.sparse import csgraph

from coverage.access import _append_rows
from coverage.network import WalkNetwork
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
) -> FacilityDistances:
    """Exact walking metres of every (origin, facility) pair within ``cutoff_m``.

    The distances are those of :func:`coverage.access.nearest_facility` run for each facility
    alone (the tests check this, pair by pair, on the demo), computed in batches: one bounded
    ``scipy.sparse.csgraph.dijkstra`` from a batch of facilities on the network contracted to
    its junctions (each facility a virtual source joined to its chain's two ends, as in
    :func:`coverage.access.node_distances`), then for every origin the two ends of its edge:
    a junction's distance directly, a bend's through its chain's ends or, for a facility on
    the same chain, along it; and a facility on the origin's own edge directly.

    Parameters
    ----------
    network
        The walking network.
    origins, facilities
        Points snapped with :func:`coverage.snapping.snap_points`; an unsnapped origin or
        facility has no pair.
    cutoff_m
        The walking budget (m); pairs farther apart are left out.

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
        n_core = ch.core_nodes.size
        # the facilities as virtual sources on their chains (coverage.access.node_distances)
        f_edge = facilities.edge[fac]
        f_snap = facilities.snap_m[fac]
        f_chain = ch.edge_chain[f_edge]
        start = ch.edge_start_m[f_edge]
        f_along = np.where(
            ch.edge_forward[f_edge],
            start + facilities.offset_m[fac],
            start - facilities.offset_m[fac],
        )
        length = ch.chain_length_m[f_chain]
        graph = _append_rows(
            ch.adjacency,
            np.column_stack([ch.chain_a[f_chain], ch.chain_b[f_chain]]).ravel(),
            np.column_stack([f_snap + f_along, f_snap + length - f_along]).ravel(),
        )
        # the origins: their edge, and how each end of it is reached from the core graph
        o_edge = origins.edge[org]
        o_off = origins.offset_m[org]
        o_snap = origins.snap_m[org]
        o_len = network.edge_length_m[o_edge]
        ends = [
            _node_access(network, network.edge_u[o_edge]),
            _node_access(network, network.edge_v[o_edge]),
        ]
        # Only origins that can lie within the budget are looked at: a walk is never shorter
        # than the straight line, and a point is at most snap + offset from its edge's first
        # node; the sources are batched by place so that each batch's box stays small.
        xy = network.xy
        o_xy = xy[network.edge_u[o_edge]]
        o_slack = o_snap + o_off
        f_xy = xy[network.edge_u[f_edge]]
        f_slack = f_snap + facilities.offset_m[fac]
        f_off = facilities.offset_m[fac]
        perm = np.lexsort((f_xy[:, 1], np.floor(f_xy[:, 0] / max(cutoff_m, 1.0))))
        for lo in range(0, fac.size, _BATCH):
            sources = perm[lo : lo + _BATCH]
            reach = cutoff_m + f_slack[sources].max()
            box_lo = f_xy[sources].min(axis=0) - reach
            box_hi = f_xy[sources].max(axis=0) + reach
            sel = np.flatnonzero(
                (o_xy[:, 0] >= box_lo[0] - o_slack)
                & (o_xy[:, 0] <= box_hi[0] + o_slack)
                & (o_xy[:, 1] >= box_lo[1] - o_slack)
                & (o_xy[:, 1] <= box_hi[1] + o_slack)
            )
            if sel.size == 0:
                continue
            core = csgraph.dijkstra(
                graph,
                directed=True,
                indices=n_core + sources,
                limit=limit,
                min_only=False,
            )[:, :n_core]
            d_end = []
            for a, pos, b, rest, chain, x_pos in ends:
                d = np.minimum(core[:, a[sel]] + pos[sel], core[:, b[sel]] + rest[sel])
                # a facility on the same chain as a bend reaches it along the chain
                j, i = _pairs_on(chain[sel], f_chain[sources], skip=-1)
                if j.size:
                    direct = f_snap[sources][j] + np.abs(x_pos[sel][i] - f_along[sources][j])
                    np.minimum.at(d, (j, i), direct)
                d_end.append(d)
            s_snap, s_off = o_snap[sel], o_off[sel]
            dist = np.minimum(s_snap + s_off + d_end[0], s_snap + (o_len[sel] - s_off) + d_end[1])
            # a facility on the origin's own edge, reached without passing a node
            j, i = _pairs_on(o_edge[sel], f_edge[sources])
            if j.size:
                direct = s_snap[i] + np.abs(s_off[i] - f_off[sources][j]) + f_snap[sources][j]
                np.minimum.at(dist, (j, i), direct)
            j, i = np.nonzero(dist <= cutoff_m)
            rows.append(org[sel][i])
            cols.append(fac[sources][j])
            vals.append(dist[j, i])
    if rows:
        r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    else:
        r = c = np.zeros(0, dtype=np.int64)
        v = np.zeros(0)
    # explicit zeros are kept: a CSR built from (data, indices, indptr) does not prune them
    order = np.lexsort((c, r))
    r, c, v = r[order], c[order], v[order]
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.add.at(indptr, r + 1, 1)
    matrix = sp.csr_matrix((v, c, np.cumsum(indptr)), shape=shape)
    return FacilityDistances(
        distance_m=matrix,
        facility_ids=np.asarray(facilities.index, dtype=object),
        cutoff_m=float(cutoff_m),
    )


#: Facilities searched together (one bounded Dijkstra call, one row each).
_BATCH = 32


def _node_access(
    network: WalkNetwork, nodes: npt.NDArray[np.int64]
) -> tuple[
    npt.NDArray[np.int64],
    npt.NDArray[np.float64],
    npt.NDArray[np.int64],
    npt.NDArray[np.float64],
    npt.NDArray[np.int64],
    npt.NDArray[np.float64],
]:
    """How each node is reached from the core graph: ``min(D[a] + pos, D[b] + rest)`` over its
    chain's ends (a junction: itself, at 0), its chain (-1 for a junction) and its position
    along the chain."""
    ch = network.chains
    is_core = ch.core[nodes]
    chain = np.where(is_core, -1, ch.node_chain[nodes])
    safe = np.maximum(chain, 0)
    own = ch.core_index[nodes]
    pos = np.where(is_core, 0.0, ch.node_pos_m[nodes])
    a = np.where(is_core, own, ch.chain_a[safe])
    b = np.where(is_core, own, ch.chain_b[safe])
    rest = np.where(is_core, 0.0, ch.chain_length_m[safe] - pos)
    return a, pos, b, rest, chain, pos


def _pairs_on(
    keys: npt.NDArray[np.int64], source_keys: npt.NDArray[np.int64], *, skip: int | None = None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Every (source position, item position) whose keys are equal (``skip``: a key that
    matches nothing)."""
    order = np.argsort(source_keys, kind="stable")
    sorted_keys = source_keys[order]
    lo = np.searchsorted(sorted_keys, keys, side="left")
    hi = np.searchsorted(sorted_keys, keys, side="right")
    counts = hi - lo
    if skip is not None:
        counts = np.where(keys == skip, 0, counts)
    items = np.repeat(np.arange(keys.size), counts)
    if items.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    firsts = np.repeat(lo, counts)
    offsets = np.arange(items.size) - np.repeat(np.cumsum(counts) - counts, counts)
    return order[firsts + offsets].astype(np.int64), items.astype(np.int64)


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
