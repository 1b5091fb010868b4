"""The rule kinds of the standards packs on hand-made tables whose answers are known by
construction: exactly at the threshold, a unit without residents or households, a facility of
unknown area, an unverified rule, a group walking at its own speed."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage.catchment import FacilityDistances
from coverage.errors import RulePackError
from coverage.rules import (
    AVERAGE_HOUSEHOLD_SIZE,
    FAIL,
    NOT_EVALUABLE,
    PASS,
    RuleInputs,
    RulePack,
    combine_packs,
    evaluate_pack,
    load_pack,
)


def pack(tmp_path: Path, rules: str, *, speed: float = 4.0, name: str = "t") -> RulePack:
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        f"id: {name}\nversion: 1\ntitle: test\nwalk_speed_kmh: {speed}\n"
        f"min_population_share: 0.9\nrules:\n{textwrap.indent(textwrap.dedent(rules), '  ')}",
        encoding="utf-8",
    )
    return load_pack(path)


def inputs(
    *,
    services: list[tuple[str, str, str | None, str | None]] = (),  # type: ignore[assignment]
    areas: list[tuple[str, str, str, float]] = (),  # type: ignore[assignment]
    catchments: dict[str, FacilityDistances] | None = None,
    origin_d: dict[str, list[float]] | None = None,
    households: list[float] | None = None,
    populations: tuple[float, float, float] = (60.0, 40.0, 0.0),
) -> RuleInputs:
    """Street S1 holds communities C1 and C2, street S2 holds C3 (no residents); one origin
    per community."""
    comm = pd.DataFrame(
        {
            "community_id": ["C1", "C2", "C3"],
            "name": ["C1", "C2", "C3"],
            "street_id": ["S1", "S1", "S2"],
            "population": list(populations),
        }
    ).set_index("community_id")
    if households is not None:
        comm["households"] = households
    streets = comm.groupby("street_id")["population"].sum().to_frame()
    streets["name"] = streets.index
    origins = pd.DataFrame(
        {
            "community_id": ["C1", "C2", "C3"],
            "street_id": ["S1", "S1", "S2"],
            "population": list(populations),
        }
    )
    for cat, d in (origin_d or {}).items():
        origins[f"d_{cat}"] = d
    serv = pd.DataFrame(
        [(*s, np.nan) for s in services],
        columns=["service_id", "category", "street_id", "community_id", "windows"],
    )
    area = pd.DataFrame(areas, columns=["service_id", "category", "street_id", "area_m2"])
    return RuleInputs(
        communities=comm,
        streets=streets,
        origins=origins,
        services=serv,
        areas=area,
        walk_speed_kmh=4.0,
        min_population_share=0.9,
        catchments=catchments or {},
    )


def distances(rows: list[tuple[int, int, float]], n_fac: int, ids: list[str]) -> FacilityDistances:
    r, c, v = zip(*rows, strict=True) if rows else ((), (), ())
    matrix = sp.coo_matrix((v, (r, c)), shape=(3, n_fac)).tocsr()
    return FacilityDistances(matrix, np.array(ids, dtype=object), 1000.0)


CATCHMENT = """\
- id: R
  kind: catchment_per_capita
  unit: street
  title: reach
  category: sports_ground
  min_value: {value}
  inclusive: {inclusive}
  max_distance_m: 1000
