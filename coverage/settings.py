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
"""

from __future__ import annotations

import math

from coverage.errors import ConfigError

__all__ = [
    "MAX_WALK_SPEED_KMH",
    "MIN_WALK_SPEED_KMH",
    "check_population_share",
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
