"""The offline base map: streets, water, green space, railways and names from the case's OSM file.

A map opened without any tile server must still show where things are. This module reads,
from the OSM file the audit already reads, what a planner orients by, and encodes it compactly
for the map's own canvas renderer (``sc_basemap_*`` in ``assets/service-coverage/maps.js``):

* **streets**: the walking network (the ways :func:`coverage.network.is_walkable` keeps), in
  three classes (main roads, streets, paths), and the roads a pedestrian cannot use
  (motorways, ``foot=no``, centre lines whose sidewalks are mapped separately), drawn fainter;
* **railways** above ground, **rivers and canals**, **water** and **green space** (parks,
  gardens, grass, woods) as areas;
* **names**: places (``place=suburb/neighbourhood/...``) and street names.

:func:`read_osm_basemap` reads them once per file and keeps them in the on-disk cache, keyed
by the file's SHA-256 like the buildings of :mod:`coverage.osm_features`.
:func:`encode_basemap` simplifies them for three detail levels (:data:`BASEMAP_LEVELS`:
a town view, a district view, a street view), each with its own simplification tolerance and
coordinate quantum, as delta-coded integers: the demo's base map is about 0.3 MB inside the
HTML file (the budget, :data:`BASEMAP_BUDGET_BYTES`, is 1.5 MB for a case the size of the
demo; a larger case drops detail levels rather than grow past it, see :func:`encode_basemap`).

Names are data: they travel as JSON strings and the page draws them with the canvas
``fillText``, which never parses text as markup.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import osmium
import shapely
from osmium.geom import WKBFactory

from coverage.crs import local_metric_crs
from coverage.errors import DataError
from coverage.network import is_walkable
from coverage.osm_features import _cached_read, _check_path, _name

__all__ = [
    "BASEMAP_BUDGET_BYTES",
    "BASEMAP_KINDS",
    "BASEMAP_LEVELS",
    "BasemapLevel",
    "encode_basemap",
    "read_osm_basemap",
]

logger = logging.getLogger(__name__)

#: Bumped whenever :func:`read_osm_basemap`'s output changes (part of its cache key).
BASEMAP_VERSION = 1

#: The largest base map (bytes of JSON) :func:`encode_basemap` writes by default: for a case
#: the size of the demo (9 km x 8 km of central Chengdu) it writes about a fifth of it.
BASEMAP_BUDGET_BYTES = 1_500_000

#: Every kind of feature, in drawing order (areas first, names last).
BASEMAP_KINDS: tuple[str, ...] = (
    "green",  # area: park, garden, grass, wood
    "water",  # area: lake, pond, reservoir, riverbank
    "river",  # line: river, canal
    "stream",  # line: stream, drain, ditch
    "rail",  # line: railway above ground
    "nowalk",  # line: a road a pedestrian cannot use
    "path",  # line: walkable footway, steps, pedestrian street, cycleway with foot access
    "street",  # line: walkable residential or service street
    "major",  # line: walkable main road (trunk to tertiary)
    "place",  # point: a named place (suburb, neighbourhood, ...)
)

_AREA_KINDS = ("green", "water")
_MAJOR = {
    "trunk",
    "trunk_link",
    "primary",
    "primary_link",
    "secondary",
    "secondary_link",
    "tertiary",
    "tertiary_link",
}
_PATHS = {
    "footway",
    "pedestrian",
    "path",
    "steps",
    "cycleway",
    "track",
    "bridleway",
    "corridor",
}
_NOT_ROADS = {"construction", "proposed", "abandoned", "platform", "raceway", "bus_stop"}
_RAIL = {"rail", "light_rail", "narrow_gauge", "tram", "subway", "monorail"}
_RIVERS = {"river", "canal"}
_STREAMS = {"stream", "drain", "ditch"}
_WATER_LANDUSE = {"reservoir", "basin"}
_GREEN_LEISURE = {"park", "garden", "nature_reserve", "common"}
_GREEN_LANDUSE = {
    "grass",
    "meadow",
    "forest",
    "village_green",
    "recreation_ground",
    "orchard",
}
_GREEN_NATURAL = {"wood", "scrub", "grassland", "heath", "wetland"}
#: place=* values drawn, with their rank (0 most important).
_PLACE_RANK = {
    "city": 0,
    "town": 0,
    "suburb": 1,
    "borough": 1,
    "quarter": 2,
    "village": 2,
    "neighbourhood": 3,
    "hamlet": 3,
    "isolated_dwelling": 3,
}
_AREA_KEYS = ("natural", "landuse", "leisure", "waterway", "water")


@dataclass(frozen=True)
class BasemapLevel:
    """One detail level of the encoded base map.

    Parameters
    ----------
    max_zoom
        The level is drawn up to this zoom (the last level at every zoom above).
    tolerance_m
        Simplification tolerance, metres (topology-preserving, in the local UTM zone).
    quantum_deg
        Coordinates are rounded to multiples of this many degrees.
    kinds
        The kinds of :data:`BASEMAP_KINDS` drawn at this level.
    min_area_m2
        Areas smaller than this are left out.
    min_place_rank
        Places of rank above this (less important) are left out.
    """

    max_zoom: int
    tolerance_m: float
    quantum_deg: float
    kinds: tuple[str, ...]
    min_area_m2: float
    min_place_rank: int


#: Town, district and street views: what each draws and how finely.
BASEMAP_LEVELS: tuple[BasemapLevel, ...] = (
    BasemapLevel(
        max_zoom=13,
        tolerance_m=12.0,
        quantum_deg=1e-4,
        kinds=("green", "water", "river", "rail", "nowalk", "major", "place"),
        min_area_m2=20_000.0,
        min_place_rank=1,
    ),
    BasemapLevel(
        max_zoom=15,
        tolerance_m=3.0,
        quantum_deg=3e-5,
        kinds=(
            "green",
            "water",
            "river",
            "stream",
            "rail",
            "nowalk",
            "street",
            "major",
            "place",
        ),
        min_area_m2=2_000.0,
        min_place_rank=3,
    ),
    BasemapLevel(
        max_zoom=30,
        tolerance_m=0.8,
        quantum_deg=1e-5,
        kinds=BASEMAP_KINDS,
        min_area_m2=0.0,
        min_place_rank=3,
    ),
)


# ---- reading --------------------------------------------------------------------------------


def _line_kind(tags: Mapping[str, str]) -> str | None:
    highway = tags.get("highway")
    if highway is not None:
        if highway in _NOT_ROADS or tags.get("area") == "yes":
            return None
        if not is_walkable(tags):
            return "nowalk"
        if highway in _MAJOR:
            return "major"
        if highway in _PATHS:
            return "path"
        return "street"
    railway = tags.get("railway")
    if railway in _RAIL and tags.get("tunnel") in (None, "no"):
        return "rail"
    waterway = tags.get("waterway")
    if waterway in _RIVERS and tags.get("tunnel") in (None, "no"):
        return "river"
    if waterway in _STREAMS and tags.get("tunnel") in (None, "no"):
        return "stream"
    return None


def _area_kind(tags: Mapping[str, str]) -> str | None:
    if (
        tags.get("natural") == "water"
        or tags.get("landuse") in _WATER_LANDUSE
        or tags.get("waterway") == "riverbank"
    ):
        return "water"
    if (
        tags.get("leisure") in _GREEN_LEISURE
        or tags.get("landuse") in _GREEN_LANDUSE
        or tags.get("natural") in _GREEN_NATURAL
    ):
        return "green"
    return None


def read_osm_basemap(
    path: str | Path,
    *,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
) -> gpd.GeoDataFrame:
    """Read what the offline base map draws from an OSM file.

    Parameters
    ----------
    path
        An ``.osm``, ``.osm.bz2`` or ``.osm.pbf`` file (the case's walking network file).
    cache
        Reuse (and store) the result in the on-disk cache, keyed by the file's SHA-256 and
        :data:`BASEMAP_VERSION` (the rules of :mod:`coverage._io`).
    cache_dir
        The cache folder; default :func:`coverage.network.default_cache_dir`.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326, one row per feature: ``feature_id`` (``n1``, ``w2``, ``r3``), ``kind`` (one
        of :data:`BASEMAP_KINDS`), ``name`` (``name:zh`` if Chinese, else ``name``; empty if
        unnamed), ``rank`` (places: 0 city/town to 3 neighbourhood; NaN otherwise) and
        ``geometry`` (LineString, Polygon/MultiPolygon or Point).

    Raises
    ------
    DataError
        If the file is missing or unreadable.
    """
    p = _check_path(path)
    return _cached_read(
        p,
        "basemap",
        {"basemap_version": BASEMAP_VERSION},
        lambda: _read_basemap(p),
        cache=cache,
        cache_dir=cache_dir,
    )


def _read_basemap(path: Path) -> gpd.GeoDataFrame:
    factory = WKBFactory()
    ids: list[str] = []
    kinds: list[str] = []
    names: list[str] = []
    ranks: list[float] = []
    wkbs: list[bytes] = []
    skipped = 0

    def add(osm_id: str, kind: str, tags: Mapping[str, str], wkb: str, rank: float) -> None:
        ids.append(osm_id)
        kinds.append(kind)
        names.append(_name(tags))
        ranks.append(rank)
        wkbs.append(bytes.fromhex(wkb))

    area_filter = osmium.filter.KeyFilter(*_AREA_KEYS)
    try:
        processor = osmium.FileProcessor(str(path)).with_locations().with_areas(area_filter)
        for obj in processor:
            if isinstance(obj, osmium.osm.Node):
                place = obj.tags.get("place")
                if place not in _PLACE_RANK or not obj.location.valid():
                    continue
                tags = dict(obj.tags)
                if not _name(tags):
                    continue
                add(f"n{obj.id}", "place", tags, factory.create_point(obj), _PLACE_RANK[place])
            elif isinstance(obj, osmium.osm.Way):
                tags = dict(obj.tags)
                kind = _line_kind(tags)
                if kind is None:
                    continue
                try:
                    wkb = factory.create_linestring(obj)
                except (osmium.InvalidLocationError, RuntimeError):
                    skipped += 1  # nodes outside a clipped extract
                    continue
                add(f"w{obj.id}", kind, tags, wkb, np.nan)
            elif isinstance(obj, osmium.osm.Area):
                tags = dict(obj.tags)
                kind = _area_kind(tags)
                if kind is None:
                    continue
                try:
                    wkb = factory.create_multipolygon(obj)
                except (osmium.InvalidLocationError, RuntimeError):
                    skipped += 1
                    continue
                add(f"{'w' if obj.from_way() else 'r'}{obj.orig_id()}", kind, tags, wkb, np.nan)
    except RuntimeError as exc:
        msg = f"{path}: cannot read the OSM file ({exc}); check that it is complete OSM XML/PBF"
        raise DataError(msg) from exc
    if skipped:
        logger.info("%s: %d base map feature(s) with missing node locations skipped", path, skipped)
    geoms = shapely.from_wkb(np.array(wkbs, dtype=object)) if wkbs else []
    frame = gpd.GeoDataFrame(
        {
            "feature_id": ids,
            "kind": kinds,
            "name": names,
            "rank": np.asarray(ranks, dtype=np.float64),
        },
        geometry=list(geoms),
        crs="EPSG:4326",
    )
    logger.info("%s: %d base map features", path, len(frame))
    return frame


# ---- encoding -------------------------------------------------------------------------------

Shift = Callable[[np.ndarray], np.ndarray]


def encode_basemap(
    features: gpd.GeoDataFrame,
    *,
    levels: Sequence[BasemapLevel] = BASEMAP_LEVELS,
    shift: Shift | None = None,
    budget_bytes: int = BASEMAP_BUDGET_BYTES,
) -> dict[str, Any]:
    """The base map as compact JSON-ready data for the map's canvas renderer.

    Parameters
    ----------
    features
        What :func:`read_osm_basemap` returned (EPSG:4326).
    levels
        The detail levels, coarse to fine.
    shift
        A function of an ``(n, 2)`` array of longitude/latitude giving the coordinates to draw
        (the map passes WGS-84 -> GCJ-02 under a GCJ-02 tile server); None draws them as read.
    budget_bytes
        The largest size of the result as JSON: when the levels together are larger, the finest
        levels are dropped (the next coarser one is then drawn at every zoom above it) and a
        warning says so.

    Returns
    -------
    dict
        ``{"kinds": [...], "names": [...], "levels": [...], "labels": [...]}``. Each level:
        ``z`` (its largest zoom), ``q`` (the coordinate quantum, degrees), ``lines`` and
        ``areas`` (per kind index: lines as flat integer lists, the first vertex in quanta and
        then the differences; areas as lists of such rings, outer ring first). ``labels``:
        ``[lon, lat, angle, name, kind, min_zoom]`` with coordinates in 10^-5 degrees, the
        angle in degrees (street names follow their street) and ``name`` an index into
        ``names``.
    """
    import json

    frame = features
    if shift is not None and len(frame):
        frame = frame.set_geometry(shapely.transform(frame.geometry.to_numpy(), shift))
    kinds = list(BASEMAP_KINDS)
    out: dict[str, Any] = {"kinds": kinds, "names": [], "levels": [], "labels": []}
    if not len(frame):
        return out
    metric_crs = local_metric_crs(frame)
    metric = frame.to_crs(metric_crs)
    is_area = metric["kind"].isin(_AREA_KINDS).to_numpy()
    areas_m2 = np.where(is_area, shapely.area(metric.geometry.to_numpy()), np.nan)
    names: dict[str, int] = {}
    for level in levels:
        out["levels"].append(_encode_level(metric, areas_m2, level, kinds))
    out["labels"] = _labels(metric, levels, kinds, names)
    out["names"] = list(names)
    size = len(json.dumps(out, ensure_ascii=False, separators=(",", ":")))
    while size > budget_bytes and len(out["levels"]) > 1:
        dropped = out["levels"].pop()
        out["levels"][-1]["z"] = dropped["z"]
        size = len(json.dumps(out, ensure_ascii=False, separators=(",", ":")))
        logger.warning(
            "the offline base map is larger than its budget (%d bytes): its finest detail "
            "level is left out; zoomed in, the map draws the coarser one",
            budget_bytes,
        )
    return out


def _encode_level(
    metric: gpd.GeoDataFrame, areas_m2: np.ndarray, level: BasemapLevel, kinds: list[str]
) -> dict[str, Any]:
    keep = metric["kind"].isin(level.kinds).to_numpy() & (metric["kind"] != "place").to_numpy()
    keep &= ~(areas_m2 < level.min_area_m2)
    sub = metric[keep]
    geoms = shapely.simplify(sub.geometry.to_numpy(), level.tolerance_m, preserve_topology=True)
    wgs = gpd.GeoSeries(geoms, crs=metric.crs).to_crs(4326).to_numpy()
    scale = 1.0 / level.quantum_deg
    lines: dict[str, list[list[int]]] = {}
    areas: dict[str, list[list[list[int]]]] = {}
    for kind, geom in zip(sub["kind"].to_numpy(), wgs, strict=True):
        if geom is None or geom.is_empty:
            continue
        key = str(kinds.index(kind))
        if kind in _AREA_KINDS:
            for poly in shapely.get_parts(geom):
                if poly.geom_type != "Polygon":
                    continue
                rings = [
                    r
                    for r in (
                        _encode(np.asarray(ring.coords), scale, closed=True)
                        for ring in (poly.exterior, *poly.interiors)
                    )
                    if r is not None
                ]
                if rings:
                    areas.setdefault(key, []).append(rings)
        else:
            for line in shapely.get_parts(geom):
                encoded = _encode(np.asarray(line.coords), scale, closed=False)
                if encoded is not None:
                    lines.setdefault(key, []).append(encoded)
    return {"z": level.max_zoom, "q": level.quantum_deg, "lines": lines, "areas": areas}


def _encode(coords: np.ndarray, scale: float, *, closed: bool) -> list[int] | None:
    """Vertices as quanta: the first absolute, then differences; repeats dropped."""
    q = np.rint(coords[:, :2] * scale).astype(np.int64)
    if closed and len(q) > 1:
        q = q[:-1]
    if len(q) > 1:
        same = np.all(q[1:] == q[:-1], axis=1)
        q = q[np.concatenate([[True], ~same])]
    if len(q) < (3 if closed else 2):
        return None
    d = np.concatenate([q[:1], np.diff(q, axis=0)])
    return [int(v) for v in d.ravel()]


def _labels(
    metric: gpd.GeoDataFrame,
    levels: Sequence[BasemapLevel],
    kinds: list[str],
    names: dict[str, int],
) -> list[list[int]]:
    """Place names (by rank) and street names (one per named street and about 700 m)."""
    out: list[tuple[Any, float, str, str, int]] = []  # point (metric), angle, name, kind, zoom
    places = metric[(metric["kind"] == "place") & (metric["name"] != "")]
    for geom, name, rank in zip(
        places.geometry.to_numpy(), places["name"], places["rank"], strict=True
    ):
        first = next((i for i, lv in enumerate(levels) if lv.min_place_rank >= rank), None)
        if first is None:
            continue
        min_zoom = 0 if first == 0 else levels[first - 1].max_zoom + 1
        out.append((geom, 0.0, str(name), "place", min_zoom))
    roads = metric[metric["kind"].isin(("major", "street", "nowalk")) & (metric["name"] != "")]
    for name, group in roads.groupby("name", sort=True):
        merged = shapely.line_merge(shapely.union_all(group.geometry.to_numpy()))
        parts = sorted(shapely.get_parts(merged), key=lambda g: -g.length)
        placed: list[Any] = []
        major = bool(group["kind"].isin(("major", "nowalk")).any())
        for part in parts:
            if part.length < 200.0:
                break
            n = max(1, int(part.length // 700.0))
            for k in range(n):
                at = (k + 0.5) / n * part.length
                point = shapely.line_interpolate_point(part, at)
                if any(shapely.distance(point, p) < 500.0 for p in placed):
                    continue
                a = shapely.line_interpolate_point(part, max(at - 15.0, 0.0))
                b = shapely.line_interpolate_point(part, min(at + 15.0, part.length))
                placed.append(point)
                out.append((point, _angle(a, b), str(name), "major" if major else "street", 15))
    if not out:
        return []
    wgs = gpd.GeoSeries([o[0] for o in out], crs=metric.crs).to_crs(4326)
    labels = []
    for (_, angle, name, kind, min_zoom), x, y in zip(
        out, wgs.x.to_numpy(), wgs.y.to_numpy(), strict=True
    ):
        index = names.setdefault(name, len(names))
        labels.append(
            [
                round(x * 1e5),
                round(y * 1e5),
                round(angle),
                index,
                kinds.index(kind),
                min_zoom,
            ]
        )
    return labels


def _angle(a: Any, b: Any) -> float:
    """The screen angle (degrees, clockwise, kept within ±90 so text reads left to right)
    of the direction from ``a`` to ``b`` (metric points, y north)."""
    angle = -float(np.degrees(np.arctan2(b.y - a.y, b.x - a.x)))
    if angle > 90:
        angle -= 180
    elif angle < -90:
        angle += 180
    return angle
