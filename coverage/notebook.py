"""Result frames in a notebook: ``.explore()``, ``.describe()`` and distances beyond the limit.

Walking distances beyond the search limit (twice the largest budget) are ``inf``: in memory
(:class:`~coverage.audit.AuditResult`), in ``audit.gpkg`` (a REAL ``Infinity``) and in the CSV
tables (``inf``); NaN / NULL / an empty cell means no value at all (an origin off the walking
network, a community without residents). ``inf`` is kept because it is what the audit
decided on: a resident farther than the limit is not reached, and the median walk of a
community whose median resident is not reached is not a number of metres.

What that means in a notebook:

- ``frame.explore()`` works on every result frame as it is (``inf`` shows as ``Infinity`` in
  the tooltip); to colour by a distance, use :func:`finite` first, which draws the units
  beyond the limit in the "missing" style instead of stretching the colour scale to infinity.
- ``frame.describe()`` runs, but pandas' mean, standard deviation and interpolated quantiles
  of a column holding ``inf`` are ``inf`` or NaN. ``finite(frame).describe()`` describes the
  distances within the limit, and its ``count`` says how many they are;
  ``finite(frame).attrs["beyond_search_limit"]`` counts the others per column.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import pandas as pd

__all__ = ["finite"]

Frame = TypeVar("Frame", bound=pd.DataFrame)


def finite(frame: Frame) -> Frame:
    """A copy in which ``±inf`` (farther than the search limit) is NaN, for statistics and
    colour scales.

    Parameters
    ----------
    frame
        A result frame (``result.communities``, ``result.origins``, ...), or any frame.

    Returns
    -------
    DataFrame or GeoDataFrame
        The same type and index; float columns with ``inf`` replaced by NaN.
        ``attrs["beyond_search_limit"]`` maps each such column to the number of values that
        were infinite. ``frame`` is not changed.
    """
    out = frame.copy()
    counts: dict[str, int] = {}
    for i, column in enumerate(out.columns):
        series = out.iloc[:, i]
        if not pd.api.types.is_float_dtype(series):
            continue
        values = series.to_numpy(dtype=float, copy=True)
        infinite = np.isinf(values)
        if infinite.any():
            values[infinite] = np.nan
            out.isetitem(i, values)
            counts[str(column)] = int(infinite.sum())
    out.attrs = {**frame.attrs, "beyond_search_limit": counts}
    return out
