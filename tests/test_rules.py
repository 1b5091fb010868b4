"""Rule packs as data, and each kind of rule on hand-made tables whose answers are obvious."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from coverage.errors import RulePackError
from coverage.rules import (
    FAIL,
    NOT_EVALUABLE,
    PASS,
    RuleInputs,
    RulePack,
    evaluate_pack,
    list_packs,
    load_pack,
    minutes_to_m,
    weighted_quantiles,
)


def test_shipped_packs_load_and_state_their_sources() -> None:
    assert set(list_packs()) >= {"wuhan-1plus10", "gb50180-2018", "mofcom-15min-convenience"}
    wuhan = load_pack("wuhan-1plus10")
    assert [r.id for r in wuhan.rules] == ["W1", "W2", "W3", "W4", "W5", "W6"]
    assert wuhan.walk_speed_kmh == 4.0
    assert minutes_to_m(15, wuhan.walk_speed_kmh) == pytest.approx(1000.0)
    assert "15分钟服务圈" in wuhan.rule("W1").source
    assert wuhan.rule("W1").categories == (
        "shopping",
        "housekeeping",
        "catering",
        "express",
        "repair",
    )
    assert wuhan.rule("W4").inclusive is False
    gb = load_pack("gb50180-2018")
    assert [r.max_distance_m for r in gb.rules] == [300, 500, 1000]
    mofcom = load_pack("mofcom-15min-convenience")
    assert [r.max_minutes for r in mofcom.rules] == [5, 8, 15]
    for name in list_packs():
        pack = load_pack(name)
        assert all(r.source for r in pack.rules), name
        assert pack.walk_speed_note


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id: x\nwalk_speed_kmh: 4\nrules: []\n", "key 'rules' is empty"),
        ("id: x\nwalk_speed_kmh: 40\nrules: [{id: a}]\n", "walking speed is 1-8 km/h"),
        ("id: x\nwalk_speed_kmh: 4\nspeed: 3\nrules: [{id: a}]\n", "unknown keys ['speed']"),
        (
            "id: x\nwalk_speed_kmh: 4\nrules: [{id: a, kind: teleport}]\n",
            "key 'kind' is 'teleport'",
        ),
        (
            "id: x\nwalk_speed_kmh: 4\nrules: [{id: a, kind: reach, categories: [shops], max_minutes: 5}]\n",
            "unknown categories ['shops']",
        ),
        (
            "id: x\nwalk_speed_kmh: 4\nrules: [{id: a, kind: reach, categories: [shopping]}]\n",
            "exactly one of 'max_minutes' and 'max_distance_m'",
        ),
        (
            "id: x\nwalk_speed_kmh: 4\nrules: [{id: a, kind: count, category: repair, min_count: 3, max_count: 1}]\n",
            "'min_count' (3) is above 'max_count' (1)",
        ),
        (
            "id: x\nwalk_speed_kmh: 4\nrules: [{id: a, kind: count, category: repair, min_count: 1, thresold: 2}]\n",
            "unknown keys ['thresold']",
        ),
        (
            "id: x\nwalk_speed_kmh: 4\nrules: [{id: a, kind: count, unit: community, category: repair, min_count: 1}]\n",
            "audits unit 'street'",
        ),
    ],
)
def test_pack_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "pack.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RulePackError, match=f"{path}.*") as info:
        load_pack(path)
    assert message in str(info.value)


def test_shipped_packs_are_read_once_and_a_pack_file_every_time(tmp_path: Path) -> None:
    """A shipped pack is part of the installed package: parsed once per process (``--pack
    all`` names all of them in every audit of a batch). A user's file may change between two
    audits of a session: it is read again."""
    assert load_pack("gb50180-2018") is load_pack("gb50180-2018")
    assert load_pack("all").parts[0] is load_pack(list_packs()[0])
    path = tmp_path / "mine.yaml"
    text = "id: mine\nwalk_speed_kmh: 4\nrules: [{{id: a, kind: count, category: repair, min_count: {n}}}]\n"
    path.write_text(text.format(n=1), encoding="utf-8")
    assert load_pack(path).rules[0].min_count == 1
    path.write_text(text.format(n=3), encoding="utf-8")
    assert load_pack(path).rules[0].min_count == 3


def test_unknown_pack_name_lists_the_shipped_ones() -> None:
    with pytest.raises(RulePackError, match="wuhan-1plus10"):
        load_pack("wuhan")


def test_weighted_quantiles_against_brute_force() -> None:
    rng = np.random.default_rng(5)
    values = rng.exponential(500, 400)
    values[rng.random(400) < 0.1] = np.inf
    weights = rng.integers(1, 20, 400).astype(float)
    groups = rng.integers(0, 7, 400)
    for q in (0.5, 0.9):
        got = weighted_quantiles(values, weights, groups, 8, q)
        for g in range(7):
            v, w = values[groups == g], weights[groups == g]
            order = np.argsort(v)
            cum = np.cumsum(w[order])
            expected = v[order][np.searchsorted(cum, q * w.sum())]
            assert got[g] == expected
        assert np.isnan(got[7])


# ---- hand-made tables ---------------------------------------------------------------------


def _inputs(
    *,
    communities: list[tuple[str, str, float]],
    origins: list[tuple[str, float, dict[str, float]]] = (),  # type: ignore[assignment]
    services: list[tuple[str, str, str | None, str | None, float]] = (),  # type: ignore[assignment]
    areas: list[tuple[str, str, str, float]] = (),  # type: ignore[assignment]
    speed: float = 4.0,
    share: float = 0.9,
    categories: tuple[str, ...] = (
        "shopping",
        "housekeeping",
        "catering",
        "express",
        "repair",
        "power",
        "water",
        "telecom",
    ),
) -> RuleInputs:
    comm = pd.DataFrame(communities, columns=["community_id", "street_id", "population"])
    comm["name"] = comm["community_id"]
    streets = comm.groupby("street_id")["population"].sum().to_frame()
    streets["name"] = streets.index
    rows = []
    for cid, pop, dists in origins:
        street = comm.set_index("community_id").loc[cid, "street_id"]
        rows.append(
            {"community_id": cid, "street_id": street, "population": pop}
            | {f"d_{k}": v for k, v in dists.items()}
        )
    orig = pd.DataFrame(
        rows, columns=["community_id", "street_id", "population", *[f"d_{c}" for c in categories]]
    )
    serv = pd.DataFrame(
        services, columns=["service_id", "category", "street_id", "community_id", "windows"]
    )
    area = pd.DataFrame(areas, columns=["service_id", "category", "street_id", "area_m2"])
    return RuleInputs(
        communities=comm.set_index("community_id"),
        streets=streets,
        origins=orig,
        services=serv,
        areas=area,
        walk_speed_kmh=speed,
        min_population_share=share,
    )


WUHAN = load_pack("wuhan-1plus10")


def load_pack_text(text: str) -> RulePack:
    """A pack from YAML text (written to a temporary file)."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "pack.yaml"
        path.write_text(text, encoding="utf-8")
        return load_pack(path)


