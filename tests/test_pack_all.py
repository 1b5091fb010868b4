"""Every shipped pack on the demo: ``--pack all`` decides as each pack alone, and the new packs'
decisions match slow references computed here from the audit's inputs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from coverage.access import nearest_facility
from coverage.audit import AuditResult, _area_pieces, audit_case, service_categories
from coverage.case import Case
from coverage.rules import FAIL, NOT_EVALUABLE, PASS, list_packs, load_pack
from coverage.snapping import snap_points

DEMO = Path(__file__).parents[1] / "data" / "demo" / "case.toml"


@pytest.fixture(scope="module")
def every() -> AuditResult:
    return audit_case(DEMO, pack="all")


@pytest.fixture(scope="module")
def alone() -> dict[str, AuditResult]:
    case = Case.from_config(DEMO)
    return {name: audit_case(case, pack=name) for name in list_packs()}


def test_pack_all_decides_as_each_pack_alone(
    every: AuditResult, alone: dict[str, AuditResult]
) -> None:
    assert every.pack.pack_ids == tuple(list_packs())
    assert len(every.pack.rules) == sum(len(r.pack.rules) for r in alone.values())
    for name, result in alone.items():
        for rule in result.pack.rules:
            table = "communities" if rule.unit == "community" else "streets"
            ours = getattr(every, table).set_index(f"{rule.unit}_id")
            theirs = getattr(result, table).set_index(f"{rule.unit}_id")
            for suffix in ("status", "reason", "reason_zh", "threshold"):
                column = f"{rule.id}_{suffix}"
                assert (ours[column] == theirs[column]).all(), (name, column)
            np.testing.assert_allclose(
                ours[f"{rule.id}_value"].to_numpy(dtype=float),
                theirs[f"{rule.id}_value"].to_numpy(dtype=float),
                equal_nan=True,
            )
        summary = every.summary.set_index("rule").loc[list(result.summary["rule"])]
        for key in ("passing", "failing", "not_evaluable"):
            assert list(summary[key]) == list(result.summary[key]), (name, key)
        assert set(summary["pack"]) == {name}


def test_pack_all_searches_each_category_once(
    every: AuditResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    import coverage.access as access_module
    import coverage.catchment as catchment_module

    searched: list[int] = []
    pairs: list[int] = []
    nearest = access_module.PreparedOrigins.nearest
    pair_search = catchment_module.facility_distances

    def counting_nearest(*args, **kwargs):  # type: ignore[no-untyped-def]
        searched.append(1)
        return nearest(*args, **kwargs)

    def counting_pairs(*args, **kwargs):  # type: ignore[no-untyped-def]
        pairs.append(1)
        return pair_search(*args, **kwargs)

    monkeypatch.setattr(access_module.PreparedOrigins, "nearest", counting_nearest)
    monkeypatch.setattr(catchment_module, "facility_distances", counting_pairs)
    result = audit_case(DEMO, pack="all", network=every.network)
    # one search per category that any reach rule of any pack needs, however many packs
    cats = result.pack.reach_categories
    shared = {c for c in cats if sum(c in r.all_categories for r in result.pack.rules) > 1}
    assert len(shared) > 3  # e.g. supermarket, fitness_facility: measured by several packs
    assert len(searched) == len(set(cats))
    # and one pair search per catchment category (sports_ground for two packs, public_green)
    assert len(pairs) == len(result.pack.catchment_budgets_m(result.walk_speed_kmh)) == 2
    for cat in cats:
        assert f"d_{cat}" in result.origins


def test_every_new_pack_decides_something_on_the_demo(every: AuditResult) -> None:
    summary = every.summary.set_index("rule")
    for rule in ("NF-AREA", "NF-AREA-REACH", "NF-15", "NF-FOOTBALL", "WF-12", "SDG-400", "CC-KIT"):
        assert summary.loc[rule, "passing"] + summary.loc[rule, "failing"] > 0, rule
    # unverified rules are measured, never decided
    assert summary.loc["CC-GROUND", "not_evaluable"] == summary.loc["CC-GROUND", "units"]
    # no community service centre in the demo: the 嵌入式 floor-space rules cannot decide
    assert summary.loc["EM-30", "not_evaluable"] == summary.loc["EM-30", "units"]


def _served(result: AuditResult, category: str) -> pd.Series:
    cats = result.services["categories"].fillna("").str.split(";")
    return cats.apply(lambda c: category in c) | (result.services["category"] == category)


@pytest.mark.parametrize(
    ("rule_id", "category"),
    [
        ("NF-15", "fitness_facility"),
        ("WF-12", "fitness_facility"),
        ("SDG-400", "open_public_space"),
    ],
)
def test_reach_rules_match_shares_recounted_from_the_origins(
    every: AuditResult, rule_id: str, category: str
) -> None:
    rule = every.pack.rule(rule_id)
    budget = rule.budget_m(rule.speed(every.walk_speed_kmh))
    need = rule.share(every.provenance["min_population_share"])
    o = every.origins
    comm = every.communities.set_index("community_id")
    checked = 0
    for cid, group in o.groupby("community_id"):
        total = group["population"].sum()
        status = comm.loc[cid, f"{rule_id}_status"]
        d = group[f"d_{category}"].to_numpy(dtype=float)
        if not total > 0 or np.isnan(d).all():
            assert status == NOT_EVALUABLE
            continue
        share = group["population"].to_numpy()[d <= budget].sum() / total
        expected = PASS if share >= need - 1e-12 else FAIL
        assert status == expected, (cid, share)
        checked += 1
    assert checked > 50


def test_football_pitches_per_10000_recounted(every: AuditResult) -> None:
    pitches = every.services[_served(every, "football_pitch")]
    counts = pitches.groupby("street_id").size()
    pop = every.communities.groupby("street_id")["population"].sum()
    streets = every.streets.set_index("street_id")
    for sid, row in streets.iterrows():
        n = int(counts.get(sid, 0))
        value = n * 10_000 / pop[sid]
        assert row["NF-FOOTBALL_value"] == pytest.approx(value)
        assert row["NF-FOOTBALL_status"] == (PASS if value >= 0.9 - 1e-12 else FAIL)


def test_complete_community_kit_recounted(every: AuditResult) -> None:
    rule = every.pack.rule("CC-KIT")
    comm = every.communities.set_index("community_id")
    present = {
        cat: set(every.services.loc[_served(every, cat), "community_id"].dropna())
        for cat in rule.categories
    }
    anywhere = {cat for cat, ids in present.items() if ids}
    for cid, row in comm.iterrows():
        missing = [c for c in rule.categories if c in anywhere and cid not in present[c]]
        if missing:
            assert row["CC-KIT_status"] == FAIL
            assert row["CC-KIT_missing"] == ";".join(missing)
        elif anywhere != set(rule.categories):
            assert row["CC-KIT_status"] == NOT_EVALUABLE
        else:
            assert row["CC-KIT_status"] == PASS


def test_sports_area_within_reach_matches_a_brute_force_on_the_demo(every: AuditResult) -> None:
    """NF-AREA-REACH from a dense matrix (one reach search per ground) and plain loops."""
    rule = every.pack.rule("NF-AREA-REACH")
    budget = rule.budget_m(rule.speed(every.walk_speed_kmh))
    assert every.network is not None and every.snapped_services is not None
    case = Case.from_config(DEMO)
    origins = snap_points(every.network, every.origins.set_index("origin_id"), max_snap_m=250.0)
    mask = _served(every, "sports_ground").to_numpy()
    grounds = every.snapped_services.subset(mask)
    dense = np.full((len(origins), int(mask.sum())), np.inf)
    for j in range(dense.shape[1]):
        one = np.zeros(dense.shape[1], dtype=bool)
        one[j] = True
        dense[:, j] = nearest_facility(every.network, origins, grounds.subset(one))[
            "distance_m"
        ].to_numpy()
    pieces = _area_pieces(
        every.services,
        service_categories(every.services),
        case.streets,
        every.network.metric_crs,
        area_categories={"sports_ground"},
    )
    pieces = pieces[pieces["category"] == "sports_ground"]
    area = pieces.groupby("service_id")["area_m2"].sum(min_count=1)
    supply = area.reindex(every.services.loc[mask, "service_id"]).to_numpy(dtype=float)
    pop = every.origins["population"].to_numpy(dtype=float)
    ratio = []
    for j in range(dense.shape[1]):
        served = sum(pop[i] for i in range(len(pop)) if dense[i, j] <= budget)
        s = 0.0 if math.isnan(supply[j]) else supply[j]
        ratio.append(s / served if served > 0 else 0.0)
    reach = [
        sum(ratio[j] for j in range(dense.shape[1]) if dense[i, j] <= budget)
        for i in range(len(pop))
    ]
    o = every.origins.assign(reach=reach)
    o["weighted"] = o["reach"] * o["population"]
    by_street = o.groupby("street_id")[["weighted", "population"]].sum()
    streets = every.streets.set_index("street_id")
    for sid, row in by_street.iterrows():
        if row["population"] > 0:
            expected = row["weighted"] / row["population"]
            assert streets.loc[sid, "NF-AREA-REACH_value"] == pytest.approx(expected, rel=1e-9)
    # both measures side by side, and they differ somewhere: reach is not the boundary ratio
    assert (
        (streets["NF-AREA-REACH_value"] - streets["NF-AREA-REACH_admin_value"]).abs() > 1e-6
    ).any()


def test_rules_lists_pack_all_the_same_way() -> None:
    assert [r.id for r in load_pack("all").rules] == [
        r.id for name in list_packs() for r in load_pack(name).rules
    ]


def test_provenance_of_pack_all_names_only_files_that_exist(every: AuditResult) -> None:
    """A combined pack has no YAML of its own: its provenance names none, and every part's
    file is one the package ships."""
    from importlib import resources

    pack = every.provenance["pack"]
    assert pack["file"] is None
    assert len(pack["packs"]) == len(list_packs())
    root = resources.files("coverage").parent  # type: ignore[attr-defined]
    for part in pack["packs"]:
        assert (Path(str(root)) / part["file"]).is_file(), part["file"]
