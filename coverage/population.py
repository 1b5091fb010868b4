"""Residential origins: where each community's residents start their walks.

A community's population is a single number; walking distances are measured from points. This
module spreads each community's population over origin points inside it, from the best
evidence available for that community, in this order:

1. ``points`` given by the user (e.g. residential compounds, 小区), weighted by a ``population``
   or ``weight`` column if present, else equally; each point belongs to one community (the
   ``community_id`` it carries, as :func:`coverage.load.read_origins` assigns it, else the
   first community that contains it);
2. residential buildings: one origin per building, weight = floor area = footprint (m², local
   UTM zone) × levels;
3. residential land use: a regular ``grid_m`` grid clipped to the residential land inside the
   community, weight = area of each clipped cell;
4. nothing known: the same grid over the whole community;

and a community smaller than one grid cell gets a single origin at its representative point.
The order is applied **per community**: population points that cover only some communities
leave the others to buildings, then land use, then the grid, and the ``source`` column of the
origins says which one each community used (:func:`population_sources`). The points' own
populations are weights: they are scaled to the community's population, and
:func:`compare_points_population` lists the communities whose points sum far from it.

Totals are preserved: the origins of a community sum to its population (floating point; the
rounding residue is put on the largest origin so the sum is exact up to one floating-point
addition). Populations are not rounded to whole people: origins are weights for averages, and
rounding small origins to integers would move people between origins for no gain.
"""

from __future__ import annotations

import logging
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from coverage.crs import local_metric_crs
from coverage.errors import DataError

__all__ = [
    "MAX_GRID_CELLS",
    "POINTS_POPULATION_TOLERANCE",
    "RESIDENTIAL_BUILDING_VALUES",
    "check_grid_size",
    "compare_points_population",
    "population_sources",
    "spread_population",
]

logger = logging.getLogger(__name__)

#: ``building=*`` values that are residential wherever they are.
RESIDENTIAL_BUILDING_VALUES: frozenset[str] = frozenset(
    {
        "residential",
        "apartments",
        "house",
        "detached",
        "semidetached_house",
        "terrace",
        "dormitory",
        "bungalow",
    }
)
#: ``building=*`` values counted as residential only inside residential land use.
_GENERIC_BUILDING_VALUES = frozenset({"yes"})

_ORIGIN_COLUMNS = ["origin_id", "community_id", "street_id", "population", "source"]

#: Population points are reported when their sum in a community is more than this share away
#: from the community's population (0.2: below 80% or above 120%). Points that count only some
#: of the residents (one compound of several), or a population column in other units
#: (households, thousands), show up this way.
POINTS_POPULATION_TOLERANCE = 0.2


#: The most grid cells the origin grids of one case may need (bounding boxes, ``grid_m``
#: spacing). 2 million cells take about 20 s and 2 GB to build; a community of 5° x 5° at 50 m
#: needs about 120 million, which ends in an out-of-memory error after minutes.
MAX_GRID_CELLS = 2_000_000


def check_grid_size(communities: gpd.GeoDataFrame, *, grid_m: float = 50.0) -> None:
    """Refuse origin grids too large to build, before any is built.

    Counts the cells of a ``grid_m`` grid over each populated community's bounding box (in
    the local metric CRS), as :func:`spread_population` would make when nothing better than
    the grid is known, and compares their total with :data:`MAX_GRID_CELLS`.

    Parameters
    ----------
    communities
        Canonical communities with a CRS.
    grid_m
        Grid spacing in metres.

    Raises
    ------
    DataError
        With the cells needed, the limit, the largest communities and the fix.
    """
    _validate(communities, grid_m=grid_m)
    pop = pd.to_numeric(communities["population"], errors="coerce").fillna(0.0)
    populated = communities[(pop > 0).to_numpy() & communities.geometry.notna().to_numpy()]
    if populated.empty:
        return
    bounds = populated.geometry.to_crs(local_metric_crs(communities)).bounds
    cells = _cells(bounds, grid_m)
    total = float(cells.sum())
    if total <= MAX_GRID_CELLS:
        return
    area = float(((bounds["maxx"] - bounds["minx"]) * (bounds["maxy"] - bounds["miny"])).sum())
    need_m = math.ceil(math.sqrt(area / MAX_GRID_CELLS) / 10.0) * 10
    order = np.argsort(-cells.to_numpy())[:5]
    ids = populated["community_id"].astype(str).to_numpy()
    biggest = ", ".join(f"{ids[i]} ({cells.iloc[i]:,.0f} cells)" for i in order)
    msg = (
        f"communities: the origin grid of {grid_m:g} m would need {total:,.0f} cells, more than "
        f"the limit of {MAX_GRID_CELLS:,} (largest: {biggest}). Give population points "
        "([residents] points) or buildings ([residents] buildings), or a coarser grid "
        f"([residents] grid_m = {need_m} or more); also check that the communities are in the "
        "declared CRS (degrees read as metres make huge polygons)"
    )
    raise DataError(msg)