W1_CATS = ("shopping", "housekeeping", "catering", "express", "repair", "power", "water", "telecom")


def _everything_near(d: float) -> dict[str, float]:
    return dict.fromkeys(W1_CATS, d)


def _one_of_each() -> list[tuple[str, str, str | None, str | None, float]]:
    return [(f"s-{c}", c, "S1", "C1", np.nan) for c in W1_CATS]


def test_reach_rule_population_share_and_threshold() -> None:
    # C1: 90 residents at 500 m and 10 at 1,500 m from a repair shop: exactly 90% -> pass
    # C2: 89 + 11 -> 89% -> fail, with repair named as missing
    near = _everything_near(100.0)
    inputs = _inputs(
        communities=[("C1", "S1", 100.0), ("C2", "S1", 100.0), ("C3", "S1", 0.0)],
        origins=[
            ("C1", 90.0, near | {"repair": 500.0}),
            ("C1", 10.0, near | {"repair": 1500.0}),
            ("C2", 89.0, near | {"repair": 999.0}),
            ("C2", 11.0, near | {"repair": 1000.1}),
        ],
        services=_one_of_each(),
        categories=W1_CATS,
    )
    table = evaluate_pack(WUHAN, inputs).communities
    assert table.loc["C1", "W1_share_repair"] == pytest.approx(0.9)
    assert table.loc["C1", "W1_status"] == PASS
    assert table.loc["C2", "W1_share_repair"] == pytest.approx(0.89)
    assert table.loc["C2", "W1_status"] == FAIL
    assert table.loc["C2", "W1_missing"] == "repair"
    assert "repair 89.0%" in table.loc["C2", "W1_reason"]
    assert "维修" in table.loc["C2", "W1_reason_zh"]
    # a community with no population is not evaluable, not failed
    assert table.loc["C3", "W1_status"] == NOT_EVALUABLE
    assert "no residents" in table.loc["C3", "W1_reason"]
    # the population-weighted median and 90th percentile distance
    assert table.loc["C1", "median_m_repair"] == 500.0
    assert table.loc["C1", "p90_m_repair"] == 500.0
    assert table.loc["C2", "p90_m_repair"] == 1000.1