"""


def _catchment_case(
    value: float, *, inclusive: bool, unknown: bool, tmp_path: Path
) -> pd.DataFrame:
    services = [("F1", "sports_ground", "S1", "C1")]
    areas = [("F1", "sports_ground", "S1", 260.0)]
    rows = [(0, 0, 1000.0), (1, 0, 1000.0)]  # both residents exactly at the budget
    ids = ["F1"]
    if unknown:
        services.append(("F2", "sports_ground", "S2", "C3"))
        areas.append(("F2", "sports_ground", "S2", np.nan))
        rows.append((1, 1, 500.0))
        ids.append("F2")
    p = pack(tmp_path, CATCHMENT.format(value=value, inclusive=str(inclusive).lower()))
    tables = evaluate_pack(
        p,
        inputs(
            services=services,
            areas=areas,
            catchments={"sports_ground": distances(rows, len(ids), ids)},
        ),
    )
    return tables.streets


def test_catchment_exactly_at_the_threshold_passes_when_inclusive(tmp_path: Path) -> None:
    streets = _catchment_case(2.6, inclusive=True, unknown=False, tmp_path=tmp_path)
    # 260 m² shared by the 100 residents within 1,000 m (both exactly at the budget): 2.6
    assert streets.loc["S1", "R_value"] == pytest.approx(2.6)
    assert streets.loc["S1", "R_status"] == PASS
    assert streets.loc["S1", "R_admin_value"] == pytest.approx(2.6)
    assert "administrative ratio" in streets.loc["S1", "R_reason"]
    strict = _catchment_case(2.6, inclusive=False, unknown=False, tmp_path=tmp_path)
    assert strict.loc["S1", "R_status"] == FAIL


def test_catchment_unit_without_residents_is_not_evaluable(tmp_path: Path) -> None:
    streets = _catchment_case(2.6, inclusive=True, unknown=False, tmp_path=tmp_path)
    assert streets.loc["S2", "R_status"] == NOT_EVALUABLE
    assert "no residents" in streets.loc["S2", "R_reason"]


def test_catchment_facility_without_area_makes_a_lower_bound(tmp_path: Path) -> None:
    # the known area alone meets 2.6: pass, said to be a lower bound
    ok = _catchment_case(2.6, inclusive=True, unknown=True, tmp_path=tmp_path)
    assert ok.loc["S1", "R_status"] == PASS
    assert bool(ok.loc["S1", "R_lower_bound"])
    assert "lower bound" in ok.loc["S1", "R_reason"]
    assert "下限" in ok.loc["S1", "R_reason_zh"]
    # a shortfall that the unknown area could make up: not evaluable, never fail
    short = _catchment_case(3.0, inclusive=True, unknown=True, tmp_path=tmp_path)
    assert short.loc["S1", "R_status"] == NOT_EVALUABLE
    assert "could make up" in short.loc["S1", "R_reason"]


def test_catchment_beyond_the_budget_reaches_nothing(tmp_path: Path) -> None:
    p = pack(tmp_path, CATCHMENT.format(value=1.0, inclusive="true"))
    tables = evaluate_pack(
        p,
        inputs(
            services=[("F1", "sports_ground", "S1", "C1")],
            areas=[("F1", "sports_ground", "S1", 260.0)],
            catchments={"sports_ground": distances([(0, 0, 1000.001)], 1, ["F1"])},
        ),
    )
    assert tables.streets.loc["S1", "R_value"] == 0.0
    assert tables.streets.loc["S1", "R_status"] == FAIL
    # the street's own ground still shows in the administrative ratio
    assert tables.streets.loc["S1", "R_admin_value"] == pytest.approx(2.6)


def test_count_per_population_at_the_threshold(tmp_path: Path) -> None:
    p = pack(
        tmp_path,
        """\
        - id: P
          kind: count_per_population
          category: football_pitch
          min_value: 0.9
          per_residents: 10000
        """,
    )
    pop = 100_000 / 9  # one pitch for 11,111.1 residents is 0.9 per 10,000
    tables = evaluate_pack(
        p,
        inputs(
            services=[("F1", "football_pitch", "S1", "C1")],
            populations=(pop / 2, pop / 2, 0.0),
        ),
    )
    assert tables.streets.loc["S1", "P_value"] == pytest.approx(0.9)
    assert tables.streets.loc["S1", "P_status"] == PASS
    assert tables.streets.loc["S2", "P_status"] == NOT_EVALUABLE


AREA_HH = """\
- id: H
  kind: area_per_households
  category: community_service_centre
  min_value: 30
  per_households: 100