def _cells(bounds: pd.DataFrame, grid_m: float) -> pd.Series:
    """Cells of a ``grid_m`` grid aligned on multiples of ``grid_m`` over each bounding box."""
    nx = np.floor(bounds["maxx"] / grid_m) - np.floor(bounds["minx"] / grid_m) + 1
    ny = np.floor(bounds["maxy"] / grid_m) - np.floor(bounds["miny"] / grid_m) + 1
    return (nx * ny).astype(float)


def spread_population(
    communities: gpd.GeoDataFrame,
    *,
    buildings: gpd.GeoDataFrame | None = None,
    residential: gpd.GeoDataFrame | None = None,
    points: gpd.GeoDataFrame | None = None,
    grid_m: float = 50.0,
    default_levels: float | None = None,
) -> gpd.GeoDataFrame:
    """Spread each community's population over origin points inside it.

    Parameters
    ----------
    communities
        Canonical communities: ``community_id``, ``population`` and polygon geometry, with a
        CRS; ``street_id`` is carried over if present.
    buildings
        Building footprints with a ``building`` column (OSM value) and optionally ``levels``
        (as from :func:`coverage.osm_features.read_osm_buildings`). Buildings tagged
        ``residential``, ``apartments``, ``house`` (and the other
        :data:`RESIDENTIAL_BUILDING_VALUES`) count everywhere; ``building=yes`` counts only if
        its representative point lies in ``residential`` land use; other values (school,
        commercial, ...) never count. Without a ``building`` column every footprint counts.
    residential
        Residential land-use polygons (as from :func:`coverage.osm_features.read_osm_landuse`).
    points
        Resident points (e.g. residential compounds); a ``population`` or ``weight`` column
        gives their relative weights, else they weigh the same. Points take precedence over
        buildings for the communities they fall in; the other communities fall back to
        buildings, land use or the grid. A ``community_id`` column (as
        :func:`coverage.load.read_origins` writes) assigns each point to its community;
        points without one go to the first community that contains them. An ``origin_id``
        column, if unique, names the origins made from the points.
    grid_m
        Grid spacing in metres for the land-use and whole-community grids.
    default_levels
        Levels assumed for a building whose ``levels`` is unknown. ``None`` (default) uses the
        median of the known levels of the residential buildings given, or 1 if no level is
        known anywhere: a building without a height tag is assumed to be typical of the mapped
        buildings around it, and if no height is known at all every building counts by its
        footprint alone (a constant does not change the shares inside a community).

    Returns
    -------
    geopandas.GeoDataFrame
        Canonical origins in EPSG:4326: ``origin_id`` (``"<community_id>-<n>"``),
        ``community_id``, ``street_id``, ``population`` (float), ``source``
        (``"points"``, ``"building"``, ``"residential_grid"`` or ``"grid"``) and point
        ``geometry``. ``.attrs["communities_without_origins"]`` lists the ids of communities
        with population 0 or missing, which get no origins.

    Raises
    ------
    DataError
        If a required column is missing, ids are duplicated, a population is negative,
        ``grid_m`` is not positive, or a layer has no CRS.
    """
    _validate(communities, grid_m=grid_m)
    if buildings is None and residential is None and points is None:
        check_grid_size(communities, grid_m=grid_m)  # every community gets a grid
    metric = local_metric_crs(communities)
    comm = communities.to_crs(metric)
    bld = _prepare_buildings(buildings, residential, metric=metric, default_levels=default_levels)
    res = _prepare_layer(residential, "residential", metric)
    pts = _prepare_points(points, metric)

    res_index = res.sindex if res is not None and len(res) else None
    bld_index = bld.sindex if bld is not None and len(bld) else None
    pts_by_comm: dict[str, gpd.GeoDataFrame] = {}
    keep_point_ids = False
    if pts is not None and len(pts):
        owner = _assign_points(pts, comm)
        pts_by_comm = {str(k): g for k, g in pts.groupby(owner, sort=False)}
        keep_point_ids = "origin_id" in pts.columns and pts["origin_id"].notna().all()
        keep_point_ids = keep_point_ids and pts["origin_id"].astype(str).is_unique

    records: list[dict[str, object]] = []
    without: list[str] = []
    has_street = "street_id" in comm.columns
    for row in comm.itertuples(index=False):
        cid = str(row.community_id)
        pop = row.population
        street = row.street_id if has_street else None
        if street is not None and not (isinstance(street, float) and math.isnan(street)):
            street = str(street)
        else:
            street = None
        if pop is None or (isinstance(pop, float) and math.isnan(pop)) or float(pop) == 0.0:
            without.append(cid)
            continue
        geom = row.geometry
        if geom is None or geom.is_empty:
            without.append(cid)
            logger.warning("community %s has population %s but no geometry; skipped", cid, pop)
            continue
        mine = pts_by_comm.get(cid)
        labels: list[str] | None = None
        if mine is not None and mine["_w"].sum() > 0:
            locs, weights, source = list(mine.geometry), mine["_w"].to_numpy(dtype=float), "points"
            if keep_point_ids:
                labels = mine["origin_id"].astype(str).tolist()
        else:
            try:
                locs, weights, source = _origins_for(
                    geom,
                    bld=bld,
                    bld_index=bld_index,
                    res=res,
                    res_index=res_index,
                    grid_m=grid_m,
                )
            except DataError as exc:
                msg = f"community {cid}: {exc}"
                raise DataError(msg) from exc
        shares = _allocate(float(pop), weights)
        for i, (pt, share) in enumerate(zip(locs, shares, strict=True), start=1):
            records.append(
                {
                    "origin_id": labels[i - 1] if labels is not None else f"{cid}-{i}",
                    "community_id": cid,
                    "street_id": street,
                    "population": share,
                    "source": source,
                    "geometry": pt,
                }
            )
    if without:
        logger.info(
            "%d communities have population 0 or missing and get no origins: %s%s",
            len(without),
            ", ".join(without[:10]),
            " ..." if len(without) > 10 else "",
        )
    if records:
        out = gpd.GeoDataFrame(records, geometry="geometry", crs=metric).to_crs(4326)
    else:
        out = gpd.GeoDataFrame(
            {c: pd.Series(dtype=object) for c in _ORIGIN_COLUMNS}, geometry=[], crs=4326
        )
    out["population"] = out["population"].astype(float)
    out = out[[*_ORIGIN_COLUMNS[:4], "source", "geometry"]]
    out.attrs["communities_without_origins"] = without
    return out


