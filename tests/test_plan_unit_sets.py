"""The per-unit program of small sets (coverage.plan.unit_sets), issue 14: its listing against
brute force, its "exact" label, and its plans."""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from coverage.plan import CoverageProblem, solve_min_sites
from coverage.plan.unit_sets import rank_cuts, solve_restricted, unit_sets
from tests.test_plan import _instances
from tests.test_plan_gap import _fewest

problem_module = importlib.import_module("coverage.plan.problem")


def _reaches(problem: CoverageProblem, unit: int, rows: tuple[int, ...]) -> bool:
    """Brute force: the residents of ``unit`` that ``rows`` reach, against its gap."""
    cover = problem.cover.toarray()
    cols = problem.class_unit == unit
    hit = cover[list(rows)][:, cols].any(axis=0) if rows else np.zeros(int(cols.sum()), bool)
    return bool(problem.class_pop[cols][hit].sum() >= problem.gap[unit] * (1 - 1e-9) - 1e-12)


def _minimal_sets(problem: CoverageProblem, unit: int) -> list[tuple[int, ...]]:
    """Brute force: every smallest-by-inclusion set of candidates reaching ``unit``."""
    n = problem.cover.shape[0]
    found: list[tuple[int, ...]] = []
    for size in range(1, n + 1):
        for rows in itertools.combinations(range(n), size):
            if any(set(f) <= set(rows) for f in found):
                continue
            if _reaches(problem, unit, rows):
                found.append(rows)
    return found


def _problem(instance: tuple) -> CoverageProblem:
    cover, unit, pop, share, reached = instance
    return CoverageProblem.from_coverage(
        cover, unit=unit, population=pop, share=share, reached=reached
    )


