"""补短板: the fewest new facilities that make every community pass, existing ones kept.

A plan turns an audit (:class:`coverage.audit.AuditResult`) into proposed sites. It follows the
shape of PySAL spopt's models: a problem built from a coverage matrix, solved, then inspected.

Reach rules (W1 per category, the national packs' reach circles)
----------------------------------------------------------------
Per rule and required category, every community that can pass must get at least the pack's
share of its residents (``min_population_share``) within the walking budget of an existing
facility or of a new site.

1. **Candidates** (:func:`default_candidates`, or a user layer read by :func:`read_candidates`):
   by default points on the walking network inside the case's streets: junctions first, then
   points every ``spacing_m`` along the edges, thinned so that at most one candidate stands in
   each ``spacing_m`` × ``spacing_m`` square (:data:`DEFAULT_CANDIDATE_SPACING_M`; the first
   junction of a square wins, then the first point along an edge). Every candidate is snapped
   to the network with :func:`coverage.snapping.snap_points`, the function the audit snaps
   services with, so that the re-audit measures the very distances the plan was made with.
2. **Coverage** (:func:`candidate_coverage`): a candidate covers an origin when the exact
   network walk (the formula of :mod:`coverage.access`: snapping offsets, both ends of the
   origin's edge, the direct walk along a shared edge) is within the budget, less
   :data:`COVER_TOLERANCE_M` so that floating-point noise can never turn a planned pass into a
   fail. The candidates are grouped in square tiles of :data:`TILE_M`; each tile runs one
   bounded multi-source search on the part of the network within the budget (straight-line,
   plus a margin for the map projection's scale) of the tile, where every walk within the
   budget must stay. Memory is one tile's search, and the result a sparse matrix.
3. **Reduction**: only the residents not yet within reach, in communities that fail and can
   pass, enter the problem. Residents of one community with the same covering candidates are
   merged into one class (their populations add up). A candidate is **pruned** when the classes
   it covers are a subset of another candidate's (of identical candidates the first is kept):
   replacing it by the other in any solution keeps every constraint satisfied, so some optimal
   solution uses kept candidates only.
4. **Exact programs** (``scipy.optimize.milp``, HiGHS): *min sites*: binary ``x_j`` per
   candidate, ``0 <= y_q <= 1`` per class with ``y_q <= sum(x_j covering q)``, and per
   community ``sum(pop_q y_q) >= need - reached today``; minimise ``sum(x)``. *Budgeted*
   (the k-curve): at most ``k`` sites, binary ``z_i`` per community with
   ``sum(pop_q y_q) >= gap_i z_i`` for every category the community lacks; maximise the
   residents in passing communities. ``y`` needs no integrality: with integral ``x`` the
   optimum sets ``y_q = min(1, sum x_j)``.
5. **Impossible units** are listed with their reason (no residents; every resident off the
   network; no candidate brings enough residents within reach) and the rest is planned.

A category with no facility in the data is planned from scratch (nobody is within reach today),
and the plan says so. A solver stopped by ``time_limit`` returns its best plan with its gap.

Count rules (W2) and the W5 + W6 exercise points are planned per street
(:func:`plan` with those rules), area rules (W4) as the area deficit per street.

The plan is proven by **re-auditing** the case with the proposed sites added as services:
:attr:`Plan.reaudit`, and :meth:`Plan.unmet` lists any targeted unit that still fails (none,
unless the data changed).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.sparse import csgraph

from coverage._arrays import concat_ranges
from coverage.audit import AuditResult, audit_case
from coverage.categories import category_label
from coverage.errors import DataError
from coverage.rules import Rule, distance_column, is_close_or_above
from coverage.snapping import SnappedPoints, snap_points

if TYPE_CHECKING:
    from coverage.case import Case
    from coverage.network import WalkNetwork

__all__ = [
    "COVER_TOLERANCE_M",
    "DEFAULT_CANDIDATE_SPACING_M",
    "TILE_M",
    "CoverageProblem",
    "Plan",
    "candidate_coverage",
    "default_candidates",
    "greedy_sites",
    "plan",
    "read_candidates",
    "solve_budgeted",
    "solve_min_sites",
]

logger = logging.getLogger(__name__)

#: Default spacing of the generated candidates (m): at most one per square of this side.
#: 200 m is a fifth of the 15-minute walk at 4 km/h. On the demo, 100 m gives the same
#: number of shopping sites (30) and takes the solver several times longer.
DEFAULT_CANDIDATE_SPACING_M = 200.0
#: Side of the square tiles candidates are searched from together (m).
TILE_M = 500.0
#: A candidate covers an origin when the walk is at most the budget less this (m).
COVER_TOLERANCE_M = 1e-6
#: Straight-line distances in the metric CRS may exceed walked (great-circle) lengths by the
#: projection's scale factor (UTM: at most ~1.001 inside a zone); searches keep this margin.
_SCALE_MARGIN = 1.002
#: Name of a proposed site in the services table (zh / en).
SITE_NAME = {"zh": "规划{label}", "en": "planned {label}"}

Status = Literal["optimal", "time_limit"]


# ---- candidates -------------------------------------------------------------------------------


def default_candidates(
    network: WalkNetwork,
    area: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    spacing_m: float = DEFAULT_CANDIDATE_SPACING_M,
) -> gpd.GeoDataFrame:
    """Candidate sites on the walking network inside ``area``.

    Junctions (nodes where other than two edges meet) come first, then points every
    ``spacing_m`` along every edge longer than ``spacing_m``; the list is thinned to at most one
    candidate per ``spacing_m`` × ``spacing_m`` square of the network's metric CRS (the first
    junction of a square wins, then the first point along an edge).

    Parameters
    ----------
    network
        The walking network.
    area
        The case's boundaries (streets); only candidates inside them are kept.
    spacing_m
        The thinning distance.

    Returns
    -------
    geopandas.GeoDataFrame
        ``candidate_id`` (``c<number>``), ``source`` (``junction`` or ``along_edge``),
        ``area_m2`` (NaN), geometry (points, EPSG:4326).
    """
    if not spacing_m > 0:
        msg = f"spacing_m={spacing_m!r}: give a positive distance in metres"
        raise ValueError(msg)
    xy = network.xy
    degree = np.bincount(
        np.concatenate([network.edge_u, network.edge_v]), minlength=network.n_nodes
    )
    junction = np.flatnonzero(degree != 2)
    length = network.edge_length_m
    long = np.flatnonzero(length > spacing_m)
    per_edge = np.floor(length[long] / spacing_m).astype(np.int64)
    edge = np.repeat(long, per_edge)
    step = concat_ranges(np.ones(long.size, dtype=np.int64), per_edge)
    frac = step * spacing_m / length[edge]
    keep = frac < 1.0
    edge, frac = edge[keep], frac[keep]
    along = xy[network.edge_u[edge]] + frac[:, None] * (
        xy[network.edge_v[edge]] - xy[network.edge_u[edge]]
    )
    points = np.vstack([xy[junction], along])
    source = np.r_[np.full(junction.size, "junction"), np.full(edge.size, "along_edge")]
    cell = np.floor(points / spacing_m).astype(np.int64)
    _, first = np.unique(cell, axis=0, return_index=True)
    first = np.sort(first)
    points, source = points[first], source[first]
    metric = network.metric_crs
    geoms = gpd.GeoSeries(shapely.points(points), crs=metric)
    boundary = gpd.GeoSeries(area.geometry if hasattr(area, "geometry") else area)
    inside = geoms.intersects(boundary.to_crs(metric).union_all()).to_numpy()
    frame = gpd.GeoDataFrame(
        {
            "candidate_id": [f"c{i}" for i in range(int(inside.sum()))],
            "source": source[inside],
            "area_m2": np.full(int(inside.sum()), np.nan),
        },
        geometry=geoms[inside].to_crs(4326).to_numpy(),
        crs=4326,
    )
    logger.info(
        "%d candidate sites (%d junctions) at %g m spacing inside the case",
        len(frame),
        int((frame["source"] == "junction").sum()),
        spacing_m,
    )
    return frame


def read_candidates(
    path_or_gdf: str | Path | gpd.GeoDataFrame,
    *,
    area: gpd.GeoDataFrame,
    id_column: str | None = None,
    area_column: str | None = None,
    layer: str | int | None = None,
    crs: Any = None,
    coordinate_system: Any = None,
) -> gpd.GeoDataFrame:
    """Read a layer of candidate sites (vacant lots, community rooms, shop units).

    The layer is read with :func:`coverage.load.read_layer` (the CRS and coordinate-system
    checks every layer gets: a layer without a CRS, or whose coordinates do not fit the CRS it
    declares, is refused) and must lie in the case: a layer none of whose sites falls inside
    the case's streets is refused, naming the two extents. Sites outside the streets are
    dropped with a log message. Polygons are represented by a point inside them; their area
    (m², measured in a metric CRS) is kept as ``area_m2`` unless ``area_column`` names one.

    Parameters
    ----------
    path_or_gdf
        A file :func:`coverage.load.read_layer` reads, or a GeoDataFrame (not changed).
    area
        The case's streets.
    id_column
        Column of the site ids (default: ``c1``, ``c2``, ...).
    area_column
        Column of the site areas in m².
    layer, crs, coordinate_system
        Passed to :func:`coverage.load.read_layer`.

    Returns
    -------
    geopandas.GeoDataFrame
        ``candidate_id``, ``source`` (``layer``), ``area_m2``, geometry (EPSG:4326).

    Raises
    ------
    DataError
        The layer is empty, has no CRS, names a missing column, or misses the case.
    """
    from coverage.crs import local_metric_crs
    from coverage.load import _finish_crs, read_layer

    if isinstance(path_or_gdf, gpd.GeoDataFrame):
        source = "candidates (GeoDataFrame)"
        gdf = _finish_crs(
            path_or_gdf.copy(), crs=crs, coordinate_system=coordinate_system, source=source
        )
    else:
        source = str(path_or_gdf)
        gdf = read_layer(path_or_gdf, layer=layer, crs=crs, coordinate_system=coordinate_system)
    gdf = gdf[~(gdf.geometry.isna() | gdf.geometry.is_empty)]
    if len(gdf) == 0:
        msg = f"{source}: the candidate layer has no geometries; give points or polygons"
        raise DataError(msg)
    for column, option in ((id_column, "id_column"), (area_column, "area_column")):
        if column is not None and column not in gdf:
            msg = (
                f"{source}: no column {column!r} ({option}); the columns are "
                f"{[c for c in gdf.columns if c != 'geometry']}"
            )
            raise DataError(msg)
    ids = (
        gdf[id_column].astype(str).to_numpy(dtype=object)
        if id_column
        else np.array([f"c{i + 1}" for i in range(len(gdf))], dtype=object)
    )
    if len(set(ids)) < len(ids):
        dup = pd.Series(ids).value_counts()
        msg = (
            f"{source}: candidate ids repeat ({', '.join(dup[dup > 1].index[:10])}); give "
            "unique ids in the id column"
        )
        raise DataError(msg)
    metric = local_metric_crs(area)
    geoms = gdf.geometry
    if area_column:
        site_area = pd.to_numeric(gdf[area_column], errors="coerce").to_numpy(dtype=float)
    else:
        polygonal = geoms.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
        site_area = np.where(polygonal, geoms.to_crs(metric).area.to_numpy(), np.nan)
    points = geoms.where(geoms.geom_type == "Point", geoms.representative_point())
    boundary = area.geometry.union_all()
    inside = points.intersects(boundary).to_numpy()
    if not inside.any():
        lo = [round(v, 5) for v in points.total_bounds]
        hi = [round(v, 5) for v in area.total_bounds]
        msg = (
            f"{source}: none of the {len(gdf)} candidate sites lies inside the case's streets "
            f"(candidates' extent {lo}, streets' extent {hi}, lon/lat). Check that the layer "
            "belongs to this case and that its CRS is declared right (crs=...; GCJ-02 or "
            "BD-09 coordinates need coordinate_system=...)"
        )
        raise DataError(msg)
    if not inside.all():
        logger.info(
            "%s: %d of %d candidate sites lie outside the case's streets and are dropped (%s)",
            source,
            int((~inside).sum()),
            len(gdf),
            ", ".join(str(i) for i in ids[~inside][:10]),
        )
    return gpd.GeoDataFrame(
        {
            "candidate_id": ids[inside],
            "source": np.full(int(inside.sum()), "layer"),
            "area_m2": site_area[inside],
        },
        geometry=points[inside].to_numpy(),
        crs=4326,
    )


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


# ---- problems ---------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CoverageProblem:
    """One rule and category: the communities (or streets) to make pass, and what each
    candidate would bring within reach.

    Attributes
    ----------
    rule, category, unit
        The rule id, the category planned and the unit (``community`` or ``street``).
    budget_m
        The walking budget.
    units
        Ids of the target units: failing today, able to pass.
    total
        Residents of each target unit.
    gap
        Residents each target unit still needs within reach (the pack's share of its residents
        less those within reach today).
    cover
        Boolean (kept candidates × classes): a class is the residents of one unit covered by
        the same candidates.
    class_unit, class_pop
        The target unit (position) and residents of every class.
    candidates
        Positions (into the plan's candidate table) of the rows of ``cover``.
    n_candidates
        Candidates covering somebody still to be reached, before pruning.
    """

    rule: str
    category: str
    unit: str
    budget_m: float
    units: pd.Index
    total: npt.NDArray[np.float64]
    gap: npt.NDArray[np.float64]
    cover: sp.csr_matrix
    class_unit: npt.NDArray[np.int64]
    class_pop: npt.NDArray[np.float64]
    candidates: npt.NDArray[np.int64]
    n_candidates: int = 0

    @classmethod
    def from_coverage(
        cls,
        cover: Any,
        *,
        unit: npt.ArrayLike,
        population: npt.ArrayLike,
        share: float = 1.0,
        reached: npt.ArrayLike | None = None,
        rule: str = "",
        category: str = "",
        budget_m: float = math.nan,
    ) -> CoverageProblem:
        """A problem from a plain coverage matrix (candidates × origins), as spopt builds its
        models from one.

        Parameters
        ----------
        cover
            Boolean, dense or sparse, shape (candidates, origins): candidate covers origin.
        unit
            The unit (community) label of every origin.
        population
            Residents of every origin.
        share
            Share of a unit's residents that must be within reach.
        reached
            Origins within reach of an existing facility today (default none).
        rule, category, budget_m
            Labels.

        Returns
        -------
        CoverageProblem
            Targets: the units below the share that every candidate together lifts to it
            (the others are left out, as :func:`plan` lists them as impossible).
        """
        matrix = sp.csr_matrix(cover, dtype=bool)
        labels = pd.Index(pd.unique(np.asarray(unit, dtype=object)))
        codes = labels.get_indexer(np.asarray(unit, dtype=object))
        pop = np.asarray(population, dtype=float)
        now_mask = (
            np.zeros(pop.size, dtype=bool) if reached is None else np.asarray(reached, dtype=bool)
        )
        n = len(labels)
        total = np.bincount(codes, weights=pop, minlength=n)
        now = np.bincount(codes, weights=pop * now_mask, minlength=n)
        coverable = np.zeros(pop.size, dtype=bool)
        coverable[matrix.indices] = True
        open_ = coverable & ~now_mask
        best = now + np.bincount(codes, weights=pop * open_, minlength=n)
        target = np.array(
            [
                not _passes(a, t, share) and _passes(b, t, share)
                for a, b, t in zip(now, best, total, strict=True)
            ],
            dtype=bool,
        )
        keep = open_ & target[codes]
        t_pos = np.full(n, -1, dtype=np.int64)
        t_pos[target] = np.arange(int(target.sum()))
        sub = matrix[:, np.flatnonzero(keep)].tocsc()
        classes, class_unit, class_pop = _classes(sub, t_pos[codes[keep]], pop[keep])
        kept = _prune(classes)
        return cls(
            rule=rule,
            category=category,
            unit="community",
            budget_m=budget_m,
            units=labels[target],
            total=total[target],
            gap=share * total[target] - now[target],
            cover=classes[kept],
            class_unit=class_unit,
            class_pop=class_pop,
            candidates=kept,
            n_candidates=int((np.diff(classes.indptr) > 0).sum()),
        )

    def sites(self, rows: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """The candidates (rows of the original coverage matrix) of ``rows`` of ``cover``."""
        return np.asarray(self.candidates[np.asarray(rows, dtype=np.int64)], dtype=np.int64)

    def new_residents(self, rows: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Residents per target unit newly within reach when the ``rows`` of ``cover`` are
        built."""
        rows = np.asarray(rows, dtype=np.int64)
        hit = np.zeros(self.cover.shape[1], dtype=bool)
        if rows.size:
            hit[self.cover[rows].indices] = True
        return np.bincount(
            self.class_unit[hit], weights=self.class_pop[hit], minlength=len(self.units)
        ).astype(np.float64)

    def passing(self, rows: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Which target units reach their share when the ``rows`` of ``cover`` are built."""
        new = self.new_residents(rows)
        return np.array(
            [is_close_or_above(n, g) for n, g in zip(new, self.gap, strict=True)], dtype=bool
        )


def _classes(
    cover: sp.csc_matrix, unit: npt.NDArray[np.int64], pop: npt.NDArray[np.float64]
) -> tuple[sp.csr_matrix, npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Merge the origins (columns) of one unit covered by the same candidates."""
    keys: dict[tuple[int, bytes], int] = {}
    cls = np.empty(cover.shape[1], dtype=np.int64)
    indptr, indices = cover.indptr, cover.indices
    for o in range(cover.shape[1]):
        key = (int(unit[o]), indices[indptr[o] : indptr[o + 1]].tobytes())
        cls[o] = keys.setdefault(key, len(keys))
    n = len(keys)
    class_unit = np.zeros(n, dtype=np.int64)
    class_unit[cls] = unit
    class_pop = np.bincount(cls, weights=pop, minlength=n).astype(np.float64)
    merge = sp.csr_matrix((np.ones(cls.size), (np.arange(cls.size), cls)), shape=(cls.size, n))
    merged = (cover.astype(np.float64) @ merge).tocsr()
    merged.data[:] = 1.0
    return merged.astype(bool), class_unit, class_pop


def _prune(cover: sp.csr_matrix) -> npt.NDArray[np.int64]:
    """Rows of ``cover`` not dominated: a row whose columns are a subset of another row's is
    dropped; of identical rows the first is kept."""
    counts = np.diff(cover.indptr)
    live = np.flatnonzero(counts > 0)
    if live.size <= 1:
        return live
    sub = cover[live].astype(np.int32)
    overlap = (sub @ sub.T).tocoo()
    size = counts[live]
    i, j, v = overlap.row, overlap.col, overlap.data
    contained = (i != j) & (v == size[i])  # row i inside row j
    same = size[i] == size[j]
    dominated = contained & (~same | (j < i))
    drop = np.zeros(live.size, dtype=bool)
    drop[i[dominated]] = True
    return live[~drop]


def _passes(reached: float, total: float, share: float) -> bool:
    return total > 0 and is_close_or_above(reached / total, share)


# ---- solvers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Solution:
    """What one solve found."""

    rows: tuple[npt.NDArray[np.int64], ...]
    status: Status
    gap: float
    objective: float
    seconds: float
    passing: npt.NDArray[np.bool_] | None = None


def _milp(
    c: npt.NDArray[np.float64],
    a: sp.csr_matrix,
    lb: npt.NDArray[np.float64],
    ub: npt.NDArray[np.float64],
    integral: npt.NDArray[np.int64],
    *,
    time_limit: float | None,
    mip_gap: float,
) -> Any:
    from scipy.optimize import Bounds, LinearConstraint, milp

    options: dict[str, Any] = {"mip_rel_gap": mip_gap, "presolve": True}
    if time_limit is not None:
        options["time_limit"] = max(float(time_limit), 0.01)
    return milp(
        c,
        constraints=LinearConstraint(a, lb, ub),
        integrality=integral,
        bounds=Bounds(np.zeros(c.size), np.ones(c.size)),
        options=options,
    )


def _cover_block(problem: CoverageProblem) -> sp.csr_matrix:
    """``y_q - sum(x_j covering q) <= 0``: the class rows over [x | y]."""
    n_q = problem.cover.shape[1]
    return sp.hstack(
        [-problem.cover.T.astype(np.float64), sp.identity(n_q, format="csr")], format="csr"
    )


def _unit_block(problem: CoverageProblem) -> sp.csr_matrix:
    """``sum(pop_q / total_i * y_q)`` per target unit, over the classes."""
    n_q = problem.cover.shape[1]
    return sp.csr_matrix(
        (
            problem.class_pop / problem.total[problem.class_unit],
            (problem.class_unit, np.arange(n_q)),
        ),
        shape=(len(problem.units), n_q),
    )


def _contributions(problem: CoverageProblem) -> sp.csr_matrix:
    """Residents of each target unit (columns) each candidate (rows) brings within reach."""
    weights = sp.csr_matrix(
        (problem.class_pop, (np.arange(problem.class_unit.size), problem.class_unit)),
        shape=(problem.class_unit.size, len(problem.units)),
    )
    return (problem.cover.astype(np.float64) @ weights).tocsr()


def _unit_cuts(problem: CoverageProblem) -> tuple[sp.csr_matrix, npt.NDArray[np.float64]]:
    """Valid inequalities over the candidates alone that tighten the programs' relaxation.

    Per target unit ``i`` with gap ``g`` and ``c_ij`` the residents of ``i`` candidate ``j``
    reaches: the unit's new residents are at most ``sum(c_ij x_j)``, so
    ``sum(min(c_ij, g) x_j) >= g`` (coefficients above the right-hand side reduced, valid for
    binary ``x``); and at least ``m_i`` candidates reaching it are needed, ``m_i`` the fewest
    of the largest ``c_ij`` that sum to ``g``. Both are scaled by ``g``.
    """
    contrib = _contributions(problem).tocsc()
    n_units = len(problem.units)
    gap = np.maximum(problem.gap, 1e-12)
    knap = contrib.copy()
    unit_of = np.repeat(np.arange(n_units), np.diff(knap.indptr))
    knap.data = np.minimum(knap.data, gap[unit_of]) / gap[unit_of]
    count = contrib.copy()
    count.data[:] = 1.0
    least = np.ones(n_units)
    for i in range(n_units):
        values = np.sort(contrib.data[contrib.indptr[i] : contrib.indptr[i + 1]])[::-1]
        reach = np.cumsum(values)
        hit = np.flatnonzero(reach >= gap[i] * (1 - 1e-9))
        least[i] = hit[0] + 1 if hit.size else max(values.size, 1)
    cuts = sp.vstack([knap.T.tocsr(), count.T.tocsr()], format="csr")
    return cuts, np.r_[np.ones(n_units), least]


def _status(res: Any) -> tuple[Status, float]:
    if res.status == 0:
        gap = float(getattr(res, "mip_gap", 0.0) or 0.0)
        return "optimal", gap
    found = getattr(res, "mip_gap", None)
    return "time_limit", math.inf if found is None or not np.isfinite(found) else float(found)


def solve_min_sites(
    problem: CoverageProblem, *, time_limit: float | None = None, mip_gap: float = 0.0
) -> Solution:
    """The fewest candidates that make every target unit reach its share (exact, HiGHS).

    Parameters
    ----------
    problem
        The coverage problem.
    time_limit
        Seconds for the solver; stopped, it returns its best plan (or, when it found none, the
        greedy one) with the gap to its bound.
    mip_gap
        Relative gap at which the solver may stop (0: proven optimum).

    Returns
    -------
    Solution
        ``rows`` (one array: rows of ``problem.cover``), status and gap.
    """
    started = time.perf_counter()
    n_x, n_q = problem.cover.shape
    if len(problem.units) == 0 or n_x == 0:
        return Solution((np.zeros(0, dtype=np.int64),), "optimal", 0.0, 0.0, 0.0)
    cuts, cut_lb = _unit_cuts(problem)
    a = sp.vstack(
        [
            _cover_block(problem),
            sp.hstack([sp.csr_matrix((len(problem.units), n_x)), _unit_block(problem)]),
            sp.hstack([cuts, sp.csr_matrix((cuts.shape[0], n_q))]),
        ],
        format="csr",
    )
    lb = np.r_[np.full(n_q, -np.inf), problem.gap / problem.total, cut_lb]
    ub = np.r_[np.zeros(n_q), np.full(len(problem.units) + cuts.shape[0], np.inf)]
    c = np.r_[np.ones(n_x), np.zeros(n_q)]
    res = _milp(
        c,
        a,
        lb,
        ub,
        np.r_[np.ones(n_x), np.zeros(n_q)].astype(np.int64),
        time_limit=time_limit,
        mip_gap=mip_gap,
    )
    status, gap = _status(res)
    if res.x is None:
        rows = greedy_sites(problem)
        bound = getattr(res, "mip_dual_bound", None)
        if bound is not None and np.isfinite(bound) and rows.size:
            gap = max(0.0, (rows.size - math.ceil(bound - 1e-9)) / rows.size)
    else:
        rows = np.flatnonzero(res.x[:n_x] > 0.5)
    rows = _repair(problem, rows)
    return Solution((rows,), status, gap, float(rows.size), time.perf_counter() - started)


def _repair(problem: CoverageProblem, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Add greedy picks for a target unit a solver's tolerances left just short (never seen
    in practice; logged when it happens)."""
    ok = problem.passing(rows)
    if ok.all():
        return rows
    logger.warning(
        "%s %s: the solver's plan leaves %d units short by rounding; completed greedily",
        problem.rule,
        problem.category,
        int((~ok).sum()),
    )
    return greedy_sites(problem, start=rows)


def greedy_sites(problem: CoverageProblem, *, start: npt.ArrayLike = ()) -> npt.NDArray[np.int64]:
    """The AccessMod-style heuristic: repeatedly build the candidate that brings the most
    residents still needed within reach (per unit, only what the unit still needs counts), one
    site costing one.

    Parameters
    ----------
    problem
        The coverage problem.
    start
        Rows already built.

    Returns
    -------
    numpy.ndarray
        Rows of ``problem.cover`` in the order picked (``start`` first).
    """
    chosen = [int(r) for r in np.asarray(start, dtype=np.int64)]
    remaining = problem.gap - problem.new_residents(chosen)
    uncovered = np.ones(problem.cover.shape[1], dtype=bool)
    if chosen:
        uncovered[problem.cover[chosen].indices] = False
    n_units = len(problem.units)
    weights = sp.csr_matrix(
        (problem.class_pop, (np.arange(problem.class_unit.size), problem.class_unit)),
        shape=(problem.class_unit.size, n_units),
    )
    cover = problem.cover.astype(np.float64).tocsr()
    while True:
        need = remaining > 1e-9 * np.maximum(problem.total, 1.0)
        if not need.any():
            break
        gain_by_unit = (cover @ weights.multiply(uncovered[:, None]).tocsr()).tocoo()
        gains = np.bincount(
            gain_by_unit.row,
            weights=np.minimum(gain_by_unit.data, np.maximum(remaining, 0.0)[gain_by_unit.col]),
            minlength=cover.shape[0],
        )
        best = int(np.argmax(gains))
        if gains[best] <= 0:
            break  # nothing left helps: cannot happen for units that can pass
        chosen.append(best)
        hit = problem.cover[best].indices
        hit = hit[uncovered[hit]]
        remaining = remaining - np.bincount(
            problem.class_unit[hit], weights=problem.class_pop[hit], minlength=n_units
        )
        uncovered[hit] = False
    return np.asarray(chosen, dtype=np.int64)


def solve_budgeted(
    problems: Sequence[CoverageProblem],
    k: int,
    *,
    units: pd.Index,
    residents: npt.NDArray[np.float64],
    time_limit: float | None = None,
    mip_gap: float = 0.0,
) -> Solution:
    """At most ``k`` new sites over all ``problems`` (the categories of one rule), maximising
    the residents in units that then reach their share in every category (exact, HiGHS).

    Parameters
    ----------
    problems
        The rule's coverage problems (one per category).
    k
        The number of new sites allowed.
    units
        The units that can pass the rule with new sites (every problem's target units are
        among them, or already pass that category).
    residents
        Residents of each of ``units``.
    time_limit, mip_gap
        As in :func:`solve_min_sites`.

    Returns
    -------
    Solution
        ``rows`` per problem, ``passing`` over ``units``; ``objective`` the residents in the
        units made to pass.
    """
    started = time.perf_counter()
    n_z = len(units)
    sizes = [p.cover.shape for p in problems]
    n_vars = sum(a + b for a, b in sizes) + n_z
    blocks: list[sp.csr_matrix] = []
    lbs: list[npt.NDArray[np.float64]] = []
    ubs: list[npt.NDArray[np.float64]] = []
    offset = 0
    budget_row = np.zeros(n_vars)
    for p, (n_x, n_q) in zip(problems, sizes, strict=True):
        width = n_x + n_q
        cover = _cover_block(p)
        left = sp.csr_matrix((n_q, offset))
        right = sp.csr_matrix((n_q, n_vars - offset - width))
        blocks.append(sp.hstack([left, cover, right], format="csr"))
        lbs.append(np.full(n_q, -np.inf))
        ubs.append(np.zeros(n_q))
        unit_rows = _unit_block(p)
        zpos = units.get_indexer(p.units)
        z = sp.csr_matrix(
            (-p.gap / p.total, (np.arange(len(p.units)), zpos)), shape=(len(p.units), n_z)
        )
        blocks.append(
            sp.hstack(
                [
                    sp.csr_matrix((len(p.units), offset + n_x)),
                    unit_rows,
                    sp.csr_matrix((len(p.units), n_vars - offset - width - n_z)),
                    z,
                ],
                format="csr",
            )
        )
        lbs.append(np.zeros(len(p.units)))
        ubs.append(np.full(len(p.units), np.inf))
        budget_row[offset : offset + n_x] = 1.0
        offset += width
    blocks.append(sp.csr_matrix(budget_row[None, :]))
    lbs.append(np.array([-np.inf]))
    ubs.append(np.array([float(k)]))
    c = np.zeros(n_vars)
    c[-n_z:] = -np.asarray(residents, dtype=float)
    integral = np.zeros(n_vars, dtype=np.int64)
    integral[-n_z:] = 1
    offset = 0
    for n_x, n_q in sizes:
        integral[offset : offset + n_x] = 1
        offset += n_x + n_q
    res = _milp(
        c,
        sp.vstack(blocks, format="csr"),
        np.concatenate(lbs),
        np.concatenate(ubs),
        integral,
        time_limit=time_limit,
        mip_gap=mip_gap,
    )
    status, gap = _status(res)
    rows: list[npt.NDArray[np.int64]] = []
    offset = 0
    x = res.x if res.x is not None else np.zeros(n_vars)
    for n_x, n_q in sizes:
        rows.append(np.flatnonzero(x[offset : offset + n_x] > 0.5))
        offset += n_x + n_q
    # what the chosen sites actually make pass (not what z claims)
    passing = np.ones(n_z, dtype=bool)
    for p, r in zip(problems, rows, strict=True):
        ok = np.ones(n_z, dtype=bool)
        ok[units.get_indexer(p.units)] = p.passing(r)
        passing &= ok
    return Solution(
        tuple(rows),
        status,
        gap,
        float(np.asarray(residents)[passing].sum()),
        time.perf_counter() - started,
        passing,
    )


# ---- the plan ---------------------------------------------------------------------------------

#: Rule kinds a new facility can fix, and so :func:`plan` plans.
PLANNABLE_KINDS = ("reach", "count", "community_share", "area_per_capita")


@dataclass(eq=False)
class Plan:
    """The proposed new facilities of a case, and the proof.

    Attributes
    ----------
    sites
        One row per proposed site: ``site`` (id), ``category``, ``rules`` (";"-joined),
        ``candidate_id``, ``source`` (``junction``, ``along_edge`` or ``layer``), ``area_m2``,
        ``units`` (";"-joined ids of the units it helps make pass), ``n_units``,
        ``residents_new`` (residents it brings within reach who have no facility of the kind
        within reach today; a resident reached by two new sites counts for both) and the
        point (EPSG:4326).
    curve
        Per rule, ``k`` new sites (0 up to the plan) -> ``units_passing`` and
        ``residents_in_passing_units`` (units passing every planned category of the rule),
        with the solve's ``status`` and ``gap``.
    status, gap
        ``optimal`` (every program solved to proven optimality) or ``time_limit`` (the best
        plan found, with the largest relative gap to the solver's bound).
    impossible
        Units no candidate can fix: ``rule``, ``category``, ``unit``, ``unit_id``, ``name``,
        ``residents``, ``reason``, ``reason_zh``.
    targets
        Every unit the plan makes pass: ``rule``, ``category``, ``unit``, ``unit_id``,
        ``residents``, ``share_today``, ``share_planned``.
    problems
        Per rule and category: candidates, kept after pruning, exact and greedy sites, the
        solve's status, gap and seconds, ``from_scratch`` (no facility of the kind in the data).
    reaudit
        The case audited again with the proposed sites added as services (None when not asked).
    notes
        What the reader must know (categories planned from scratch, caps, streets above a
        count's maximum), in English and Chinese.
    result
        The audit planned on.
    deficits
        Area rules (W4): per failing street, ``deficit_m2`` and the ``sites`` of the
        candidate layer chosen to cover it (0 when the candidates carry no area).
    """

    sites: gpd.GeoDataFrame
    curve: pd.DataFrame
    status: Status
    gap: float
    impossible: pd.DataFrame
    targets: pd.DataFrame
    problems: pd.DataFrame
    reaudit: AuditResult | None
    notes: list[tuple[str, str]] = field(default_factory=list)
    result: AuditResult | None = field(default=None, repr=False)
    deficits: pd.DataFrame = field(default_factory=pd.DataFrame)

    def __repr__(self) -> str:
        return (
            f"Plan({len(self.sites)} new sites, {len(self.targets)} unit-categories made to "
            f"pass, {len(self.impossible)} impossible, status={self.status!r})"
        )

    def unmet(self) -> pd.DataFrame:
        """Targeted units that the re-audit does not show passing (empty for a sound plan).

        Returns
        -------
        pandas.DataFrame
            The rows of :attr:`targets` whose share of residents within reach in the
            re-audit is below the pack's share; empty without a re-audit.
        """
        if self.reaudit is None or len(self.targets) == 0:
            return self.targets.iloc[:0]
        share = float(self.reaudit.provenance["min_population_share"])
        bad = []
        for row in self.targets.itertuples():
            table = self.reaudit.communities if row.unit == "community" else self.reaudit.streets
            id_col = f"{row.unit}_id"
            share_col = f"{row.rule}_share_{row.category}"
            here = table[id_col] == row.unit_id
            if share_col not in table:  # a count, share or area rule: its status decides
                got = table.loc[here, f"{row.rule}_status"]
                bad.append(not (len(got) and got.iloc[0] == "pass"))
                continue
            got = table.loc[here, share_col]
            value = float(got.iloc[0]) if len(got) else math.nan
            bad.append(not (np.isfinite(value) and is_close_or_above(value, share)))
        return self.targets[np.asarray(bad, dtype=bool)]

    def describe(self, lang: str = "en") -> str:
        """A short summary: sites per category, units made to pass, impossible units."""
        zh = lang == "zh"
        lines = []
        by_cat = self.sites.groupby("category").size() if len(self.sites) else pd.Series()
        units = self.targets.drop_duplicates(["rule", "unit_id"]) if len(self.targets) else None
        n_units = 0 if units is None else len(units)
        if zh:
            lines.append(
                f"规划新增设施 {len(self.sites)} 处，使 {n_units} 个单元在所规划类别上达标"
                + (
                    "（最优解）"
                    if self.status == "optimal"
                    else f"（时限内最优，差距 {self.gap:.1%}）"
                )
            )
        else:
            lines.append(
                f"{len(self.sites)} new sites make {n_units} units pass in the planned categories"
                + (
                    " (proven optimal)"
                    if self.status == "optimal"
                    else f" (best found in the time limit, gap {self.gap:.1%})"
                )
            )
        for cat, n in by_cat.items():
            label = category_label(str(cat), "zh") if zh else str(cat)
            lines.append(f"  {label}: {n}")
        if len(self.problems):
            for rec in self.problems.to_dict("records"):
                greedy_n = rec.get("greedy_sites")
                if greedy_n is None or pd.isna(greedy_n):
                    continue
                cat = str(rec["category"])
                lines.append(
                    f"  {rec['rule']} {cat}: exact {rec['sites']}, greedy {int(greedy_n)}"
                    if not zh
                    else f"  {rec['rule']} {category_label(cat, 'zh')}：精确解 {rec['sites']}，"
                    f"贪心 {int(greedy_n)}"
                )
        if len(self.impossible):
            lines.append(
                f"无法通过新增设施达标的单元 {len(self.impossible)} 个（见 impossible）"
                if zh
                else f"{len(self.impossible)} unit-categories cannot be fixed (see impossible)"
            )
        lines.extend(f"  {zh_text if zh else en}" for en, zh_text in self.notes)
        return "\n".join(lines)


def _fmt_pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _unit_frame(result: AuditResult, unit: str) -> pd.DataFrame:
    table = result.communities if unit == "community" else result.streets
    return pd.DataFrame(table.drop(columns="geometry")).set_index(f"{unit}_id")


def _select_rules(result: AuditResult, rules: Collection[str] | None) -> list[Rule]:
    pack = result.pack
    if rules is None:
        return [r for r in pack.rules if r.kind in PLANNABLE_KINDS]
    out = []
    known = [r.id for r in pack.rules]
    for rule_id in rules:
        if rule_id not in known:
            msg = f"rule {rule_id!r} is not in pack {pack.id!r}; its rules: {', '.join(known)}"
            raise ValueError(msg)
        rule = pack.rule(rule_id)
        if rule.kind not in PLANNABLE_KINDS:
            plannable = [r.id for r in pack.rules if r.kind in PLANNABLE_KINDS]
            msg = (
                f"rule {rule_id!r} ({rule.kind}) is not planned by new sites; the rules a plan "
                f"covers in pack {pack.id!r}: {', '.join(plannable) or 'none'}"
            )
            raise ValueError(msg)
        out.append(rule)
    return out


def _snap_candidates(
    network: WalkNetwork, frame: gpd.GeoDataFrame, max_snap_m: float
) -> tuple[gpd.GeoDataFrame, SnappedPoints]:
    snapped = snap_points(network, frame.set_index("candidate_id"), max_snap_m=max_snap_m)
    ok = snapped.ok
    if not ok.any():
        msg = (
            f"none of the {len(frame)} candidate sites lies within {max_snap_m:g} m of a "
            "walkable street: give sites on or near the walking network"
        )
        raise DataError(msg)
    if not ok.all():
        logger.info(
            "%d candidate sites are farther than %g m from any walkable street and are dropped",
            int((~ok).sum()),
            max_snap_m,
        )
    return frame[ok].reset_index(drop=True), snapped.subset(ok)


def _site_services(sites: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "service_id": sites["site"].to_numpy(dtype=object),
            "name": [
                SITE_NAME["zh"].format(label=category_label(c, "zh")) for c in sites["category"]
            ],
            "category": sites["category"].to_numpy(dtype=object),
            "area_m2": sites["area_m2"].to_numpy(dtype=float),
            "windows": np.full(len(sites), np.nan),
        },
        geometry=sites.geometry.to_numpy(),
        crs=4326,
    )


def case_with_sites(case: Case, sites: gpd.GeoDataFrame) -> Case:
    """The case with the proposed sites added to its services (the case is not changed).

    Parameters
    ----------
    case
        The case.
    sites
        :attr:`Plan.sites`.

    Returns
    -------
    Case
        A new case whose services end with one row per site (``service_id`` the site id,
        ``name`` 规划<类别>).
    """
    if len(sites) == 0:
        return case
    services = pd.concat([case.services, _site_services(sites)], ignore_index=True)
    return dataclasses.replace(case, services=gpd.GeoDataFrame(services, crs=case.services.crs))


def plan(
    result: AuditResult,
    *,
    rules: Collection[str] | None = None,
    categories: Collection[str] | None = None,
    candidates: str | Path | gpd.GeoDataFrame | None = None,
    max_new: int | None = None,
    time_limit: float | None = None,
    spacing_m: float = DEFAULT_CANDIDATE_SPACING_M,
    mip_gap: float = 0.0,
    curve: Literal["plan_order", "exact"] | None = "plan_order",
    greedy: bool = True,
    reaudit: bool = True,
    case: Case | None = None,
) -> Plan:
    """The fewest new facilities that make every community pass, existing ones kept.

    See the module docstring for the method.

    Parameters
    ----------
    result
        An audit (it holds the network, the origins with their distances and the case).
    rules
        Rule ids to plan (default: every rule a new facility can fix: reach, count,
        community share and area rules).
    categories
        Categories to plan (default: every required category of those rules).
    candidates
        Candidate sites: a file or GeoDataFrame of points or polygons (:func:`read_candidates`);
        default :func:`default_candidates` every ``spacing_m``.
    max_new
        At most this many new sites in all; the plan then maximises the residents in passing
        units (the budgeted program) instead of making every unit pass.
    time_limit
        Seconds for each integer program; a stopped solve gives its best plan and its gap
        (:attr:`Plan.status` ``time_limit``).
    spacing_m
        Spacing of the default candidates.
    mip_gap
        Relative optimality gap at which a solve may stop (0: proven optimum).
    curve
        How :attr:`Plan.curve` is made, for every k from 0 to the plan's size:
        ``"plan_order"`` (default): the plan's sites added best first, a lower bound of the best
        k-site plan (exact at 0 and at the full plan; cheap); ``"exact"``: the budgeted
        integer program for every k (slow beyond a few categories); ``None``: no curve.
    greedy
        Also run the greedy heuristic, for comparison (:attr:`Plan.problems`).
    reaudit
        Audit the case again with the sites added (:attr:`Plan.reaudit`).
    case
        The audited case (default: the one the audit kept).

    Returns
    -------
    Plan

    Raises
    ------
    ValueError
        An unknown rule or category, or a rule no new facility can fix.
    DataError
        A candidate layer that misses the case.
    """
    network = result.network
    if network is None:
        msg = "the audit result holds no network: audit the case with audit_case first"
        raise DataError(msg)
    case = case if case is not None else getattr(result, "case", None)
    if max_new is not None and max_new < 0:
        msg = f"max_new={max_new!r}: give 0 or more sites"
        raise ValueError(msg)
    selected = _select_rules(result, rules)
    wanted = None if categories is None else {str(c) for c in categories}
    todo = [
        (rule, cat)
        for rule in selected
        if rule.kind == "reach"
        for cat in rule.categories
        if wanted is None or cat in wanted
    ]
    others = [
        rule
        for rule in selected
        if rule.kind != "reach" and (wanted is None or rule.category in wanted)
    ]
    if wanted is not None:
        known = {c for rule in selected for c in rule.categories} | {
            rule.category for rule in selected if rule.category
        }
        unknown = sorted(wanted - known)
        if unknown:
            msg = (
                f"categories {unknown} are not required by the rules planned "
                f"({', '.join(r.id for r in selected)}); they require: {', '.join(sorted(known))}"
            )
            raise ValueError(msg)
    share = float(result.provenance.get("min_population_share", result.pack.min_population_share))
    max_snap = float(result.provenance.get("max_snap_m", 250.0))
    speed = result.walk_speed_kmh
    notes: list[tuple[str, str]] = []

    if candidates is None:
        cand_frame = default_candidates(network, result.streets, spacing_m=spacing_m)
    elif (
        isinstance(candidates, gpd.GeoDataFrame)
        and "candidate_id" in candidates
        and (candidates.crs is not None and candidates.crs.to_epsg() == 4326)
        and "source" in candidates
    ):
        cand_frame = candidates.reset_index(drop=True)
    else:
        cand_frame = read_candidates(candidates, area=result.streets)
    if "area_m2" not in cand_frame:
        cand_frame = cand_frame.assign(area_m2=np.nan)
    cand_frame, cand_snap = _snap_candidates(network, cand_frame, max_snap)

    origins = result.origins
    o_snap = snap_points(network, origins.set_index("origin_id"), max_snap_m=max_snap)
    weights = origins["population"].to_numpy(dtype=float)

    # per (rule, category): the units' state today, the residents still to reach
    state: list[dict[str, Any]] = []
    impossible_rows: list[dict[str, Any]] = []
    for rule, cat in todo:
        budget = rule.budget_m(speed)
        assert budget is not None
        units = _unit_frame(result, rule.unit)
        codes = units.index.get_indexer(origins[f"{rule.unit}_id"])
        valid = codes >= 0
        column = distance_column(cat)
        d = (
            origins[column].to_numpy(dtype=float)
            if column in origins
            else np.full(len(origins), np.inf)
        )
        from_scratch = not bool((result.services["category"] == cat).any()) and not (
            "categories" in result.services
            and result.services["categories"]
            .fillna("")
            .str.split(";")
            .map(lambda cs, c=cat: c in cs)
            .any()
        )
        reached = np.nan_to_num(d, nan=np.inf) <= budget
        on_net = o_snap.ok & ~np.isnan(d) if not from_scratch else o_snap.ok
        if from_scratch:
            reached[:] = False
        n = len(units)
        total = np.bincount(codes[valid], weights=weights[valid], minlength=n)
        on_pop = np.bincount(codes[valid], weights=(weights * on_net)[valid], minlength=n)
        now = np.bincount(codes[valid], weights=(weights * reached)[valid], minlength=n)
        passing = np.array([_passes(a, b, share) for a, b in zip(now, total, strict=True)])
        fixable = (total > 0) & (on_pop > 0) & ~passing
        needy = valid & on_net & ~reached
        needy[valid] &= fixable[codes[valid]]
        state.append(
            {
                "rule": rule,
                "category": cat,
                "budget": budget,
                "units": units,
                "codes": codes,
                "total": total,
                "on_pop": on_pop,
                "now": now,
                "passing": passing,
                "fixable": fixable,
                "needy": needy,
                "from_scratch": from_scratch,
            }
        )
        if from_scratch:
            notes.append(
                (
                    f"{cat}: no facility of the kind in the data; planned from scratch (the "
                    "data may only lack it: check whether such facilities exist)",
                    f"{category_label(cat, 'zh')}：数据中没有该类设施，按从零规划（也可能只是数据"
                    "缺失，请核实现状设施）",
                )
            )

    # coverage, once per budget, over every origin some problem still has to reach
    matrices: dict[float, tuple[sp.csc_matrix, npt.NDArray[np.int64]]] = {}
    for budget in sorted({s["budget"] for s in state}):
        union = np.zeros(len(origins), dtype=bool)
        for s in state:
            if s["budget"] == budget:
                union |= s["needy"]
        cols = np.flatnonzero(union)
        matrix = candidate_coverage(network, cand_snap, o_snap.subset(union), budget_m=budget)
        matrices[budget] = (matrix.tocsc(), cols)

    problems: list[CoverageProblem] = []
    problem_rows: list[dict[str, Any]] = []
    solutions: list[Solution] = []
    target_rows: list[dict[str, Any]] = []
    budget_left = max_new
    chosen_by_cat: dict[tuple[str, float], set[int]] = {}
    for s in state:
        rule, cat, budget = s["rule"], s["category"], s["budget"]
        units, codes, total = s["units"], s["codes"], s["total"]
        matrix, cols = matrices[budget]
        pos = np.searchsorted(cols, np.flatnonzero(s["needy"]))
        sub = matrix[:, pos].tocsr()
        origin_unit = codes[cols[pos]]
        pop = weights[cols[pos]]
        now = s["now"].copy()
        # sites already planned for this category (another rule) count as existing
        earlier = sorted(chosen_by_cat.get((cat, budget), set()))
        keep_cols = np.ones(pos.size, dtype=bool)
        if earlier:
            hit = np.unique(sub[earlier].indices)
            now += np.bincount(origin_unit[hit], weights=pop[hit], minlength=len(units))
            keep_cols[hit] = False
        sub = sub[:, np.flatnonzero(keep_cols)].tocsr()
        origin_unit, pop = origin_unit[keep_cols], pop[keep_cols]
        reachable = np.zeros(sub.shape[1], dtype=bool)
        reachable[sub.indices] = True
        best = now + np.bincount(
            origin_unit[reachable], weights=pop[reachable], minlength=len(units)
        )
        target = np.zeros(len(units), dtype=bool)
        for i in np.flatnonzero(~s["passing"]):
            uid = units.index[i]
            base = {
                "rule": rule.id,
                "category": cat,
                "unit": rule.unit,
                "unit_id": uid,
                "name": units["name"].iloc[i] if "name" in units else "",
                "residents": float(total[i]),
            }
            if _passes(now[i], total[i], share):
                continue  # an earlier rule's sites already make it pass
            reason = _impossible_reason(
                rule, cat, total[i], s["on_pop"][i], best[i], share, speed, max_snap
            )
            if reason is None:
                target[i] = True
            else:
                impossible_rows.append(base | {"reason": reason[0], "reason_zh": reason[1]})
        keep_o = target[origin_unit] & reachable
        sub = sub[:, np.flatnonzero(keep_o)].tocsr()
        origin_unit, pop = origin_unit[keep_o], pop[keep_o]
        t_pos = np.full(len(units), -1, dtype=np.int64)
        t_pos[target] = np.arange(int(target.sum()))
        cover, class_unit, class_pop = _classes(sub.tocsc(), t_pos[origin_unit], pop)
        n_useful = int((np.diff(cover.indptr) > 0).sum())
        kept = _prune(cover)
        problem = CoverageProblem(
            rule=rule.id,
            category=cat,
            unit=rule.unit,
            budget_m=budget,
            units=units.index[target],
            total=total[target],
            gap=share * total[target] - now[target],
            cover=cover[kept],
            class_unit=class_unit,
            class_pop=class_pop,
            candidates=kept,
            n_candidates=n_useful,
        )
        solution = solve_min_sites(problem, time_limit=time_limit, mip_gap=mip_gap)
        greedy_n = greedy_sites(problem).size if greedy and len(problem.units) else None
        problems.append(problem)
        solutions.append(solution)
        problem_rows.append(
            {
                "rule": rule.id,
                "category": cat,
                "budget_m": budget,
                "targets": len(problem.units),
                "candidates": len(cand_frame),
                "useful_candidates": n_useful,
                "kept_candidates": kept.size,
                "classes": cover.shape[1],
                "sites": int(solution.rows[0].size),
                "greedy_sites": greedy_n,
                "status": solution.status,
                "gap": solution.gap,
                "seconds": solution.seconds,
                "from_scratch": s["from_scratch"],
            }
        )
        chosen_by_cat.setdefault((cat, budget), set()).update(
            int(kept[r]) for r in solution.rows[0]
        )
        s["now_after_rules"] = now
        s["target"] = target

    # the cap: the budgeted program per rule with the sites left
    final_rows: list[npt.NDArray[np.int64]] = [sol.rows[0] for sol in solutions]
    if max_new is not None:
        budget_left = int(max_new)
        for rule in selected:
            idx = [i for i, p in enumerate(problems) if p.rule == rule.id]
            need = sum(final_rows[i].size for i in idx)
            if need <= budget_left:
                budget_left -= need
                continue
            rule_units, residents = _rule_units([problems[i] for i in idx])
            sol = solve_budgeted(
                [problems[i] for i in idx],
                budget_left,
                units=rule_units,
                residents=residents,
                time_limit=time_limit,
                mip_gap=mip_gap,
            )
            for at, r in zip(idx, sol.rows, strict=True):
                final_rows[at] = np.asarray(r, dtype=np.int64)
                problem_rows[at]["sites"] = int(r.size)
                problem_rows[at]["status"] = sol.status
                problem_rows[at]["gap"] = sol.gap
            budget_left -= sum(r.size for r in sol.rows)
            notes.append(
                (
                    f"{rule.id}: --max-new {max_new} caps the plan below the "
                    f"{need} sites that make every unit pass; the sites maximise the residents "
                    "in passing units",
                    f"{rule.id}：新增设施上限 {max_new} 处，少于全部达标所需的 {need} 处；"
                    "所选位置使达标单元的居民最多",
                )
            )

    # the sites
    site_rows: list[dict[str, Any]] = []
    geoms: list[Any] = []
    for p, rows in zip(problems, final_rows, strict=True):
        passing_after = p.passing(rows)
        needy_before = np.ones(p.cover.shape[1], dtype=bool)
        for n, r in enumerate(rows):
            hit = p.cover[r].indices
            units_hit = np.unique(p.class_unit[hit])
            made = [str(p.units[u]) for u in units_hit if passing_after[u]]
            cand = int(p.candidates[r])
            row = cand_frame.iloc[cand]
            site_rows.append(
                {
                    "site": f"{p.rule}-{p.category}-{n + 1:03d}",
                    "category": p.category,
                    "rules": p.rule,
                    "candidate_id": str(row["candidate_id"]),
                    "source": str(row["source"]),
                    "area_m2": float(row["area_m2"]),
                    "units": ";".join(made),
                    "n_units": len(made),
                    "residents_new": float(p.class_pop[hit].sum()),
                }
            )
            geoms.append(row.geometry)
        del needy_before
        for u in np.flatnonzero(passing_after):
            uid = p.units[int(u)]
            st = next(s for s in state if s["rule"].id == p.rule and s["category"] == p.category)
            i = st["units"].index.get_loc(uid)
            new = p.new_residents(rows)[u]
            target_rows.append(
                {
                    "rule": p.rule,
                    "category": p.category,
                    "unit": p.unit,
                    "unit_id": uid,
                    "residents": float(p.total[u]),
                    "share_today": float(st["now"][i] / p.total[u]),
                    "share_planned": float((st["now_after_rules"][i] + new) / p.total[u]),
                }
            )
    deficits = pd.DataFrame(columns=["rule", "street_id", "residents", "deficit_m2", "sites"])
    if others:
        from coverage.plan_counts import plan_counts

        counted = plan_counts(
            result, others, cand_frame=cand_frame, cand_snap=cand_snap, o_snap=o_snap
        )
        numbers: dict[tuple[str, str], int] = {}
        for pick in counted.picks:
            key = (pick["rules"], pick["category"])
            numbers[key] = numbers.get(key, 0) + 1
            row = cand_frame.iloc[pick["candidate"]]
            site_rows.append(
                {
                    "site": f"{pick['rules'].replace(';', '+')}-{pick['category']}-"
                    f"{numbers[key]:03d}",
                    "category": pick["category"],
                    "rules": pick["rules"],
                    "candidate_id": str(row["candidate_id"]),
                    "source": str(row["source"]),
                    "area_m2": float(row["area_m2"]),
                    "units": pick["units"],
                    "n_units": 1,
                    "residents_new": math.nan,
                }
            )
            geoms.append(row.geometry)
        target_rows.extend(counted.targets)
        impossible_rows.extend(counted.impossible)
        notes.extend(counted.notes)
        if counted.deficits:
            deficits = pd.DataFrame(counted.deficits)
    sites = gpd.GeoDataFrame(
        pd.DataFrame(
            site_rows,
            columns=[
                "site",
                "category",
                "rules",
                "candidate_id",
                "source",
                "area_m2",
                "units",
                "n_units",
                "residents_new",
            ],
        ),
        geometry=gpd.GeoSeries(geoms, crs=4326).to_numpy() if geoms else [],
        crs=4326,
    )

    curve_frame = (
        _curves(
            selected,
            problems,
            final_rows,
            state,
            method=curve,
            time_limit=time_limit,
            mip_gap=mip_gap,
        )
        if curve is not None
        else pd.DataFrame(columns=CURVE_COLUMNS)
    )
    statuses = [r["status"] for r in problem_rows]
    status: Status = "optimal" if all(s == "optimal" for s in statuses) else "time_limit"
    gap = max((float(r["gap"]) for r in problem_rows), default=0.0)
    if status == "time_limit":
        logger.warning(
            "the solver stopped at its time limit: the plan is the best found, gap %.2f%%",
            100 * gap,
        )
    re = None
    if reaudit:
        if case is None:
            msg = "the audit result keeps no case to re-audit: pass case= (or reaudit=False)"
            raise DataError(msg)
        re = audit_case(
            case_with_sites(case, sites),
            pack=result.pack,
            walk_speed_kmh=speed,
            min_population_share=share,
            network=network,
        )
    out = Plan(
        sites=sites,
        curve=curve_frame,
        status=status,
        gap=gap,
        impossible=pd.DataFrame(
            impossible_rows,
            columns=[
                "rule",
                "category",
                "unit",
                "unit_id",
                "name",
                "residents",
                "reason",
                "reason_zh",
            ],
        ),
        targets=pd.DataFrame(
            target_rows,
            columns=[
                "rule",
                "category",
                "unit",
                "unit_id",
                "residents",
                "share_today",
                "share_planned",
            ],
        ),
        problems=pd.DataFrame(problem_rows),
        reaudit=re,
        deficits=deficits,
        notes=notes,
        result=result,
    )
    if re is not None:
        unmet = out.unmet()
        if len(unmet):
            logger.warning(
                "the re-audit shows %d targeted units not passing: %s",
                len(unmet),
                ", ".join(
                    f"{r.rule} {r.category} {r.unit_id}" for r in unmet.head(10).itertuples()
                ),
            )
    return out


def _impossible_reason(
    rule: Rule,
    category: str,
    total: float,
    on_pop: float,
    best: float,
    share: float,
    speed: float,
    max_snap: float,
) -> tuple[str, str] | None:
    """Why no set of candidates can make the unit pass (None: some can)."""
    if not total > 0:
        return (
            "no residents (population 0 or missing): nothing to plan",
            "无常住人口（人口为0或缺失），无需规划",
        )
    if not on_pop > 0:
        return (
            f"all {total:,.0f} residents' origins lie more than {max_snap:g} m from any "
            "walkable street: no new site can bring them within reach (check that the OSM "
            "file covers the unit)",
            f"全部{total:,.0f}名居民的出发点距任何可步行道路都超过{max_snap:g}米，新增设施"
            "无法使其可达（请检查OSM文件是否覆盖该单元）",
        )
    if _passes(best, total, share):
        return None
    budget = rule.budget_m(speed) or 0.0
    off = total - on_pop
    off_en = off_zh = ""
    if off > 0:
        off_en = f"; {off:,.0f} residents are off the network"
        off_zh = f"；另有{off:,.0f}名居民不在步行路网上"
    return (
        f"no candidate within reach of enough residents: with every candidate site built, "
        f"{category} would reach {_fmt_pct(best / total)} of residents within {budget:,.0f} m "
        f"(needs {_fmt_pct(share)}){off_en}",
        f"没有足够近的候选地块：即使建设全部候选地块，{category_label(category, 'zh')}在"
        f"{budget:,.0f}米内也只覆盖{_fmt_pct(best / total)}的居民（需{_fmt_pct(share)}）{off_zh}",
    )


def _rule_units(
    problems: Sequence[CoverageProblem],
) -> tuple[pd.Index, npt.NDArray[np.float64]]:
    """The target units of a rule's problems, once each, with their residents."""
    frames = [pd.Series(p.total, index=p.units) for p in problems]
    if not frames:
        return pd.Index([]), np.zeros(0)
    both = pd.concat(frames)
    both = both[~both.index.duplicated()]
    return both.index, np.asarray(both.to_numpy(dtype=float), dtype=np.float64)


CURVE_COLUMNS = [
    "rule",
    "k",
    "units_passing",
    "residents_in_passing_units",
    "method",
    "status",
    "gap",
]


def _curves(
    selected: Sequence[Rule],
    problems: Sequence[CoverageProblem],
    final_rows: Sequence[npt.NDArray[np.int64]],
    state: Sequence[dict[str, Any]],
    *,
    method: str,
    time_limit: float | None,
    mip_gap: float,
) -> pd.DataFrame:
    """k -> units passing every planned category of the rule (and their residents), from 0 up
    to the plan's number of sites.

    ``method="exact"``: each point an exact budgeted program (at most k sites anywhere).
    ``method="plan_order"``: the plan's own sites added one by one, each time the one that
    makes the most residents' units pass (then the one reaching most residents still needed):
    a lower bound of the exact curve at every k, equal to it at k = 0 and at the full plan.
    """
    rows: list[dict[str, Any]] = []
    for rule in selected:
        idx = [i for i, p in enumerate(problems) if p.rule == rule.id]
        if not idx:
            continue
        mine = [s for s in state if s["rule"].id == rule.id]
        units = mine[0]["units"]
        total = mine[0]["total"]
        # units that could pass every planned category: today or with sites
        can = np.ones(len(units), dtype=bool)
        today = np.ones(len(units), dtype=bool)
        for s in mine:
            can &= s["passing"] | s["target"]
            today &= s["passing"]
        today &= total > 0
        base_units = int(today.sum())
        base_res = float(total[today].sum())
        cand_units = units.index[can & ~today]
        residents = total[can & ~today]
        probs = [_restrict(problems[i], cand_units) for i in idx]
        k_max = sum(final_rows[i].size for i in idx)

        def point(
            k: int,
            n_units: int,
            res: float,
            how: str,
            status: str,
            gap: float,
            *,
            rule_id: str = rule.id,
            units0: int = base_units,
            res0: float = base_res,
        ) -> None:
            rows.append(
                {
                    "rule": rule_id,
                    "k": k,
                    "units_passing": units0 + n_units,
                    "residents_in_passing_units": res0 + res,
                    "method": how,
                    "status": status,
                    "gap": gap,
                }
            )

        point(0, 0, 0.0, method, "optimal", 0.0)
        if len(cand_units) == 0:
            continue
        if method == "exact":
            for k in range(1, k_max + 1):
                sol = solve_budgeted(
                    probs,
                    k,
                    units=cand_units,
                    residents=residents,
                    time_limit=time_limit,
                    mip_gap=mip_gap,
                )
                assert sol.passing is not None
                point(k, int(sol.passing.sum()), sol.objective, "exact", sol.status, sol.gap)
            continue
        kept_rows = [np.asarray(final_rows[i], dtype=np.int64) for i in idx]
        for k, passing in enumerate(_plan_order(probs, kept_rows, cand_units), start=1):
            point(
                k,
                int(passing.sum()),
                float(residents[passing].sum()),
                method,
                "lower_bound",
                math.nan,
            )
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


def _plan_order(
    problems: Sequence[CoverageProblem],
    rows: Sequence[npt.NDArray[np.int64]],
    units: pd.Index,
) -> list[npt.NDArray[np.bool_]]:
    """The units passing after each of the plan's sites, added best first (see
    :func:`_curves`)."""
    n = len(units)
    covered = [np.zeros(p.cover.shape[1], dtype=bool) for p in problems]
    new = [np.zeros(len(p.units), dtype=float) for p in problems]
    where = [units.get_indexer(p.units) for p in problems]
    left = [(pi, int(r)) for pi, rr in enumerate(rows) for r in rr]
    out: list[npt.NDArray[np.bool_]] = []

    def passing_with(pi: int | None, add: npt.NDArray[np.float64] | None) -> npt.NDArray[np.bool_]:
        ok = np.ones(n, dtype=bool)
        for qi, p in enumerate(problems):
            got = new[qi] + add if (qi == pi and add is not None) else new[qi]
            ok[where[qi]] &= got >= p.gap - 1e-9 * np.maximum(p.total, 1.0)
        return ok

    res = np.zeros(n)
    for qi, p in enumerate(problems):
        res[where[qi]] = p.total
    while left:
        best: tuple[float, float] | None = None
        pick = 0
        for li, (pi, r) in enumerate(left):
            p = problems[pi]
            hit = p.cover[r].indices
            hit = hit[~covered[pi][hit]]
            add = np.bincount(
                p.class_unit[hit], weights=p.class_pop[hit], minlength=len(p.units)
            ).astype(np.float64)
            ok = passing_with(pi, add)
            useful = float(np.minimum(add, np.maximum(p.gap - new[pi], 0.0)).sum())
            score = (float(res[ok].sum()), useful)
            if best is None or score > best:
                best, pick = score, li
        pi, r = left.pop(pick)
        p = problems[pi]
        hit = p.cover[r].indices
        hit = hit[~covered[pi][hit]]
        new[pi] += np.bincount(p.class_unit[hit], weights=p.class_pop[hit], minlength=len(p.units))
        covered[pi][hit] = True
        passing = passing_with(None, None)
        out.append(passing)
    return out


def _restrict(problem: CoverageProblem, units: pd.Index) -> CoverageProblem:
    """The problem on those of its target units that are among ``units``."""
    keep = problem.units.isin(units)
    if keep.all():
        return problem
    new_pos = np.full(len(problem.units), -1, dtype=np.int64)
    new_pos[keep] = np.arange(int(keep.sum()))
    cols = keep[problem.class_unit]
    return dataclasses.replace(
        problem,
        units=problem.units[keep],
        total=problem.total[keep],
        gap=problem.gap[keep],
        cover=problem.cover[:, np.flatnonzero(cols)].tocsr(),
        class_unit=new_pos[problem.class_unit[cols]],
        class_pop=problem.class_pop[cols],
    )