def population_sources(
    communities: gpd.GeoDataFrame | pd.DataFrame, origins: pd.DataFrame
) -> pd.Series:
    """Where each community's origins come from.

    Parameters
    ----------
    communities
        Communities with ``community_id``.
    origins
        Origins from :func:`spread_population` (``community_id``, ``source``).

    Returns
    -------
    pandas.Series
        Indexed by ``community_id`` (text): ``"points"``, ``"building"``,
        ``"residential_grid"``, ``"grid"``, or ``"none"`` for a community without origins
        (population 0 or missing).
    """
    ids = communities["community_id"].astype(str)
    if "source" in origins.columns and len(origins):
        first = origins.groupby(origins["community_id"].astype(str))["source"].first()
    else:
        first = pd.Series(dtype=object)
    out = first.reindex(ids.to_numpy()).fillna("none").astype(str)
    out.index.name = "community_id"
    out.name = "population_source"
    return out


def compare_points_population(
    communities: gpd.GeoDataFrame,
    points: gpd.GeoDataFrame,
    *,
    tolerance: float = POINTS_POPULATION_TOLERANCE,
) -> pd.DataFrame:
    """Communities whose population points sum far from their population.

    Parameters
    ----------
    communities
        Canonical communities (``community_id``, ``population``, polygons, a CRS).
    points
        Population points with a ``population`` column (a ``weight`` column is relative and
        cannot be compared); each is assigned to one community as in
        :func:`spread_population`.
    tolerance
        Reported when ``|points - population| > tolerance × population``.

    Returns
    -------
    pandas.DataFrame
        One row per community that has points and is reported, sorted by id:
        ``community_id``, ``population``, ``points_population`` and ``ratio`` (points ÷
        population; ``inf`` for a community of population 0 with residents in its points).
        Empty when the points carry no ``population`` column.
    """
    columns = ["community_id", "population", "points_population", "ratio"]
    if points is None or len(points) == 0 or "population" not in points.columns:
        return pd.DataFrame(columns=columns)
    _validate(communities, grid_m=1.0)
    metric = local_metric_crs(communities)
    comm = communities.to_crs(metric)
    pts = _prepare_layer(points, "points", metric)
    if pts is None or len(pts) == 0:
        return pd.DataFrame(columns=columns)
    pts = pts[pts.geometry.geom_type == "Point"]
    owner = _assign_points(pts, comm)
    weight = pd.to_numeric(pts["population"], errors="coerce").fillna(0.0).to_numpy(dtype=float)
    inside = pd.notna(owner)
    sums = pd.Series(weight[inside]).groupby(owner[inside].astype(str)).sum()
    pop = pd.to_numeric(comm["population"], errors="coerce")
    pop.index = comm["community_id"].astype(str).to_numpy()
    rows = []
    for cid, total in sums.items():
        target = float(pop.get(cid, np.nan))
        if math.isnan(target):
            continue
        if abs(total - target) > tolerance * target:
            ratio = total / target if target > 0 else math.inf
            rows.append((cid, target, float(total), ratio))
    return pd.DataFrame(sorted(rows), columns=columns)