def test_reach_budget_follows_the_walking_speed() -> None:
    near = _everything_near(100.0)
    inputs = _inputs(
        communities=[("C1", "S1", 10.0)],
        origins=[("C1", 10.0, near | {"repair": 1100.0})],
        services=_one_of_each(),
        categories=W1_CATS,
    )
    assert evaluate_pack(WUHAN, inputs).communities.loc["C1", "W1_status"] == FAIL
    faster = _inputs(
        communities=[("C1", "S1", 10.0)],
        origins=[("C1", 10.0, near | {"repair": 1100.0})],
        services=_one_of_each(),
        categories=W1_CATS,
        speed=5.0,  # 15 min = 1,250 m
    )
    table = evaluate_pack(WUHAN, faster).communities
    assert table.loc["C1", "W1_status"] == PASS
    assert "1,250 m" in table.loc["C1", "W1_threshold"]


def test_category_with_no_facility_is_not_evaluable_unless_another_fails() -> None:
    near = _everything_near(100.0)
    no_housekeeping = [s for s in _one_of_each() if s[1] != "housekeeping"]
    inputs = _inputs(
        communities=[("C1", "S1", 10.0), ("C2", "S1", 10.0)],
        origins=[
            ("C1", 10.0, near | {"housekeeping": np.inf}),
            ("C2", 10.0, near | {"housekeeping": np.inf, "catering": 5000.0}),
        ],
        services=no_housekeeping,
        categories=W1_CATS,
    )
    table = evaluate_pack(WUHAN, inputs).communities
    assert table.loc["C1", "W1_status"] == NOT_EVALUABLE
    assert "no housekeeping facilities in the data" in table.loc["C1", "W1_reason"]
    assert table.loc["C2", "W1_status"] == FAIL  # a known failure stays a failure
    assert table.loc["C2", "W1_missing"] == "catering"
    assert "not evaluable (no facilities in the data): housekeeping" in table.loc["C2", "W1_reason"]
    # not measured is not "0% covered"
    assert np.isnan(table.loc["C1", "W1_share_housekeeping"])
    assert np.isnan(table.loc["C1", "median_m_housekeeping"])


def test_government_centres_per_street_one_to_two() -> None:
    inputs = _inputs(
        communities=[
            ("C1", "S1", 10.0),
            ("C2", "S2", 10.0),
            ("C3", "S3", 10.0),
            ("C4", "S4", 10.0),
        ],
        services=[
            ("g1", "government_service_centre", "S1", "C1", np.nan),
            ("g2", "government_service_centre", "S2", "C2", np.nan),
            ("g3", "government_service_centre", "S2", "C2", np.nan),
            ("g4", "government_service_centre", "S3", "C3", np.nan),
            ("g5", "government_service_centre", "S3", "C3", np.nan),
            ("g6", "government_service_centre", "S3", "C3", np.nan),
            ("g7", "government_service_centre", None, None, np.nan),  # outside every street
        ],
    )
    streets = evaluate_pack(WUHAN, inputs).streets
    assert streets["W2_value"].to_dict() == {"S1": 1, "S2": 2, "S3": 3, "S4": 0}
    assert streets["W2_status"].to_dict() == {"S1": PASS, "S2": PASS, "S3": FAIL, "S4": FAIL}
    assert "3 government_service_centre" in streets.loc["S3", "W2_reason"]


def test_no_government_centre_anywhere_is_not_evaluable() -> None:
    inputs = _inputs(communities=[("C1", "S1", 10.0)])
    streets = evaluate_pack(WUHAN, inputs).streets
    assert streets.loc["S1", "W2_status"] == NOT_EVALUABLE
    assert "no government_service_centre facilities anywhere" in streets.loc["S1", "W2_reason"]


