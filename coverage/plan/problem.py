"""Coverage problems and their exact (HiGHS) and greedy solutions."""

from __future__ import annotations

import dataclasses
import heapq
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from coverage.plan.improve import improve
from coverage.plan.unit_sets import UnitSets, rank_cuts, solve_restricted, solver_bound
from coverage.rules import is_close_or_above

if TYPE_CHECKING:
    pass


__all__ = [
    "CoverageProblem",
    "Solution",
    "Status",
    "greedy_sites",
    "solve_budgeted",
    "solve_min_sites",
]

logger = logging.getLogger(__name__)


Status = Literal["optimal", "time_limit"]

#: Share of a min-sites solve's time limit given to the class-by-class program; when it stops
#: before proving its plan, the per-unit program of small sets (:mod:`coverage.plan.unit_sets`)
#: gets the rest.
CLASS_SHARE = 0.3

#: Share of a stopped min-sites solve's time limit kept for proving its bound: the integer
#: program over the cuts alone (:func:`_cut_bound`), a relaxation whose branch and bound raises
#: the bound of its linear relaxation (measured on the city case's largest part: 910 sites
#: from the relaxation, 952 after 10 s).
BOUND_SHARE = 0.15

#: Share of a stopped min-sites solve's time limit for improving its best plan region by region
#: (:func:`coverage.plan.improve.improve`). Measured on the city case with a 90 s limit: the
#: small-set program's plan is the same with 18 s as with 90 s (1,394 sites), while the search
#: keeps saving sites (1,351 -> 1,333 in 20 s, -> 1,325 in 29 s, -> 1,299 in 72 s).
IMPROVE_SHARE = 0.35