# -- internals -----------------------------------------------------------------------------


def _validate(communities: gpd.GeoDataFrame, *, grid_m: float) -> None:
    if not isinstance(communities, gpd.GeoDataFrame):
        msg = f"communities must be a GeoDataFrame, got {type(communities).__name__}"
        raise TypeError(msg)
    missing = [c for c in ("community_id", "population") if c not in communities.columns]
    if missing:
        msg = (
            f"communities: missing column(s) {missing}; load them with coverage.load or "
            "rename the id/population columns"
        )
        raise DataError(msg)
    if communities.crs is None:
        msg = "communities: the layer has no CRS; set one (e.g. .set_crs('EPSG:4326'))"
        raise DataError(msg)
    ids = communities["community_id"].astype(str)
    dup = ids[ids.duplicated()].unique().tolist()
    if dup:
        msg = f"communities: duplicated community_id {dup[:10]}; make the ids unique"
        raise DataError(msg)
    pop = pd.to_numeric(communities["population"], errors="coerce")
    bad = ids[(pop < 0) | np.isinf(pop)].tolist()
    if bad:
        msg = f"communities: negative or infinite population for ids {bad[:10]}; fix the column"
        raise DataError(msg)
    if not (isinstance(grid_m, (int, float)) and grid_m > 0 and math.isfinite(grid_m)):
        msg = f"grid_m must be a positive number of metres, got {grid_m!r}"
        raise DataError(msg)