def test_windows_rule_decides_on_window_counts() -> None:
    with_counts = _inputs(
        communities=[("C1", "S1", 10.0), ("C2", "S1", 10.0), ("C3", "S1", 10.0)],
        services=[
            ("c1", "community_service_centre", "S1", "C1", 2.0),
            ("c2", "community_service_centre", "S1", "C2", 3.0),
        ],
    )
    table = evaluate_pack(WUHAN, with_counts).communities
    assert table["W3_status"].to_dict() == {"C1": PASS, "C2": FAIL, "C3": FAIL}
    assert "no community_service_centre inside" in table.loc["C3", "W3_reason"]
    assert table["W3_value"].to_dict() == {"C1": 2.0, "C2": 3.0, "C3": 0.0}


def test_windows_rule_without_window_counts_is_not_evaluable() -> None:
    # the rule asks for 1-2 windows; a centre's presence says nothing about its windows
    presence_only = _inputs(
        communities=[("C1", "S1", 10.0), ("C2", "S1", 10.0)],
        services=[("c1", "community_service_centre", "S1", "C1", np.nan)],
    )
    table = evaluate_pack(WUHAN, presence_only).communities
    assert table["W3_status"].to_dict() == {"C1": NOT_EVALUABLE, "C2": NOT_EVALUABLE}
    assert table["W3_value"].isna().all()
    assert (
        "1 community_service_centre is present but the data gives no window count"
        in table.loc["C1", "W3_reason"]
    )
    assert "数据未给出窗口数量" in table.loc["C1", "W3_reason_zh"]
    assert "社区内有1个" in table.loc["C1", "W3_reason_zh"]
    assert "no community_service_centre in the data" in table.loc["C2", "W3_reason"]
    assert "没有" in table.loc["C2", "W3_reason_zh"]
    nothing = evaluate_pack(WUHAN, _inputs(communities=[("C1", "S1", 10.0)])).communities
    assert nothing.loc["C1", "W3_status"] == NOT_EVALUABLE
    assert "no community_service_centre anywhere in the data" in nothing.loc["C1", "W3_reason"]


def test_windows_rule_with_a_centre_of_unknown_window_count() -> None:
    # C1: 2 windows + a centre without count (could have 3): not evaluable;
    # C2: 3 windows + unknown: fails on the known one; C3: only unknown
    inputs = _inputs(
        communities=[("C1", "S1", 10.0), ("C2", "S1", 10.0), ("C3", "S1", 10.0)],
        services=[
            ("c1", "community_service_centre", "S1", "C1", 2.0),
            ("c2", "community_service_centre", "S1", "C1", np.nan),
            ("c3", "community_service_centre", "S1", "C2", 3.0),
            ("c4", "community_service_centre", "S1", "C2", np.nan),
            ("c5", "community_service_centre", "S1", "C3", np.nan),
        ],
    )
    table = evaluate_pack(WUHAN, inputs).communities
    assert table["W3_status"].to_dict() == {"C1": NOT_EVALUABLE, "C2": FAIL, "C3": NOT_EVALUABLE}
    assert "1 of 2 community_service_centre have no window count" in table.loc["C1", "W3_reason"]
    assert "the others have 2" in table.loc["C1", "W3_reason"]
    assert "缺少窗口数量" in table.loc["C3", "W3_reason_zh"]


def test_sports_area_per_capita_exactly_one_point_six_is_not_above() -> None:
    inputs = _inputs(
        communities=[("C1", "S1", 10_000.0), ("C2", "S2", 10_000.0), ("C3", "S3", 0.0)],
        areas=[
            ("p1", "sports_ground", "S1", 16_000.0),  # 1.6 m² each: not above 1.6
            ("p2", "sports_ground", "S2", 10_000.0),
            ("p3", "sports_ground", "S2", 6_001.0),  # 1.6001 m²
            ("p4", "sports_ground", "S3", 500.0),
        ],
    )
    streets = evaluate_pack(WUHAN, inputs).streets
    assert streets.loc["S1", "W4_value"] == 1.6
    assert streets.loc["S1", "W4_status"] == FAIL
    assert streets.loc["S2", "W4_status"] == PASS
    assert streets.loc["S3", "W4_status"] == NOT_EVALUABLE  # no residents


