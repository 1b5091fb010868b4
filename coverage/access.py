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

import functools
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

__all__ = [
    "NodeDistances",
    "PreparedOrigins",
    "nearest_facility",
    "node_distances",
    "prepare_origins",
]


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
    base: sp.csr_matrix,
    cols: npt.NDArray[np.int64],
    weights: npt.NDArray[np.float64],
    *,
    counts: npt.NDArray[np.int64] | None = None,
) -> sp.csr_matrix:
    """``base`` plus one new node per pair of ``cols`` (or per ``counts[i]`` of them), with
    arcs out of it only.

    The new rows come after the existing ones, so they are appended to the CSR arrays as they
    are (no sort, no conversion). Sparse graphs may drop explicit zeros: weights get a floor.
    """
    n = base.shape[0]
    if counts is None:
        counts = np.full(cols.size // 2, 2, dtype=np.int64)
    k = counts.size
    indptr = np.concatenate([base.indptr, base.indptr[-1] + np.cumsum(counts)])
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
    wanted = None if at is None else _node_positions(at, n)
    core = _core_search(network, sources, limit)
    if core is None:
        size = n if wanted is None else wanted.size
        return NodeDistances(np.full(size, np.inf), np.full(size, -1, dtype=np.int64), limit)
    if wanted is not None:
        dist, src = _distances_at(_NodeQueries.of(network.chains, wanted), core, limit)
        return NodeDistances(dist, core.caller_positions(src), limit)
    ch = network.chains
    core_dist, core_src = core.dist, core.src
    chain, along, snap = core.chain, core.along, core.snap

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
    return NodeDistances(dist, core.caller_positions(src), limit)


@dataclass(frozen=True, eq=False)
class _CoreSearch:
    """One multi-source search on the core graph, and the sources as it placed them.

    Attributes
    ----------
    dist, src
        Distance and nearest source (position among the snapped sources, -1 where unreached)
        of every core node, the dead ends included.
    chain, along, snap
        Each snapped source's chain, its position along the chain and its snapping distance.
    snapped
        Positions of the snapped sources among the caller's sources.
    n_sources
        The caller's number of sources (snapped or not).
    """

    dist: npt.NDArray[np.float64]
    src: npt.NDArray[np.int64]
    chain: npt.NDArray[np.int64]
    along: npt.NDArray[np.float64]
    snap: npt.NDArray[np.float64]
    snapped: npt.NDArray[np.int64]
    n_sources: int

    def caller_positions(self, src: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Positions among the snapped sources as positions into the caller's sources."""
        if self.snapped.size == self.n_sources:
            return src
        return np.where(src >= 0, self.snapped[np.maximum(src, 0)], -1)


def _core_search(network: WalkNetwork, sources: SnappedPoints, limit: float) -> _CoreSearch | None:
    """The search of :func:`node_distances` on the core graph without its dead ends, the dead
    ends filled in after it; None when no source is on the network."""
    snapped = np.flatnonzero(sources.ok)
    if snapped.size == 0:
        return None
    ch = network.chains
    snap = sources.snap_m[snapped]
    chain, along, ends, to_ends = _source_arcs(
        ch, sources.edge[snapped], sources.offset_m[snapped], snap
    )
    n_core = ch.core_nodes.size
    k = snapped.size
    pruned = _pruned_core(ch)
    graph = _append_rows(pruned.adjacency, ends.ravel(), to_ends.ravel())
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
    return _CoreSearch(
        dist=core_dist,
        src=core_src,
        chain=chain,
        along=along,
        snap=snap,
        snapped=snapped,
        n_sources=len(sources),
    )


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


@dataclass(frozen=True, eq=False)
class _NodeQueries:
    """Node positions to answer a search for, with what the answer needs of each that does not
    depend on the sources: a core node its core position; a chain-interior node its chain, its
    position along it, the chain's two ends and the rest of the chain beyond it. Made once for
    the origins of an audit (:class:`PreparedOrigins`), used by every category's search.

    Attributes
    ----------
    size
        Number of queries.
    core_at, core_pos
        The queries that are core nodes, and their core positions.
    inner
        The queries that are chain-interior nodes; the other arrays are aligned with it.
    chain, pos_m, a, b, rest_m, key
        Their chain, position along it, its two ends (core positions), the chain's length
        beyond the node, and the (chain, position) sort key of :func:`_own_chain_at`.
    key_scale
        The chains' key scale (:attr:`coverage.network.ChainInterior.key_scale`).
    """

    size: int
    core_at: npt.NDArray[np.int64]
    core_pos: npt.NDArray[np.int64]
    inner: npt.NDArray[np.int64]
    chain: npt.NDArray[np.int64]
    pos_m: npt.NDArray[np.float64]
    a: npt.NDArray[np.int64]
    b: npt.NDArray[np.int64]
    rest_m: npt.NDArray[np.float64]
    key: npt.NDArray[np.float64]
    key_scale: float

    @classmethod
    def on_chains(
        cls, ch: Chains, chain: npt.NDArray[np.int64], pos_m: npt.NDArray[np.float64]
    ) -> _NodeQueries:
        """Queries at points along chains (``pos_m`` metres from each chain's start), all
        answered as chain-interior points: through the chain's two ends, or along the chain
        from a source on it."""
        empty = np.zeros(0, dtype=np.int64)
        inner = np.arange(chain.size, dtype=np.int64)
        return cls._along(ch, chain.size, empty, empty, inner, chain, pos_m)

    @classmethod
    def of(cls, ch: Chains, wanted: npt.NDArray[np.int64]) -> _NodeQueries:
        """The queries of the node positions ``wanted``."""
        ci = ch.core_index[wanted]
        is_core = ci >= 0
        core_at = np.flatnonzero(is_core)
        inner = np.flatnonzero(~is_core)
        nodes = wanted[inner]
        return cls._along(
            ch, wanted.size, core_at, ci[core_at], inner, ch.node_chain[nodes], ch.node_pos_m[nodes]
        )

    @classmethod
    def _along(
        cls,
        ch: Chains,
        size: int,
        core_at: npt.NDArray[np.int64],
        core_pos: npt.NDArray[np.int64],
        inner: npt.NDArray[np.int64],
        chain: npt.NDArray[np.int64],
        pos_m: npt.NDArray[np.float64],
    ) -> _NodeQueries:
        """The queries, their chain-interior points given by chain and position: each
        chain's ends, the rest of it beyond the point and the sort key made here."""
        return cls(
            size=int(size),
            core_at=core_at,
            core_pos=core_pos,
            inner=inner,
            chain=chain,
            pos_m=pos_m,
            a=ch.chain_a[chain],
            b=ch.chain_b[chain],
            rest_m=ch.chain_length_m[chain] - pos_m,
            key=chain * ch.interior.key_scale + pos_m,
            key_scale=ch.interior.key_scale,
        )


def _distances_at(
    queries: _NodeQueries, core: _CoreSearch, limit: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Distances and nearest sources at the queried nodes from the core search: a core node
    has its own; a chain-interior node the nearer of its chain's ends, or a source on its
    chain reached along it (the same rules and ties as the fill of every node)."""
    all_inner = queries.core_at.size == 0  # then inner is every query, in order
    dist = np.empty(0 if all_inner else queries.size)
    src = np.empty(0 if all_inner else queries.size, dtype=np.int64)
    dist[queries.core_at] = core.dist[queries.core_pos]
    src[queries.core_at] = core.src[queries.core_pos]
    if queries.inner.size:
        a, b = queries.a, queries.b
        via_a = core.dist[a] + queries.pos_m
        via_b = core.dist[b] + queries.rest_m
        use_b = via_b < via_a
        d = np.where(use_b, via_b, via_a)
        s = core.src[np.where(use_b, b, a)]
        _own_chain_at(queries, core, d, s)
        beyond = d > limit
        d[beyond] = np.inf
        s[beyond] = -1
        if all_inner:
            return d, s
        dist[queries.inner] = d
        src[queries.inner] = s
    return dist, src


def _own_chain_at(
    queries: _NodeQueries,
    core: _CoreSearch,
    d: npt.NDArray[np.float64],
    s: npt.NDArray[np.int64],
) -> None:
    """Lower ``d`` (and set ``s``) of chain-interior query points that a source on their own
    chain reaches along it, without passing a chain end. In place; ``d`` and ``s`` are aligned
    with ``queries.inner``.

    As :func:`_along_own_chain`, for any query points (chain, position) instead of every
    interior node: the sources sorted by (chain, position) carry running minima of
    ``snap - along`` (forwards) and ``snap + along`` (backwards), restarting at every chain;
    each query looks up the last source at or before it and the first at or after it. Only
    the queries on a chain that holds a source are looked up (the others have none to find).
    """
    chain, along, snap = core.chain, core.along, core.snap
    k = chain.size
    n_chains = int(max(queries.chain.max(initial=-1), chain.max(initial=-1))) + 1
    with_source = np.zeros(n_chains, dtype=bool)
    with_source[chain] = True
    hit = np.flatnonzero(with_source[queries.chain])
    if hit.size == 0:
        return
    q_chain, q_pos, q_key = queries.chain[hit], queries.pos_m[hit], queries.key[hit]
    src_key = chain * queries.key_scale + along
    order = np.argsort(src_key, kind="stable")
    sorted_key, sorted_chain = src_key[order], chain[order]
    new_run = np.r_[True, sorted_chain[1:] != sorted_chain[:-1]]
    run = np.cumsum(new_run) - 1
    left_best, left_at = segment_cummax(-(snap - along)[order], run)
    right_best, right_at = segment_cummax(-(snap + along)[order][::-1], run[-1] - run[::-1])
    right_best, right_at = right_best[::-1], k - 1 - right_at[::-1]
    left = np.searchsorted(sorted_key, q_key, side="right") - 1  # last source at or before
    right = np.searchsorted(sorted_key, q_key, side="left")  # first source at or after
    d_hit, s_hit = d[hit], s[hit]
    for pos, best, at, sign in (
        (left, left_best, left_at, 1.0),
        (right, right_best, right_at, -1.0),
    ):
        j = np.clip(pos, 0, k - 1)
        ok = (pos >= 0) & (pos < k) & (sorted_chain[j] == q_chain)
        direct = np.where(ok, sign * q_pos - best[j], np.inf)
        better = direct < d_hit
        d_hit[better] = direct[better]
        s_hit[better] = order[at[j]][better]
    d[hit] = d_hit
    s[hit] = s_hit


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


@dataclass(frozen=True, eq=False)
class PreparedOrigins:
    """What every search from one set of snapped origins needs that no facility changes.

    An audit searches once per category from the same origins; where each origin lies along
    its chain (the run of edges between two junctions) and how it is reached from the
    chain's two ends are the same for every category. :func:`prepare_origins` makes them
    once, and :func:`nearest_facility` (``prepared=``) then does per category only what
    depends on the facilities. The distances are the very values :func:`nearest_facility`
    gives without it.

    Attributes
    ----------
    network, origins
        The network and the origins it was made for.
    queries
        Each origin's projection as a point on its chain (chain, position along it, the
        chain's ends): the queries of a search.
    ok
        Mask of the origins on the network; the arrays below are aligned with its true ones.
    edge, offset_m, snap_m
        The origins' edges, offsets along them and snapping distances.
    projections
        Where the origins lie on their edges in the network's metric coordinates
        (:func:`edge_points`; made on first use, by the catchments' pair search).
    """

    network: WalkNetwork
    origins: SnappedPoints
    queries: _NodeQueries
    ok: npt.NDArray[np.bool_]
    edge: npt.NDArray[np.int64]
    offset_m: npt.NDArray[np.float64]
    snap_m: npt.NDArray[np.float64]

    @functools.cached_property
    def projections(self) -> npt.NDArray[np.float64]:
        return edge_points(self.network, self.edge, self.offset_m)

    def nearest(
        self, facilities: SnappedPoints, cutoff_m: float | None = None
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
        """:func:`nearest_facility` from these origins as two arrays aligned with them: the
        distance and the nearest facility's position among ``facilities`` (-1 where none is
        reached); what an audit reads for each category, without a frame in between."""
        return _origin_distances(self, facilities, np.inf if cutoff_m is None else float(cutoff_m))


def edge_points(
    network: WalkNetwork, edge: npt.NDArray[np.int64], offset_m: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Where points snapped at ``offset_m`` along ``edge`` lie on it, in the network's metric
    coordinates, shape ``(n, 2)`` (an edge is a straight segment; the offset is in its
    great-circle metres)."""
    u, v = network.xy[network.edge_u[edge]], network.xy[network.edge_v[edge]]
    length = network.edge_length_m[edge]
    t = np.divide(offset_m, length, out=np.zeros_like(offset_m), where=length > 0)
    return u + (v - u) * t[:, None]


def prepare_origins(network: WalkNetwork, origins: SnappedPoints) -> PreparedOrigins:
    """Make once what every :func:`nearest_facility` search from ``origins`` needs.

    Parameters
    ----------
    network
        The walking network.
    origins
        Points snapped with :func:`coverage.snapping.snap_points`.

    Returns
    -------
    PreparedOrigins
        To pass as ``prepared=`` to :func:`nearest_facility` with the same network and origins.
    """
    ok = origins.ok
    edge = origins.edge[ok]
    off = origins.offset_m[ok]
    return PreparedOrigins(
        network=network,
        origins=origins,
        queries=_NodeQueries.on_chains(network.chains, *_along_chain(network.chains, edge, off)),
        ok=ok,
        edge=edge,
        offset_m=off,
        snap_m=origins.snap_m[ok],
    )


def _along_chain(
    ch: Chains, edge: npt.NDArray[np.int64], offset_m: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The chain of each point snapped at ``offset_m`` along ``edge``, and its position along
    that chain (m from the chain's start)."""
    chain = ch.edge_chain[edge]
    start = ch.edge_start_m[edge]
    return chain, np.where(ch.edge_forward[edge], start + offset_m, start - offset_m)


def _source_arcs(
    ch: Chains,
    edge: npt.NDArray[np.int64],
    offset_m: npt.NDArray[np.float64],
    snap_m: npt.NDArray[np.float64],
) -> tuple[
    npt.NDArray[np.int64],
    npt.NDArray[np.float64],
    npt.NDArray[np.int64],
    npt.NDArray[np.float64],
]:
    """Points as virtual sources of a search on the core graph: each point's chain and
    position along it, and its two arcs, ``(k, 2)``: to the chain's two ends (core
    positions), of the snap plus the way along the chain to each."""
    chain, along = _along_chain(ch, edge, offset_m)
    ends = np.column_stack([ch.chain_a[chain], ch.chain_b[chain]])
    to_ends = np.column_stack([snap_m + along, snap_m + ch.chain_length_m[chain] - along])
    return chain, along, ends, to_ends


def nearest_facility(
    network: WalkNetwork,
    origins: SnappedPoints,
    facilities: SnappedPoints,
    *,
    cutoff_m: float | None = None,
    prepared: PreparedOrigins | None = None,
    positions: bool = False,
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
    prepared
        :func:`prepare_origins` of this network and these origins, when several sets of
        facilities are searched from the same origins (one per category): what does not
        depend on the facilities is then made once. The result is the same.
    positions
        Give the nearest facility as its position among ``facilities`` (integers, -1 where
        none is reached) instead of its id: a caller that makes its own column of ids (of
        a city's ~200,000 origins, for each category) need not go through Python objects.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``origins``, with ``distance_m`` (``inf`` beyond the cutoff or
        unreachable, ``NaN`` if the origin is not on the network) and ``facility`` (the
        nearest facility's id from ``facilities.index``, missing where none is reached; or
        its position with ``positions=True``).
    """
    if prepared is None:
        prepared = prepare_origins(network, origins)
    elif prepared.network is not network or prepared.origins is not origins:
        msg = "prepared= was made for another network or other origins (see prepare_origins)"
        raise ValueError(msg)
    limit = np.inf if cutoff_m is None else float(cutoff_m)
    distance, facility_pos = _origin_distances(prepared, facilities, limit)
    if positions:
        return pd.DataFrame({"distance_m": distance, "facility": facility_pos}, index=origins.index)
    # the ids of the facilities, None where none is reached (position -1: the last item)
    ids = np.empty(len(facilities) + 1, dtype=object)
    ids[:-1] = np.asarray(facilities.index, dtype=object)
    ids[-1] = None
    facility = pd.Series(ids[facility_pos], index=origins.index, name="facility", dtype=object)
    return pd.DataFrame({"distance_m": distance, "facility": facility}, index=origins.index)


def _origin_distances(
    prepared: PreparedOrigins, facilities: SnappedPoints, limit: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Distances and nearest-facility positions of the prepared origins: one search on the
    core graph, answered at each origin's place on its chain (through the chain's ends, or
    along the chain from a facility on it, its own edge included), plus its snap."""
    m = len(prepared.origins)
    distance = np.full(m, np.nan)
    best = np.full(m, -1, dtype=np.int64)
    core = _core_search(prepared.network, facilities, limit)
    if core is None:
        distance[prepared.ok] = np.inf
        return distance, best
    d, src = _distances_at(prepared.queries, core, limit)
    d += prepared.snap_m
    beyond = d > limit
    d[beyond] = np.inf
    src[beyond] = -1
    distance[prepared.ok] = d
    best[prepared.ok] = core.caller_positions(src)
    return distance, best