def _prepare_layer(
    layer: gpd.GeoDataFrame | None, what: str, metric: pyproj.CRS
) -> gpd.GeoDataFrame | None:
    if layer is None or len(layer) == 0:
        return None
    if layer.crs is None:
        msg = f"{what}: the layer has no CRS; set one (e.g. .set_crs('EPSG:4326'))"
        raise DataError(msg)
    out = layer.to_crs(metric)
    out = out[out.geometry.notna() & ~out.geometry.is_empty]
    if what == "residential":
        out = out[out.geometry.geom_type.isin(["Polygon", "MultiPolygon"])].copy()
        out["geometry"] = shapely.make_valid(out.geometry.to_numpy())
    return out.reset_index(drop=True)


def _prepare_buildings(
    buildings: gpd.GeoDataFrame | None,
    residential: gpd.GeoDataFrame | None,
    *,
    metric: pyproj.CRS,
    default_levels: float | None,
) -> gpd.GeoDataFrame | None:
    bld = _prepare_layer(buildings, "buildings", metric)
    if bld is None:
        return None
    bld = bld[bld.geometry.geom_type.isin(["Polygon", "MultiPolygon"])].copy()
    if "building" in bld.columns:
        kind = bld["building"].astype(str).str.lower()
        keep = np.array(kind.isin(RESIDENTIAL_BUILDING_VALUES), dtype=bool)
        generic = kind.isin(_GENERIC_BUILDING_VALUES).to_numpy()
        res = _prepare_layer(residential, "residential", metric)
        if generic.any() and res is not None and len(res):
            reps = shapely.point_on_surface(bld.geometry.to_numpy()[generic])
            hits = res.sindex.query(reps, predicate="intersects")
            inside = np.zeros(len(reps), dtype=bool)
            inside[np.unique(hits[0])] = True
            idx = np.flatnonzero(generic)
            keep[idx[inside]] = True
        bld = bld[keep].copy()
    if bld.empty:
        return None
    levels = (
        pd.to_numeric(bld["levels"], errors="coerce")
        if "levels" in bld.columns
        else pd.Series(np.nan, index=bld.index)
    )
    levels = levels.where(levels > 0)
    if default_levels is None:
        known = levels.dropna()
        fill = float(np.median(known.to_numpy(dtype=float))) if len(known) else 1.0
    else:
        fill = float(default_levels)
        if not fill > 0:
            msg = f"default_levels must be positive, got {default_levels!r}"
            raise DataError(msg)
    bld["levels"] = levels.fillna(fill).astype(float)
    bld["geometry"] = shapely.make_valid(bld.geometry.to_numpy())
    return bld.reset_index(drop=True)


def _prepare_points(points: gpd.GeoDataFrame | None, metric: pyproj.CRS) -> gpd.GeoDataFrame | None:
    pts = _prepare_layer(points, "points", metric)
    if pts is None:
        return None
    pts = pts[pts.geometry.geom_type == "Point"].copy()
    for col in ("population", "weight"):
        if col in pts.columns:
            w = pd.to_numeric(pts[col], errors="coerce")
            if (w < 0).any():
                msg = f"points: column {col!r} has negative values; fix them"
                raise DataError(msg)
            pts["_w"] = w.fillna(0.0).astype(float)
            break
    else:
        pts["_w"] = 1.0
    return pts.reset_index(drop=True)


def _assign_points(pts: gpd.GeoDataFrame, comm: gpd.GeoDataFrame) -> np.ndarray:
    """The community id of each point (None outside every community): the ``community_id``
    it carries if that is a community, else the first community (by row) containing it."""
    ids = comm["community_id"].astype(str).to_numpy()
    owner = np.full(len(pts), None, dtype=object)
    if "community_id" in pts.columns:
        given = pts["community_id"]
        known = (given.notna() & given.astype(str).isin(set(ids))).to_numpy()
        owner[known] = given[known].astype(str).to_numpy()
    else:
        known = np.zeros(len(pts), dtype=bool)
    todo = np.flatnonzero(~known)
    if todo.size:
        geoms = np.asarray(comm.geometry.to_numpy(), dtype=object)
        tree = shapely.STRtree(geoms)
        p_idx, c_idx = tree.query(pts.geometry.to_numpy()[todo], predicate="intersects")
        first = pd.Series(c_idx).groupby(p_idx).min()
        owner[todo[first.index.to_numpy()]] = ids[first.to_numpy()]
    return owner


