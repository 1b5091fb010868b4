"""Residential origins cached on disk, keyed by everything they are made from.

Spreading the population over buildings or grid cells
(:func:`coverage.population.spread_population`) clips every building and every boundary cell to
its community with GEOS; on the demo case that was a third of a warm audit, and it gives the
same origins every time the inputs are the same.
:func:`cached_spread_population` stores the origins in the ``origins/`` folder of the cache
(next to ``networks/`` and ``osm-features/``) under a key made of:

- the communities and the population points exactly as the population step receives them
  (every column's values, the geometries' WKB and the CRS: whatever file, column mapping or CRS
  declaration made them, a different frame is a different key);
- a key of the buildings and land use, given by the caller: for an OSM file its SHA-256 and
  :data:`coverage.osm_features.OSM_FEATURES_VERSION`, for a vector layer the layer's contents;
- the settings that change the result (``grid_m``, ``default_levels``);
- the code: :data:`ORIGINS_FORMAT_VERSION`, the SHA-256 of the source of
  :mod:`coverage.population` and :mod:`coverage.osm_features` (any edit makes new keys) and the
  shapely and GEOS versions that clip the polygons.

A changed byte of any input therefore misses the cache, and the origins read back are the very
frame :func:`~coverage.population.spread_population` returned (same columns, dtypes, values and
coordinates, bit for bit). Entries follow the rules of :mod:`coverage._io`: atomic writes, and
an unreadable entry is computed again with a warning.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from geopandas.array import GeometryDtype

import coverage.osm_features
import coverage.population
from coverage._io import default_cache_dir, read_cached, write_atomically
from coverage.population import spread_population

__all__ = [
    "ORIGINS_FORMAT_VERSION",
    "cached_spread_population",
    "frame_digest",
]

logger = logging.getLogger(__name__)

#: Bumped whenever the stored layout changes; part of the key.
ORIGINS_FORMAT_VERSION = 1

#: The cache's sub-folder for origins.
ORIGINS_CACHE_SUBDIR = "origins"

#: The columns of the origins, in order, and which hold text (the others are float).
_TEXT_COLUMNS = ("origin_id", "community_id", "street_id", "source")
_COLUMNS = ("origin_id", "community_id", "street_id", "population", "source")

Layers = tuple[gpd.GeoDataFrame | None, gpd.GeoDataFrame | None]


def frame_digest(frame: pd.DataFrame | None) -> str:
    """SHA-256 of a frame's contents: column names, dtypes, values, geometries (WKB) and CRS.

    Two frames with the same digest hold the same values in the same order; any changed value,
    row, column name, dtype, coordinate or CRS gives another digest. The index is left out
    (the population step does not read it).

    Parameters
    ----------
    frame
        A (Geo)DataFrame, or None (which has a digest of its own).
    """
    digest = hashlib.sha256()
    if frame is None:
        digest.update(b"none")
        return digest.hexdigest()
    crs = getattr(frame, "crs", None) if isinstance(frame, gpd.GeoDataFrame) else None
    digest.update(f"rows={len(frame)};crs={crs.to_wkt() if crs is not None else None}".encode())
    for name in frame.columns:
        values = frame[name]
        digest.update(f"\x1e{name!r}:{values.dtype}\x1f".encode())
        if isinstance(values.dtype, GeometryDtype):
            wkb = shapely.to_wkb(values.to_numpy(), include_srid=False)
            digest.update(np.array([len(b) if b is not None else -1 for b in wkb]).tobytes())
            digest.update(b"".join(b for b in wkb if b is not None))
        elif isinstance(values.dtype, np.dtype) and values.dtype.kind in "biuf":
            # plain numeric arrays by their bytes; anything else (objects, nullable or
            # extension types, text) by the repr of each value, never by object pointers
            digest.update(np.ascontiguousarray(values.to_numpy()).tobytes())
        else:
            digest.update("\x1f".join(repr(v) for v in values.tolist()).encode())
    return digest.hexdigest()


@cache
def _code_digest() -> str:
    """The source of the modules that make the origins, and the geometry library versions."""
    digest = hashlib.sha256()
    for module in (coverage.population, coverage.osm_features):
        digest.update(inspect.getsource(module).encode())
    digest.update(f"shapely {shapely.__version__}; GEOS {shapely.geos_version_string}".encode())
    return digest.hexdigest()


def origins_cache_key(
    communities: gpd.GeoDataFrame,
    *,
    points: gpd.GeoDataFrame | None,
    layers_key: str,
    grid_m: float,
    default_levels: float | None = None,
) -> str:
    """The cache key of the origins of these inputs (see the module's description)."""
    text = json.dumps(
        {
            "format": ORIGINS_FORMAT_VERSION,
            "code": _code_digest(),
            "communities": frame_digest(communities),
            "points": frame_digest(points),
            "layers": layers_key,
            "grid_m": repr(float(grid_m)),
            "default_levels": None if default_levels is None else repr(float(default_levels)),
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def cached_spread_population(
    communities: gpd.GeoDataFrame,
    *,
    layers: Callable[[], Layers],
    layers_key: str,
    points: gpd.GeoDataFrame | None = None,
    grid_m: float = 50.0,
    default_levels: float | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    cache: bool = True,
) -> gpd.GeoDataFrame:
    """:func:`coverage.population.spread_population`, read from the on-disk cache when the same
    inputs were spread before.

    Parameters
    ----------
    communities, points, grid_m, default_levels
        As for :func:`~coverage.population.spread_population`.
    layers
        Gives the buildings and the residential land use (either may be None); called only
        when the origins are not in the cache.
    layers_key
        What identifies those two layers' contents (for an OSM file: its SHA-256 and the
        reader's version; for a vector layer: :func:`frame_digest` of it). Two different
        contents must never share a key.
    cache_dir
        The cache folder; default :func:`coverage._io.default_cache_dir`.
    cache
        False: always compute, never read or write the cache.

    Returns
    -------
    geopandas.GeoDataFrame
        The origins, identical to what ``spread_population`` returns for these inputs.
    """
    if not cache:
        buildings, residential = layers()
        return spread_population(
            communities,
            buildings=buildings,
            residential=residential,
            points=points,
            grid_m=grid_m,
            default_levels=default_levels,
        )
    key = origins_cache_key(
        communities,
        points=points,
        layers_key=layers_key,
        grid_m=grid_m,
        default_levels=default_levels,
    )
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    entry = folder / ORIGINS_CACHE_SUBDIR / f"origins-{key}.npz"
    found = read_cached(
        entry, _load_origins, what="origins cache", source="the population step", log=logger
    )
    if found is not None:
        logger.info("origins read from cache %s", entry)
        return found
    buildings, residential = layers()
    origins = spread_population(
        communities,
        buildings=buildings,
        residential=residential,
        points=points,
        grid_m=grid_m,
        default_levels=default_levels,
    )
    if len(origins) and list(origins.columns) == [*_COLUMNS, "geometry"]:
        try:
            arrays = _origin_arrays(origins, key=key)
            write_atomically(entry, lambda stream: np.savez(stream, **arrays))  # type: ignore[arg-type]
        except OSError as exc:
            logger.warning("could not write the origins cache %s: %s", entry, exc)
    return origins


def _origin_arrays(origins: gpd.GeoDataFrame, *, key: str) -> dict[str, np.ndarray]:
    """The origins as plain arrays (no pickle): text columns as fixed-width unicode with a mask
    of the missing values (``street_id`` may be missing), population as float, the points as
    WKB bytes with offsets."""
    arrays: dict[str, np.ndarray] = {}
    for name in _TEXT_COLUMNS:
        values = origins[name].tolist()
        missing = np.array([v is None or (isinstance(v, float) and v != v) for v in values])
        text = ["" if m else v for v, m in zip(values, missing, strict=True)]
        if not all(isinstance(v, str) and not v.endswith("\0") for v in text):
            msg = f"origins column {name!r} holds values that are not text"
            raise TypeError(msg)
        arrays[name] = np.array(text, dtype=str)
        arrays[f"{name}_missing"] = missing.astype(bool)
    arrays["population"] = origins["population"].to_numpy(dtype=np.float64)
    wkb = shapely.to_wkb(origins.geometry.to_numpy())
    ptr = np.zeros(len(wkb) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in wkb], out=ptr[1:])
    arrays["wkb"] = np.frombuffer(b"".join(wkb), dtype=np.uint8)
    arrays["wkb_ptr"] = ptr
    meta: dict[str, Any] = {
        "reader": "origins",
        "version": ORIGINS_FORMAT_VERSION,
        "key": key,
        "rows": len(origins),
        "crs": origins.crs.to_string() if origins.crs is not None else None,
        "communities_without_origins": [
            str(c) for c in origins.attrs.get("communities_without_origins", [])
        ],
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    arrays["meta"] = np.frombuffer(json.dumps(meta, ensure_ascii=False).encode(), np.uint8)
    return arrays


def _load_origins(path: Path) -> gpd.GeoDataFrame:
    """The origins :func:`_origin_arrays` stored."""
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(data["meta"].tobytes().decode())
        arrays = {k: data[k] for k in data.files if k != "meta"}
    rows = int(meta["rows"])
    raw = arrays["wkb"].tobytes()
    ptr = arrays["wkb_ptr"].tolist()
    if len(ptr) != rows + 1 or ptr[-1] != len(raw):
        msg = f"{rows} rows but {len(ptr) - 1} geometries ({len(raw)} bytes, {ptr[-1]} expected)"
        raise ValueError(msg)
    wkb = np.empty(rows, dtype=object)
    wkb[:] = [raw[a:b] for a, b in pairwise(ptr)]
    columns: dict[str, Any] = {}
    for name in _COLUMNS:
        if name == "population":
            values = arrays["population"].astype(np.float64)
            if values.shape != (rows,):
                msg = f"column 'population' has {values.shape[0]} values for {rows} rows"
                raise ValueError(msg)
            columns[name] = values
            continue
        text, missing = arrays[name], arrays[f"{name}_missing"]
        if text.shape != (rows,) or missing.shape != (rows,):
            msg = f"column {name!r} has {text.shape[0]} values for {rows} rows"
            raise ValueError(msg)
        listed: list[str | None] = text.tolist()
        for i in np.flatnonzero(missing):
            listed[i] = None
        columns[name] = listed
    out = gpd.GeoDataFrame(columns, geometry=shapely.from_wkb(wkb), crs=meta["crs"])
    out.attrs["communities_without_origins"] = list(meta["communities_without_origins"])
    return out