"""


def test_area_per_households_given_derived_and_missing(tmp_path: Path) -> None:
    p = pack(tmp_path, AREA_HH)
    tables = evaluate_pack(
        p,
        inputs(
            services=[
                ("A", "community_service_centre", "S1", "C1"),
                ("B", "community_service_centre", "S1", "C2"),
            ],
            areas=[
                ("A", "community_service_centre", "S1", 60.0),
                ("B", "community_service_centre", "S1", np.nan),
            ],
            households=[200.0, np.nan, np.nan],
        ),
    )
    c = tables.communities
    # 60 m² for the 200 households the case gives: 30 per 100, exactly the threshold
    assert c.loc["C1", "H_value"] == pytest.approx(30.0)
    assert c.loc["C1", "H_status"] == PASS
    assert c.loc["C1", "H_households_source"] == "data"
    # no household figure: population / 2.62 (2020 census), and the reason says so
    assert c.loc["C2", "H_households"] == pytest.approx(40.0 / AVERAGE_HOUSEHOLD_SIZE)
    assert c.loc["C2", "H_households_source"] == "derived"
    assert "2020" in c.loc["C2", "H_reason"] and "2.62" in c.loc["C2", "H_reason"]
    # its only centre has no area: a lower bound of 0 decides nothing
    assert c.loc["C2", "H_status"] == NOT_EVALUABLE
    # a community without households
    assert c.loc["C3", "H_status"] == NOT_EVALUABLE
    assert "no households" in c.loc["C3", "H_reason"]


def test_presence_fails_on_a_missing_kind_and_is_not_evaluable_without_data(
    tmp_path: Path,
) -> None:
    p = pack(
        tmp_path,
        """\
        - id: K
          kind: presence
          categories: [kindergarten, nursery]
        - id: K2
          kind: presence
          categories: [kindergarten, elderly_service_station]
        """,
    )
    tables = evaluate_pack(
        p,
        inputs(
            services=[
                ("k1", "kindergarten", "S1", "C1"),
                ("n1", "nursery", "S1", "C1"),
                ("k2", "kindergarten", "S1", "C2"),
            ]
        ),
    )
    c = tables.communities
    assert c.loc["C1", "K_status"] == PASS
    assert c.loc["C2", "K_status"] == FAIL
    assert c.loc["C2", "K_missing"] == "nursery"
    # no elderly service station anywhere in the data: the kit cannot be decided on it
    assert c.loc["C1", "K2_status"] == NOT_EVALUABLE
    assert c.loc["C3", "K2_status"] == FAIL  # no kindergarten at all: fails whatever else


_KINDS = ["kindergarten", "nursery", "elderly_service_station", "pharmacy"]


@settings(max_examples=60, deadline=None)
@given(
    placed=st.lists(
        st.tuples(st.sampled_from(_KINDS), st.sampled_from(["C1", "C2", "C3"])), max_size=12
    ),
    need=st.integers(1, 2),
)
def test_presence_decides_each_community_as_the_plain_rule(
    tmp_path_factory: pytest.TempPathFactory, placed: list[tuple[str, str]], need: int
) -> None:
    """The presence rule (its words made once per pattern of missing kinds) against the rule
    read plainly, community by community: fail where a kind in the data has fewer than
    ``need``, not evaluable where only kinds absent from the data are short, else pass."""
    p = pack(
        tmp_path_factory.mktemp("p"),
        f"""\
        - id: K
          kind: presence
          categories: [{", ".join(_KINDS)}]
          min_count: {need}
        """,
    )
    services = [(f"s{i}", cat, "S1", unit) for i, (cat, unit) in enumerate(placed)]
    c = evaluate_pack(p, inputs(services=services)).communities
    in_data = {cat for cat, _ in placed}
    for unit in ("C1", "C2", "C3"):
        n = {k: sum(1 for cat, u in placed if cat == k and u == unit) for k in _KINDS}
        missing = [k for k in _KINDS if k in in_data and n[k] < need]
        want = FAIL if missing else NOT_EVALUABLE if len(in_data) < len(_KINDS) else PASS
        assert c.loc[unit, "K_status"] == want
        assert c.loc[unit, "K_missing"] == ";".join(missing)
        assert c.loc[unit, "K_value"] == sum(n[k] >= need for k in _KINDS) / len(_KINDS)
        if missing:
            assert c.loc[unit, "K_reason"].startswith(
                f"missing inside the community: {', '.join(missing)}"
            )


UNVERIFIED = """\
- id: G
  kind: area_total
  category: activity_ground
  min_value: 150
  unverified: true
{enabled}
"""


def test_unverified_rule_is_switched_off_and_says_so(tmp_path: Path) -> None:
    data = inputs(
        services=[("g", "activity_ground", "S1", "C1")],
        areas=[("g", "activity_ground", "S1", 200.0)],
    )
    off = evaluate_pack(pack(tmp_path, UNVERIFIED.format(enabled="")), data)
    c = off.communities
    assert (c["G_status"] == NOT_EVALUABLE).all()
    assert c.loc["C1", "G_measured_status"] == PASS
    assert c.loc["C2", "G_measured_status"] == FAIL
    assert "switched off" in c.loc["C1", "G_reason"]
    assert "未启用" in c.loc["C1", "G_reason_zh"]
    row = off.summary.set_index("rule").loc["G"]
    assert bool(row["unverified"]) and not bool(row["decides"])
    on = evaluate_pack(pack(tmp_path, UNVERIFIED.format(enabled="  enabled: true")), data)
    assert on.communities.loc["C1", "G_status"] == PASS
    assert on.communities.loc["C2", "G_status"] == FAIL
    assert on.communities.loc["C1", "G_reason"].startswith("UNVERIFIED threshold")
    assert on.communities.loc["C1", "G_reason_zh"].startswith("阈值未经核实")
    # both keep the measure's own words, after their note
    for unit in ("C1", "C2"):
        words = on.communities.loc[unit, "G_reason"].split(": ", 1)[1]
        words_zh = on.communities.loc[unit, "G_reason_zh"].split("：", 1)[1]
        measured = "pass" if unit == "C1" else "fail"
        assert c.loc[unit, "G_reason"].endswith(f"it would be {measured}: {words}")
        assert c.loc[unit, "G_reason_zh"].endswith(words_zh)


GROUP = """\
- id: E
  kind: reach
  categories: [elderly_service_station]
  max_minutes: 10
{speed}
"""


def test_a_group_rule_walks_at_its_own_speed(tmp_path: Path) -> None:
    data = inputs(
        services=[("e", "elderly_service_station", "S1", "C1")],
        origin_d={"elderly_service_station": [600.0, 600.0, np.nan]},
    )
    # the pack's 4 km/h: 10 minutes are 667 m, 600 m is within
    plain = evaluate_pack(pack(tmp_path, GROUP.format(speed="")), data)
    assert plain.communities.loc["C1", "E_status"] == PASS
    # older residents at 3 km/h (GOAT): 10 minutes are 500 m
    slow = evaluate_pack(
        pack(
            tmp_path,
            GROUP.format(speed="  walk_speed_kmh: 3.0\n  walk_speed_source: GOAT elderly profile"),
        ),
        data,
    )
    assert slow.communities.loc["C1", "E_status"] == FAIL
    assert "3 km/h" in slow.communities.loc["C1", "E_reason"]
    assert "500 m" in slow.communities.loc["C1", "E_threshold"]
    assert slow.summary.set_index("rule").loc["E", "walk_speed_kmh"] == 3.0


def test_a_group_speed_must_be_cited(tmp_path: Path) -> None:
    with pytest.raises(RulePackError, match="walk_speed_source"):
        pack(tmp_path, GROUP.format(speed="  walk_speed_kmh: 3.0"))


def test_combined_packs_keep_each_packs_speed(tmp_path: Path) -> None:
    data = inputs(
        services=[("e", "elderly_service_station", "S1", "C1")],
        origin_d={"elderly_service_station": [600.0, 600.0, np.nan]},
    )
    fast = pack(tmp_path, GROUP.format(speed=""), speed=4.0, name="fast")
    slow = pack(tmp_path, GROUP.format(speed=""), speed=3.0, name="slow")
    both = combine_packs([fast, slow])
    assert [r.id for r in both.rules] == ["fast:E", "slow:E"]  # same id in two packs
    tables = evaluate_pack(both, data)
    alone_fast = evaluate_pack(fast, data).communities["E_status"]
    # alone, each pack is audited at its own speed (audit_case passes it in the inputs)
    alone_slow = evaluate_pack(
        slow, RuleInputs(**{**data.__dict__, "walk_speed_kmh": 3.0})
    ).communities["E_status"]
    assert list(alone_fast) != list(alone_slow)
    assert (tables.communities["fast:E_status"] == alone_fast).all()
    assert (tables.communities["slow:E_status"] == alone_slow).all()
    assert list(tables.summary["pack"]) == ["fast", "slow"]
    # an override for the whole audit replaces every pack's speed
    overridden = both.with_overrides(walk_speed_kmh=3.0)
    inputs3 = RuleInputs(**{**data.__dict__, "walk_speed_kmh": 3.0})
    out = evaluate_pack(overridden, inputs3).communities
    assert out.loc["C1", "fast:E_status"] == out.loc["C1", "slow:E_status"] == FAIL


def test_pack_lists_and_all() -> None:
    every = load_pack("all")
    assert set(every.pack_ids) >= {"national-fitness", "wuhan-fitness", "sdg-11-7-1"}
    two = load_pack("national-fitness,wuhan-fitness")
    assert two.pack_ids == ("national-fitness", "wuhan-fitness")
    assert {r.pack_walk_speed_kmh for r in two.rules} == {4.0}
    with pytest.raises(RulePackError, match="more than once"):
        load_pack("wuhan-fitness,wuhan-fitness")
    with pytest.raises(RulePackError, match="unknown rule pack"):
        load_pack("wuhan-fitness,nope")


@pytest.mark.parametrize(
    "name",
    [
        "national-fitness",
        "wuhan-fitness",
        "complete-community",
        "embedded-services",
        "gb50180-2018-green",
        "sdg-11-7-1",
    ],
)
def test_every_new_pack_cites_document_date_and_source(name: str) -> None:
    p = load_pack(name)
    assert p.reference
    for rule in p.rules:
        assert rule.source and rule.document and rule.date, rule.id
        assert rule.label("zh") != rule.label("en")


def test_the_case_households_column_reaches_the_rules(tmp_path: Path) -> None:
    """End to end on the demo: a ``households`` column of the communities is used as given;
    without it, households are derived (2.62 per household) and the reason says so."""
    from coverage.audit import audit_case
    from coverage.case import Case

    demo = Path(__file__).parents[1] / "data" / "demo" / "case.toml"
    p = pack(
        tmp_path,
        """\
        - id: H
          kind: area_per_households
          category: sports_ground
          min_value: 30
          per_households: 100
        """,
    )
    case = Case.from_config(demo)
    derived = audit_case(case, pack=p).communities.set_index("community_id")
    populated = derived["population"] > 0
    assert (derived.loc[populated, "H_households_source"] == "derived").all()
    assert derived.loc[populated, "H_households"].to_numpy() == pytest.approx(
        derived.loc[populated, "population"].to_numpy() / AVERAGE_HOUSEHOLD_SIZE
    )
    case.communities["households"] = (case.communities["population"] / 3.0).round()
    given = audit_case(case, pack=p).communities.set_index("community_id")
    assert (given.loc[populated, "H_households_source"] == "data").all()
    assert not given.loc[populated, "H_reason"].str.contains("census").any()
    assert derived.loc[populated, "H_reason"].str.contains("2020 census").all()
    assert derived.loc[populated, "H_reason_zh"].str.contains("2020年人口普查").all()


def test_a_group_rule_requires_its_own_share(tmp_path: Path) -> None:
    data = inputs(
        services=[("e", "elderly_service_station", "S1", "C1")],
        origin_d={"elderly_service_station": [600.0, 900.0, np.nan]},
        populations=(60.0, 40.0, 0.0),
    )
    # C1 and C2 are one origin each: put both in C1 to get a 60% share there
    data.origins.loc[1, "community_id"] = "C1"
    pack_share = evaluate_pack(pack(tmp_path, GROUP.format(speed="")), data)
    assert pack_share.communities.loc["C1", "E_status"] == FAIL  # 60% < the pack's 90%
    own = evaluate_pack(pack(tmp_path, GROUP.format(speed="  min_population_share: 0.6")), data)
    assert own.communities.loc["C1", "E_status"] == PASS  # exactly the rule's own 60%
    assert "60.0%" in own.communities.loc["C1", "E_threshold"]