def test_sports_area_without_any_area_data_is_not_evaluable() -> None:
    inputs = _inputs(communities=[("C1", "S1", 100.0)])
    streets = evaluate_pack(WUHAN, inputs).streets
    assert streets.loc["S1", "W4_status"] == NOT_EVALUABLE
    assert streets.loc["S1", "W4_reason"] == "no sports_ground with area in the data"


def test_sports_area_with_grounds_of_unknown_area_is_a_lower_bound() -> None:
    # 10,000 residents per street; the rule: above 1.6 m² per resident
    inputs = _inputs(
        communities=[(f"C{i}", f"S{i}", 10_000.0) for i in range(1, 7)],
        areas=[
            # S1: 1.2 m² known + one ground of unknown area: fails only for want of it
            ("a1", "sports_ground", "S1", 12_000.0),
            ("u1", "sports_ground", "S1", np.nan),
            # S2: exactly 1.6 known + two unknown: 1.6 is not above 1.6, the rest could be
            ("a2", "sports_ground", "S2", 16_000.0),
            ("u2", "sports_ground", "S2", np.nan),
            ("u3", "sports_ground", "S2", np.nan),
            # S3: exactly 1.6 and nothing unknown: a measured failure
            ("a3", "sports_ground", "S3", 16_000.0),
            # S4: only grounds of unknown area
            ("u4", "sports_ground", "S4", np.nan),
            # S5: passes on the known area alone
            ("a5", "sports_ground", "S5", 20_000.0),
            ("u5", "sports_ground", "S5", np.nan),
            # S6: no ground at all
        ],
    )
    streets = evaluate_pack(WUHAN, inputs).streets
    assert streets["W4_status"].to_dict() == {
        "S1": NOT_EVALUABLE,
        "S2": NOT_EVALUABLE,
        "S3": FAIL,
        "S4": NOT_EVALUABLE,
        "S5": PASS,
        "S6": FAIL,
    }
    assert streets["W4_unknown_area_grounds"].to_dict() == {
        "S1": 1,
        "S2": 2,
        "S3": 0,
        "S4": 1,
        "S5": 1,
        "S6": 0,
    }
    assert streets["W4_lower_bound"].to_dict() == {
        "S1": True,
        "S2": True,
        "S3": False,
        "S4": True,
        "S5": True,
        "S6": False,
    }
    assert streets.loc["S1", "W4_value"] == pytest.approx(1.2)  # the lower bound
    assert streets.loc["S4", "W4_value"] == 0.0
    reason = streets.loc["S2", "W4_reason"]
    assert "≥ 1.60 m² per resident (lower bound: 2 sports_ground of unknown area" in reason
    assert "下限：2处体育场地面积未知" in streets.loc["S2", "W4_reason_zh"]
    assert "无法评估" in streets.loc["S2", "W4_reason_zh"]
    assert "lower bound: 1 sports_ground of unknown area" in streets.loc["S5", "W4_reason"]
    assert "lower bound" not in streets.loc["S3", "W4_reason"]
    # "at least 1.6": exactly 1.6 on the known area passes whatever is unknown
    inclusive = load_pack_text(
        "id: x\nwalk_speed_kmh: 4\nrules:\n"
        "  - {id: A, kind: area_per_capita, category: sports_ground, min_value: 1.6, "
        "inclusive: true}\n"
    )
    streets = evaluate_pack(inclusive, inputs).streets
    assert streets.loc["S2", "A_status"] == PASS
    assert streets.loc["S1", "A_status"] == NOT_EVALUABLE


def test_exercise_points_per_street_and_share_of_communities_exactly_80_percent() -> None:
    communities = [(f"A{i}", "SA", 10.0) for i in range(5)] + [
        (f"B{i}", "SB", 10.0) for i in range(5)
    ]
    services = [(f"a{i}", "exercise_point", "SA", f"A{i}", np.nan) for i in range(4)]  # 4 of 5
    services += [("a4", "exercise_point", "SA", "A0", np.nan)]  # a 5th point, same community
    services += [(f"b{i}", "exercise_point", "SB", f"B{i}", np.nan) for i in range(3)]  # 3 of 5
    inputs = _inputs(communities=communities, services=services)
    streets = evaluate_pack(WUHAN, inputs).streets
    assert streets.loc["SA", "W5_value"] == 5
    assert streets.loc["SA", "W5_status"] == PASS  # "5个以上": 5 is enough
    assert streets.loc["SB", "W5_status"] == FAIL
    assert streets.loc["SA", "W6_value"] == pytest.approx(0.8)
    assert streets.loc["SA", "W6_status"] == PASS  # exactly 80%
    assert streets.loc["SB", "W6_status"] == FAIL
    assert "4 of 5 communities" in streets.loc["SA", "W6_reason"]