def _random_problems(
    seed: int, count: int, *, density: float, n_units: int, shares: tuple[float, ...]
) -> Iterator[CoverageProblem]:
    """``count`` small random problems with at least one target unit."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        n_c, n_o = int(rng.integers(3, 9)), int(rng.integers(4, 10))
        problem = CoverageProblem.from_coverage(
            rng.random((n_c, n_o)) < density,
            unit=rng.integers(0, n_units, n_o),
            population=rng.integers(1, 40, n_o).astype(float),
            share=float(rng.choice(shares)),
        )
        if len(problem.units):
            yield problem


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_instances().map(_problem))
def test_small_sets_and_larger_sets_match_brute_force(problem: CoverageProblem) -> None:
    sets = unit_sets(problem)
    for i in range(len(problem.units)):
        minimal = _minimal_sets(problem, i)
        listed = {
            tuple(sorted(int(r) for r in rows if r >= 0))
            for rows in sets.set_rows[sets.set_unit == i]
        }
        assert listed == {m for m in minimal if len(m) <= 2}
        assert bool(sets.large[i]) == any(len(m) >= 3 for m in minimal)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_instances().map(_problem))
def test_restricted_plans_pass_and_are_optimal_when_exact(problem: CoverageProblem) -> None:
    if len(problem.units) == 0:
        return
    got = solve_restricted(problem, time_limit=None, mip_gap=0.0, milp=problem_module._milp)
    assert got.rows is not None
    assert problem.passing(got.rows).all()
    best = _fewest(problem)
    assert got.rows.size >= best
    if got.exact:
        assert got.optimal
        assert got.rows.size == best == got.bound


def _triangle() -> CoverageProblem:
    """Two units of three equal classes each, share 1.0.

    Unit A: candidate k (0-2) reaches classes k and k + 1 (mod 3), candidate 3 class 0 only:
    every pair of candidates 0-2 reaches all of A (small sets only).
    Unit B: candidates 4, 5, 6 each reach one class: only the three together do (a larger
    set, no two enough). The fewest sites: 2 + 3."""
    cover = np.zeros((7, 6), dtype=bool)
    for k in range(3):
        cover[k, [k, (k + 1) % 3]] = True
    for k in range(3):
        cover[4 + k, 3 + k] = True
    cover[3, 0] = True
    unit = np.array([0, 0, 0, 1, 1, 1])
    return CoverageProblem.from_coverage(cover, unit=unit, population=np.full(6, 10.0), share=1.0)


def test_a_unit_only_three_candidates_reach_is_a_larger_set() -> None:
    problem = _triangle()
    sets = unit_sets(problem)
    assert sets.large.tolist() == [False, True]
    # unit A: the three pairs of candidates 0-2; unit B: none listed
    listed = sorted(tuple(int(r) for r in s) for s in sets.set_rows[sets.set_unit == 0])
    assert [tuple(sorted(x for x in s if x >= 0)) for s in listed] == [(0, 1), (0, 2), (1, 2)]
    assert not (sets.set_unit == 1).any()
    got = solve_restricted(problem, time_limit=None, mip_gap=0.0, milp=problem_module._milp)
    assert not got.exact  # a restriction: unit B's larger set is not listed...
    assert got.rows is not None
    assert problem.passing(got.rows).all()  # ...but its class rows keep the plan feasible
    solution = solve_min_sites(problem, decompose=False)
    assert solution.status == "optimal"
    assert solution.rows[0].size == _fewest(problem) == 5


def test_a_stopped_class_program_hands_over_to_small_sets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When the class-by-class program stops without a plan (as on the city case), the plan
    comes from the small sets (or greedy): it passes every unit, is no better than brute
    force allows, its bound is valid, and it is labelled optimal only when proven."""
    real = problem_module._milp
    calls: list[int] = []

    def stopped_first(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:  # the class-by-class program: stopped before any plan
            return SimpleNamespace(status=1, x=None, fun=None, mip_gap=None, mip_dual_bound=None)
        return real(*args, **kwargs)

    monkeypatch.setattr(problem_module, "_milp", stopped_first)
    labelled_optimal = 0
    for problem in _random_problems(7, 40, density=0.4, n_units=3, shares=(0.8,)):
        calls.clear()
        solution = solve_min_sites(problem, decompose=False, time_limit=60.0)
        best = _fewest(problem)
        rows = solution.rows[0]
        assert problem.passing(rows).all()
        assert rows.size >= best >= (solution.bound or 0)
        if solution.status == "optimal":
            labelled_optimal += 1
            assert rows.size == best
        else:
            assert solution.gap == pytest.approx((rows.size - solution.bound) / rows.size)
    assert labelled_optimal >= 5  # exact small-set programs do prove optimality


def test_larger_sets_on_sparse_instances_match_brute_force() -> None:
    """Sparse coverage and high shares, where larger sets are common (the hypothesis test
    above draws them rarely): the ``large`` label and the listed sets against brute force."""
    seen_large = 0
    for problem in _random_problems(11, 150, density=0.3, n_units=2, shares=(0.8, 1.0)):
        sets = unit_sets(problem)
        for i in range(len(problem.units)):
            minimal = _minimal_sets(problem, i)
            assert bool(sets.large[i]) == any(len(m) >= 3 for m in minimal)
            seen_large += bool(sets.large[i])
    assert seen_large >= 20  # the test exercises what it claims to


def _check_rank_cuts(problem: CoverageProblem) -> int:
    """Every set reaching a unit meets its rank cut (brute force over the minimal sets: a
    larger set only adds non-negative terms); returns how many units have a coefficient below
    one half (a candidate it can only use in threes or more)."""
    cuts = rank_cuts(problem, unit_sets(problem)).toarray()
    thin = 0
    for i in range(len(problem.units)):
        minimal = _minimal_sets(problem, i)
        for rows in minimal:
            assert cuts[i, list(rows)].sum() >= 1.0 - 1e-12, (i, rows)
        # the coefficient is the reciprocal of a lower bound of the smallest set holding it
        for j in np.flatnonzero(cuts[i]):
            smallest = min((len(m) for m in minimal if j in m), default=None)
            if smallest is not None:
                assert 1.0 / cuts[i, j] <= smallest + 1e-9
        thin += bool(((cuts[i] > 0) & (cuts[i] < 0.5)).any())
    return thin


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_instances().map(_problem))
def test_rank_cuts_hold_for_every_set_that_reaches_a_unit(problem: CoverageProblem) -> None:
    _check_rank_cuts(problem)


def test_rank_cuts_on_sparse_instances_and_their_bound() -> None:
    """Where larger sets are common: the cuts hold, some are below one half (the cut says
    more than the unit cuts), and the bound with them stays at or below the optimum and at
    or above the bound without them."""
    thin = raised = 0
    for problem in _random_problems(11, 150, density=0.3, n_units=2, shares=(0.8, 1.0)):
        thin += _check_rank_cuts(problem)
        best = _fewest(problem)
        without = problem_module._cut_bound(problem)
        with_ranks = problem_module._cut_bound(problem, unit_sets(problem))
        assert without <= with_ranks <= best
        raised += with_ranks > without
    assert thin >= 20
    assert raised >= 1, "the rank cuts never raised the bound"
    print(f"rank cuts raised the bound on {raised} of 150 instances")