def _origins_for(
    geom: shapely.Geometry,
    *,
    bld: gpd.GeoDataFrame | None,
    bld_index: object,
    res: gpd.GeoDataFrame | None,
    res_index: object,
    grid_m: float,
) -> tuple[list[shapely.Geometry], np.ndarray, str]:
    """Origin points and weights for one community geometry (metric CRS), without points."""
    if bld is not None and bld_index is not None:
        idx = np.sort(bld.sindex.query(geom, predicate="intersects"))
        if len(idx):
            parts = shapely.intersection(bld.geometry.to_numpy()[idx], geom)
            area = shapely.area(parts)
            ok = area > 0
            if ok.any():
                w = area[ok] * bld["levels"].to_numpy()[idx][ok]
                return list(shapely.point_on_surface(parts[ok])), w, "building"
    if res is not None and res_index is not None:
        idx = np.sort(res.sindex.query(geom, predicate="intersects"))
        if len(idx):
            land = shapely.intersection(shapely.union_all(res.geometry.to_numpy()[idx]), geom)
            if not land.is_empty and land.area > 0:
                locs, w = _grid(land, grid_m)
                return locs, w, "residential_grid"
    locs, w = _grid(geom, grid_m)
    return locs, w, "grid"


def _grid(area: shapely.Geometry, grid_m: float) -> tuple[list[shapely.Geometry], np.ndarray]:
    """Cells of a ``grid_m`` grid aligned on multiples of ``grid_m``, clipped to ``area``."""
    if area.area < grid_m * grid_m:
        return [shapely.point_on_surface(area)], np.array([1.0])
    minx, miny, maxx, maxy = area.bounds
    cells = float(
        (math.floor(maxx / grid_m) - math.floor(minx / grid_m) + 1)
        * (math.floor(maxy / grid_m) - math.floor(miny / grid_m) + 1)
    )  # as _cells counts them, without a frame per community
    if cells > MAX_GRID_CELLS:
        need_m = math.ceil(math.sqrt((maxx - minx) * (maxy - miny) / MAX_GRID_CELLS) / 10.0) * 10
        msg = (
            f"the origin grid of {grid_m:g} m would need {cells:,.0f} cells, more than the "
            f"limit of {MAX_GRID_CELLS:,}; give population points or buildings there, or a "
            f"coarser grid ([residents] grid_m = {need_m} or more)"
        )
        raise DataError(msg)
    xs = np.arange(math.floor(minx / grid_m) * grid_m, maxx, grid_m)
    ys = np.arange(math.floor(miny / grid_m) * grid_m, maxy, grid_m)
    gx, gy = np.meshgrid(xs, ys)
    cells = shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + grid_m, gy.ravel() + grid_m)
    # only the cells the boundary crosses need clipping: a cell inside the area is its own part
    shapely.prepare(area)
    inside = shapely.contains_properly(area, cells)
    parts = cells.copy()
    parts[~inside] = shapely.intersection(cells[~inside], area)
    weights = shapely.area(parts)
    ok = weights > 1e-9 * grid_m * grid_m
    if not ok.any():
        return [shapely.point_on_surface(area)], np.array([1.0])
    return list(shapely.point_on_surface(parts[ok])), weights[ok]


def _allocate(total: float, weights: np.ndarray) -> np.ndarray:
    """Split ``total`` in proportion to ``weights``; the shares sum to ``total``."""
    w = np.asarray(weights, dtype=float)
    if w.sum() <= 0 or not np.isfinite(w).all():
        w = np.ones_like(w)
    shares = total * (w / w.sum())
    big = int(np.argmax(shares))
    shares[big] += total - float(shares.sum())
    return shares
