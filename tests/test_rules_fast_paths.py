"""The rules' fast paths against the plain way: the one-sort group/value order of the
weighted quantiles against ``numpy.lexsort``; the reach rules' comparison of every share at
once against :func:`coverage.rules.is_close_or_above` one share at a time."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage.rules import (
    _close_or_above,
    _distance_quantiles,
    _group_value_order,
    is_close_or_above,
    weighted_quantiles_many,
)

_VALUES = st.sampled_from([0.0, -0.0, 1.5, 2.0, 2.0, 750.25, np.inf, 1e300])


@settings(max_examples=200, deadline=None)
@given(
    pairs=st.lists(st.tuples(st.integers(0, 6), _VALUES | st.floats(0, 5000)), max_size=300),
    huge=st.booleans(),
)
def test_group_value_order_is_the_lexsort(pairs: list[tuple[int, float]], huge: bool) -> None:
    groups = np.array([g for g, _ in pairs], dtype=np.int64)
    values = np.array([v for _, v in pairs], dtype=float)
    # huge: so many groups that the key would overflow, and the lexsort itself is used
    n_groups = 2**60 if huge else 7
    np.testing.assert_array_equal(
        _group_value_order(values, groups, n_groups), np.lexsort((values, groups))
    )


def test_weighted_quantiles_many_against_brute_force_on_a_city_sized_table() -> None:
    rng = np.random.default_rng(11)
    n, n_groups = 60_000, 900
    values = np.round(rng.exponential(600, n), 0)  # many ties
    values[rng.random(n) < 0.2] = np.inf
    values[rng.random(n) < 0.05] = np.nan  # dropped
    weights = rng.uniform(0.0, 30.0, n)
    weights[rng.random(n) < 0.05] = 0.0  # dropped
    groups = rng.integers(0, n_groups - 1, n)  # the last group stays empty
    median, p90 = weighted_quantiles_many(values, weights, groups, n_groups, (0.5, 0.9))
    for g in range(n_groups):
        keep = (groups == g) & ~np.isnan(values) & (weights > 0)
        v, w = values[keep], weights[keep]
        if v.size == 0:
            assert np.isnan(median[g]) and np.isnan(p90[g])
            continue
        order = np.argsort(v, kind="stable")
        cum = np.cumsum(w[order])
        for q, got in ((0.5, median[g]), (0.9, p90[g])):
            pos = min(np.searchsorted(cum, q * w.sum() - 1e-9 * max(w.sum(), 1.0)), v.size - 1)
            assert got == v[order][pos], (g, q)


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.integers(0, 5),
            _VALUES | st.floats(0, 3000) | st.just(float("nan")),
            st.sampled_from([1.0, 2.0, 0.5, 1e-3]) | st.floats(0.01, 50),
        ),
        max_size=120,
    )
)
def test_distance_quantiles_sort_only_the_finite_ones(
    rows: list[tuple[int, float, float]],
) -> None:
    """The distance measures sort only the distances within the limit; with ``NaN`` read as
    ``inf`` they equal the quantiles of every distance."""
    groups = np.array([g for g, _, _ in rows], dtype=np.int64)
    d = np.array([v for _, v, _ in rows], dtype=float)
    w = np.array([x for _, _, x in rows], dtype=float)
    totals = np.bincount(groups, weights=w, minlength=7)  # groups 6 (and others) may be empty
    got = _distance_quantiles(d, w, groups, totals, (0.5, 0.9))
    want = weighted_quantiles_many(np.where(np.isnan(d), np.inf, d), w, groups, 7, (0.5, 0.9))
    for g_, w_ in zip(got, want, strict=True):
        np.testing.assert_array_equal(g_, w_)
    # more groups than 16-bit codes hold: the one-sort order instead of the radix sort
    many = np.concatenate([totals, np.zeros(40_000)])
    for g_, w_ in zip(_distance_quantiles(d, w, groups, many, (0.5, 0.9)), want, strict=True):
        np.testing.assert_array_equal(g_[:7], w_)


_SHARES = st.sampled_from(
    [
        0.0,
        0.8,
        4 / 5,
        0.8 - 1e-13,
        0.8 - 1e-11,
        0.8 + 1e-13,
        1.0,
        1 - 1e-12,
        7 / 9,
        0.9,
        0.9 - 2e-12,
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    shares=st.lists(
        _SHARES | st.floats(0, 1) | st.just(float("nan")) | st.just(float("inf")), max_size=40
    ),
    need=st.sampled_from([0.8, 0.9, 7 / 9, 1.0, 0.5, 1e-13]) | st.floats(1e-6, 1.0),
)
def test_close_or_above_of_an_array_is_the_scalar_test(shares: list[float], need: float) -> None:
    got = _close_or_above(np.array(shares, dtype=float), need).tolist()
    assert got == [is_close_or_above(s, need) for s in shares]


def test_one_evaluation_looks_up_once_and_forgets_after(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """What several rules look up alike (the origins' communities, the categories present)
    is made once per evaluate_pack call, and never served to a later call: inputs changed in
    place between two calls are seen."""
    import dataclasses

    from coverage import rules
    from tests.test_rules import WUHAN, _everything_near, _inputs, _one_of_each

    inputs = _inputs(
        communities=[("C1", "S1", 100.0), ("C2", "S1", 100.0)],
        origins=[("C1", 100.0, _everything_near(100.0)), ("C2", 100.0, _everything_near(100.0))],
        services=_one_of_each(),
    )
    made: list[str] = []
    memo = rules._memo

    def counting(inp, key, make):  # type: ignore[no-untyped-def]
        return memo(inp, key, lambda: made.append(key) or make())

    monkeypatch.setattr(rules, "_memo", counting)
    twice = rules.combine_packs([WUHAN, dataclasses.replace(WUHAN, id="again")])
    reach = [r for r in twice.rules if r.kind == "reach"]
    assert len(reach) > 1
    first = rules.evaluate_pack(twice, inputs)
    assert len(made) == len(set(made))  # each made once, for every rule
    assert {"codes", "present", "rows_by_category", "id_codes"} <= set(made)
    assert rules._CALL_MEMO == {}  # nothing kept after the call
    rule = reach[0]
    assert (first.communities[f"{rule.id}_status"] == rules.PASS).all()
    # the same inputs object, its services changed in place: none of the kinds is present
    inputs.services["category"] = "none_such"
    second = rules.evaluate_pack(twice, inputs)
    assert (second.communities[f"{rule.id}_status"] == rules.NOT_EVALUABLE).all()