# ---- problems ---------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CoverageProblem:
    """One rule and category: the communities (or streets) to make pass, and what each
    candidate would bring within reach.

    Attributes
    ----------
    rule, category, unit
        The rule id, the category planned and the unit (``community`` or ``street``).
    budget_m
        The walking budget.
    units
        Ids of the target units: failing today, able to pass.
    total
        Residents of each target unit.
    gap
        Residents each target unit still needs within reach (the pack's share of its residents
        less those within reach today).
    cover
        Boolean (kept candidates × classes): a class is the residents of one unit covered by
        the same candidates.
    class_unit, class_pop
        The target unit (position) and residents of every class.
    candidates
        Positions (into the plan's candidate table) of the rows of ``cover``.
    n_candidates
        Candidates covering somebody still to be reached, before pruning.
    """

    rule: str
    category: str
    unit: str
    budget_m: float
    units: pd.Index
    total: npt.NDArray[np.float64]
    gap: npt.NDArray[np.float64]
    cover: sp.csr_matrix
    class_unit: npt.NDArray[np.int64]
    class_pop: npt.NDArray[np.float64]
    candidates: npt.NDArray[np.int64]
    n_candidates: int = 0

    @classmethod
    def from_coverage(
        cls,
        cover: Any,
        *,
        unit: npt.ArrayLike,
        population: npt.ArrayLike,
        share: float = 1.0,
        reached: npt.ArrayLike | None = None,
        rule: str = "",
        category: str = "",
        budget_m: float = math.nan,
    ) -> CoverageProblem:
        """A problem from a plain coverage matrix (candidates × origins), as spopt builds its
        models from one.

        Parameters
        ----------
        cover
            Boolean, dense or sparse, shape (candidates, origins): candidate covers origin.
        unit
            The unit (community) label of every origin.
        population
            Residents of every origin.
        share
            Share of a unit's residents that must be within reach.
        reached
            Origins within reach of an existing facility today (default none).
        rule, category, budget_m
            Labels.

        Returns
        -------
        CoverageProblem
            Targets: the units below the share that every candidate together lifts to it
            (the others are left out, as :func:`plan` lists them as impossible).
        """
        matrix = sp.csr_matrix(cover, dtype=bool)
        labels = pd.Index(pd.unique(np.asarray(unit, dtype=object)))
        codes = labels.get_indexer(np.asarray(unit, dtype=object))
        pop = np.asarray(population, dtype=float)
        now_mask = (
            np.zeros(pop.size, dtype=bool) if reached is None else np.asarray(reached, dtype=bool)
        )
        n = len(labels)
        total = np.bincount(codes, weights=pop, minlength=n)
        now = np.bincount(codes, weights=pop * now_mask, minlength=n)
        coverable = np.zeros(pop.size, dtype=bool)
        coverable[matrix.indices] = True
        open_ = coverable & ~now_mask
        best = now + np.bincount(codes, weights=pop * open_, minlength=n)
        target = np.array(
            [
                not _passes(a, t, share) and _passes(b, t, share)
                for a, b, t in zip(now, best, total, strict=True)
            ],
            dtype=bool,
        )
        keep = open_ & target[codes]
        return cls.of_targets(
            matrix[:, np.flatnonzero(keep)],
            origin_unit=codes[keep],
            population=pop[keep],
            target=target,
            units=labels,
            total=total,
            gap=share * total - now,
            rule=rule,
            category=category,
            unit="community",
            budget_m=budget_m,
        )

    @classmethod
    def of_targets(
        cls,
        cover: Any,
        *,
        origin_unit: npt.NDArray[np.int64],
        population: npt.NDArray[np.float64],
        target: npt.NDArray[np.bool_],
        units: pd.Index,
        total: npt.ArrayLike,
        gap: npt.ArrayLike,
        rule: str,
        category: str,
        unit: str,
        budget_m: float,
    ) -> CoverageProblem:
        """The problem of the target units, from the coverage of the residents still to reach:
        residents merged into classes, dominated candidates pruned.

        Parameters
        ----------
        cover
            Sparse (candidates × origins): candidate covers origin; only origins of target
            units, not yet within reach.
        origin_unit, population
            Each origin's unit (position in ``units``) and residents.
        target
            Per unit of ``units``: a target (failing today, able to pass).
        units, total, gap
            Every unit's id, residents and residents still needed; the problem keeps the
            targets'.
        rule, category, unit, budget_m
            Labels.
        """
        t_pos = np.full(len(units), -1, dtype=np.int64)
        t_pos[target] = np.arange(int(target.sum()))
        classes, class_unit, class_pop = _classes(
            sp.csc_matrix(cover), t_pos[origin_unit], population
        )
        kept = _prune(classes)
        return cls(
            rule=rule,
            category=category,
            unit=unit,
            budget_m=budget_m,
            units=units[target],
            total=np.asarray(total, dtype=np.float64)[target],
            gap=np.asarray(gap, dtype=np.float64)[target],
            cover=classes[kept],
            class_unit=class_unit,
            class_pop=class_pop,
            candidates=kept,
            n_candidates=int((np.diff(classes.indptr) > 0).sum()),
        )

    def sites(self, rows: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """The candidates (rows of the original coverage matrix) of ``rows`` of ``cover``."""
        return np.asarray(self.candidates[np.asarray(rows, dtype=np.int64)], dtype=np.int64)

    def new_residents(self, rows: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Residents per target unit newly within reach when the ``rows`` of ``cover`` are
        built."""
        rows = np.asarray(rows, dtype=np.int64)
        hit = np.zeros(self.cover.shape[1], dtype=bool)
        if rows.size:
            hit[self.cover[rows].indices] = True
        return np.bincount(
            self.class_unit[hit], weights=self.class_pop[hit], minlength=len(self.units)
        ).astype(np.float64)

    def passing(self, rows: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Which target units reach their share when the ``rows`` of ``cover`` are built."""
        new = self.new_residents(rows)
        return np.array(
            [is_close_or_above(n, g) for n, g in zip(new, self.gap, strict=True)], dtype=bool
        )


def _classes(
    cover: sp.csc_matrix, unit: npt.NDArray[np.int64], pop: npt.NDArray[np.float64]
) -> tuple[sp.csr_matrix, npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Merge the origins (columns) of one unit covered by the same candidates."""
    keys: dict[tuple[int, bytes], int] = {}
    cls = np.empty(cover.shape[1], dtype=np.int64)
    indptr, indices = cover.indptr, cover.indices
    for o in range(cover.shape[1]):
        key = (int(unit[o]), indices[indptr[o] : indptr[o + 1]].tobytes())
        cls[o] = keys.setdefault(key, len(keys))
    n = len(keys)
    class_unit = np.zeros(n, dtype=np.int64)
    class_unit[cls] = unit
    class_pop = np.bincount(cls, weights=pop, minlength=n).astype(np.float64)
    merge = sp.csr_matrix((np.ones(cls.size), (np.arange(cls.size), cls)), shape=(cls.size, n))
    merged = (cover.astype(np.float64) @ merge).tocsr()
    merged.data[:] = 1.0
    return merged.astype(bool), class_unit, class_pop


def _prune(cover: sp.csr_matrix) -> npt.NDArray[np.int64]:
    """Rows of ``cover`` not dominated: a row whose columns are a subset of another row's is
    dropped; of identical rows the first is kept."""
    counts = np.diff(cover.indptr)
    live = np.flatnonzero(counts > 0)
    if live.size <= 1:
        return live
    sub = cover[live].astype(np.int32)
    overlap = (sub @ sub.T).tocoo()
    size = counts[live]
    i, j, v = overlap.row, overlap.col, overlap.data
    contained = (i != j) & (v == size[i])  # row i inside row j
    same = size[i] == size[j]
    dominated = contained & (~same | (j < i))
    drop = np.zeros(live.size, dtype=bool)
    drop[i[dominated]] = True
    return live[~drop]


def _passes(reached: float, total: float, share: float) -> bool:
    return total > 0 and is_close_or_above(reached / total, share)


# ---- solvers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Solution:
    """What one solve found: the rows built (per problem), the status and gap, the objective,
    the seconds; for a budgeted solve the units passing; for a min-sites solve stopped at its
    time limit the size of the greedy plan it was compared with; for a min-sites solve the
    proven lower bound of the number of sites (``bound``; the gap is
    ``(objective - bound) / objective``) and the number of independent sub-problems it was
    solved as (``components``)."""

    rows: tuple[npt.NDArray[np.int64], ...]
    status: Status
    gap: float
    objective: float
    seconds: float
    passing: npt.NDArray[np.bool_] | None = None
    greedy_sites: int | None = None
    bound: float | None = None
    components: int = 1


def _milp(
    c: npt.NDArray[np.float64],
    a: sp.csr_matrix,
    lb: npt.NDArray[np.float64],
    ub: npt.NDArray[np.float64],
    integral: npt.NDArray[np.int64],
    *,
    time_limit: float | None,
    mip_gap: float,
) -> Any:
    from scipy.optimize import Bounds, LinearConstraint, milp

    options: dict[str, Any] = {"mip_rel_gap": mip_gap, "presolve": True}
    if time_limit is not None:
        options["time_limit"] = max(float(time_limit), 0.01)
    return milp(
        c,
        constraints=LinearConstraint(a, lb, ub),
        integrality=integral,
        bounds=Bounds(np.zeros(c.size), np.ones(c.size)),
        options=options,
    )


def _cover_block(problem: CoverageProblem) -> sp.csr_matrix:
    """``y_q - sum(x_j covering q) <= 0``: the class rows over [x | y]."""
    n_q = problem.cover.shape[1]
    return sp.hstack(
        [-problem.cover.T.astype(np.float64), sp.identity(n_q, format="csr")], format="csr"
    )


def _unit_block(problem: CoverageProblem) -> sp.csr_matrix:
    """``sum(pop_q / total_i * y_q)`` per target unit, over the classes."""
    n_q = problem.cover.shape[1]
    return sp.csr_matrix(
        (
            problem.class_pop / problem.total[problem.class_unit],
            (problem.class_unit, np.arange(n_q)),
        ),
        shape=(len(problem.units), n_q),
    )


def _contributions(problem: CoverageProblem) -> sp.csr_matrix:
    """Residents of each target unit (columns) each candidate (rows) brings within reach."""
    weights = sp.csr_matrix(
        (problem.class_pop, (np.arange(problem.class_unit.size), problem.class_unit)),
        shape=(problem.class_unit.size, len(problem.units)),
    )
    return (problem.cover.astype(np.float64) @ weights).tocsr()


def _unit_cuts(
    problem: CoverageProblem, contributions: sp.csr_matrix | None = None
) -> tuple[sp.csr_matrix, npt.NDArray[np.float64]]:
    """Valid inequalities over the candidates alone that tighten the programs' relaxation.

    Per target unit ``i`` with gap ``g`` and ``c_ij`` the residents of ``i`` candidate ``j``
    reaches: the unit's new residents are at most ``sum(c_ij x_j)``, so
    ``sum(min(c_ij, g) x_j) >= g`` (coefficients above the right-hand side reduced, valid for
    binary ``x``); and at least ``m_i`` candidates reaching it are needed, ``m_i`` the fewest
    of the largest ``c_ij`` that sum to ``g``. Both are scaled by ``g``. ``contributions``:
    :func:`_contributions` when the caller has it.
    """
    contrib = (_contributions(problem) if contributions is None else contributions).tocsc()
    n_units = len(problem.units)
    gap = np.maximum(problem.gap, 1e-12)
    knap = contrib.copy()
    unit_of = np.repeat(np.arange(n_units), np.diff(knap.indptr))
    knap.data = np.minimum(knap.data, gap[unit_of]) / gap[unit_of]
    count = contrib.copy()
    count.data[:] = 1.0
    least = np.ones(n_units)
    for i in range(n_units):
        values = np.sort(contrib.data[contrib.indptr[i] : contrib.indptr[i + 1]])[::-1]
        reach = np.cumsum(values)
        hit = np.flatnonzero(reach >= gap[i] * (1 - 1e-9))
        least[i] = hit[0] + 1 if hit.size else max(values.size, 1)
    cuts = sp.vstack([knap.T.tocsr(), count.T.tocsr()], format="csr")
    return cuts, np.r_[np.ones(n_units), least]


def _status(res: Any) -> tuple[Status, float]:
    if res.status == 0:
        gap = float(getattr(res, "mip_gap", 0.0) or 0.0)
        return "optimal", gap
    found = getattr(res, "mip_gap", None)
    return "time_limit", math.inf if found is None or not np.isfinite(found) else float(found)


def _solve_min_sites_whole(
    problem: CoverageProblem, *, time_limit: float | None, mip_gap: float
) -> Solution:
    """:func:`solve_min_sites` of one program, not decomposed.

    The class-by-class program (module :mod:`coverage.plan`) is solved first, with
    :data:`CLASS_SHARE` of the time limit: it proves small problems optimal in seconds. When it
    stops before, the per-unit program of small sets (:mod:`coverage.plan.unit_sets`) gets the
    rest but :data:`BOUND_SHARE` and :data:`IMPROVE_SHARE`: its relaxation is tight and it
    finds far better plans on large problems. The smallest of its plan, the first program's and
    the greedy one is then improved region by region (:func:`coverage.plan.improve.improve`),
    and the gap is measured against the best valid lower bound (the first program's, or that of
    the cuts, proven in the time left: :func:`_cut_bound`).

    Parameters
    ----------
    problem
        The coverage problem.
    time_limit
        Seconds for the solvers; stopped, they return their best plan (or, when they found
        none, the greedy one) with the gap to the bound.
    mip_gap
        Relative gap at which the solver may stop (0: proven optimum).

    Returns
    -------
    Solution
        ``rows`` (one array: rows of ``problem.cover``), status and gap.
    """
    started = time.perf_counter()
    n_x, n_q = problem.cover.shape
    if len(problem.units) == 0 or n_x == 0:
        return Solution((np.zeros(0, dtype=np.int64),), "optimal", 0.0, 0.0, 0.0, bound=0.0)
    cuts, cut_lb = _unit_cuts(problem)
    a = sp.vstack(
        [
            _cover_block(problem),
            sp.hstack([sp.csr_matrix((len(problem.units), n_x)), _unit_block(problem)]),
            sp.hstack([cuts, sp.csr_matrix((cuts.shape[0], n_q))]),
        ],
        format="csr",
    )
    lb = np.r_[np.full(n_q, -np.inf), problem.gap / problem.total, cut_lb]
    ub = np.r_[np.zeros(n_q), np.full(len(problem.units) + cuts.shape[0], np.inf)]
    c = np.r_[np.ones(n_x), np.zeros(n_q)]
    res = _milp(
        c,
        a,
        lb,
        ub,
        np.r_[np.ones(n_x), np.zeros(n_q)].astype(np.int64),
        time_limit=None if time_limit is None else time_limit * CLASS_SHARE,
        mip_gap=mip_gap,
    )
    status, gap = _status(res)
    rows = None if res.x is None else _repair(problem, np.flatnonzero(res.x[:n_x] > 0.5))
    bound = solver_bound(res)
    if status == "optimal":
        assert rows is not None
        return Solution(
            (rows,),
            status,
            gap,
            float(rows.size),
            time.perf_counter() - started,
            bound=float(min(bound, rows.size)),
        )
    # stopped: the per-unit program of small sets, with the time left but the search's and the
    # bound's shares
    left = None
    if time_limit is not None:
        left = max(
            time_limit * (1.0 - BOUND_SHARE - IMPROVE_SHARE) - (time.perf_counter() - started),
            0.0,
        )
    small = solve_restricted(problem, time_limit=left, mip_gap=mip_gap, milp=_milp)
    restricted = None if small.rows is None else _repair(problem, small.rows)
    if small.exact and small.optimal and restricted is not None:
        # no unit has a larger set: the program is the problem, and its optimum proven
        bound = max(bound, small.bound)
        if restricted.size <= bound:
            return Solution(
                (restricted,),
                "optimal",
                0.0,
                float(restricted.size),
                time.perf_counter() - started,
                bound=float(restricted.size),
            )
    elif small.exact:
        bound = max(bound, small.bound)
    # the smallest plan of the two programs and the greedy heuristic (a stopped solver's
    # incumbent can be poor)
    greedy = greedy_sites(problem)
    plans = [p for p in (rows, restricted, _repair(problem, greedy)) if p is not None]
    # a plan may hold sites the later ones made redundant
    rows = min((drop_redundant(problem, p) for p in plans), key=lambda p: p.size)
    # then better, one neighbourhood at a time, until the bound's share of the time is left
    if time_limit is not None:
        left = time_limit * (1.0 - BOUND_SHARE) - (time.perf_counter() - started)
        rows = drop_redundant(problem, improve(problem, rows, time_limit=left, milp=_milp))
    # the class-by-class bound is weak (or missing) when its solver stopped before the root
    # relaxation was solved: the cuts' program bounds the problem, in the time left
    left = None if time_limit is None else time_limit - (time.perf_counter() - started)
    bound = min(max(bound, _cut_bound(problem, small.listed, time_limit=left)), float(rows.size))
    logger.info(
        "%s %s: %d small sets (%s), %s sites from them; %d sites, bound %g, %.1f s",
        problem.rule,
        problem.category,
        small.sets,
        "exact" if small.exact else "a restriction: larger sets not listed",
        "no" if restricted is None else restricted.size,
        rows.size,
        bound,
        time.perf_counter() - started,
    )
    return Solution(
        (rows,),
        "time_limit",
        max(0.0, (rows.size - bound) / rows.size) if rows.size else 0.0,
        float(rows.size),
        time.perf_counter() - started,
        greedy_sites=int(greedy.size),
        bound=bound,
    )


def drop_redundant(problem: CoverageProblem, rows: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """A plan without the sites it does not need: each site, the last built first, is dropped
    when every target unit still reaches its share without it.

    Greedy picks a site early that later ones may make redundant (the site reaching the most
    residents first, then sites on either side of it that together reach all of its
    residents); on the city case this takes 64 of greedy's 1,768 sites away in 0.02 s.

    Parameters
    ----------
    problem
        The coverage problem.
    rows
        A plan (rows of ``problem.cover``) that makes every target unit pass, in build order.

    Returns
    -------
    numpy.ndarray
        The rows kept, in their order; no single one of them can be dropped.
    """
    rows = np.asarray(rows, dtype=np.int64)
    cover = problem.cover.tocsr()
    times = np.zeros(cover.shape[1], dtype=np.int64)
    for j in rows:
        times[cover.indices[cover.indptr[j] : cover.indptr[j + 1]]] += 1
    slack = problem.new_residents(rows) - problem.gap
    tolerance = 1e-9 * np.maximum(problem.total, 1.0)
    keep = np.ones(rows.size, dtype=bool)
    for at in range(rows.size - 1, -1, -1):
        j = rows[at]
        hit = cover.indices[cover.indptr[j] : cover.indptr[j + 1]]
        alone = hit[times[hit] == 1]
        loss = np.bincount(
            problem.class_unit[alone], weights=problem.class_pop[alone], minlength=slack.size
        )
        if (slack - loss >= -tolerance).all():
            slack -= loss
            times[hit] -= 1
            keep[at] = False
    return rows[keep]


def _cut_bound(
    problem: CoverageProblem, sets: UnitSets | None = None, *, time_limit: float | None = None
) -> float:
    """A lower bound of the fewest sites from the unit cuts of :func:`_unit_cuts` alone, with
    the rank cuts of the units' small sets when given
    (:func:`coverage.plan.unit_sets.rank_cuts`): every plan meets the cuts, so the fewest
    candidates that meet them are no more than the fewest sites. The linear relaxation's
    value, rounded up, and with ``time_limit`` seconds, the bound HiGHS proves for the integer
    program over the cuts (its dual bound; the optimum if it finishes)."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    contributions = _contributions(problem)
    cuts, cut_lb = _unit_cuts(problem, contributions)
    if sets is not None:
        ranked = rank_cuts(problem, sets, contributions)
        cuts = sp.vstack([cuts, ranked], format="csr")
        cut_lb = np.r_[cut_lb, np.ones(ranked.shape[0])]
    n_x = problem.cover.shape[0]
    res = milp(  # the relaxation, always solved (not through _milp and its time limit)
        np.ones(n_x),
        constraints=LinearConstraint(cuts, cut_lb, np.inf),
        integrality=np.zeros(n_x),
        bounds=Bounds(np.zeros(n_x), np.ones(n_x)),
    )
    if res.status != 0 or res.fun is None:
        return 0.0
    bound = float(max(0, math.ceil(float(res.fun) - 1e-6)))
    if time_limit is not None and time_limit > 0.5:
        integral = _milp(
            np.ones(n_x),
            cuts,
            cut_lb,
            np.full(cut_lb.size, np.inf),
            np.ones(n_x, dtype=np.int64),
            time_limit=time_limit,
            mip_gap=0.0,
        )
        bound = max(bound, solver_bound(integral))
    return bound


def components(
    problem: CoverageProblem,
) -> list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
    """The independent sub-problems of a coverage problem.

    Two target units are in one sub-problem when a candidate reaches residents of both (or,
    transitively, through other units); the fewest sites of the whole is the sum of the
    fewest sites of its sub-problems.

    Returns
    -------
    list of (rows, units)
        Per sub-problem, the rows of ``problem.cover`` and the target units (positions), the
        smallest sub-problem first.
    """
    from scipy.sparse.csgraph import connected_components

    n_x = problem.cover.shape[0]
    n_u = len(problem.units)
    cover = problem.cover.tocsr()
    rows_of = np.repeat(np.arange(n_x), np.diff(cover.indptr))
    link = sp.csr_matrix(
        (np.ones(rows_of.size), (rows_of, problem.class_unit[cover.indices])), shape=(n_x, n_u)
    )
    graph = sp.bmat([[None, link], [link.T, None]], format="csr")
    n, label = connected_components(graph, directed=False)
    row_label, unit_label = label[:n_x], label[n_x:]
    order = np.argsort(
        np.bincount(row_label, minlength=n) + np.bincount(unit_label, minlength=n), kind="stable"
    )
    out = []
    for c in order:
        units = np.flatnonzero(unit_label == c)
        if units.size == 0:
            continue  # a candidate reaching no target unit (pruned problems have none)
        out.append((np.flatnonzero(row_label == c).astype(np.int64), units.astype(np.int64)))
    return out


def subproblem(
    problem: CoverageProblem, rows: npt.ArrayLike, units: npt.ArrayLike
) -> CoverageProblem:
    """The problem restricted to some rows of ``cover`` and target units (positions); its
    ``candidates`` are still positions in the plan's candidate table."""
    rows = np.asarray(rows, dtype=np.int64)
    units = np.asarray(units, dtype=np.int64)
    new_pos = np.full(len(problem.units), -1, dtype=np.int64)
    new_pos[units] = np.arange(units.size)
    cols = np.flatnonzero(new_pos[problem.class_unit] >= 0)
    return dataclasses.replace(
        problem,
        units=problem.units[units],
        total=problem.total[units],
        gap=problem.gap[units],
        cover=problem.cover[rows][:, cols].tocsr(),
        class_unit=new_pos[problem.class_unit[cols]],
        class_pop=problem.class_pop[cols],
        candidates=problem.candidates[rows],
        n_candidates=int(rows.size),
    )


def reduce_forced(
    problem: CoverageProblem,
) -> tuple[npt.NDArray[np.int64], CoverageProblem, npt.NDArray[np.int64]]:
    """Exact reductions of the min-sites program: the sites every plan must build, and what
    is left to decide.

    A candidate is forced when some target unit cannot reach its share without it (the
    residents only it reaches are more than the unit's slack). Forced sites are built: the
    residents they reach leave the problem, the units they make pass too, and of candidates
    reaching the same residents (or fewer) one is kept; repeated until nothing changes. Some
    optimal plan uses only kept candidates (a dropped one's place is taken by the one that
    reaches all its residents), and every plan of kept candidates contains the forced sites,
    so the fewest sites are the forced ones plus the fewest of the rest.

    Returns
    -------
    forced
        Rows of ``problem.cover`` every plan builds.
    residual
        The problem left (target units still short, their remaining gaps).
    rows
        The row of ``problem.cover`` of every row of ``residual.cover``.
    """
    cover = problem.cover.tocsr()
    n_x, n_q = cover.shape
    n_u = len(problem.units)
    live_rows = np.arange(n_x)
    live_cols = np.arange(n_q)
    gap = problem.gap.astype(np.float64).copy()
    tolerance = 1e-9 * np.maximum(problem.total, 1.0)
    forced: list[npt.NDArray[np.int64]] = []
    while True:
        sub = cover[live_rows][:, live_cols].tocsc()
        unit, pop = problem.class_unit[live_cols], problem.class_pop[live_cols]
        times = np.diff(sub.indptr)
        reach = np.bincount(unit, weights=pop * (times > 0), minlength=n_u)
        once = np.flatnonzero(times == 1)
        only = sp.coo_matrix(
            (pop[once], (sub.indices[sub.indptr[once]], unit[once])), shape=(live_rows.size, n_u)
        ).tocsr()
        only.sum_duplicates()
        only = only.tocoo()
        must = np.unique(
            only.row[reach[only.col] - only.data < gap[only.col] - tolerance[only.col]]
        )
        if must.size:
            hit = np.unique(sub.tocsr()[must].indices)
            gap -= np.bincount(unit[hit], weights=pop[hit], minlength=n_u)
            forced.append(live_rows[must])
            done = gap <= tolerance
            cols = np.ones(live_cols.size, dtype=bool)
            cols[hit] = False
            live_cols = live_cols[cols & ~done[unit]]
            rest = np.ones(live_rows.size, dtype=bool)
            rest[must] = False
            live_rows = live_rows[rest]
            left = cover[live_rows][:, live_cols].tocsr()
            live_rows = live_rows[np.diff(left.indptr) > 0]
            continue
        kept = _prune(sub.tocsr())
        if kept.size == live_rows.size:
            break
        live_rows = live_rows[kept]
    units = np.unique(problem.class_unit[live_cols])
    residual = subproblem(problem, live_rows, units)
    residual = dataclasses.replace(residual, gap=gap[units])
    if live_cols.size < residual.cover.shape[1]:  # the residents forced sites already reach
        keep_cols = np.isin(np.flatnonzero(np.isin(problem.class_unit, units)), live_cols)
        residual = dataclasses.replace(
            residual,
            cover=residual.cover[:, np.flatnonzero(keep_cols)].tocsr(),
            class_unit=residual.class_unit[keep_cols],
            class_pop=residual.class_pop[keep_cols],
        )
    chosen = np.concatenate(forced) if forced else np.zeros(0, dtype=np.int64)
    return chosen.astype(np.int64), residual, live_rows.astype(np.int64)


def solve_min_sites(
    problem: CoverageProblem,
    *,
    time_limit: float | None = None,
    mip_gap: float = 0.0,
    decompose: bool = True,
) -> Solution:
    """The fewest candidates that make every target unit reach its share (exact, HiGHS).

    The sites every plan builds are found first (:func:`reduce_forced`), and what is left is
    split into its independent sub-problems (:func:`components`), each solved alone, smallest
    first; their sites and lower bounds add up.

    Parameters
    ----------
    problem
        The coverage problem.
    time_limit
        Seconds for the solver, over all sub-problems (each gets what the earlier ones left);
        a stopped sub-problem gives its best plan (or, when it found none, the greedy one) and
        its lower bound.
    mip_gap
        Relative gap at which the solver may stop (0: proven optimum).
    decompose
        Reduce and split into independent sub-problems (default); ``False`` solves one
        program.

    Returns
    -------
    Solution
        ``rows`` (one array: rows of ``problem.cover``), status and gap; the gap is that of
        the whole: (sites - summed lower bounds) / sites.
    """
    started = time.perf_counter()
    if not decompose or len(problem.units) == 0:
        return _solve_min_sites_whole(problem, time_limit=time_limit, mip_gap=mip_gap)
    forced, residual, residual_rows = reduce_forced(problem)
    parts = components(residual) if len(residual.units) else []
    if forced.size == 0 and len(parts) <= 1:
        return _solve_min_sites_whole(problem, time_limit=time_limit, mip_gap=mip_gap)
    rows: list[npt.NDArray[np.int64]] = [forced]
    bound = float(forced.size)
    statuses: list[Status] = []
    for part_rows, part_units in parts:
        left = None if time_limit is None else time_limit - (time.perf_counter() - started)
        sub = subproblem(residual, part_rows, part_units)
        sol = _solve_min_sites_whole(sub, time_limit=left, mip_gap=mip_gap)
        rows.append(residual_rows[part_rows[sol.rows[0]]])
        bound += sol.bound if sol.bound is not None else 0.0
        statuses.append(sol.status)
    chosen = _repair(problem, np.concatenate(rows))
    status: Status = "optimal" if all(s == "optimal" for s in statuses) else "time_limit"
    # the greedy plan of the whole, for comparison, as a solve of the whole reports it
    greedy_size = int(greedy_sites(problem).size) if status == "time_limit" else None
    gap = max(0.0, (chosen.size - bound) / chosen.size) if chosen.size else 0.0
    logger.info(
        "%s %s: %d forced sites, %d sub-problems, the largest %d candidates x %d units; "
        "%d sites, bound %g",
        problem.rule,
        problem.category,
        forced.size,
        len(parts),
        parts[-1][0].size if parts else 0,
        parts[-1][1].size if parts else 0,
        chosen.size,
        bound,
    )
    return Solution(
        (chosen,),
        status,
        gap if status == "time_limit" or gap > 1e-12 else 0.0,
        float(chosen.size),
        time.perf_counter() - started,
        greedy_sites=greedy_size,
        bound=bound,
        components=len(parts),
    )


def _repair(problem: CoverageProblem, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Add greedy picks for a target unit a solver's tolerances left just short (never seen
    in practice; logged when it happens)."""
    ok = problem.passing(rows)
    if ok.all():
        return rows
    logger.warning(
        "%s %s: the solver's plan leaves %d units short by rounding; completed greedily",
        problem.rule,
        problem.category,
        int((~ok).sum()),
    )
    return greedy_sites(problem, start=rows)


def greedy_sites(problem: CoverageProblem, *, start: npt.ArrayLike = ()) -> npt.NDArray[np.int64]:
    """The AccessMod-style heuristic: repeatedly build the candidate that brings the most
    residents still needed within reach (per unit, only what the unit still needs counts), one
    site costing one.

    Parameters
    ----------
    problem
        The coverage problem.
    start
        Rows already built.

    Returns
    -------
    numpy.ndarray
        Rows of ``problem.cover`` in the order picked (``start`` first).
    """
    chosen = [int(r) for r in np.asarray(start, dtype=np.int64)]
    remaining = problem.gap - problem.new_residents(chosen)
    uncovered = np.ones(problem.cover.shape[1], dtype=bool)
    if chosen:
        uncovered[problem.cover[chosen].indices] = False
    n_units = len(problem.units)
    cover = problem.cover.tocsr()
    unit_of, pop_of = problem.class_unit, problem.class_pop

    def gain(j: int) -> float:
        hit = cover.indices[cover.indptr[j] : cover.indptr[j + 1]]
        hit = hit[uncovered[hit]]
        if hit.size == 0:
            return 0.0
        units, at = np.unique(unit_of[hit], return_inverse=True)
        new = np.bincount(at, weights=pop_of[hit])
        return float(np.minimum(new, np.maximum(remaining[units], 0.0)).sum())

    # lazy evaluation: a candidate's gain never grows as others are built (its uncovered
    # residents and the units' remaining needs only shrink), so a stale gain is an upper bound
    heap = [(-gain(j), j) for j in range(cover.shape[0])]
    heapq.heapify(heap)
    tolerance = 1e-9 * np.maximum(problem.total, 1.0)
    while heap and (remaining > tolerance).any():
        _, j = heapq.heappop(heap)
        current = gain(j)
        if current <= 0:
            continue
        if heap and current < -heap[0][0] - 1e-12:
            heapq.heappush(heap, (-current, j))
            continue
        chosen.append(j)
        hit = cover.indices[cover.indptr[j] : cover.indptr[j + 1]]
        hit = hit[uncovered[hit]]
        remaining = remaining - np.bincount(unit_of[hit], weights=pop_of[hit], minlength=n_units)
        uncovered[hit] = False
    return np.asarray(chosen, dtype=np.int64)


def solve_budgeted(
    problems: Sequence[CoverageProblem],
    k: int,
    *,
    units: pd.Index,
    residents: npt.NDArray[np.float64],
    time_limit: float | None = None,
    mip_gap: float = 0.0,
) -> Solution:
    """At most ``k`` new sites over all ``problems`` (the categories of one rule), maximising
    the residents in units that then reach their share in every category (exact, HiGHS).

    Parameters
    ----------
    problems
        The rule's coverage problems (one per category).
    k
        The number of new sites allowed.
    units
        The units that can pass the rule with new sites (every problem's target units are
        among them, or already pass that category).
    residents
        Residents of each of ``units``.
    time_limit, mip_gap
        As in :func:`solve_min_sites`.

    Returns
    -------
    Solution
        ``rows`` per problem, ``passing`` over ``units``; ``objective`` the residents in the
        units made to pass.
    """
    started = time.perf_counter()
    n_z = len(units)
    sizes = [p.cover.shape for p in problems]
    n_vars = sum(a + b for a, b in sizes) + n_z
    blocks: list[sp.csr_matrix] = []
    lbs: list[npt.NDArray[np.float64]] = []
    ubs: list[npt.NDArray[np.float64]] = []
    offset = 0
    budget_row = np.zeros(n_vars)
    for p, (n_x, n_q) in zip(problems, sizes, strict=True):
        width = n_x + n_q
        cover = _cover_block(p)
        left = sp.csr_matrix((n_q, offset))
        right = sp.csr_matrix((n_q, n_vars - offset - width))
        blocks.append(sp.hstack([left, cover, right], format="csr"))
        lbs.append(np.full(n_q, -np.inf))
        ubs.append(np.zeros(n_q))
        unit_rows = _unit_block(p)
        zpos = units.get_indexer(p.units)
        z = sp.csr_matrix(
            (-p.gap / p.total, (np.arange(len(p.units)), zpos)), shape=(len(p.units), n_z)
        )
        blocks.append(
            sp.hstack(
                [
                    sp.csr_matrix((len(p.units), offset + n_x)),
                    unit_rows,
                    sp.csr_matrix((len(p.units), n_vars - offset - width - n_z)),
                    z,
                ],
                format="csr",
            )
        )
        lbs.append(np.zeros(len(p.units)))
        ubs.append(np.full(len(p.units), np.inf))
        budget_row[offset : offset + n_x] = 1.0
        offset += width
    blocks.append(sp.csr_matrix(budget_row[None, :]))
    lbs.append(np.array([-np.inf]))
    ubs.append(np.array([float(k)]))
    c = np.zeros(n_vars)
    c[-n_z:] = -np.asarray(residents, dtype=float)
    integral = np.zeros(n_vars, dtype=np.int64)
    integral[-n_z:] = 1
    offset = 0
    for n_x, n_q in sizes:
        integral[offset : offset + n_x] = 1
        offset += n_x + n_q
    res = _milp(
        c,
        sp.vstack(blocks, format="csr"),
        np.concatenate(lbs),
        np.concatenate(ubs),
        integral,
        time_limit=time_limit,
        mip_gap=mip_gap,
    )
    status, gap = _status(res)
    rows: list[npt.NDArray[np.int64]] = []
    offset = 0
    x = res.x if res.x is not None else np.zeros(n_vars)
    for n_x, n_q in sizes:
        rows.append(np.flatnonzero(x[offset : offset + n_x] > 0.5))
        offset += n_x + n_q
    # what the chosen sites actually make pass (not what z claims)
    passing = np.ones(n_z, dtype=bool)
    for p, r in zip(problems, rows, strict=True):
        ok = np.ones(n_z, dtype=bool)
        ok[units.get_indexer(p.units)] = p.passing(r)
        passing &= ok
    return Solution(
        tuple(rows),
        status,
        gap,
        float(np.asarray(residents)[passing].sum()),
        time.perf_counter() - started,
        passing,
    )
