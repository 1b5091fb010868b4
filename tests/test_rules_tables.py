"""The rules' result tables made at once (``rules._NewColumns``) are the tables that setting
each column on a DataFrame, one at a time, makes: same columns, order, dtypes and values."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from coverage import audit, rules

DEMO = Path(__file__).parents[1] / "data" / "demo" / "case.toml"


class _OneByOne:
    """The slow, obvious way: a copy of the frame, each column set on it as it comes."""

    def __init__(self, frame: Any) -> None:
        self.table = frame.copy()
        self.index = frame.index

    def __len__(self) -> int:
        return len(self.table)

    def __contains__(self, name: object) -> bool:
        return name in self.table

    def __getitem__(self, name: str) -> Any:
        return self.table[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.table.get(name, default)

    def __setitem__(self, name: str, value: Any) -> None:
        with warnings.catch_warnings():  # fragmented, as it was: slow is the point here
            warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
            self.table[name] = value

    def text(self, name: str) -> Any:
        return self.table[name].to_numpy(dtype=object)

    def to_frame(self) -> Any:
        return self.table.copy()


def _assert_same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == list(want.columns)
    assert got.dtypes.to_dict() == want.dtypes.to_dict()
    assert_frame_equal(got, want, check_exact=True)


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {"name": ["a", "b", "c"], "population": [1.0, np.nan, 3.0]},
        index=pd.Index(["C1", "C2", "C3"], name="community_id"),
    )


def _fill(table: Any) -> None:
    """Every sort of value the rules write, and the reads they make."""
    floats = np.array([0.5, np.nan, np.inf])
    table["x_value"] = floats
    floats[0] = 99.0  # changed after it was set: the column keeps what was set
    table["x_threshold"] = "≥ 50.0%"
    table["x_status"] = ["pass", "fail", "not_evaluable"]
    table["x_reason"] = ["one", "two", "三"]
    table["x_flag"] = np.array([True, False, True])
    table["x_count"] = np.array([1, 0, 2])
    table["x_list_floats"] = [1.0, float("nan"), 2.5]
    table["x_missing"] = ["", "park;school", ""]
    # the reads a later rule makes, and a column written again from what it read
    status = table["x_status"].astype(str)
    table["x_measured_status"] = status.to_numpy()
    table["x_status"] = "not_evaluable"
    table["x_reason"] = "prefix: " + status + ": " + table["x_reason"].astype(str)
    table["name"] = ["A", "B", "C"]  # a column of the input, set again
    assert "x_value" in table
    assert "population" in table
    assert table.get("nope") is None
    assert table.get("x_count").tolist() == [1, 0, 2]
    assert table.text("x_status").tolist() == ["not_evaluable"] * 3  # a scalar, set again
    assert table.text("x_missing").tolist() == ["", "park;school", ""]
    assert table.text("name").tolist() == ["A", "B", "C"]
    assert table.text("x_value").dtype == object
    assert len(table) == 3


def test_new_columns_make_what_setting_them_one_by_one_makes() -> None:
    frame = _frame()
    before = frame.copy()
    fast, slow = rules._NewColumns(frame), _OneByOne(frame)
    _fill(fast)
    _fill(slow)
    _assert_same(fast.to_frame(), slow.to_frame())
    _assert_same(frame, before)  # the input frame is never changed


def test_new_columns_refuse_a_column_of_the_wrong_length() -> None:
    table = rules._NewColumns(_frame())
    with pytest.raises(ValueError, match="'x': 2 values for 3 rows"):
        table["x"] = [1.0, 2.0]


@pytest.fixture(scope="module")
def demo_inputs() -> tuple[rules.RulePack, rules.RuleInputs]:
    """The rule pack and rule inputs of ``--pack all`` on the demo case."""
    seen: dict[str, Any] = {}
    evaluate = audit.evaluate_pack

    def spy(pack: rules.RulePack, inputs: rules.RuleInputs) -> rules.RuleTables:
        seen["pack"], seen["inputs"] = pack, inputs
        return evaluate(pack, inputs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(audit, "evaluate_pack", spy)
        audit.audit_case(DEMO, pack="all")
    return seen["pack"], seen["inputs"]


def test_pack_all_tables_are_those_set_column_by_column_on_the_demo(
    demo_inputs: tuple[rules.RulePack, rules.RuleInputs], monkeypatch: pytest.MonkeyPatch
) -> None:
    pack, inputs = demo_inputs
    fast = rules.evaluate_pack(pack, inputs)
    monkeypatch.setattr(rules, "_NewColumns", _OneByOne)
    slow = rules.evaluate_pack(pack, inputs)
    assert len(pack.rules) == 30
    _assert_same(fast.communities, slow.communities)
    _assert_same(fast.streets, slow.streets)
    _assert_same(fast.summary, slow.summary)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["C1", "C2", "C3", "elsewhere", None]),
            st.sampled_from(["s1", "s2", "s3", "s4", None]),
        ),
        max_size=30,
    )
)
def test_count_by_unit_is_the_groupby(rows: list[tuple[str | None, str | None]]) -> None:
    frame = pd.DataFrame(rows, columns=["community_id", "service_id"], dtype=object)
    index = pd.Index(["C3", "C1", "C2", "C4"], name="community_id")
    size = frame.groupby("community_id").size().reindex(index, fill_value=0)
    distinct = frame.groupby("community_id")["service_id"].nunique()
    got = rules.count_by_unit(frame["community_id"], index)
    assert got.dtype == np.int64
    assert got.tolist() == size.tolist()
    got = rules.count_by_unit(frame["community_id"], index, distinct=frame["service_id"])
    assert got.tolist() == distinct.reindex(index, fill_value=0).tolist()


def test_count_services_is_count_by_unit_of_the_category(
    demo_inputs: tuple[rules.RulePack, rules.RuleInputs],
) -> None:
    """The counts from codes made once a call are those of the category's rows."""
    _, inputs = demo_inputs
    services = inputs.services
    cats = [*services["category"].unique().tolist(), "none_such"]
    for column, index in (
        ("community_id", inputs.communities.index),
        ("street_id", inputs.streets.index),
    ):
        for cat in cats:
            rows = services[services["category"] == cat]
            for distinct in (False, True):
                got, found = rules.count_services(inputs, cat, index, column, distinct=distinct)
                want = rules.count_by_unit(
                    rows[column], index, distinct=rows["service_id"] if distinct else None
                )
                assert found == len(rows)
                assert got.tolist() == want.tolist()


