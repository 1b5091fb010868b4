"""Tile servers for the map, and the GCJ-02 shift that lines the data up with Chinese ones.

A planner's map may sit on a tile server instead of the offline base map: an intranet's
天地图 (Tianditu, drawn in CGCS2000, which agrees with WGS-84 to well under a metre) or a
bureau's own, or a commercial Chinese source. Amap (高德/AutoNavi), Tencent (腾讯) and Google
China draw their tiles in GCJ-02, offset 300-600 m from WGS-84 in Chinese cities; on such tiles
WGS-84 data lands beside its streets. :func:`tile_crs` recognises those hosts (or takes the
case's word, ``[map] crs = "gcj02"``), and :func:`shift_result` moves every coordinate the map
draws into GCJ-02 with :func:`coverage.crs.wgs84_to_gcj02`, the published forward transform.
Only the map is shifted: the audit, the tables and the GeoPackage stay in WGS-84.

Baidu's tiles (BD-09 on Baidu's own tile grid) cannot be drawn by Leaflet's Web Mercator map
and are refused with a message.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import numpy as np
import shapely

from coverage.crs import wgs84_to_gcj02
from coverage.errors import ConfigError
from coverage.settings import check_tile_crs, check_tile_url

if TYPE_CHECKING:
    import geopandas as gpd

    from coverage.audit import AuditResult

__all__ = [
    "GCJ02_TILE_HOSTS",
    "gcj02_coordinates",
    "shift_bounds",
    "shift_frame",
    "shift_result",
    "tile_crs",
    "tile_source",
]

#: Host names (and their sub-domains) whose tiles are drawn in GCJ-02: the credit shown when
#: the case gives none, and the sub-domains that replace ``{s}`` in their URLs.
GCJ02_TILE_HOSTS: dict[str, tuple[str, str]] = {
    "autonavi.com": ("© 高德地图 AutoNavi", "1234"),
    "amap.com": ("© 高德地图 AutoNavi", "1234"),
    "gtimg.com": ("© 腾讯地图 Tencent", "0123"),
    "map.qq.com": ("© 腾讯地图 Tencent", "0123"),
    "google.cn": ("© Google", "0123"),
}
_BD09_TILE_HOSTS = ("bdimg.com", "map.baidu.com", "bdstatic.com", "baidu.com")


def _host(url: str) -> str:
    # a template's {s} or {z} in the host is not a valid URL part: read it as a letter
    try:
        host = urlsplit(url.replace("{", "").replace("}", "")).hostname
    except ValueError:
        return ""
    return (host or "").lower()


def _known(host: str, domains: Mapping[str, Any] | tuple[str, ...]) -> str | None:
    for domain in domains:
        if host == domain or host.endswith("." + domain):
            return domain
    return None


def tile_crs(url: str, *, crs: str | None = None) -> str:
    """The coordinate system a tile server draws in: ``"wgs84"`` or ``"gcj02"``.

    Parameters
    ----------
    url
        The tile URL template.
    crs
        What the case says (``[map] crs``); None: ``"gcj02"`` for the hosts of
        :data:`GCJ02_TILE_HOSTS`, else ``"wgs84"``.

    Returns
    -------
    str

    Raises
    ------
    ConfigError
        If ``crs`` is not one of :data:`coverage.settings.TILE_CRS`, or the URL is Baidu's
        (BD-09 on its own tile grid, which this map cannot draw).
    """
    host = _host(url)
    if _known(host, _BD09_TILE_HOSTS):
        msg = (
            f"tiles = {url!r}: Baidu's tiles are drawn in BD-09 on Baidu's own tile grid, which "
            "this map (Web Mercator tiles) cannot use; use a Web Mercator tile server "
            "(天地图, Amap or Tencent style, or your bureau's own) or the offline base map"
        )
        raise ConfigError(msg)
    if crs is not None:
        return check_tile_crs(crs, where="tiles crs")
    return "gcj02" if _known(host, GCJ02_TILE_HOSTS) else "wgs84"


def tile_source(
    result: AuditResult,
    *,
    url: str | None = None,
    attribution: str | None = None,
    crs: str | None = None,
    subdomains: str | None = None,
) -> dict[str, str | None]:
    """The tile server of a map: the options given, else the case's ``[map]`` table.

    Parameters
    ----------
    result
        The audit; its ``provenance["map"]`` holds the case file's ``[map]`` table (and what
        ``--tiles`` set).
    url, attribution, crs, subdomains
        What the caller gave; each None falls back to the case.

    Returns
    -------
    dict
        ``url`` (None: no tile server), ``attribution`` (None: none given and no known
        provider), ``crs`` (``"wgs84"`` or ``"gcj02"``; ``"wgs84"`` without tiles) and
        ``subdomains`` (None: Leaflet's default).

    Raises
    ------
    ConfigError
        As :func:`tile_crs`; if the URL is not a tile URL template
        (:func:`coverage.settings.check_tile_url`); or if a value is not text.
    """
    case = result.provenance.get("map") or {}
    given = {"url": url, "attribution": attribution, "crs": crs, "subdomains": subdomains}
    keys = {"url": "tiles", "attribution": "attribution", "crs": "crs", "subdomains": "subdomains"}
    out: dict[str, str | None] = {}
    for key, value in given.items():
        if value is None:
            value = case.get(keys[key])
        if value is not None and not isinstance(value, str):
            msg = f"map {keys[key]} must be text, got {value!r}"
            raise ConfigError(msg)
        out[key] = value or None
    if out["url"] is None:
        return {"url": None, "attribution": None, "crs": "wgs84", "subdomains": None}
    out["url"] = check_tile_url(out["url"], where="tiles")
    out["crs"] = tile_crs(out["url"], crs=out["crs"])
    provider = _known(_host(out["url"]), GCJ02_TILE_HOSTS)
    if provider is not None:
        credit, digits = GCJ02_TILE_HOSTS[provider]
        out["attribution"] = out["attribution"] or credit
        out["subdomains"] = out["subdomains"] or digits
    return out


def gcj02_coordinates(coords: np.ndarray) -> np.ndarray:
    """An ``(n, 2)`` array of WGS-84 longitude/latitude moved to GCJ-02 (for
    :func:`shapely.transform`)."""
    lon, lat = wgs84_to_gcj02(coords[:, 0], coords[:, 1])
    return np.column_stack([lon, lat])


def shift_frame(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A copy of ``frame`` in EPSG:4326 with every coordinate moved from WGS-84 to GCJ-02."""
    wgs = frame.to_crs(4326)
    return wgs.set_geometry(shapely.transform(wgs.geometry.to_numpy(), gcj02_coordinates), crs=4326)


def shift_bounds(bounds: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """``(west, south, east, north)`` with its corners moved from WGS-84 to GCJ-02.

    The offset changes by a few metres over the few kilometres of a case, so an image
    stretched over the moved corners lies within that of its true place.
    """
    west, south, east, north = bounds
    lon, lat = wgs84_to_gcj02(np.array([west, east]), np.array([south, north]))
    return (float(lon[0]), float(lat[0]), float(lon[1]), float(lat[1]))


def shift_result(result: AuditResult) -> AuditResult:
    """A copy of the audit whose communities, streets and services are in GCJ-02 (for the map
    only; the network and the numbers are unchanged)."""
    return dataclasses.replace(
        result,
        communities=shift_frame(result.communities),
        streets=shift_frame(result.streets),
        services=shift_frame(result.services),
    )
