"""The per-unit program: each unit chooses one small set of candidates that reaches it.

Covering residents class by class (``y_q <= sum(x_j)``, per unit ``sum(pop_q y_q) >= gap``)
states the min-sites problem exactly but relaxes badly: in the linear relaxation a unit is
"reached" by tenths of many candidates, none of which brings it near its share. On the
city-size case (16,198 candidates, 2,260 communities) that relaxation takes HiGHS 87 s or more
and bounds the plan at ~1,250 sites, far below any plan found, so the solver's branch and bound
makes no progress in minutes and the plan returned is the greedy one (1,689 sites).

This module lists, per target unit ``i``, its **small sets**: a candidate that alone brings the
unit's gap within reach, and a pair of candidates that do together while neither does alone.
The program chooses one listed set per unit (``lambda_s``) and builds every candidate of it::

    sum(lambda_s, s of i) >= 1                         per unit i
    x_j >= sum(lambda_s, s of i holding j)             per unit i and candidate j
    x_j binary, lambda_s in [0, 1]

(per unit the convex hull of its choice, a disjunction in Balas's sense), and a unit without
any small set keeps the class rows (``y_q <= sum(x_j)``, ``sum(pop_q y_q) >= gap_i``). Its
relaxation is tight: on the city case HiGHS finds a plan of 1,462 sites in 20 s.

It is a **restriction**, not the problem: a unit that three or more candidates reach together
(no two of them enough) may be reached that way in the best plan, and the program does not
offer it. Its plans are therefore always feasible (checked), but its bound is not a bound of
the problem unless no unit has such a larger set (:attr:`UnitSets.large` all false), in which
case the program is exact. :func:`coverage.plan.problem.solve_min_sites` uses it for the plan
and proves (or bounds) the plan with the class-by-class program.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

if TYPE_CHECKING:
    from coverage.plan.problem import CoverageProblem

__all__ = [
    "RestrictedSolve",
    "UnitSets",
    "rank_cuts",
    "solve_restricted",
    "solver_bound",
    "unit_sets",
]

logger = logging.getLogger(__name__)

#: Relative tolerance of "reaches the gap" (the plan's :func:`CoverageProblem.passing` forgives
#: the same noise; a set that falls short by less is repaired after the solve).
_TOL = 1e-9

#: Maximal cliques looked at per unit when deciding whether a larger set may reach it.
MAX_CLIQUES = 1000


@dataclass(frozen=True)
class UnitSets:
    """The small sets of every target unit, and the units a larger set could reach.

    Attributes
    ----------
    set_unit
        Target unit (position) of every set.
    set_rows
        Rows of ``problem.cover`` of every set, shape (sets, 2); ``-1`` in the second column of
        a single candidate.
    large
        Per unit: a larger set may reach it (three or more of its candidates that do not
        reach the gap alone together do); the program lists no such set.
    """

    set_unit: npt.NDArray[np.int64]
    set_rows: npt.NDArray[np.int64]
    large: npt.NDArray[np.bool_]


def _reaches(value: npt.NDArray[np.float64], gap: float) -> npt.NDArray[np.bool_]:
    return value >= gap * (1.0 - _TOL) - 1e-12


def _larger_set(
    member: npt.NDArray[np.float64],
    pop: npt.NDArray[np.float64],
    gap: float,
    pair: npt.NDArray[np.bool_],
) -> bool:
    """Whether three or more candidates, no single one and no two of which reach ``gap``,
    reach it together.

    Such a set has no two members that reach the gap together: it lies in a maximal clique of
    the graph joining the candidates whose pair falls short. Conversely a clique of three or
    more that reaches the gap holds a smallest subset that does, of three or more. So the
    answer is whether some maximal clique (of three or more) reaches the gap. Past
    :data:`MAX_CLIQUES` cliques the answer is yes (the program is then called a restriction,
    never wrongly exact).

    Parameters
    ----------
    member
        Classes (columns) each candidate that does not reach the gap alone reaches.
    pop, gap
        Residents of the classes and the unit's gap.
    pair
        ``pair[a, b]``: candidates ``a`` and ``b`` reach the gap together.
    """
    import networkx as nx

    short: nx.Graph[int] = nx.Graph()
    short.add_nodes_from(range(member.shape[0]))
    a, b = np.nonzero(np.triu(~pair, 1))
    short.add_edges_from(zip(a.tolist(), b.tolist(), strict=True))
    for n, clique in enumerate(nx.find_cliques(short)):
        if n >= MAX_CLIQUES:
            return True
        if len(clique) >= 3 and _reaches(np.asarray(pop[member[clique].any(axis=0)].sum()), gap):
            return True
    return False


def unit_sets(problem: CoverageProblem) -> UnitSets:
    """Every target unit's small sets: one candidate, or two (see the module docstring).

    Parameters
    ----------
    problem
        The coverage problem.

    Returns
    -------
    UnitSets
    """
    cover = problem.cover.tocsc()
    n_u = len(problem.units)
    order = np.argsort(problem.class_unit, kind="stable")
    starts = np.searchsorted(problem.class_unit[order], np.arange(n_u + 1))
    set_unit: list[npt.NDArray[np.int64]] = []
    set_rows: list[npt.NDArray[np.int64]] = []
    large = np.zeros(n_u, dtype=bool)
    for i in range(n_u):
        cols = order[starts[i] : starts[i + 1]]
        block = cover[:, cols].tocsr()
        rows = np.flatnonzero(np.diff(block.indptr))
        member = block[rows].toarray().astype(np.float64)
        pop = problem.class_pop[cols]
        gap = float(problem.gap[i])
        reach = member @ pop
        alone = _reaches(reach, gap)
        singles = rows[alone]
        set_unit.append(np.full(singles.size, i, dtype=np.int64))
        set_rows.append(np.column_stack([singles, np.full(singles.size, -1)]))
        rest = np.flatnonzero(~alone)
        sub = member[rest]
        both = reach[rest][:, None] + reach[rest][None, :] - (sub * pop) @ sub.T
        if rest.size >= 2:
            a, b = np.nonzero(np.triu(_reaches(both, gap), 1))
            set_unit.append(np.full(a.size, i, dtype=np.int64))
            set_rows.append(np.column_stack([rows[rest[a]], rows[rest[b]]]))
        if rest.size >= 3 and _reaches(np.asarray(pop[member[rest].any(axis=0)].sum()), gap):
            large[i] = _larger_set(member[rest], pop, gap, _reaches(both, gap))
    return UnitSets(
        set_unit=np.concatenate(set_unit) if set_unit else np.zeros(0, dtype=np.int64),
        set_rows=(
            np.concatenate(set_rows).astype(np.int64)
            if set_rows
            else np.zeros((0, 2), dtype=np.int64)
        ),
        large=large,
    )


def rank_cuts(
    problem: CoverageProblem, sets: UnitSets, contributions: sp.csr_matrix | None = None
) -> sp.csr_matrix:
    """Valid inequalities ``sum(x_j / r_ij) >= 1``, one per target unit ``i`` (rows: units,
    columns: rows of ``problem.cover``).

    ``r_ij`` is a lower bound of the fewest candidates of a set that reaches unit ``i`` and
    holds ``j``: 1 when ``j`` reaches it alone, 2 when ``j`` does with one other (its small
    sets), otherwise at least 3 and at least 1 plus the fewest other candidates whose residents
    of ``i``, largest first, add up to what ``j`` leaves of the gap. Any set ``T`` reaching
    the unit has ``r_ij <= |T|`` for each of its members, so ``sum(1 / r_ij, j in T) >= 1``:
    every plan meets the cut. Unlike the unit cuts of
    :func:`coverage.plan.problem._unit_cuts`, it tells the relaxation that the candidates a
    unit could only use in threes are worth a third of one that reaches it alone.
    ``contributions``: :func:`coverage.plan.problem._contributions` when the caller has it.
    """
    from coverage.plan.problem import _contributions

    if contributions is None:
        contributions = _contributions(problem)
    reach = contributions.T.tocsr()  # units x rows
    reach.sort_indices()
    n_u, n_x = reach.shape
    unit = np.repeat(np.arange(n_u), np.diff(reach.indptr))
    key = unit * n_x + reach.indices.astype(np.int64)
    rank = np.zeros(key.size)
    single = sets.set_rows[:, 1] < 0
    in_pair = sets.set_unit[~single][:, None] * n_x + sets.set_rows[~single]
    rank[np.searchsorted(key, in_pair.ravel())] = 2.0
    rank[np.searchsorted(key, sets.set_unit[single] * n_x + sets.set_rows[single, 0])] = 1.0
    for i in range(n_u):
        lo, hi = reach.indptr[i], reach.indptr[i + 1]
        rest = np.flatnonzero(rank[lo:hi] == 0)
        if rest.size == 0:
            continue
        values = reach.data[lo:hi]
        # the largest reaches first, the candidate itself among them (a lower bound)
        summed = np.cumsum(np.sort(values)[::-1])
        need = problem.gap[i] * (1.0 - _TOL) - 1e-12 - values[rest]
        others = np.searchsorted(summed, need - 1e-9 * max(float(problem.gap[i]), 1.0)) + 1
        rank[lo + rest] = np.maximum(3.0, 1.0 + others)
    return sp.csr_matrix((1.0 / rank, reach.indices, reach.indptr), shape=(n_u, n_x))


def _restricted_program(
    problem: CoverageProblem, sets: UnitSets
) -> tuple[npt.NDArray[np.float64], sp.csr_matrix, npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """The program over [x | lambda | y]: ``c``, ``a``, the rows' lower bounds (no upper
    bounds) and the integrality of every variable."""
    n_x, n_u = problem.cover.shape[0], len(problem.units)
    n_s = sets.set_unit.size
    bare = np.ones(n_u, dtype=bool)
    bare[sets.set_unit] = False  # units without a small set keep their class rows
    q_cols = np.flatnonzero(bare[problem.class_unit])
    n_y = q_cols.size
    o_lam, o_y = n_x, n_x + n_s
    blocks: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]]
    blocks = []
    n_rows = 0

    def add(r: npt.ArrayLike, c: npt.ArrayLike, v: float | npt.ArrayLike) -> None:
        r_, c_ = np.asarray(r, dtype=np.int64), np.asarray(c, dtype=np.int64)
        blocks.append((r_ + n_rows, c_, np.broadcast_to(np.asarray(v, float), r_.shape)))

    lbs: list[npt.NDArray[np.float64]] = []
    # one small set per unit that has one
    has = np.flatnonzero(~bare)
    at = np.searchsorted(has, sets.set_unit)
    add(at, o_lam + np.arange(n_s), 1.0)
    lbs.append(np.ones(has.size))
    n_rows += has.size
    # x_j >= sum(lambda_s of unit i holding j), one row per (unit, candidate)
    first, second = sets.set_rows[:, 0], sets.set_rows[:, 1]
    paired = np.flatnonzero(second >= 0)
    keys, row_of = np.unique(
        np.r_[sets.set_unit * n_x + first, sets.set_unit[paired] * n_x + second[paired]],
        return_inverse=True,
    )
    add(np.arange(keys.size), keys % n_x, 1.0)
    add(row_of, o_lam + np.r_[np.arange(n_s), paired], -1.0)
    lbs.append(np.zeros(keys.size))
    n_rows += keys.size
    if n_y:
        # units without a small set: y_q <= sum(x_j covering q), sum(pop_q y_q) >= gap_i
        sub = problem.cover[:, q_cols].tocsc()
        add(np.arange(n_y), o_y + np.arange(n_y), -1.0)
        add(np.repeat(np.arange(n_y), np.diff(sub.indptr)), sub.indices, 1.0)
        lbs.append(np.zeros(n_y))
        n_rows += n_y
        units = np.flatnonzero(bare)
        unit = problem.class_unit[q_cols]
        add(
            np.searchsorted(units, unit),
            o_y + np.arange(n_y),
            problem.class_pop[q_cols] / problem.gap[unit],
        )
        lbs.append(np.ones(units.size))
        n_rows += units.size
    n_vars = o_y + n_y
    a = sp.csr_matrix(
        (
            np.concatenate([b[2] for b in blocks]),
            (np.concatenate([b[0] for b in blocks]), np.concatenate([b[1] for b in blocks])),
        ),
        shape=(n_rows, n_vars),
    )
    integral = np.zeros(n_vars, dtype=np.int64)
    integral[:n_x] = 1
    return np.r_[np.ones(n_x), np.zeros(n_vars - n_x)], a, np.concatenate(lbs), integral


@dataclass(frozen=True)
class RestrictedSolve:
    """What :func:`solve_restricted` found.

    Attributes
    ----------
    rows
        The candidates built (rows of ``problem.cover``), a plan that makes every target unit
        pass; ``None`` when the solver found none in its time.
    exact
        No unit has a larger set: the program is the problem itself, and ``optimal`` and
        ``bound`` hold for it.
    optimal
        The solver proved its plan optimal for the program (within ``mip_gap``).
    bound
        The solver's lower bound for the program (of the problem only when ``exact``).
    sets
        The small sets listed.
    listed
        The small sets themselves (their rank cuts bound the problem, :func:`rank_cuts`).
    """

    rows: npt.NDArray[np.int64] | None
    exact: bool
    optimal: bool
    bound: float
    sets: int
    listed: UnitSets


def solve_restricted(
    problem: CoverageProblem,
    *,
    time_limit: float | None,
    mip_gap: float,
    milp: Any,
) -> RestrictedSolve:
    """Solve the per-unit program of small sets (module docstring).

    Parameters
    ----------
    problem
        The coverage problem.
    time_limit
        Seconds for the solver (``None``: no limit).
    mip_gap
        Relative gap at which the solver may stop.
    milp
        ``milp(c, a, lb, ub, integral, time_limit=..., mip_gap=...)`` returning scipy's
        ``OptimizeResult``.

    Returns
    -------
    RestrictedSolve
    """
    sets = unit_sets(problem)
    c, a, lb, integral = _restricted_program(problem, sets)
    res = milp(c, a, lb, np.full(lb.size, np.inf), integral, time_limit=time_limit, mip_gap=mip_gap)
    bound = solver_bound(res)
    rows = None if res.x is None else np.flatnonzero(res.x[: problem.cover.shape[0]] > 0.5)
    optimal = res.status == 0 and rows is not None
    return RestrictedSolve(
        rows=None if rows is None else rows.astype(np.int64),
        exact=not bool(sets.large.any()),
        optimal=optimal,
        bound=bound,
        sets=int(sets.set_unit.size),
        listed=sets,
    )


def solver_bound(res: Any) -> float:
    """The lower bound a HiGHS solve proves for a minimisation with integral objective, rounded
    up: its dual bound, and when it finished, its objective less its relative gap (0 when it
    has neither)."""
    bound = 0.0
    value = getattr(res, "mip_dual_bound", None)
    if value is not None and np.isfinite(value):
        bound = float(max(0, math.ceil(float(value) - 1e-6)))
    fun = getattr(res, "fun", None)
    if getattr(res, "status", None) == 0 and fun is not None and np.isfinite(fun):
        gap = float(getattr(res, "mip_gap", 0.0) or 0.0)
        bound = max(bound, float(math.ceil(float(fun) * (1.0 - gap) - 1e-6)))
    return bound
