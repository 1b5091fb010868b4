"""Walking distances from residential origins to the nearest facility of a kind.

For one set of facilities the distance from every origin to its nearest facility is *one*
multi-source shortest-path search (``scipy.sparse.csgraph.dijkstra`` with ``min_only=True``), run
in C from all facilities at once, not a search per facility or per origin.

The search runs on the network contracted to its intersections and dead ends
(:class:`coverage.network.Chains`): an unsimplified OSM network has several times more bend nodes
than junctions, and a bend's distance follows exactly from the two ends of its chain. The dead
ends themselves are left out of the search graph (they lie on no shortest path to another
node) and get their distance after it, from their one chain. Only the nodes a caller needs are
filled in (``node_distances(..., at=)``): :func:`nearest_facility` asks for the two ends of the
origins' edges, not for every bend of the network.

Points sit on edges (see :mod:`coverage.snapping`). A facility at position ``s`` along a chain
(a, b) of length ``L``, ``s_f`` metres from its street, enters the search as a virtual source with
arcs ``s_f + s`` to ``a`` and ``s_f + L - s`` to ``b``; nodes on its own chain are also reached
directly, ``s_f + |x - s|``. An origin at offset ``o`` on edge (c, d) of length ``l``, ``s_o``
metres from its street, is then ``s_o + min(o + D[c], l - o + D[d])`` from the nearest facility,
where ``D`` is the node distance; a facility on the origin's own edge is also reachable
directly, ``s_o + |o - t| + s_f``.

Result conventions: ``inf`` means "not reachable within the cutoff" (or not at all: another
island), ``NaN`` means "the origin is not on the network" (farther than the snapping limit).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp
from scipy.sparse import csgraph

from coverage._arrays import concat_ranges, segment_cummax
from coverage.network import ChainInterior, Chains, WalkNetwork
from coverage.snapping import SnappedPoints

__all__ = ["NodeDistances", "nearest_facility", "node_distances"]


@dataclass(frozen=True, eq=False)
class NodeDistances:
    """Distance from the nearest source to every network node (or to the nodes asked for).

    Attributes
    ----------
    distance_m
        Shape (n_nodes,), or aligned with the ``at=`` of :func:`node_distances`; ``inf``
        beyond the cutoff or on islands without a source.
    source
        Position (into the snapped sources) of the nearest source, -1 where unreached.
    cutoff_m
        The search limit (``inf`` for none).
    """

    distance_m: npt.NDArray[np.float64]
    source: npt.NDArray[np.int64]
    cutoff_m: float


@dataclass(frozen=True, eq=False)
class _PrunedCore:
    """The core graph without its dead ends, which the searches need not visit.

    A dead end (a core node at the end of one chain only, whose other end is a junction) is
    never on a shortest path to another node: it is reached through its one chain, or straight
    from a source on that chain, whose arc to the dead end stays in the search graph. So the
    search runs without the dead ends' arcs (a fifth of the core nodes of a city), and each
    dead end then gets ``min(its own arc's value, D[partner] + chain length)``, the same
    candidates a search through it compares.

    Attributes
    ----------
    adjacency
        The core graph without the arcs into and out of the dead ends (same node numbering).
    dead_end, partner
        Core positions of the dead ends left out and of the other end of their chain.
    length_m
        The length of that chain.
    """

    adjacency: sp.csr_matrix
    dead_end: npt.NDArray[np.int64]
    partner: npt.NDArray[np.int64]
    length_m: npt.NDArray[np.float64]


_PRUNED: weakref.WeakKeyDictionary[Chains, _PrunedCore] = weakref.WeakKeyDictionary()


def _pruned_core(ch: Chains) -> _PrunedCore:
    """:class:`_PrunedCore` of a network's chains, made once per chains object."""
    found = _PRUNED.get(ch)
    if found is not None:
        return found
    adjacency = ch.adjacency
    n = adjacency.shape[0]
    ends = np.bincount(np.concatenate([ch.chain_a, ch.chain_b]), minlength=n)
    # chains with exactly one end at a core node of no other chain (not a lone two-node piece)
    lone_a, lone_b = ends[ch.chain_a] == 1, ends[ch.chain_b] == 1
    chain = np.flatnonzero(lone_a ^ lone_b)
    dead_end = np.where(lone_a[chain], ch.chain_a[chain], ch.chain_b[chain])
    partner = np.where(lone_a[chain], ch.chain_b[chain], ch.chain_a[chain])
    out = np.zeros(n, dtype=bool)
    out[dead_end] = True
    rows = np.repeat(np.arange(n), np.diff(adjacency.indptr))
    keep = ~out[rows] & ~out[adjacency.indices]
    indptr = np.zeros(n + 1, dtype=adjacency.indptr.dtype)
    np.cumsum(np.bincount(rows[keep], minlength=n), out=indptr[1:])
    pruned = _PrunedCore(
        adjacency=sp.csr_matrix(
            (adjacency.data[keep], adjacency.indices[keep], indptr), shape=adjacency.shape
        ),
        dead_end=dead_end.astype(np.int64),
        partner=partner.astype(np.int64),
        length_m=np.asarray(ch.chain_length_m[chain], dtype=np.float64),
    )
    _PRUNED[ch] = pruned
    return pruned


def _append_rows(
    base: sp.csr_matrix, cols: npt.NDArray[np.int64], weights: npt.NDArray[np.float64]
) -> sp.csr_matrix:
    """``base`` plus one new node per pair of ``cols``, with arcs out of it only.

    The new rows come after the existing ones, so they are appended to the CSR arrays as they
    are (no sort, no conversion). Sparse graphs may drop explicit zeros: weights get a floor.
    """
    n = base.shape[0]
    k = cols.size // 2
    indptr = np.concatenate([base.indptr, base.indptr[-1] + 2 * np.arange(1, k + 1)])
    indices = np.concatenate([base.indices, cols.astype(base.indices.dtype)])
    data = np.concatenate([base.data, np.maximum(weights, 1e-9)])
    return sp.csr_matrix((data, indices, indptr), shape=(n + k, n + k))


def node_distances(
    network: WalkNetwork,
    sources: SnappedPoints,
    *,
    cutoff_m: float | None = None,
    at: npt.ArrayLike | None = None,
) -> NodeDistances:
    """Network distance from the nearest of ``sources`` to every node, in one search.

    The search runs on the network contracted to its intersections and dead ends
    (:attr:`WalkNetwork.chains`); the nodes inside each chain then get their exact distance from
    the chain's two ends and from any source on the chain itself.

    Parameters
    ----------
    network
        The walking network.
    sources
        Snapped facilities (unsnapped ones are ignored).
    cutoff_m
        Stop the search at this distance; nodes farther away get ``inf``.
    at
        Node positions to answer for (any order, repeats allowed); default every node. The
        search is the same; only the chain interiors asked for are filled in, which saves most
        of the work after the search when few nodes are needed (the two ends of the origins'
        edges, or the junctions of a simplified graph). The distances are the very values the
        default gives at those nodes.

    Returns
    -------
    NodeDistances
        Arrays of shape (n_nodes,), or aligned with ``at`` when it is given.
    """
    limit = np.inf if cutoff_m is None else float(cutoff_m)
    n = network.n_nodes
    snapped = np.flatnonzero(sources.ok)
    wanted = None if at is None else _node_positions(at, n)
    if snapped.size == 0:
        size = n if wanted is None else wanted.size
        return NodeDistances(np.full(size, np.inf), np.full(size, -1, dtype=np.int64), limit)
    ch = network.chains
    edge = sources.edge[snapped]
    snap = sources.snap_m[snapped]
    chain = ch.edge_chain[edge]
    start = ch.edge_start_m[edge]
    along = np.where(
        ch.edge_forward[edge], start + sources.offset_m[snapped], start - sources.offset_m[snapped]
    )
    length = ch.chain_length_m[chain]
    n_core = ch.core_nodes.size
    k = snapped.size
    pruned = _pruned_core(ch)
    graph = _append_rows(
        pruned.adjacency,
        np.column_stack([ch.chain_a[chain], ch.chain_b[chain]]).ravel(),
        np.column_stack([snap + along, snap + length - along]).ravel(),
    )
    core_dist, _, core_src = csgraph.dijkstra(
        graph,
        directed=True,
        indices=np.arange(n_core, n_core + k),
        min_only=True,
        limit=limit,
        return_predecessors=True,
    )
    core_dist = np.array(core_dist[:n_core], dtype=np.float64)
    core_src = np.where(core_src[:n_core] >= 0, core_src[:n_core] - n_core, -1)
    # the dead ends left out of the search: through their one chain, unless a source on that
    # chain (whose arc reaches them in the search) is nearer
    via = core_dist[pruned.partner] + pruned.length_m
    closer = via < core_dist[pruned.dead_end]
    core_dist[pruned.dead_end[closer]] = via[closer]
    core_src[pruned.dead_end[closer]] = core_src[pruned.partner[closer]]
    far = pruned.dead_end[core_dist[pruned.dead_end] > limit]
    core_dist[far] = np.inf
    core_src[far] = -1
    if wanted is not None:
        dist, src = _distances_at(ch, wanted, core_dist, core_src, chain, along, snap, limit)
        if k < len(sources):
            src = np.where(src >= 0, snapped[np.maximum(src, 0)], -1)
        return NodeDistances(dist, src, limit)

    # a chain-interior node is reached through the nearer end of its chain, or along the
    # chain itself from a source on it
    interior = ch.interior
    via_a = core_dist[interior.a] + interior.pos_m
    via_b = core_dist[interior.b] + interior.rest_m
    use_b = via_b < via_a
    d = np.where(use_b, via_b, via_a)
    s = core_src[np.where(use_b, interior.b, interior.a)]
    _along_own_chain(interior, chain, along, snap, d, s)
    beyond = d > limit
    d[beyond] = np.inf
    s[beyond] = -1

    dist = np.empty(n)
    src = np.empty(n, dtype=np.int64)
    dist[ch.core_nodes] = core_dist
    src[ch.core_nodes] = core_src
    dist[interior.nodes] = d
    src[interior.nodes] = s
    if k < len(sources):  # back to positions into the caller's (unfiltered) sources
        src = np.where(src >= 0, snapped[np.maximum(src, 0)], -1)
    return NodeDistances(dist, src, limit)


def _node_positions(at: npt.ArrayLike, n: int) -> npt.NDArray[np.int64]:
    """``at`` as node positions, checked."""
    wanted = np.asarray(at)
    if wanted.ndim != 1 or not (wanted.size == 0 or np.issubdtype(wanted.dtype, np.integer)):
        msg = (
            "at= must be a 1-d array of node positions (integers), "
            f"got {wanted.dtype} of shape {wanted.shape}"
        )
        raise TypeError(msg)
    wanted = wanted.astype(np.int64, copy=False)
    if wanted.size and (wanted.min() < 0 or wanted.max() >= n):
        msg = f"at= holds node positions outside 0..{n - 1} (the network has {n} nodes)"
        raise ValueError(msg)
    return wanted


def _distances_at(
    ch: Chains,
    wanted: npt.NDArray[np.int64],
    core_dist: npt.NDArray[np.float64],
    core_src: npt.NDArray[np.int64],
    chain: npt.NDArray[np.int64],
    along: npt.NDArray[np.float64],
    snap: npt.NDArray[np.float64],
    limit: float,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Distances and nearest sources at the ``wanted`` nodes from the core search: a core node
    has its own; a chain-interior node the nearer of its chain's ends, or a source on its
    chain reached along it (the same rules and ties as the fill of every node)."""
    dist = np.empty(wanted.size)
    src = np.empty(wanted.size, dtype=np.int64)
    ci = ch.core_index[wanted]
    is_core = ci >= 0
    dist[is_core] = core_dist[ci[is_core]]
    src[is_core] = core_src[ci[is_core]]
    inner = np.flatnonzero(~is_core)
    if inner.size:
        nodes = wanted[inner]
        q_chain = ch.node_chain[nodes]
        q_pos = ch.node_pos_m[nodes]
        a, b = ch.chain_a[q_chain], ch.chain_b[q_chain]
        via_a = core_dist[a] + q_pos
        via_b = core_dist[b] + (ch.chain_length_m[q_chain] - q_pos)
        use_b = via_b < via_a
        d = np.where(use_b, via_b, via_a)
        s = core_src[np.where(use_b, b, a)]
        scale = ch.interior.key_scale
        _own_chain_at(
            q_chain * scale + q_pos, q_chain, q_pos, chain * scale + along, chain, along, snap, d, s
        )
        beyond = d > limit
        d[beyond] = np.inf
        s[beyond] = -1
        dist[inner] = d
        src[inner] = s
    return dist, src


def _own_chain_at(
    q_key: npt.NDArray[np.float64],
    q_chain: npt.NDArray[np.int64],
    q_pos: npt.NDArray[np.float64],
    src_key: npt.NDArray[np.float64],
    chain: npt.NDArray[np.int64],
    along: npt.NDArray[np.float64],
    snap: npt.NDArray[np.float64],
    d: npt.NDArray[np.float64],
    s: npt.NDArray[np.int64],
) -> None:
    """Lower ``d`` (and set ``s``) of chain-interior query points that a source on their own
    chain reaches along it, without passing a chain end. In place.

    As :func:`_along_own_chain`, for any query points (chain, position) instead of every
    interior node: the sources sorted by (chain, position) carry running minima of
    ``snap - along`` (forwards) and ``snap + along`` (backwards), restarting at every chain;
    each query looks up the last source at or before it and the first at or after it.
    """
    k = chain.size
    order = np.argsort(src_key, kind="stable")
    sorted_key, sorted_chain = src_key[order], chain[order]
    new_run = np.r_[True, sorted_chain[1:] != sorted_chain[:-1]]
    run = np.cumsum(new_run) - 1
    left_best, left_at = segment_cummax(-(snap - along)[order], run)
    right_best, right_at = segment_cummax(-(snap + along)[order][::-1], run[-1] - run[::-1])
    right_best, right_at = right_best[::-1], k - 1 - right_at[::-1]
    left = np.searchsorted(sorted_key, q_key, side="right") - 1  # last source at or before
    right = np.searchsorted(sorted_key, q_key, side="left")  # first source at or after
    for pos, best, at, sign in (
        (left, left_best, left_at, 1.0),
        (right, right_best, right_at, -1.0),
    ):
        j = np.clip(pos, 0, k - 1)
        ok = (pos >= 0) & (pos < k) & (sorted_chain[j] == q_chain)
        direct = np.where(ok, sign * q_pos - best[j], np.inf)
        better = direct < d
        d[better] = direct[better]
        s[better] = order[at[j]][better]


def _along_own_chain(
    interior: ChainInterior,
    chain: npt.NDArray[np.int64],
    along: npt.NDArray[np.float64],
    snap: npt.NDArray[np.float64],
    d: npt.NDArray[np.float64],
    s: npt.NDArray[np.int64],
) -> None:
    """Lower ``d`` (and set ``s``) of the interior nodes that a source on their own chain
    reaches along the chain, without passing a chain end. In place.

    A source ``j`` at ``along_j`` on the chain, ``snap_j`` from its street, is
    ``snap_j + |x - along_j|`` from the node at ``x``. Among the sources before the node the
    nearest has the least ``snap_j - along_j`` (not necessarily the closest one: a source just
    before the node may stand far off the street); among those after it, the least
    ``snap_j + along_j``. Both are running minima over the sources sorted along their chains,
    restarting at every chain, looked up for each node by its (chain, position) key.
    """
    k = chain.size
    src_key = chain * interior.key_scale + along
    order = np.argsort(src_key, kind="stable")
    sorted_key, sorted_chain = src_key[order], chain[order]
    new_run = np.r_[True, sorted_chain[1:] != sorted_chain[:-1]]
    run = np.cumsum(new_run) - 1
    with_source = sorted_chain[new_run]
    lo = interior.chain_start[with_source]
    counts = interior.chain_start[with_source + 1] - lo
    m = int(counts.sum())
    if m == 0:
        return
    sel = concat_ranges(lo, counts)
    node_key, xs = interior.key[sel], interior.pos_m[sel]
    node_run = np.repeat(np.arange(with_source.size), counts)
    # running minima as maxima of the negated values; the right-hand one over reversed order
    left_best, left_at = segment_cummax(-(snap - along)[order], run)
    right_best, right_at = segment_cummax(-(snap + along)[order][::-1], run[-1] - run[::-1])
    right_best, right_at = right_best[::-1], k - 1 - right_at[::-1]
    # both lists are sorted by key: place the sources among the nodes, then carry the last
    # source at or before each node forwards (the first at or after it backwards)
    ranks = np.arange(k)
    last = np.full(m + 1, -1, dtype=np.int64)
    np.maximum.at(last, np.searchsorted(node_key, sorted_key, side="left"), ranks)
    left = np.maximum.accumulate(last[:m])
    first = np.full(m + 1, k, dtype=np.int64)
    after = np.searchsorted(node_key, sorted_key, side="right") - 1  # -1: after no node
    np.minimum.at(first, np.where(after >= 0, after, m), ranks)
    right = np.minimum.accumulate(first[m - 1 :: -1])[::-1]
    ds, ss = d[sel], s[sel]
    for pos, best, at, sign in (
        (left, left_best, left_at, 1.0),
        (right, right_best, right_at, -1.0),
    ):
        j = np.clip(pos, 0, k - 1)
        ok = (pos >= 0) & (pos < k) & (run[j] == node_run)
        direct = np.where(ok, sign * xs - best[j], np.inf)
        better = direct < ds
        ds = np.where(better, direct, ds)
        ss = np.where(better, order[at[j]], ss)
    d[sel] = ds
    s[sel] = ss


def nearest_facility(
    network: WalkNetwork,
    origins: SnappedPoints,
    facilities: SnappedPoints,
    *,
    cutoff_m: float | None = None,
) -> pd.DataFrame:
    """Walking distance from every origin to its nearest facility, and which one.

    Parameters
    ----------
    network
        The walking network.
    origins, facilities
        Points snapped with :func:`coverage.snapping.snap_points`.
    cutoff_m
        Distances above this are reported as ``inf``.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``origins``, with ``distance_m`` (``inf`` beyond the cutoff or
        unreachable, ``NaN`` if the origin is not on the network) and ``facility`` (the
        nearest facility's id from ``facilities.index``, missing where none is reached).
    """
    # only the two ends of the origins' edges are needed
    on = origins.edge[origins.ok]
    # a mask over the nodes, not np.unique: the same sorted positions, without the sort or
    # hash of a city's ~400 k ends (np.unique took ~150 ms a category on a 1 M-node city)
    mask = np.zeros(network.n_nodes, dtype=bool)
    mask[network.edge_u[on]] = True
    mask[network.edge_v[on]] = True
    ends = np.flatnonzero(mask).astype(np.int64, copy=False)
    nodes = node_distances(network, facilities, cutoff_m=cutoff_m, at=ends)
    distance, facility_pos = _origin_distances(network, origins, facilities, nodes, at=ends)
    facility = pd.Series(
        pd.array([None] * len(origins), dtype="object"), index=origins.index, name="facility"
    )
    found = facility_pos >= 0
    if found.any():
        facility[found] = np.asarray(facilities.index)[facility_pos[found]]
    return pd.DataFrame({"distance_m": distance, "facility": facility}, index=origins.index)


def _origin_distances(
    network: WalkNetwork,
    origins: SnappedPoints,
    facilities: SnappedPoints,
    nodes: NodeDistances,
    *,
    at: npt.NDArray[np.int64] | None = None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Distances and nearest-facility positions of snapped origins from a node search (of
    every node, or of the sorted node positions ``at``, which hold the origins' edge ends)."""
    m = len(origins)
    distance = np.full(m, np.nan)
    best = np.full(m, -1, dtype=np.int64)
    ok = origins.ok
    edge = origins.edge[ok]
    off = origins.offset_m[ok]
    snap = origins.snap_m[ok]
    length = network.edge_length_m[edge]
    a = network.edge_u[edge]
    b = network.edge_v[edge]
    if at is not None:  # positions into the nodes searched for (a lookup, not a search)
        where = np.full(network.n_nodes, -1, dtype=np.int64)
        where[at] = np.arange(at.size)
        a, b = where[a], where[b]
        if (a < 0).any() or (b < 0).any():
            msg = "at= must hold both ends of every origin's edge"
            raise ValueError(msg)
    via_a = snap + off + nodes.distance_m[a]
    via_b = snap + (length - off) + nodes.distance_m[b]
    use_b = via_b < via_a
    d = np.where(use_b, via_b, via_a)
    src = np.where(use_b, nodes.source[b], nodes.source[a])

    # a facility on the origin's own edge can be reached without passing a node
    fac_ok = np.flatnonzero(facilities.ok)
    if fac_ok.size:
        fac = pd.DataFrame(
            {
                "edge": facilities.edge[fac_ok],
                "f_off": facilities.offset_m[fac_ok],
                "f_snap": facilities.snap_m[fac_ok],
                "f_pos": fac_ok,
            }
        )
        org = pd.DataFrame({"edge": edge, "o_pos": np.arange(edge.size)})
        org = org[org["edge"].isin(fac["edge"])]
        if len(org):
            pairs = org.merge(fac, on="edge")
            o_pos = pairs["o_pos"].to_numpy()
            direct = (
                snap[o_pos]
                + np.abs(off[o_pos] - pairs["f_off"].to_numpy())
                + pairs["f_snap"].to_numpy()
            )
            order = np.lexsort((direct, o_pos))
            o_sorted = o_pos[order]
            first = np.ones(order.size, dtype=bool)
            first[1:] = o_sorted[1:] != o_sorted[:-1]
            sel = order[first]
            o_sel = o_pos[sel]
            better = direct[sel] < d[o_sel]
            d[o_sel[better]] = direct[sel][better]
            src[o_sel[better]] = pairs["f_pos"].to_numpy()[sel][better]

    beyond = d > nodes.cutoff_m
    d[beyond] = np.inf
    src[beyond | ~np.isfinite(d)] = -1
    distance[ok] = d
    best[ok] = src
    return distance, best
