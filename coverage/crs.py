"""Coordinate systems: GCJ-02 and BD-09 to WGS-84, and the local metric CRS.

Chinese web maps publish coordinates in two offset systems that are *not* EPSG CRSs:

* **GCJ-02** ("Mars coordinates"), used by Amap/Gaode, Tencent and Google Maps in China. It is
  WGS-84 shifted by a published, deliberately non-linear function of position (300-600 m in
  Chinese cities). Files in GCJ-02 usually *declare* EPSG:4326, which is wrong.
* **BD-09**, used by Baidu Maps: GCJ-02 with a further rotation and shift.

The forward transforms (WGS-84 -> GCJ-02 -> BD-09) are the well-known public formulas (Krasovsky
ellipsoid constants ``a = 6378245.0``, ``ee = 0.00669342162296594323``; points outside China's
rectangle are left unchanged). The inverses are computed by fixed-point iteration on the forward
transforms, so that a round trip agrees to well under a centimetre (the common one-step inverse
is off by 1-2 m).

:func:`to_wgs84` converts every coordinate of a GeoDataFrame, and :func:`local_metric_crs`
chooses the UTM zone used for every metric computation (areas, overlaps, distances in metres).
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any, overload

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from coverage.errors import DataError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import ArrayLike, NDArray

__all__ = [
    "COORDINATE_SYSTEMS",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "local_metric_crs",
    "to_wgs84",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

logger = logging.getLogger(__name__)

#: The offset coordinate systems understood by :func:`to_wgs84` besides EPSG CRSs.
COORDINATE_SYSTEMS: tuple[str, ...] = ("wgs84", "gcj02", "bd09")

_A = 6378245.0  # semi-major axis of the Krasovsky 1940 ellipsoid, as used by GCJ-02
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = math.pi * 3000.0 / 180.0
# China's rectangle in the published algorithm: points outside are not shifted.
_CHINA_LON = (73.66, 135.05)
_CHINA_LAT = (3.86, 53.55)
_TOLERANCE_DEG = 1e-7  # ~1 cm; the iterations are contractions, the final error is far smaller
_MAX_ITERATIONS = 30
# EPSG codes of geographic CRSs whose lon/lat may carry GCJ-02 or BD-09 offsets.
_GEOGRAPHIC_EPSG = (4326, 4490)

_Coords = tuple[Any, Any]


def _as_arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    x = np.asarray(lon, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    x, y = np.broadcast_arrays(x, y)
    return x, y


def _result(x: NDArray[np.float64], y: NDArray[np.float64], *, scalar: bool) -> tuple[Any, Any]:
    if scalar:
        return float(x), float(y)
    return x, y


def _is_scalar(lon: ArrayLike, lat: ArrayLike) -> bool:
    return bool(np.ndim(lon) == 0 and np.ndim(lat) == 0)


def _in_china(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.bool_]:
    return (x >= _CHINA_LON[0]) & (x <= _CHINA_LON[1]) & (y >= _CHINA_LAT[0]) & (y <= _CHINA_LAT[1])


def _gcj02_delta(
    x: NDArray[np.float64], y: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return the GCJ-02 offset (dlon, dlat) in degrees at WGS-84 points, 0 outside China."""
    u = x - 105.0
    v = y - 35.0
    sqrt_abs_u = np.sqrt(np.abs(u))
    common = (20.0 * np.sin(6.0 * u * np.pi) + 20.0 * np.sin(2.0 * u * np.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * u + 3.0 * v + 0.2 * v * v + 0.1 * u * v + 0.2 * sqrt_abs_u
    dlat += common
    dlat += (20.0 * np.sin(v * np.pi) + 40.0 * np.sin(v / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(v / 12.0 * np.pi) + 320.0 * np.sin(v * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + u + 2.0 * v + 0.1 * u * u + 0.1 * u * v + 0.1 * sqrt_abs_u
    dlon += common
    dlon += (20.0 * np.sin(u * np.pi) + 40.0 * np.sin(u / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(u / 12.0 * np.pi) + 300.0 * np.sin(u / 30.0 * np.pi)) * 2.0 / 3.0
    rad_lat = y / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    inside = _in_china(x, y)
    return np.where(inside, dlon, 0.0), np.where(inside, dlat, 0.0)


def _gcj02_to_bd09(
    x: NDArray[np.float64], y: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    z = np.hypot(x, y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _invert(
    forward: Any,
    x_target: NDArray[np.float64],
    y_target: NDArray[np.float64],
    x_start: NDArray[np.float64],
    y_start: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Solve ``forward(x, y) == target`` by fixed-point iteration from a starting guess.

    Both forward transforms are the identity plus a slowly varying offset, so the iteration
    ``p <- p - (forward(p) - target)`` is a strong contraction.
    """
    x, y = x_start.copy(), y_start.copy()
    for _ in range(_MAX_ITERATIONS):
        fx, fy = forward(x, y)
        step_x = fx - x_target
        step_y = fy - y_target
        x = x - step_x
        y = y - step_y
        finite = np.isfinite(step_x) & np.isfinite(step_y)
        if not finite.any():
            break
        change = max(np.max(np.abs(step_x[finite])), np.max(np.abs(step_y[finite])))
        if change < _TOLERANCE_DEG:
            break
    else:  # pragma: no cover - never observed inside the valid range
        logger.warning("inverse offset transform did not converge in %d steps", _MAX_ITERATIONS)
    return x, y


def _wgs84_to_gcj02(
    x: NDArray[np.float64], y: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    dlon, dlat = _gcj02_delta(x, y)
    return x + dlon, y + dlat


def _gcj02_to_wgs84(
    x: NDArray[np.float64], y: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    dlon, dlat = _gcj02_delta(x, y)
    return _invert(_wgs84_to_gcj02, x, y, x - dlon, y - dlat)


def _bd09_to_gcj02(
    x: NDArray[np.float64], y: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    # The usual closed-form inverse is the starting point; iteration removes its ~1e-6 deg error.
    u = x - 0.0065
    v = y - 0.006
    z = np.hypot(u, v) - 0.00002 * np.sin(v * _X_PI)
    theta = np.arctan2(v, u) - 0.000003 * np.cos(u * _X_PI)
    return _invert(_gcj02_to_bd09, x, y, z * np.cos(theta), z * np.sin(theta))


@overload
def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> _Coords: ...
def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> _Coords:
    """Convert WGS-84 longitude/latitude to GCJ-02.

    Parameters
    ----------
    lon, lat
        Degrees; scalars or arrays of the same shape. Points outside China are unchanged.

    Returns
    -------
    tuple
        ``(lon, lat)`` in GCJ-02, floats for scalar input, float64 arrays otherwise.
    """
    x, y = _as_arrays(lon, lat)
    return _result(*_wgs84_to_gcj02(x, y), scalar=_is_scalar(lon, lat))


@overload
def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> _Coords: ...
def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> _Coords:
    """Convert GCJ-02 longitude/latitude to WGS-84 (iterative exact inverse).

    Parameters
    ----------
    lon, lat
        Degrees; scalars or arrays of the same shape. Points outside China are unchanged.

    Returns
    -------
    tuple
        ``(lon, lat)`` in WGS-84; ``wgs84_to_gcj02`` of the result reproduces the input to
        better than 1e-7 degree (1 cm).
    """
    x, y = _as_arrays(lon, lat)
    return _result(*_gcj02_to_wgs84(x, y), scalar=_is_scalar(lon, lat))


@overload
def gcj02_to_bd09(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> _Coords: ...
def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> _Coords:
    """Convert GCJ-02 longitude/latitude to Baidu BD-09.

    Parameters
    ----------
    lon, lat
        Degrees; scalars or arrays of the same shape.

    Returns
    -------
    tuple
        ``(lon, lat)`` in BD-09.
    """
    x, y = _as_arrays(lon, lat)
    return _result(*_gcj02_to_bd09(x, y), scalar=_is_scalar(lon, lat))


@overload
def bd09_to_gcj02(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> _Coords: ...
def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> _Coords:
    """Convert Baidu BD-09 longitude/latitude to GCJ-02 (iterative exact inverse).

    Parameters
    ----------
    lon, lat
        Degrees; scalars or arrays of the same shape.

    Returns
    -------
    tuple
        ``(lon, lat)`` in GCJ-02.
    """
    x, y = _as_arrays(lon, lat)
    return _result(*_bd09_to_gcj02(x, y), scalar=_is_scalar(lon, lat))


@overload
def wgs84_to_bd09(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> _Coords: ...
def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> _Coords:
    """Convert WGS-84 longitude/latitude to Baidu BD-09 (through GCJ-02).

    Parameters
    ----------
    lon, lat
        Degrees; scalars or arrays of the same shape.

    Returns
    -------
    tuple
        ``(lon, lat)`` in BD-09.
    """
    x, y = _as_arrays(lon, lat)
    return _result(*_gcj02_to_bd09(*_wgs84_to_gcj02(x, y)), scalar=_is_scalar(lon, lat))


@overload
def bd09_to_wgs84(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> _Coords: ...
def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> _Coords:
    """Convert Baidu BD-09 longitude/latitude to WGS-84 (through GCJ-02, both exact inverses).

    Parameters
    ----------
    lon, lat
        Degrees; scalars or arrays of the same shape.

    Returns
    -------
    tuple
        ``(lon, lat)`` in WGS-84.
    """
    x, y = _as_arrays(lon, lat)
    return _result(*_gcj02_to_wgs84(*_bd09_to_gcj02(x, y)), scalar=_is_scalar(lon, lat))


def normalise_coordinate_system(coordinate_system: str | int | pyproj.CRS) -> str | pyproj.CRS:
    """Return ``"wgs84"``, ``"gcj02"``, ``"bd09"`` or a :class:`pyproj.CRS`.

    Parameters
    ----------
    coordinate_system
        ``"wgs84"``, ``"gcj02"``, ``"bd09"`` (case and ``-``/``_`` are ignored, so ``"GCJ-02"``
        works) or anything :meth:`pyproj.CRS.from_user_input` accepts (``"EPSG:4490"``, 4547).

    Returns
    -------
    str or pyproj.CRS

    Raises
    ------
    DataError
        If the value is neither an offset system nor a CRS.
    """
    if isinstance(coordinate_system, str):
        key = coordinate_system.strip().lower().replace("-", "").replace("_", "")
        if key in COORDINATE_SYSTEMS:
            return key
    try:
        return pyproj.CRS.from_user_input(coordinate_system)
    except pyproj.exceptions.CRSError as exc:
        msg = (
            f"unknown coordinate_system {coordinate_system!r}; use one of "
            f"{', '.join(COORDINATE_SYSTEMS)} or an EPSG code such as 'EPSG:4490'"
        )
        raise DataError(msg) from exc


def _is_plain_geographic(crs: pyproj.CRS | None) -> bool:
    if crs is None:
        return True
    return crs.is_geographic and crs.to_epsg() in _GEOGRAPHIC_EPSG


def to_wgs84(
    gdf: gpd.GeoDataFrame,
    *,
    coordinate_system: str | int | pyproj.CRS,
    source: str = "<GeoDataFrame>",
) -> gpd.GeoDataFrame:
    """Return a new GeoDataFrame in EPSG:4326 with true WGS-84 coordinates.

    Parameters
    ----------
    gdf
        Any geometry types. Not changed.
    coordinate_system
        What the coordinates really are:

        * ``"wgs84"``: lon/lat in WGS-84 (or, if ``gdf`` declares a CRS, that CRS; it is
          projected to EPSG:4326). A ``gdf`` without CRS is taken as EPSG:4326.
        * ``"gcj02"`` / ``"bd09"``: lon/lat with the Chinese offsets. ``gdf`` must declare a
          geographic CRS (EPSG:4326 or EPSG:4490) or none at all.
        * an EPSG CRS (``"EPSG:4490"``, ``4547``, a :class:`pyproj.CRS`): the coordinates are in
          that CRS, whatever ``gdf`` declares (a different declared CRS is overridden and logged).
    source
        Name used in error messages (a file path).

    Returns
    -------
    geopandas.GeoDataFrame
        A copy in EPSG:4326.

    Raises
    ------
    DataError
        If an offset system is requested for a projected ``gdf``, or the system is unknown.
    """
    system = normalise_coordinate_system(coordinate_system)
    out = gdf.copy()
    if isinstance(system, pyproj.CRS):
        if out.crs is not None and not pyproj.CRS.from_user_input(out.crs).equals(system):
            logger.warning(
                "%s: declared CRS %s overridden by coordinate_system=%s",
                source,
                out.crs.to_string(),
                system.to_string(),
            )
        out = out.set_crs(system, allow_override=True)
        return out.to_crs(4326)
    if system == "wgs84":
        if out.crs is None:
            return out.set_crs(4326)
        return out.to_crs(4326)
    declared = None if out.crs is None else pyproj.CRS.from_user_input(out.crs)
    if not _is_plain_geographic(declared):
        assert declared is not None
        msg = (
            f"{source}: coordinate_system={system!r} needs longitude/latitude coordinates, but the "
            f"layer declares the CRS {declared.to_string()} ({declared.name}); "
            f"{system.upper()} data are always lon/lat. Pass coordinate_system="
            f"{declared.to_string()!r} if the coordinates really are in that CRS, or reproject "
            "the original lon/lat data instead"
        )
        raise DataError(msg)
    convert = _gcj02_to_wgs84 if system == "gcj02" else _bd09_to_wgs84_arrays

    def _transform(coords: NDArray[np.float64]) -> NDArray[np.float64]:
        lon, lat = convert(coords[:, 0].copy(), coords[:, 1].copy())
        return np.column_stack([lon, lat])

    geometry = shapely.transform(np.asarray(out.geometry.values), _transform)
    out = out.set_crs(4326, allow_override=True)
    out[out.geometry.name] = geometry
    return out


def _bd09_to_wgs84_arrays(
    x: NDArray[np.float64], y: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    return _gcj02_to_wgs84(*_bd09_to_gcj02(x, y))


def local_metric_crs(
    gdf_or_bounds: gpd.GeoDataFrame | gpd.GeoSeries | Sequence[float],
) -> pyproj.CRS:
    """Return the UTM zone (EPSG:326xx north, 327xx south) at the centre of the data.

    Parameters
    ----------
    gdf_or_bounds
        A GeoDataFrame/GeoSeries with a CRS (any; its bounds are taken in EPSG:4326), or
        ``(min_lon, min_lat, max_lon, max_lat)`` in degrees.

    Returns
    -------
    pyproj.CRS
        The UTM zone containing the centre of the bounding box.

    Raises
    ------
    DataError
        If the data have no CRS, are empty or the bounds are not longitude/latitude.
    """
    if isinstance(gdf_or_bounds, (gpd.GeoDataFrame, gpd.GeoSeries)):
        if gdf_or_bounds.crs is None:
            msg = "the layer has no CRS; set one (e.g. gdf.set_crs('EPSG:4326')) first"
            raise DataError(msg)
        bounds = np.asarray(gdf_or_bounds.to_crs(4326).total_bounds, dtype=np.float64)
    else:
        bounds = np.asarray(gdf_or_bounds, dtype=np.float64)
        if bounds.shape != (4,):
            msg = f"bounds must be (min_lon, min_lat, max_lon, max_lat), got {gdf_or_bounds!r}"
            raise DataError(msg)
    if not np.all(np.isfinite(bounds)):
        msg = "cannot choose a metric CRS for an empty layer"
        raise DataError(msg)
    lon = (bounds[0] + bounds[2]) / 2.0
    lat = (bounds[1] + bounds[3]) / 2.0
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        msg = f"bounds {tuple(bounds)} are not longitude/latitude degrees"
        raise DataError(msg)
    zone = min(int((lon + 180.0) // 6.0) + 1, 60)
    epsg = (32600 if lat >= 0 else 32700) + zone
    return pyproj.CRS.from_epsg(epsg)
