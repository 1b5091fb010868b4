"""Better plans for large problems: re-solve one neighbourhood at a time, exactly.

When the whole program is too large to solve, its best plan found usually holds slack: sites
that, around a few units, fewer sites could replace. Large-neighbourhood search (Shaw 1998)
frees the sites around a *region* of units, keeps every other site, and solves the program of
the freed candidates exactly: every unit any of them reaches must still pass, counting the
residents the kept sites already reach. The plan is never made worse (the freed sites are one
answer of that program) and a move is only taken when the whole plan still passes.

A region is a seed unit and the units nearest it in the graph of units sharing a candidate
(breadth first), :data:`REGION_UNITS` of them; seeds follow one seeded random order of the
units, so a run with the same time is repeatable on the same machine.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

if TYPE_CHECKING:
    from coverage.plan.problem import CoverageProblem

__all__ = ["REGION_UNITS", "improve"]

logger = logging.getLogger(__name__)

#: Units per region (measured on the city case: 25 units and 1.5 s per region took a plan of
#: 1,600 sites to 1,560 in 60 s; 40 units and 3 s to 1,562; 60 units and 5 s to 1,571).
REGION_UNITS = 25

#: Seconds the solver may spend on one region (stopped, its best answer is still taken when
#: it is smaller).
REGION_TIME_LIMIT_S = 1.5


def _region(link: sp.csr_matrix, seed: int, size: int) -> list[int]:
    """``seed`` and the units nearest it, breadth first, ``size`` at most."""
    region, seen, at = [seed], {seed}, 0
    while len(region) < size and at < len(region):
        for v in link.indices[link.indptr[region[at]] : link.indptr[region[at] + 1]]:
            if int(v) not in seen:
                seen.add(int(v))
                region.append(int(v))
                if len(region) == size:
                    break
        at += 1
    return region


def improve(
    problem: CoverageProblem,
    rows: npt.ArrayLike,
    *,
    time_limit: float | None,
    milp: Any,
    rounds: int | None = None,
    region_units: int = REGION_UNITS,
    seed: int = 0,
) -> npt.NDArray[np.int64]:
    """A plan no larger than ``rows`` (rows of ``problem.cover``; every target unit passing),
    by re-solving regions exactly (module docstring).

    Parameters
    ----------
    problem
        The coverage problem.
    rows
        A plan that makes every target unit pass.
    time_limit
        Seconds (``None``: no limit; then ``rounds`` must be given).
    milp
        ``milp(c, a, lb, ub, integral, time_limit=..., mip_gap=...)`` returning scipy's
        ``OptimizeResult``.
    rounds
        Regions to re-solve at most (default: as many as the time allows, each unit a seed once).
    region_units, seed
        Units per region; the seed of the order of the seeds.

    Returns
    -------
    numpy.ndarray
        Rows of ``problem.cover``, sorted.
    """
    from coverage.plan.problem import _contributions

    started = time.perf_counter()
    built = np.zeros(problem.cover.shape[0], dtype=bool)
    built[np.asarray(rows, dtype=np.int64)] = True
    n_u = len(problem.units)
    if n_u == 0 or not built.any():
        return np.flatnonzero(built).astype(np.int64)
    cover = problem.cover.tocsr()
    by_class = problem.cover.tocsc()
    reach = _contributions(problem).tocsr()  # rows x units
    reach_of = reach.T.tocsr()  # units x rows
    link = (reach_of @ reach).tocsr()
    tolerance = 1e-9 * np.maximum(problem.total, 1.0)
    order = np.random.default_rng(seed).permutation(n_u)
    limit = n_u if rounds is None else min(rounds, n_u)
    before = int(built.sum())
    for done, unit in enumerate(order[:limit]):
        left = None if time_limit is None else time_limit - (time.perf_counter() - started)
        if left is not None and left <= 0.05:
            break
        free = np.unique(reach_of[_region(link, int(unit), region_units)].indices)
        kept = built.copy()
        kept[free] = False
        hit = np.zeros(cover.shape[1], dtype=bool)
        hit[cover[np.flatnonzero(kept)].indices] = True
        have = np.bincount(problem.class_unit[hit], weights=problem.class_pop[hit], minlength=n_u)
        affected = np.unique(reach[free].indices)
        short = affected[problem.gap[affected] - have[affected] > tolerance[affected]]
        if short.size == 0:  # the kept sites already make every unit they touch pass
            trial = kept
            if problem.passing(np.flatnonzero(trial)).all():
                built = trial
            continue
        classes = np.flatnonzero(np.isin(problem.class_unit, short) & ~hit)
        sub = by_class[:, classes].tocsr()[free].astype(np.float64)
        n_f, n_c = sub.shape
        unit_of = np.searchsorted(short, problem.class_unit[classes])
        a = sp.vstack(
            [
                sp.hstack([-sub.T, sp.identity(n_c)]),
                sp.hstack(
                    [
                        sp.csr_matrix((short.size, n_f)),
                        sp.csr_matrix(
                            (problem.class_pop[classes], (unit_of, np.arange(n_c))),
                            shape=(short.size, n_c),
                        ),
                    ]
                ),
            ],
            format="csr",
        )
        need = (problem.gap[short] - have[short]) * (1.0 - 1e-12)
        res = milp(
            np.r_[np.ones(n_f), np.zeros(n_c)],
            a,
            np.r_[np.full(n_c, -np.inf), need],
            np.r_[np.zeros(n_c), np.full(short.size, np.inf)],
            np.r_[np.ones(n_f), np.zeros(n_c)].astype(np.int64),
            time_limit=REGION_TIME_LIMIT_S if left is None else min(REGION_TIME_LIMIT_S, left),
            mip_gap=0.0,
        )
        if res.x is None:
            continue
        chosen = free[res.x[:n_f] > 0.5]
        if chosen.size >= int(built[free].sum()):
            continue
        trial = kept.copy()
        trial[chosen] = True
        if problem.passing(np.flatnonzero(trial)).all():
            built = trial
        logger.debug("region %d: %d sites", done, int(built.sum()))
    logger.info(
        "%s %s: neighbourhood search %d -> %d sites in %.1f s",
        problem.rule,
        problem.category,
        before,
        int(built.sum()),
        time.perf_counter() - started,
    )
    return np.flatnonzero(built).astype(np.int64)
