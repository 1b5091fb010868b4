"""Plans improved one neighbourhood at a time (issue 14: a better plan when the whole program
is too large): never worse, always passing, exact when a region holds every unit."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from coverage.plan import CoverageProblem, greedy_sites, solve_min_sites
from coverage.plan.improve import improve
from tests.test_plan import _instances
from tests.test_plan_gap import _fewest, demo_problems  # noqa: F401  (a fixture)
from tests.test_plan_unit_sets import _problem, _random_problems

problem_module = importlib.import_module("coverage.plan.problem")


def _every_candidate(problem: CoverageProblem) -> np.ndarray:
    return np.arange(problem.cover.shape[0])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_instances().map(_problem))
def test_one_region_of_every_unit_is_the_exact_optimum(problem: CoverageProblem) -> None:
    """From the plan that builds every candidate, one region holding every unit re-solves the
    whole program: the brute-force optimum."""
    if len(problem.units) == 0:
        return
    got = improve(
        problem,
        _every_candidate(problem),
        time_limit=None,
        milp=problem_module._milp,
        rounds=1,
        region_units=len(problem.units),
    )
    assert problem.passing(got).all()
    assert got.size == _fewest(problem)


def test_small_regions_never_worsen_a_plan_and_keep_it_passing() -> None:
    """Regions of one unit from every-candidate and greedy plans on sparse random problems:
    every plan passes, none grows, none beats brute force, and some shrink."""
    shrunk = 0
    for problem in _random_problems(5, 120, density=0.35, n_units=3, shares=(0.5, 0.8, 1.0)):
        best = _fewest(problem)
        for start in (_every_candidate(problem), greedy_sites(problem)):
            got = improve(
                problem, start, time_limit=None, milp=problem_module._milp, region_units=1
            )
            assert problem.passing(got).all()
            assert best <= got.size <= np.unique(start).size
            shrunk += got.size < np.unique(start).size
    assert shrunk >= 20


def test_a_region_of_both_units_finds_the_site_they_share() -> None:
    """Two units of two origins each (share 0.5): A reaches unit a's, B unit b's, C one origin
    of each; no candidate dominates another, and C alone makes both pass. From every candidate
    built, regions of one unit may stop at two sites (a region keeps the other unit's site, and
    A serves unit a as well as C does); a region of both units frees all three and finds C."""
    cover = np.array([[1, 1, 0, 0], [0, 0, 1, 1], [1, 0, 1, 0]], dtype=bool)
    problem = CoverageProblem.from_coverage(
        cover, unit=np.array(["a", "a", "b", "b"]), population=np.full(4, 10.0), share=0.5
    )
    assert problem.cover.shape[0] == 3 and _fewest(problem) == 1
    for size, most in ((1, 2), (2, 1)):
        got = improve(
            problem,
            _every_candidate(problem),
            time_limit=None,
            milp=problem_module._milp,
            region_units=size,
        )
        assert problem.passing(got).all()
        assert 1 <= got.size <= most, size


def test_improving_the_demo_plans_keeps_their_proven_optima(
    demo_problems: list[CoverageProblem],  # noqa: F811
) -> None:
    """Real data: from the greedy plan of each W1 category of the demo, regions never go
    below the proven optimum, every plan passes, and they save sites."""
    saved = 0
    for p in demo_problems:
        best = solve_min_sites(p)
        assert best.status == "optimal"
        start = greedy_sites(p)
        got = improve(p, start, time_limit=None, milp=problem_module._milp, rounds=40)
        assert p.passing(got).all(), p.category
        assert best.objective <= got.size <= start.size, p.category
        saved += start.size - got.size
    assert saved > 0


def test_a_stopped_solve_improves_its_plan_within_its_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The solve hands its best plan to the search with the time before the bound's share,
    and returns what the search found."""
    seen: dict[str, Any] = {}
    real = problem_module.improve

    def spy(problem: CoverageProblem, rows: Any, **kwargs: Any) -> Any:
        seen["before"] = np.asarray(rows).size
        seen["time_limit"] = kwargs["time_limit"]
        got = real(problem, rows, **kwargs)
        seen["after"] = got.size
        return got

    class _Stopped:
        status, x, fun, mip_gap, mip_dual_bound = 1, None, None, None, None

    calls = {"n": 0}
    real_milp = problem_module._milp

    def first_stops(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        return _Stopped() if calls["n"] == 1 else real_milp(*args, **kwargs)

    monkeypatch.setattr(problem_module, "improve", spy)
    monkeypatch.setattr(problem_module, "_milp", first_stops)
    problem = next(
        p
        for p in _random_problems(7, 50, density=0.35, n_units=3, shares=(0.8,))
        if p.cover.shape[0] >= 5
    )
    got = problem_module._solve_min_sites_whole(problem, time_limit=20.0, mip_gap=0.0)
    assert got.status == "time_limit"
    assert 0 < seen["time_limit"] <= 20.0 * (1 - problem_module.BOUND_SHARE)
    assert got.rows[0].size <= seen["after"] <= seen["before"]
    assert problem.passing(got.rows[0]).all()
