"""The min-sites program split into independent sub-problems, and the lower bound of a solve
stopped at its time limit (issue 14, the city plan's optimality gap)."""

from __future__ import annotations

import importlib
import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.sparse.csgraph import connected_components

from coverage.audit import audit_case
from coverage.plan import CoverageProblem, greedy_sites, plan, solve_min_sites
from coverage.plan.problem import (
    _cut_bound,
    components,
    drop_redundant,
    reduce_forced,
    subproblem,
)
from coverage.plan.unit_sets import unit_sets

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo" / "case.toml"
problem_module = importlib.import_module("coverage.plan.problem")
planner_module = importlib.import_module("coverage.plan.planner")


def _fewest(problem: CoverageProblem) -> int:
    """Brute force: the fewest rows of ``cover`` that make every target unit pass."""
    n = problem.cover.shape[0]
    for size in range(n + 1):
        for rows in itertools.combinations(range(n), size):
            if problem.passing(list(rows)).all():
                return size
    msg = "no plan"
    raise AssertionError(msg)


def _blocks(seed: int, n_blocks: int) -> tuple[CoverageProblem, int]:
    """Independent small instances side by side (block-diagonal coverage): the optimum of the
    whole is the sum of the blocks' brute-force optima."""
    rng = np.random.default_rng(seed)
    covers, units, pops = [], [], []
    expected = 0
    n_o_total = 0
    for b in range(n_blocks):
        n_c, n_o = int(rng.integers(2, 6)), int(rng.integers(3, 8))
        cover = rng.random((n_c, n_o)) < 0.45
        unit = rng.integers(0, 2, n_o) + 10 * b
        pop = rng.integers(1, 30, n_o).astype(float)
        block = CoverageProblem.from_coverage(cover, unit=unit, population=pop, share=0.8)
        if len(block.units):
            expected += _fewest(block)
        covers.append((cover, n_o_total))
        units.append(unit)
        pops.append(pop)
        n_o_total += n_o
    n_c_total = sum(c.shape[0] for c, _ in covers)
    whole = np.zeros((n_c_total, n_o_total), dtype=bool)
    r = 0
    for cover, o in covers:
        whole[r : r + cover.shape[0], o : o + cover.shape[1]] = cover
        r += cover.shape[0]
    problem = CoverageProblem.from_coverage(
        whole, unit=np.concatenate(units), population=np.concatenate(pops), share=0.8
    )
    return problem, expected


def _cycles(*sizes: int) -> CoverageProblem:
    """One unit per cycle of ``m`` origins (even ``m``), every origin needed: candidate ``k``
    reaches origins ``k`` and ``k + 1`` (mod ``m``). No site is forced, none dominated, and
    the fewest sites are ``m / 2`` per cycle."""
    n_c = n_o = sum(sizes)
    cover = np.zeros((n_c, n_o), dtype=bool)
    unit = np.zeros(n_o)
    start = 0
    for u, m in enumerate(sizes):
        for k in range(m):
            cover[start + k, start + k] = cover[start + k, start + (k + 1) % m] = True
        unit[start : start + m] = u
        start += m
    return CoverageProblem.from_coverage(cover, unit=unit, population=np.ones(n_o), share=1.0)


def test_cycles_split_and_solve_to_their_known_optimum() -> None:
    problem = _cycles(4, 6, 8, 10)
    assert reduce_forced(problem)[0].size == 0
    got = solve_min_sites(problem)
    assert got.components == 4
    assert (
        got.rows[0].size == 2 + 3 + 4 + 5 == solve_min_sites(problem, decompose=False).rows[0].size
    )
    assert got.status == "optimal"
    assert got.gap == 0.0


@pytest.mark.parametrize("seed", range(12))
def test_decomposed_optimum_equals_monolithic_and_brute_force(seed: int) -> None:
    problem, expected = _blocks(seed, 4)
    split = solve_min_sites(problem)
    whole = solve_min_sites(problem, decompose=False)
    assert split.status == whole.status == "optimal"
    assert split.rows[0].size == whole.rows[0].size == expected
    assert problem.passing(split.rows[0]).all()
    assert split.gap == 0.0
    assert split.bound == expected
    residual = reduce_forced(problem)[1]
    assert split.components == (len(components(residual)) if len(residual.units) else 0)


