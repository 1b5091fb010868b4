"""Vectorised array helpers shared by the search stages (no imports from the package)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["concat_ranges", "segment_cummax"]


def segment_cummax(
    values: npt.NDArray[np.float64], run: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Cumulative maximum restarting at every new ``run``, and where it was reached.

    ``run`` labels contiguous runs with non-decreasing integers (0, 0, 1, 1, 1, 2, ...).
    Returns ``(cummax, at)``: ``cummax[i]`` is the largest of ``values[j]`` for the ``j <= i``
    of the same run, ``at[i]`` that ``j`` (the last one on ties). ``-inf`` stays ``-inf``.

    Each run is lifted by a multiple of a span larger than twice the values' range, so that
    one global :func:`numpy.maximum.accumulate` never carries a maximum into the next run; the
    maxima returned are read back from ``values`` (no rounding from the lift).
    """
    n = values.size
    if n == 0:
        return values.copy(), np.zeros(0, dtype=np.int64)
    finite = np.isfinite(values)
    span = float(np.abs(values[finite]).max(initial=0.0)) * 4.0 + 1.0
    lifted = np.where(finite, values, -span / 2) + run * span
    peak = np.maximum.accumulate(lifted)
    at = np.maximum.accumulate(np.where(lifted == peak, np.arange(n), 0))
    return values[at], at


def concat_ranges(
    start: npt.NDArray[np.int64], counts: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """``start[0] .. start[0] + counts[0] - 1``, then the same for ``start[1]``, ... in one array.

    The positions of the items of ragged groups laid end to end (CSR rows, chain runs); with
    ``start = 0`` the position of each item within its group.
    """
    total = int(counts.sum())
    return np.repeat(start - (np.cumsum(counts) - counts), counts) + np.arange(total)
