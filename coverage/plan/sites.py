"""Candidate sites of a plan: generated on the walking network, or a user's layer."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from coverage._arrays import concat_ranges
from coverage.errors import DataError

if TYPE_CHECKING:
    from coverage.network import WalkNetwork


__all__ = ["DEFAULT_CANDIDATE_SPACING_M", "default_candidates", "read_candidates"]

logger = logging.getLogger(__name__)


#: Default spacing of the generated candidates (m): at most one per square of this side.
#: 200 m is a fifth of the 15-minute walk at 4 km/h. On the demo, 100 m gives the same
#: number of shopping sites (30) and takes the solver several times longer.
DEFAULT_CANDIDATE_SPACING_M = 200.0


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