def test_components_are_the_connected_components_of_the_coverage_graph() -> None:
    problem, _ = _blocks(3, 5)
    parts = components(problem)
    # reference: candidates and classes as one graph, a unit's classes joined to each other
    n_x, n_q = problem.cover.shape
    edges = [(j, n_x + q) for j in range(n_x) for q in problem.cover[j].indices]
    for u in range(len(problem.units)):
        qs = np.flatnonzero(problem.class_unit == u)
        edges.extend((n_x + int(qs[0]), n_x + int(q)) for q in qs[1:])
    import scipy.sparse as sp

    a, b = np.array(edges).T
    graph = sp.coo_matrix((np.ones(a.size), (a, b)), shape=(n_x + n_q, n_x + n_q))
    _, label = connected_components(graph, directed=False)
    for rows, units in parts:
        mine = set(label[rows]) | {
            label[n_x + np.flatnonzero(problem.class_unit == u)[0]] for u in units
        }
        assert len(mine) == 1  # one component each, and no component split in two
    assert sum(r.size for r, _ in parts) == n_x
    assert sorted(np.concatenate([u for _, u in parts])) == list(range(len(problem.units)))
    assert len(parts) == len(set(label[:n_x]))
    # a sub-problem keeps its candidates' positions in the plan's candidate table
    rows, units = parts[-1]
    sub = subproblem(problem, rows, units)
    assert list(sub.candidates) == list(problem.candidates[rows])
    assert list(sub.units) == list(problem.units[units])


@pytest.fixture(scope="module")
def demo_problems() -> list[CoverageProblem]:
    seen: list[CoverageProblem] = []
    real = planner_module.solve_min_sites

    def spy(problem: CoverageProblem, **kwargs: Any) -> Any:
        seen.append(problem)
        return real(problem, **kwargs)

    mp = pytest.MonkeyPatch()
    mp.setattr(planner_module, "solve_min_sites", spy)
    try:
        plan(audit_case(DEMO), rules=["W1"], curve=None, reaudit=False, greedy=False)
    finally:
        mp.undo()
    return seen


def test_decomposed_optimum_equals_monolithic_on_the_demo(
    demo_problems: list[CoverageProblem],
) -> None:
    assert len(demo_problems) == 5
    assert any(len(components(p)) > 1 for p in demo_problems)  # the demo does split
    for p in demo_problems:
        split = solve_min_sites(p)
        whole = solve_min_sites(p, decompose=False)
        assert split.status == whole.status == "optimal", p.category
        assert split.rows[0].size == whole.rows[0].size, p.category
        assert p.passing(split.rows[0]).all()


def test_cut_bounds_stay_below_the_proven_optima_of_the_demo(
    demo_problems: list[CoverageProblem],
) -> None:
    """On real data (the demo's five W1 categories, each proven optimal): the cut bound, with
    and without the rank cuts of the small sets, never exceeds the optimum."""
    for p in demo_problems:
        best = solve_min_sites(p)
        assert best.status == "optimal"
        without = _cut_bound(p)
        with_ranks = _cut_bound(p, unit_sets(p))
        assert 0 < without <= with_ranks <= best.objective, p.category


def test_cut_bound_is_a_lower_bound() -> None:
    for seed in range(15):
        problem, expected = _blocks(100 + seed, 2)
        if not len(problem.units):
            continue
        relaxed = _cut_bound(problem)
        assert 0 <= relaxed <= _cut_bound(problem, unit_sets(problem), time_limit=5.0) <= expected


class _Stopped:
    """What scipy's milp returns when stopped at its time limit before it found a plan."""

    status = 1
    x = None
    fun = None
    mip_gap = None

    def __init__(self, bound: float | None) -> None:
        self.mip_dual_bound = bound


