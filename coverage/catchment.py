"""Capacity within walking reach: the two-step floating catchment (2SFCA, E2SFCA).

A street's own sports area per resident hides a street whose only stadium sits at its edge,
and credits a street for land its residents cannot reach. The floating catchment measures
what residents can reach instead (Luo & Wang 2003; the enhanced E2SFCA with distance decay,
Luo & Qi 2009):

1. each facility ``j``'s supply ``S_j`` is shared among the residents within the walking
   budget ``d0`` of it: ``R_j = S_j / sum_i P_i w(d_ij)``;
2. each resident ``i`` sums the shares of the facilities within ``d0``:
   ``A_i = sum_j R_j w(d_ij)``.

The shape follows PySAL ``access``: demand, supply and cost are three plain tables (here the
residents' population, the facilities' supply and a sparse origins × facilities matrix of
walking metres), and the tests check :func:`two_step_fca` against ``access``'s
``two_stage_fca`` on the same cost matrix.

The walking metres are the exact network distances of :mod:`coverage.access` (the ones the
reach rules use): :func:`facility_distances` runs one bounded search per facility with the
same code as :func:`coverage.access.nearest_facility`, and keeps only the pairs within the
budget, so the matrix stays sparse for a city.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from coverage.access import _origin_distances, node_distances
from coverage.network import WalkNetwork
from coverage.snapping import SnappedPoints

__all__ = [
    "DECAYS",
    "FacilityDistances",
    "decay_weights",
    "facility_distances",
    "two_step_fca",
]

#: The decay functions :func:`decay_weights` knows.
DECAYS = ("none", "step", "gaussian")

#: Relative slack of the search limit, so that a pair exactly at the budget is kept.
_LIMIT_SLACK = 1e-9


@dataclass(frozen=True, eq=False)
class FacilityDistances:
    """Walking metres from every origin to every facility within a budget.

    Attributes
    ----------
    distance_m
        Sparse ``(n_origins, n_facilities)`` CSR matrix; a stored entry is a pair within
        ``cutoff_m`` (a facility exactly at an origin is stored as ``0.0``: the sparsity
        pattern, not the value, says which pairs are within reach).
    facility_ids
        The facilities' ids, one per column.
    cutoff_m
        The budget the matrix was built for.
    """

    distance_m: sp.csr_matrix
    facility_ids: npt.NDArray[np.object_]
    cutoff_m: float


def facility_distances(
    network: WalkNetwork,
    origins: SnappedPoints,
    facilities: SnappedPoints,
    *,
    cutoff_m: float,
) -> FacilityDistances:
    """Exact walking metres of every (origin, facility) pair within ``cutoff_m``.

    One search per facility, bounded by ``cutoff_m``, with the code of
    :func:`coverage.access.nearest_facility` (the chain ends, the nodes inside chains, a
    facility on the origin's own edge): for every pair, the distance is the one
    ``nearest_facility`` gives for that facility alone.

    Parameters
    ----------
    network
        The walking network.
    origins, facilities
        Points snapped with :func:`coverage.snapping.snap_points`; an unsnapped origin or
        facility has no pair.
    cutoff_m
        The walking budget (m); pairs farther apart are left out.

    Returns
    -------
    FacilityDistances
    """
    if not math.isfinite(cutoff_m) or cutoff_m <= 0:
        msg = f"cutoff_m must be a positive number of metres, got {cutoff_m!r}"
        raise ValueError(msg)
    limit = cutoff_m * (1.0 + _LIMIT_SLACK)
    rows: list[npt.NDArray[np.int64]] = []
    cols: list[npt.NDArray[np.int64]] = []
    vals: list[npt.NDArray[np.float64]] = []
    for j in np.flatnonzero(facilities.ok):
        mask = np.zeros(len(facilities), dtype=bool)
        mask[j] = True
        one = facilities.subset(mask)
        nodes = node_distances(network, one, cutoff_m=limit)
        distance, _ = _origin_distances(network, origins, one, nodes)
        within = np.flatnonzero(distance <= cutoff_m)  # NaN (off the network) and inf drop out
        rows.append(within)
        cols.append(np.full(within.size, j, dtype=np.int64))
        vals.append(distance[within])
    shape = (len(origins), len(facilities))
    if rows:
        r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    else:
        r = c = np.zeros(0, dtype=np.int64)
        v = np.zeros(0)
    # explicit zeros are kept: a CSR built from (data, indices, indptr) does not prune them
    order = np.lexsort((c, r))
    r, c, v = r[order], c[order], v[order]
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.add.at(indptr, r + 1, 1)
    matrix = sp.csr_matrix((v, c, np.cumsum(indptr)), shape=shape)
    return FacilityDistances(
        distance_m=matrix,
        facility_ids=np.asarray(facilities.index, dtype=object),
        cutoff_m=float(cutoff_m),
    )


def decay_weights(
    distance_m: npt.ArrayLike,
    budget_m: float,
    *,
    decay: str = "none",
    step_weights: Sequence[float] = (),
) -> npt.NDArray[np.float64]:
    """The weight of a walk of ``distance_m`` within a budget of ``budget_m``.

    Parameters
    ----------
    distance_m
        Walking metres (any shape).
    budget_m
        The catchment's budget: walks longer than this weigh 0.
    decay
        ``none``: 1 within the budget (2SFCA). ``step``: the budget cut into
        ``len(step_weights)`` equal bands, the band's weight (E2SFCA, Luo & Qi 2009, used
        1.0, 0.68, 0.22). ``gaussian``: ``(exp(-(d/d0)²/2) - exp(-1/2)) / (1 - exp(-1/2))``,
        1 at the facility and 0 at the budget (Dai 2010).
    step_weights
        The bands' weights for ``step``, nearest band first.

    Returns
    -------
    numpy.ndarray
        Weights in [0, 1], the shape of ``distance_m``.
    """
    d = np.asarray(distance_m, dtype=float)
    inside = d <= budget_m
    if decay == "none":
        w = np.ones(d.shape)
    elif decay == "step":
        if not step_weights:
            msg = "decay='step' needs step_weights"
            raise ValueError(msg)
        bands = np.asarray(step_weights, dtype=float)
        finite = np.where(np.isfinite(d), np.clip(d, 0.0, None), budget_m)
        band = np.floor(finite / budget_m * bands.size).astype(np.int64)
        w = bands[np.clip(band, 0, bands.size - 1)]
    elif decay == "gaussian":
        floor = math.exp(-0.5)
        w = (np.exp(-0.5 * (d / budget_m) ** 2) - floor) / (1.0 - floor)
    else:
        msg = f"decay must be one of {', '.join(DECAYS)}, got {decay!r}"
        raise ValueError(msg)
    return np.where(inside, np.clip(w, 0.0, 1.0), 0.0)


def two_step_fca(
    demand: npt.ArrayLike,
    supply: npt.ArrayLike,
    cost: sp.spmatrix,
    *,
    budget_m: float,
    decay: str = "none",
    step_weights: Sequence[float] = (),
) -> npt.NDArray[np.float64]:
    """Supply per resident that each origin reaches (2SFCA, or E2SFCA with a decay).

    Parameters
    ----------
    demand
        Residents at each origin (``n_origins``).
    supply
        Supply of each facility (``n_facilities``), e.g. m² of sports ground; NaN counts as 0
        (the caller reports the value as a lower bound).
    cost
        Sparse ``(n_origins, n_facilities)`` walking metres; only stored pairs are within
        reach (a stored 0 is a facility at the origin).
    budget_m, decay, step_weights
        See :func:`decay_weights`.

    Returns
    -------
    numpy.ndarray
        ``A_i`` per origin: the sum over the facilities within the budget of
        ``w_ij * S_j / sum_k P_k w_kj``. 0 where nothing is reached.
    """
    pop = np.nan_to_num(np.asarray(demand, dtype=float), nan=0.0)
    sup = np.nan_to_num(np.asarray(supply, dtype=float), nan=0.0)
    coo = sp.coo_matrix(cost)
    w = decay_weights(coo.data, budget_m, decay=decay, step_weights=step_weights)
    weights = sp.csr_matrix((w, (coo.row, coo.col)), shape=coo.shape)
    served = weights.T @ pop  # residents each facility serves, weighted
    ratio = np.divide(sup, served, out=np.zeros(sup.shape), where=served > 0)
    return np.asarray(weights @ ratio, dtype=float)
