"""Service POIs, buildings and land use from the OSM file that also gives the walking network.

Reads ``.osm``, ``.osm.bz2`` and ``.osm.pbf`` (any format libosmium reads) with pyosmium's
:class:`osmium.FileProcessor`, node locations and area assembly switched on. Closed ways and
multipolygon relations become polygons; an extract clipped from a larger file keeps ways whose
nodes lie outside it, and the polygons of such ways cannot be built: they are skipped, counted
and logged, never a crash.

Ids keep the OSM object type: ``n123`` (node), ``w456`` (way, or area built from a closed way),
``r789`` (area built from a multipolygon relation).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import osmium
import pandas as pd
import shapely
from osmium.geom import WKBFactory

from coverage._io import default_cache_dir, file_sha256, read_cached, write_atomically
from coverage.categories import CategoryMap, load_category_map
from coverage.crs import local_metric_crs
from coverage.errors import DataError

__all__ = [
    "SERVICE_TAG_KEYS",
    "read_osm_buildings",
    "read_osm_landuse",
    "read_osm_services",
]

logger = logging.getLogger(__name__)

#: Tags kept (as JSON) in the ``osm_tags`` column of the services layer.
SERVICE_TAG_KEYS: tuple[str, ...] = (
    "amenity",
    "shop",
    "leisure",
    "office",
    "craft",
    "healthcare",
    "social_facility",
    "social_facility:for",
    "sport",
    "cuisine",
    "vending",
    "townhall:type",
    "isced:level",
    "school:type",
    "place",
    "building",
    "brand",
    "operator",
    "name",
    "name:zh",
    "name:en",
)

_SUFFIXES = (".osm", ".osm.bz2", ".osm.gz", ".osm.pbf", ".pbf", ".o5m", ".opl")
_NAME_TAGS = ("name:zh", "name:zh-Hans", "name", "name:en")


@dataclass
class _Feature:
    osm_id: str
    tags: dict[str, str]
    geometry: shapely.Geometry
    is_area: bool


@dataclass
class _ReadStats:
    skipped_ways: int = 0
    skipped_areas: int = 0
    skipped_ids: list[str] | None = None


def _check_path(path: str | Path) -> Path:
    p = Path(path)
    if not p.is_file():
        msg = f"{p}: OSM file not found; pass an existing .osm, .osm.bz2 or .osm.pbf file"
        raise DataError(msg)
    if not p.name.lower().endswith(_SUFFIXES):
        msg = (
            f"{p}: not an OSM file by its name; expected one of {', '.join(_SUFFIXES)} "
            "(rename the file if it is OSM data)"
        )
        raise DataError(msg)
    return p


def _read(
    path: Path,
    wanted: Callable[[Mapping[str, str]], bool],
    *,
    nodes: bool,
    open_ways: bool,
) -> tuple[list[_Feature], _ReadStats]:
    """One pass over the file: features whose tags pass ``wanted``.

    Closed ways and multipolygon relations are taken from the assembled areas; a candidate
    whose area could not be assembled (missing node locations in a clipped extract) is counted
    in the returned stats.
    """
    factory = WKBFactory()
    features: list[_Feature] = []
    area_candidates: set[str] = set()
    areas_built: set[str] = set()
    stats = _ReadStats()
    try:
        processor = osmium.FileProcessor(str(path)).with_locations().with_areas()
        for obj in processor:
            if isinstance(obj, osmium.osm.Node):
                if not nodes:
                    continue
                tags = dict(obj.tags)
                if not tags or not wanted(tags):
                    continue
                loc = obj.location
                if not loc.valid():
                    continue
                features.append(
                    _Feature(f"n{obj.id}", tags, shapely.Point(loc.lon, loc.lat), is_area=False)
                )
            elif isinstance(obj, osmium.osm.Way):
                tags = dict(obj.tags)
                if not tags or not wanted(tags):
                    continue
                if obj.is_closed() and tags.get("area") != "no":
                    area_candidates.add(f"w{obj.id}")
                    continue
                if not open_ways:
                    continue
                try:
                    wkb = factory.create_linestring(obj)
                except (osmium.InvalidLocationError, RuntimeError):
                    stats.skipped_ways += 1
                    continue
                line = shapely.from_wkb(bytes.fromhex(wkb))
                features.append(_Feature(f"w{obj.id}", tags, line, is_area=False))
            elif isinstance(obj, osmium.osm.Relation):
                tags = dict(obj.tags)
                if tags.get("type") in ("multipolygon", "boundary") and wanted(tags):
                    area_candidates.add(f"r{obj.id}")
            elif isinstance(obj, osmium.osm.Area):
                tags = dict(obj.tags)
                if not tags or not wanted(tags):
                    continue
                osm_id = f"{'w' if obj.from_way() else 'r'}{obj.orig_id()}"
                try:
                    wkb = factory.create_multipolygon(obj)
                except (osmium.InvalidLocationError, RuntimeError):
                    continue
                geom = shapely.from_wkb(bytes.fromhex(wkb))
                if geom.is_empty:
                    continue
                if len(geom.geoms) == 1:
                    geom = geom.geoms[0]
                areas_built.add(osm_id)
                features.append(_Feature(osm_id, tags, geom, is_area=True))
    except RuntimeError as exc:
        msg = f"{path}: cannot read the OSM file ({exc}); check that it is complete OSM XML/PBF"
        raise DataError(msg) from exc
    missing = sorted(area_candidates - areas_built, key=_id_sort_key)
    stats.skipped_areas = len(missing)
    stats.skipped_ids = missing
    if missing:
        logger.warning(
            "%s: %d area(s) could not be built and were skipped (node locations missing, "
            "usually a clipped extract; or broken multipolygons): %s%s",
            path,
            len(missing),
            ", ".join(missing[:10]),
            " ..." if len(missing) > 10 else "",
        )
    if stats.skipped_ways:
        logger.warning(
            "%s: %d open way(s) with missing node locations were skipped",
            path,
            stats.skipped_ways,
        )
    features.sort(key=lambda f: _id_sort_key(f.osm_id))
    return features, stats


def _id_sort_key(osm_id: str) -> tuple[int, int]:
    return ("nwr".index(osm_id[0]), int(osm_id[1:]))


def _metric_areas(geoms: list[shapely.Geometry]) -> np.ndarray:
    """Areas in m² in the local UTM zone (NaN for non-polygons)."""
    out = np.full(len(geoms), np.nan)
    if not geoms:
        return out
    series = gpd.GeoSeries(geoms, crs="EPSG:4326")
    polygonal = np.array([g.geom_type in ("Polygon", "MultiPolygon") for g in geoms])
    if polygonal.any():
        metric = series[polygonal].to_crs(local_metric_crs(series[polygonal]))
        out[polygonal] = metric.area.to_numpy()
    return out


_CJK = re.compile(r"[\u3400-\u9fff]")


def _name(tags: Mapping[str, str]) -> str:
    """``name:zh`` if it is Chinese (it sometimes holds English), else ``name``, else any."""
    for key in _NAME_TAGS:
        value = tags.get(key)
        if value and _CJK.search(str(value)):
            return str(value)
    for key in _NAME_TAGS:
        value = tags.get(key)
        if value:
            return str(value)
    return ""


def _empty(columns: list[str]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({c: pd.Series(dtype=object) for c in columns}, geometry=[], crs=4326)


def read_osm_services(
    path: str | Path,
    *,
    category_map: CategoryMap | None = None,
    keep_areas: bool = True,
) -> gpd.GeoDataFrame:
    """Read service POIs of every category from an OSM file.

    Parameters
    ----------
    path
        An ``.osm``, ``.osm.bz2`` or ``.osm.pbf`` file.
    category_map
        The category mapping; the shipped one (:func:`coverage.categories.load_category_map`)
        by default.
    keep_areas
        Keep the polygon of an object mapped as an area (a sports ground, a park, a school
        compound), so that area rules measure the union of overlapping grounds (a pitch inside
        a sports centre counts once); reach rules and maps use a point on its surface. False
        replaces every polygon by such a point (area still in ``area_m2``).

    Returns
    -------
    geopandas.GeoDataFrame
        The canonical services layer in EPSG:4326, one row per OSM object that serves at least
        one category, sorted by id: ``service_id`` (``n123``, ``w456``, ``r789``), ``name``
        (``name:zh``, else ``name``; empty if unnamed), ``category`` (the primary category),
        ``categories`` (every category served, ``;``-joined, primary first), ``area_m2``
        (polygon area in the local UTM zone; NaN for nodes), ``windows`` (NaN), ``osm_tags``
        (the tags of :data:`SERVICE_TAG_KEYS` as a JSON object) and ``geometry`` (a point for a
        node; the polygon of an area, or with ``keep_areas=False`` a point on its surface).

    Raises
    ------
    DataError
        If the file is missing or unreadable.
    """
    cmap = category_map if category_map is not None else load_category_map()
    p = _check_path(path)

    def wanted(tags: Mapping[str, str]) -> bool:
        return bool(cmap.classify_osm_tags_all(tags))

    features, _ = _read(p, wanted, nodes=True, open_ways=True)
    columns = [
        "service_id",
        "name",
        "category",
        "categories",
        "area_m2",
        "windows",
        "osm_tags",
    ]
    if not features:
        logger.info("%s: no service POIs found", p)
        return _empty(columns)
    geoms = [f.geometry for f in features]
    areas = _metric_areas(
        [g if f.is_area else shapely.Point() for f, g in zip(features, geoms, strict=True)]
    )
    cats = [cmap.classify_osm_tags_all(f.tags) for f in features]
    points = [
        g if g.geom_type == "Point" or (keep_areas and f.is_area) else shapely.point_on_surface(g)
        for f, g in zip(features, geoms, strict=True)
    ]
    frame = gpd.GeoDataFrame(
        {
            "service_id": [f.osm_id for f in features],
            "name": [_name(f.tags) for f in features],
            "category": [c[0] for c in cats],
            "categories": [";".join(c) for c in cats],
            "area_m2": areas,
            "windows": np.full(len(features), np.nan),
            "osm_tags": [_tags_json(f.tags) for f in features],
        },
        geometry=points,
        crs="EPSG:4326",
    )
    counts = frame["category"].value_counts()
    logger.info(
        "%s: %d service POIs (%s)",
        p,
        len(frame),
        ", ".join(f"{k} {v}" for k, v in counts.items()),
    )
    return frame


def _tags_json(tags: Mapping[str, str]) -> str:
    kept = {k: tags[k] for k in SERVICE_TAG_KEYS if k in tags}
    return json.dumps(kept, ensure_ascii=False, sort_keys=True)


_LEVELS = re.compile(r"\d+(?:\.\d+)?")


def _parse_levels(value: str | None) -> float:
    """``building:levels`` as a number: the largest number in the value, NaN if none."""
    if not value:
        return math.nan
    numbers = [float(x) for x in _LEVELS.findall(str(value))]
    numbers = [x for x in numbers if 0 < x < 300]
    return max(numbers) if numbers else math.nan


def read_osm_buildings(
    path: str | Path,
    *,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
) -> gpd.GeoDataFrame:
    """Read building footprints from an OSM file.

    Parameters
    ----------
    path
        An ``.osm``, ``.osm.bz2`` or ``.osm.pbf`` file.
    cache
        Reuse (and store) the result in the on-disk cache, keyed by the file's SHA-256, the
        reader's version and its parameters: reading the frame back costs a small fraction of
        reading the OSM file.
    cache_dir
        The cache folder; default :func:`coverage.network.default_cache_dir` (the network
        cache's folder; these entries live in its ``osm-features`` sub-folder).

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326, one row per building polygon (closed way or multipolygon), sorted by id:
        ``building_id`` (``w456``/``r789``), ``building`` (the tag value: ``residential``,
        ``apartments``, ``yes``...), ``levels`` (from ``building:levels``, NaN if absent or not
        a number), ``name``, ``area_m2`` (footprint area in the local UTM zone), ``geometry``.
        Buildings whose nodes are missing from a clipped extract are skipped and counted in the
        log.

    Raises
    ------
    DataError
        If the file is missing or unreadable.
    """
    p = _check_path(path)
    return _cached_read(
        p, "buildings", {}, lambda: _read_buildings(p), cache=cache, cache_dir=cache_dir
    )


def _read_buildings(p: Path) -> gpd.GeoDataFrame:
    def wanted(tags: Mapping[str, str]) -> bool:
        value = tags.get("building")
        return bool(value) and value != "no"

    features, _ = _read(p, wanted, nodes=False, open_ways=False)
    columns = ["building_id", "building", "levels", "name", "area_m2"]
    if not features:
        return _empty(columns)
    geoms = [f.geometry for f in features]
    frame = gpd.GeoDataFrame(
        {
            "building_id": [f.osm_id for f in features],
            "building": [f.tags.get("building", "yes") for f in features],
            "levels": np.array([_parse_levels(f.tags.get("building:levels")) for f in features]),
            "name": [_name(f.tags) for f in features],
            "area_m2": _metric_areas(geoms),
        },
        geometry=geoms,
        crs="EPSG:4326",
    )
    logger.info("%s: %d building footprints", p, len(frame))
    return frame


def read_osm_landuse(
    path: str | Path,
    *,
    values: Iterable[str] = ("residential",),
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
) -> gpd.GeoDataFrame:
    """Read land-use polygons from an OSM file.

    Parameters
    ----------
    path
        An ``.osm``, ``.osm.bz2`` or ``.osm.pbf`` file.
    values
        The ``landuse=*`` values to keep.
    cache, cache_dir
        As for :func:`read_osm_buildings` (the values kept are part of the cache key).

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326, one row per polygon, sorted by id: ``landuse_id`` (``w456``/``r789``),
        ``landuse``, ``name``, ``area_m2``, ``geometry``.

    Raises
    ------
    DataError
        If the file is missing or unreadable.
    """
    p = _check_path(path)
    keep = frozenset([values]) if isinstance(values, str) else frozenset(values)
    return _cached_read(
        p,
        "landuse",
        {"values": sorted(keep)},
        lambda: _read_landuse(p, keep),
        cache=cache,
        cache_dir=cache_dir,
    )


def _read_landuse(p: Path, keep: frozenset[str]) -> gpd.GeoDataFrame:
    def wanted(tags: Mapping[str, str]) -> bool:
        return tags.get("landuse") in keep

    features, _ = _read(p, wanted, nodes=False, open_ways=False)
    columns = ["landuse_id", "landuse", "name", "area_m2"]
    if not features:
        return _empty(columns)
    geoms = [f.geometry for f in features]
    frame = gpd.GeoDataFrame(
        {
            "landuse_id": [f.osm_id for f in features],
            "landuse": [f.tags.get("landuse", "") for f in features],
            "name": [_name(f.tags) for f in features],
            "area_m2": _metric_areas(geoms),
        },
        geometry=geoms,
        crs="EPSG:4326",
    )
    logger.info("%s: %d landuse polygons (%s)", p, len(frame), ", ".join(sorted(keep)))
    return frame


# ---- cache: the frames read from an OSM file, by the file's SHA-256 -----------------------

#: Bumped whenever a cached reader's output changes (columns, ids, geometry rules), so that
#: older cached reads are not used: the version is part of the cache key.
OSM_FEATURES_VERSION = 1

#: The cache's sub-folder (next to the network cache's ``networks``).
_CACHE_SUBDIR = "osm-features"


def _cached_read(
    path: Path,
    reader: str,
    params: Mapping[str, Any],
    read: Callable[[], gpd.GeoDataFrame],
    *,
    cache: bool,
    cache_dir: str | os.PathLike[str] | None,
) -> gpd.GeoDataFrame:
    """``read()``, or its result from the cache when this file was read the same way before.

    The key is the file's SHA-256, the reader (and :data:`OSM_FEATURES_VERSION`) and its
    parameters. Writes are atomic and an unreadable entry is read again from the file, with a
    warning (the rules of :mod:`coverage._io`, shared with the network cache).
    """
    if not cache:
        return read()
    content_hash = file_sha256(path)
    key_text = json.dumps(
        [content_hash, reader, OSM_FEATURES_VERSION, dict(params)], sort_keys=True
    )
    key = hashlib.sha256(key_text.encode()).hexdigest()[:32]
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    entry = folder / _CACHE_SUBDIR / f"{reader}-{key}.npz"
    frame = read_cached(entry, _load_frame, what="OSM features cache", source=path, log=logger)
    if frame is not None:
        logger.info("%s: %s read from cache %s", path, reader, entry)
        return frame
    frame = read()
    meta = {
        "reader": reader,
        "version": OSM_FEATURES_VERSION,
        "params": dict(params),
        "osm_file": str(path),
        "osm_sha256": content_hash,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    try:
        arrays = _frame_arrays(frame, meta)
        write_atomically(entry, lambda stream: np.savez(stream, **arrays))  # type: ignore[arg-type]
    except OSError as exc:
        logger.warning("could not write the OSM features cache %s: %s", entry, exc)
    return frame


def _frame_arrays(frame: gpd.GeoDataFrame, meta: dict[str, Any]) -> dict[str, np.ndarray]:
    """A reader's frame as plain arrays (no pickle): float columns as they are, text columns
    as fixed-width unicode, geometries as WKB bytes with offsets."""
    arrays: dict[str, np.ndarray] = {}
    columns: list[list[str]] = []
    for i, name in enumerate(c for c in frame.columns if c != frame.geometry.name):
        values = frame[name]
        if pd.api.types.is_float_dtype(values.dtype):
            arrays[f"col{i}"] = values.to_numpy(dtype=np.float64)
            columns.append([name, "float"])
        else:
            text = values.tolist()
            if not all(isinstance(v, str) and not v.endswith("\0") for v in text):
                msg = f"column {name!r} is neither float nor text"
                raise TypeError(msg)
            arrays[f"col{i}"] = np.array(text, dtype=str)
            columns.append([name, "str"])
    wkb = shapely.to_wkb(frame.geometry.to_numpy())
    ptr = np.zeros(len(wkb) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in wkb], out=ptr[1:])
    arrays["wkb"] = np.frombuffer(b"".join(wkb), dtype=np.uint8)
    arrays["wkb_ptr"] = ptr
    record = meta | {"columns": columns, "rows": len(frame), "crs": "EPSG:4326"}
    arrays["meta"] = np.frombuffer(json.dumps(record, ensure_ascii=False).encode(), np.uint8)
    return arrays


def _load_frame(path: Path) -> gpd.GeoDataFrame:
    """The frame :func:`_frame_arrays` stored."""
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(data["meta"].tobytes().decode())
        arrays = {k: data[k] for k in data.files if k != "meta"}
    names = [name for name, _ in meta["columns"]]
    rows = int(meta["rows"])
    if rows == 0:
        return _empty(names)
    raw = arrays["wkb"].tobytes()
    ptr = arrays["wkb_ptr"].tolist()
    if len(ptr) != rows + 1 or ptr[-1] != len(raw):
        msg = f"{rows} rows but {len(ptr) - 1} geometries ({len(raw)} bytes, {ptr[-1]} expected)"
        raise ValueError(msg)
    wkb = np.empty(rows, dtype=object)
    wkb[:] = [raw[a:b] for a, b in pairwise(ptr)]
    columns: dict[str, Any] = {}
    for i, (name, kind) in enumerate(meta["columns"]):
        values = arrays[f"col{i}"]
        if values.shape != (rows,):
            msg = f"column {name!r} has {values.shape[0]} values for {rows} rows"
            raise ValueError(msg)
        columns[name] = values.astype(np.float64) if kind == "float" else values.tolist()
    return gpd.GeoDataFrame(columns, geometry=shapely.from_wkb(wkb), crs=meta["crs"])