def test_a_stopped_sub_problem_gives_a_labelled_gap_of_the_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    problem = _cycles(4, 6, 8)
    assert reduce_forced(problem)[0].size == 0
    parts = components(problem)
    assert len(parts) == 3
    big_rows, big_units = parts[-1]
    big = subproblem(problem, big_rows, big_units)
    shape = big.cover.shape
    assert [subproblem(problem, r, u).cover.shape for r, u in parts].count(shape) == 1
    real = problem_module._milp

    def milp(c: np.ndarray, *args: Any, **kwargs: Any) -> Any:
        # the largest sub-problem "runs out of time" with a weak bound of 0
        if (int((c == 1).sum()), c.size) == (shape[0], shape[0] + shape[1]):
            return _Stopped(0.0)
        return real(c, *args, **kwargs)

    monkeypatch.setattr(problem_module, "_milp", milp)
    got = solve_min_sites(problem, time_limit=5.0)
    assert got.status == "time_limit"
    # expected, computed part by part: the optima of the others, the greedy plan of the
    # stopped one, its bound that of the integer program over its cuts
    others = [_fewest(subproblem(problem, r, u)) for r, u in parts[:-1] if len(u)]
    sites = sum(others) + drop_redundant(big, greedy_sites(big)).size
    bound = sum(others) + _cut_bound(big, unit_sets(big), time_limit=5.0)
    assert got.rows[0].size == sites
    assert got.bound == bound
    assert got.gap == pytest.approx((sites - bound) / sites)
    assert math.isfinite(got.gap)
    assert problem.passing(got.rows[0]).all()
    assert got.greedy_sites == greedy_sites(problem).size


def test_a_stopped_solve_without_a_solver_bound_still_has_a_finite_gap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    problem, expected = _cycles(6), 3
    monkeypatch.setattr(problem_module, "_milp", lambda *a, **k: _Stopped(None))
    got = solve_min_sites(problem, time_limit=1.0)
    assert got.status == "time_limit"
    assert math.isfinite(got.gap)
    assert got.bound is not None
    assert got.bound <= expected <= got.rows[0].size


def test_drop_redundant_takes_away_the_site_greedy_made_redundant() -> None:
    # one unit, four origins a b c d (3, 4, 4, 3 residents), all needed; X reaches b c (8),
    # Y a b, Z c d (7 each): greedy builds X, then Y and Z, which together make X redundant
    cover = np.array(
        [
            [False, True, True, False],  # X
            [True, True, False, False],  # Y
            [False, False, True, True],  # Z
        ]
    )
    problem = CoverageProblem.from_coverage(
        cover, unit=np.zeros(4), population=np.array([3.0, 4.0, 4.0, 3.0]), share=1.0
    )
    greedy = greedy_sites(problem)
    assert greedy.size == 3
    kept = drop_redundant(problem, greedy)
    assert kept.size == 2 == _fewest(problem)
    assert problem.passing(kept).all()


@pytest.mark.parametrize("seed", range(10))
def test_drop_redundant_keeps_a_plan_no_site_of_which_can_go(seed: int) -> None:
    problem, _ = _blocks(200 + seed, 3)
    if not len(problem.units):
        return
    greedy = greedy_sites(problem)
    kept = drop_redundant(problem, greedy)
    assert set(kept) <= set(greedy)
    assert problem.passing(kept).all()
    for at in range(kept.size):
        assert not problem.passing(np.delete(kept, at)).all()


def test_reduce_forced_builds_the_site_only_it_can_and_leaves_the_rest() -> None:
    # unit 0: origins a (10) only X reaches, b (1) Y or Z reach; share 0.9 needs a: X forced,
    # and X makes unit 0 pass. Unit 1: c (5) Y or Z, d (5) only Z: Z forced (Y, inside Z, is
    # pruned), and nothing is left to decide
    cover = np.array(
        [
            [True, False, False, False],  # X
            [False, True, True, False],  # Y
            [False, True, True, True],  # Z
        ]
    )
    problem = CoverageProblem.from_coverage(
        cover,
        unit=np.array([0, 0, 1, 1]),
        population=np.array([10.0, 1.0, 5.0, 5.0]),
        share=0.9,
    )
    forced, residual, rows = reduce_forced(problem)
    assert list(problem.candidates[forced]) == [0, 2]
    assert len(residual.units) == 0
    assert rows.size == 0
    assert solve_min_sites(problem).rows[0].size == _fewest(problem) == 2


@pytest.mark.parametrize("seed", range(20))
def test_forced_sites_and_the_residual_optimum_make_the_optimum(seed: int) -> None:
    problem, expected = _blocks(300 + seed, 2)
    if not len(problem.units):
        return
    forced, residual, rows = reduce_forced(problem)
    # some optimal plan holds every forced site: they and the residual's optimum make it
    rest = _fewest(residual) if len(residual.units) else 0
    assert forced.size + rest == expected
    # the residual's plan and the forced sites make the whole pass
    best = solve_min_sites(residual, decompose=False).rows[0] if len(residual.units) else []
    assert problem.passing(np.r_[forced, rows[np.asarray(best, dtype=np.int64)]]).all()