def test_community_share_within_minutes_option(tmp_path: Path) -> None:
    text = (
        "id: x\nwalk_speed_kmh: 4\nrules:\n"
        "  - {id: E, kind: community_share, category: exercise_point, min_share: 1.0, within_minutes: 5}\n"
    )
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    pack = load_pack(path)
    inputs = _inputs(
        communities=[("C1", "S1", 10.0), ("C2", "S1", 10.0)],
        origins=[("C1", 10.0, {"exercise_point": 0.0}), ("C2", 10.0, {"exercise_point": 300.0})],
        services=[("e1", "exercise_point", "S1", "C1", np.nan)],
        categories=("exercise_point",),
    )
    streets = evaluate_pack(pack, inputs).streets
    # C2 has no point inside but its median resident walks 300 m (< 333 m in 5 minutes)
    assert streets.loc["S1", "E_status"] == PASS


def test_summary_counts_units_and_population() -> None:
    inputs = _inputs(
        communities=[("C1", "S1", 100.0), ("C2", "S2", 300.0)],
        services=[("g1", "government_service_centre", "S1", "C1", np.nan)],
    )
    summary = evaluate_pack(WUHAN, inputs).summary.set_index("rule")
    assert summary.loc["W2", "passing"] == 1
    assert summary.loc["W2", "failing"] == 1
    assert summary.loc["W2", "population_share_in_passing_units"] == pytest.approx(0.25)


def test_median_and_p90_count_residents_off_the_network_as_beyond_the_limit() -> None:
    # C1: 60 residents 100 m from everything, 40 off the network (NaN): the reach share is
    # 60%, and the same 100 residents give the median (100 m) and the p90 (farther than the
    # limit), not a p90 of 100 m measured on the 60 alone. C2: 48 on, 52 off: the median
    # itself lands beyond the limit.
    off = dict.fromkeys(W1_CATS, np.nan)
    inputs = _inputs(
        communities=[("C1", "S1", 100.0), ("C2", "S1", 100.0)],
        origins=[
            ("C1", 60.0, _everything_near(100.0)),
            ("C1", 40.0, off),
            ("C2", 48.0, _everything_near(100.0)),
            ("C2", 52.0, off),
        ],
        services=_one_of_each(),
        categories=W1_CATS,
    )
    table = evaluate_pack(WUHAN, inputs).communities
    assert table.loc["C1", "W1_share_repair"] == pytest.approx(0.6)
    assert table.loc["C1", "median_m_repair"] == 100.0
    assert np.isposinf(table.loc["C1", "p90_m_repair"])
    assert np.isposinf(table.loc["C2", "median_m_repair"])
    assert np.isposinf(table.loc["C2", "p90_m_repair"])
    assert table.loc["C1", "W1_status"] == FAIL


def test_community_with_every_resident_off_the_network_is_not_evaluable() -> None:
    off = dict.fromkeys(W1_CATS, np.nan)
    inputs = _inputs(
        communities=[("C1", "S1", 100.0), ("C2", "S1", 30.0)],
        origins=[("C1", 100.0, _everything_near(100.0)), ("C2", 20.0, off), ("C2", 10.0, off)],
        services=_one_of_each(),
        categories=W1_CATS,
    )
    table = evaluate_pack(WUHAN, inputs).communities
    assert table.loc["C2", "W1_status"] == NOT_EVALUABLE
    assert table.loc["C2", "W1_reason"].startswith(
        "all 30 residents' origins lie more than 250 m from any walkable street"
    )
    assert "全部30名居民" in table.loc["C2", "W1_reason_zh"]
    assert np.isnan(table.loc["C2", "W1_value"])
    assert table.loc["C2", "W1_missing"] == ""
    assert table.loc["C1", "W1_status"] == PASS