def test_distance_percentiles_are_weighted_quantiles_of_each_category(
    demo_inputs: tuple[rules.RulePack, rules.RuleInputs],
) -> None:
    """The median and 90th percentile per community and category, made from the origins
    kept and ordered once for every category, are weighted_quantiles_many of each."""
    pack, inputs = demo_inputs
    got = rules.evaluate_pack(pack, inputs).communities
    codes = inputs.communities.index.get_indexer(inputs.origins["community_id"])
    valid = codes >= 0
    weights = inputs.origins["population"].to_numpy(dtype=float)
    present = set(inputs.services["category"])
    measured = rules.distance_categories(pack, inputs.walk_speed_kmh)
    assert len(measured) > 10
    for cat in measured:
        d = inputs.origins[rules.distance_column(cat)].to_numpy(dtype=float)
        d = np.where(np.isnan(d), np.inf, d) if cat in present else np.full(d.shape, np.nan)
        median, p90 = rules.weighted_quantiles_many(
            d[valid], weights[valid], codes[valid], len(inputs.communities), (0.5, 0.9)
        )
        np.testing.assert_array_equal(got[f"median_m_{cat}"].to_numpy(), median)
        np.testing.assert_array_equal(got[f"p90_m_{cat}"].to_numpy(), p90)


def test_reach_missing_categories_recounted_from_the_shares(
    demo_inputs: tuple[rules.RulePack, rules.RuleInputs],
) -> None:
    """The categories each community misses, listed once per pattern of them, are those
    whose share (a column of the table) is below the share required, row by row."""
    pack, inputs = demo_inputs
    got = rules.evaluate_pack(pack, inputs).communities
    present = set(inputs.services["category"])
    reach = [r for r in pack.rules if r.kind == "reach"]
    assert len(reach) > 5
    patterns = 0
    for rule in reach:
        need = rule.share(inputs.min_population_share)
        required = [c for c in rule.categories if c in present]
        stranded = got[f"{rule.id}_reason"].str.contains("walkable street").to_numpy()
        want = [
            ""
            if stranded[i]
            else ";".join(
                c
                for c in required
                if not rules.is_close_or_above(got[f"{rule.id}_share_{c}"].iloc[i], need)
            )
            for i in range(len(got))
        ]
        assert got[f"{rule.id}_missing"].tolist() == want
        patterns += len(set(want))
    assert patterns > 2 * len(reach)  # several patterns per rule: the test sees them
