"""The ranges of the audit's settings: one definition, checked wherever a setting enters.

The TOML loader (:meth:`coverage.case.Case.from_config`), the rule-pack loader, the command
line (``--speed-kmh``, ``--share``), ``validate`` and :func:`coverage.audit.audit_case` all call
the checks below, so a value refused by one is refused by all, with the same message, before
any work starts.

Ranges
------
``walk_speed_kmh``
    1 to 8 km/h. Planning norms use 3-5 km/h (the Wuhan "1+10" pack: 4 km/h, 15 minutes =
    1,000 m); 1 km/h is a very slow walk, 8 km/h a run. A value outside is almost always a unit
    mistake (m/s, m/min) and would make every budget wrong.
``min_population_share``
    A share of residents in (0, 1]: 0.9 means 90 %. A percentage (90) is refused.
Map tiles (``[map]`` of a case file, ``--tiles``)
    ``tiles`` is a tile URL template with ``{z}``, ``{x}`` and ``{y}`` (or ``{-y}``), over
    ``http``/``https`` or relative to ``map.html``; ``crs`` is ``"wgs84"`` or ``"gcj02"``.
"""

from __future__ import annotations

import math
import re

from coverage.errors import ConfigError

__all__ = [
    "MAX_WALK_SPEED_KMH",
    "MIN_WALK_SPEED_KMH",
    "TILE_CRS",
    "check_population_share",
    "check_tile_crs",
    "check_tile_url",
    "check_walk_speed",
]

MIN_WALK_SPEED_KMH = 1.0
MAX_WALK_SPEED_KMH = 8.0


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def check_walk_speed(value: object, *, where: str) -> float:
    """Return a walking speed in km/h, or raise if it is outside 1-8 km/h.

    Parameters
    ----------
    value
        The speed as given.
    where
        Where it came from (``"case.toml: [case] walk_speed_kmh"``, ``"--speed-kmh"``), for the
        message.

    Returns
    -------
    float

    Raises
    ------
    ConfigError
        If the value is not a number in the range.
    """
    speed = _number(value)
    if speed is None or not (
        math.isfinite(speed) and MIN_WALK_SPEED_KMH <= speed <= MAX_WALK_SPEED_KMH
    ):
        msg = (
            f"{where} = {value!r}: a walking speed is {MIN_WALK_SPEED_KMH:g}-"
            f"{MAX_WALK_SPEED_KMH:g} km/h (planning norms use 3-5, e.g. 4 km/h: 15 min = "
            "1,000 m); check the unit (km/h, not m/s or m/min)"
        )
        raise ConfigError(msg)
    return speed


def check_population_share(value: object, *, where: str) -> float:
    """Return a share of residents in (0, 1], or raise.

    Parameters
    ----------
    value
        The share as given.
    where
        Where it came from (``"--share"``, a pack file's key), for the message.

    Returns
    -------
    float

    Raises
    ------
    ConfigError
        If the value is not a number in (0, 1].
    """
    share = _number(value)
    if share is None or not (math.isfinite(share) and 0.0 < share <= 1.0):
        msg = (
            f"{where} = {value!r}: give a share of residents in (0, 1], e.g. 0.9 for 90 % "
            "(not a percentage)"
        )
        raise ConfigError(msg)
    return share


#: The coordinate systems a tile server may draw in.
TILE_CRS: tuple[str, ...] = ("wgs84", "gcj02")


def check_tile_url(value: object, *, where: str) -> str:
    """Return a tile URL template, or raise if it cannot be one.

    Parameters
    ----------
    value
        The URL as given.
    where
        Where it came from (``"case.toml: [map] tiles"``, ``"--tiles"``), for the message.

    Returns
    -------
    str

    Raises
    ------
    ConfigError
        If the value is not an ``http(s)`` or relative URL with ``{z}``, ``{x}`` and ``{y}``
        (or ``{-y}``).
    """
    example = "http://tiles.local/{z}/{x}/{y}.png"
    if not isinstance(value, str) or not value.strip():
        msg = f"{where} = {value!r}: give a tile URL template such as {example}"
        raise ConfigError(msg)
    url = value.strip()
    missing = [p for p in ("{z}", "{x}") if p not in url]
    if "{y}" not in url and "{-y}" not in url:
        missing.append("{y}")
    scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):", url)
    if missing or (scheme and scheme.group(1).lower() not in ("http", "https")):
        what = f"it lacks {', '.join(missing)}" if missing else "only http(s) or a relative URL"
        msg = (
            f"{where} = {value!r}: not a tile URL template ({what}); write it as the server "
            f"documents it, e.g. {example} or tiles/{{z}}/{{x}}/{{y}}.png (a folder beside "
            "map.html)"
        )
        raise ConfigError(msg)
    return url


def check_tile_crs(value: object, *, where: str) -> str:
    """Return ``"wgs84"`` or ``"gcj02"`` (case, ``-`` and spaces ignored), or raise.

    Raises
    ------
    ConfigError
        If the value is neither.
    """
    text = (
        str(value).strip().lower().replace("-", "").replace(" ", "")
        if isinstance(value, str)
        else None
    )
    if text not in TILE_CRS:
        msg = (
            f"{where} = {value!r}: give 'wgs84' (天地图, OpenStreetMap, most servers) or "
            "'gcj02' (Amap/高德 or Tencent/腾讯 style tiles)"
        )
        raise ConfigError(msg)
    return text
