"""The plan of a case: :func:`plan` and :class:`Plan`."""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from coverage.audit import AuditResult, audit_case, service_categories
from coverage.categories import category_label
from coverage.errors import DataError
from coverage.plan.matrix import candidate_coverage
from coverage.plan.problem import (
    CoverageProblem,
    Solution,
    Status,
    _passes,
    greedy_sites,
    solve_budgeted,
    solve_min_sites,
)
from coverage.plan.sites import DEFAULT_CANDIDATE_SPACING_M, default_candidates, read_candidates
from coverage.rules import Rule, distance_column, is_close_or_above
from coverage.snapping import SnappedPoints, snap_points

if TYPE_CHECKING:
    from coverage.case import Case
    from coverage.network import WalkNetwork

__all__ = ["CURVE_COLUMNS", "PLANNABLE_KINDS", "SITE_NAME", "Plan", "case_with_sites", "plan"]

logger = logging.getLogger(__name__)


#: Name of a proposed site in the services table (zh / en).
SITE_NAME = {"zh": "规划{label}", "en": "planned {label}"}

# ---- the plan ---------------------------------------------------------------------------------

#: Rule kinds a new facility can fix, and so :func:`plan` plans.
PLANNABLE_KINDS = ("reach", "count", "community_share", "area_per_capita")


@dataclass(eq=False)
class Plan:
    """The proposed new facilities of a case, and the proof.

    Attributes
    ----------
    sites
        One row per proposed site: ``site`` (id), ``category``, ``rules`` (";"-joined),
        ``candidate_id``, ``source`` (``junction``, ``along_edge`` or ``layer``), ``area_m2``,
        ``units`` (";"-joined ids of the units it helps make pass), ``n_units``,
        ``residents_new`` (residents it brings within reach who have no facility of the kind
        within reach today; a resident reached by two new sites counts for both) and the
        point (EPSG:4326).
    curve
        Per rule, ``k`` new sites (0 up to the plan) -> ``units_passing`` and
        ``residents_in_passing_units`` (units passing every planned category of the rule),
        with the solve's ``status`` and ``gap``.
    status, gap
        ``optimal`` (every program solved to proven optimality) or ``time_limit`` (the best
        plan found, with the largest relative gap to the solver's bound).
    impossible
        Units no candidate can fix: ``rule``, ``category``, ``unit``, ``unit_id``, ``name``,
        ``residents``, ``reason``, ``reason_zh``.
    targets
        Every unit the plan makes pass: ``rule``, ``category``, ``unit``, ``unit_id``,
        ``residents``, ``share_today``, ``share_planned``.
    problems
        Per rule and category: candidates, kept after pruning, exact and greedy sites, the
        solve's status, gap, ``bound`` (proven least number of sites) and seconds,
        ``from_scratch`` (no facility of the kind in the data).
    reaudit
        The case audited again with the proposed sites added as services (None when not asked).
    notes
        What the reader must know (categories planned from scratch, caps, streets above a
        count's maximum), in English and Chinese.
    result
        The audit planned on.
    deficits
        Area rules (W4): per failing street, ``deficit_m2`` and the ``sites`` of the
        candidate layer chosen to cover it (0 when the candidates carry no area).
    """

    sites: gpd.GeoDataFrame
    curve: pd.DataFrame
    status: Status
    gap: float
    impossible: pd.DataFrame
    targets: pd.DataFrame
    problems: pd.DataFrame
    reaudit: AuditResult | None
    notes: list[tuple[str, str]] = field(default_factory=list)
    result: AuditResult | None = field(default=None, repr=False)
    deficits: pd.DataFrame = field(default_factory=pd.DataFrame)

    def __repr__(self) -> str:
        return (
            f"Plan({len(self.sites)} new sites, {len(self.targets)} unit-categories made to "
            f"pass, {len(self.impossible)} impossible, status={self.status!r})"
        )

    def unmet(self) -> pd.DataFrame:
        """Targeted units that the re-audit does not show passing (empty for a sound plan).

        Returns
        -------
        pandas.DataFrame
            The rows of :attr:`targets` whose share of residents within reach in the
            re-audit is below the pack's share; empty without a re-audit.
        """
        if self.reaudit is None or len(self.targets) == 0:
            return self.targets.iloc[:0]
        share = float(self.reaudit.provenance["min_population_share"])
        bad = []
        for row in self.targets.itertuples():
            table = self.reaudit.communities if row.unit == "community" else self.reaudit.streets
            id_col = f"{row.unit}_id"
            share_col = f"{row.rule}_share_{row.category}"
            here = table[id_col] == row.unit_id
            if share_col not in table:  # a count, share or area rule: its status decides
                got = table.loc[here, f"{row.rule}_status"]
                bad.append(not (len(got) and got.iloc[0] == "pass"))
                continue
            got = table.loc[here, share_col]
            value = float(got.iloc[0]) if len(got) else math.nan
            bad.append(not (np.isfinite(value) and is_close_or_above(value, share)))
        return self.targets[np.asarray(bad, dtype=bool)]

    def describe(self, lang: str = "en") -> str:
        """A short summary: sites per category, units made to pass, impossible units."""
        zh = lang == "zh"
        lines = []
        by_cat = self.sites.groupby("category").size() if len(self.sites) else pd.Series()
        units = self.targets.drop_duplicates(["rule", "unit_id"]) if len(self.targets) else None
        n_units = 0 if units is None else len(units)
        if zh:
            lines.append(
                f"规划新增设施 {len(self.sites)} 处，使 {n_units} 个单元在所规划类别上达标"
                + (
                    "（最优解）"
                    if self.status == "optimal"
                    else f"（时限内最优，差距 {self.gap:.1%}）"
                )
            )
        else:
            lines.append(
                f"{len(self.sites)} new sites make {n_units} units pass in the planned categories"
                + (
                    " (proven optimal)"
                    if self.status == "optimal"
                    else f" (best found in the time limit, gap {self.gap:.1%})"
                )
            )
        for cat, n in by_cat.items():
            label = category_label(str(cat), "zh") if zh else str(cat)
            lines.append(f"  {label}: {n}")
        if len(self.problems):
            for rec in self.problems.to_dict("records"):
                greedy_n = rec.get("greedy_sites")
                if greedy_n is None or pd.isna(greedy_n):
                    continue
                cat = str(rec["category"])
                lines.append(
                    f"  {rec['rule']} {cat}: exact {rec['sites']}, greedy {int(greedy_n)}"
                    if not zh
                    else f"  {rec['rule']} {category_label(cat, 'zh')}：精确解 {rec['sites']}，"
                    f"贪心 {int(greedy_n)}"
                )
        if len(self.impossible):
            lines.append(
                f"无法通过新增设施达标的单元 {len(self.impossible)} 个（见 impossible）"
                if zh
                else f"{len(self.impossible)} unit-categories cannot be fixed (see impossible)"
            )
        lines.extend(f"  {zh_text if zh else en}" for en, zh_text in self.notes)
        return "\n".join(lines)


def _fmt_pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _unit_frame(result: AuditResult, unit: str) -> pd.DataFrame:
    table = result.communities if unit == "community" else result.streets
    return pd.DataFrame(table.drop(columns="geometry")).set_index(f"{unit}_id")


def _select_rules(result: AuditResult, rules: Collection[str] | None) -> list[Rule]:
    pack = result.pack
    if rules is None:
        return [r for r in pack.rules if r.kind in PLANNABLE_KINDS]
    out = []
    known = [r.id for r in pack.rules]
    for rule_id in rules:
        if rule_id not in known:
            msg = f"rule {rule_id!r} is not in pack {pack.id!r}; its rules: {', '.join(known)}"
            raise ValueError(msg)
        rule = pack.rule(rule_id)
        if rule.kind not in PLANNABLE_KINDS:
            plannable = [r.id for r in pack.rules if r.kind in PLANNABLE_KINDS]
            msg = (
                f"rule {rule_id!r} ({rule.kind}) is not planned by new sites; the rules a plan "
                f"covers in pack {pack.id!r}: {', '.join(plannable) or 'none'}"
            )
            raise ValueError(msg)
        out.append(rule)
    return out


def _snap_candidates(
    network: WalkNetwork, frame: gpd.GeoDataFrame, max_snap_m: float
) -> tuple[gpd.GeoDataFrame, SnappedPoints]:
    snapped = snap_points(network, frame.set_index("candidate_id"), max_snap_m=max_snap_m)
    ok = snapped.ok
    if not ok.any():
        msg = (
            f"none of the {len(frame)} candidate sites lies within {max_snap_m:g} m of a "
            "walkable street: give sites on or near the walking network"
        )
        raise DataError(msg)
    if not ok.all():
        logger.info(
            "%d candidate sites are farther than %g m from any walkable street and are dropped",
            int((~ok).sum()),
            max_snap_m,
        )
    return frame[ok].reset_index(drop=True), snapped.subset(ok)


def _site_services(sites: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "service_id": sites["site"].to_numpy(dtype=object),
            "name": [
                SITE_NAME["zh"].format(label=category_label(c, "zh")) for c in sites["category"]
            ],
            "category": sites["category"].to_numpy(dtype=object),
            "area_m2": sites["area_m2"].to_numpy(dtype=float),
            "windows": np.full(len(sites), np.nan),
        },
        geometry=sites.geometry.to_numpy(),
        crs=4326,
    )


def case_with_sites(case: Case, sites: gpd.GeoDataFrame) -> Case:
    """The case with the proposed sites added to its services (the case is not changed).

    Parameters
    ----------
    case
        The case.
    sites
        :attr:`Plan.sites`.

    Returns
    -------
    Case
        A new case whose services end with one row per site (``service_id`` the site id,
        ``name`` 规划<类别>).
    """
    if len(sites) == 0:
        return case
    services = pd.concat([case.services, _site_services(sites)], ignore_index=True)
    return dataclasses.replace(case, services=gpd.GeoDataFrame(services, crs=case.services.crs))


def plan(
    result: AuditResult,
    *,
    rules: Collection[str] | None = None,
    categories: Collection[str] | None = None,
    candidates: str | Path | gpd.GeoDataFrame | None = None,
    max_new: int | None = None,
    time_limit: float | None = None,
    spacing_m: float = DEFAULT_CANDIDATE_SPACING_M,
    mip_gap: float = 0.0,
    curve: Literal["plan_order", "exact"] | None = "plan_order",
    greedy: bool = True,
    reaudit: bool = True,
    case: Case | None = None,
) -> Plan:
    """The fewest new facilities that make every community pass, existing ones kept.

    See the module docstring for the method.

    Parameters
    ----------
    result
        An audit (it holds the network, the origins with their distances and the case).
    rules
        Rule ids to plan (default: every rule a new facility can fix: reach, count,
        community share and area rules).
    categories
        Categories to plan (default: every required category of those rules).
    candidates
        Candidate sites: a file or GeoDataFrame of points or polygons (:func:`read_candidates`);
        default :func:`default_candidates` every ``spacing_m``.
    max_new
        At most this many new sites in all; the plan then maximises the residents in passing
        units (the budgeted program) instead of making every unit pass.
    time_limit
        Seconds for each integer program; a stopped solve gives its best plan and its gap
        (:attr:`Plan.status` ``time_limit``).
    spacing_m
        Spacing of the default candidates.
    mip_gap
        Relative optimality gap at which a solve may stop (0: proven optimum).
    curve
        How :attr:`Plan.curve` is made, for every k from 0 to the plan's size:
        ``"plan_order"`` (default): the plan's sites added best first, a lower bound of the best
        k-site plan (exact at 0 and at the full plan; cheap); ``"exact"``: the budgeted
        integer program for every k (slow beyond a few categories); ``None``: no curve.
    greedy
        Also run the greedy heuristic, for comparison (:attr:`Plan.problems`).
    reaudit
        Audit the case again with the sites added (:attr:`Plan.reaudit`).
    case
        The audited case (default: the one the audit kept).

    Returns
    -------
    Plan

    Raises
    ------
    ValueError
        An unknown rule or category, or a rule no new facility can fix.
    DataError
        A candidate layer that misses the case.
    """
    network = result.network
    if network is None:
        msg = "the audit result holds no network: audit the case with audit_case first"
        raise DataError(msg)
    case = case if case is not None else getattr(result, "case", None)
    if max_new is not None and max_new < 0:
        msg = f"max_new={max_new!r}: give 0 or more sites"
        raise ValueError(msg)
    selected = _select_rules(result, rules)
    wanted = None if categories is None else {str(c) for c in categories}
    todo = [
        (rule, cat)
        for rule in selected
        if rule.kind == "reach"
        for cat in rule.categories
        if wanted is None or cat in wanted
    ]
    others = [
        rule
        for rule in selected
        if rule.kind != "reach" and (wanted is None or rule.category in wanted)
    ]
    if wanted is not None:
        known = {c for rule in selected for c in rule.categories} | {
            rule.category for rule in selected if rule.category
        }
        unknown = sorted(wanted - known)
        if unknown:
            msg = (
                f"categories {unknown} are not required by the rules planned "
                f"({', '.join(r.id for r in selected)}); they require: {', '.join(sorted(known))}"
            )
            raise ValueError(msg)
    share = float(result.provenance.get("min_population_share", result.pack.min_population_share))
    max_snap = float(result.provenance.get("max_snap_m", 250.0))
    speed = result.walk_speed_kmh
    notes: list[tuple[str, str]] = []

    if candidates is None:
        cand_frame = default_candidates(network, result.streets, spacing_m=spacing_m)
    else:
        # every user layer, file or frame, gets the checks of read_candidates
        frame_columns = candidates.columns if isinstance(candidates, gpd.GeoDataFrame) else ()
        cand_frame = read_candidates(
            candidates,
            area=result.streets,
            id_column="candidate_id" if "candidate_id" in frame_columns else None,
            area_column="area_m2" if "area_m2" in frame_columns else None,
        )
    if "area_m2" not in cand_frame:
        cand_frame = cand_frame.assign(area_m2=np.nan)
    cand_frame, cand_snap = _snap_candidates(network, cand_frame, max_snap)

    origins = result.origins
    o_snap = snap_points(network, origins.set_index("origin_id"), max_snap_m=max_snap)
    weights = origins["population"].to_numpy(dtype=float)

    # per (rule, category): the units' state today, the residents still to reach
    served = service_categories(result.services)  # a service may serve several categories
    state: list[dict[str, Any]] = []
    impossible_rows: list[dict[str, Any]] = []
    for rule, cat in todo:
        budget = rule.budget_m(speed)
        assert budget is not None
        units = _unit_frame(result, rule.unit)
        codes = units.index.get_indexer(origins[f"{rule.unit}_id"])
        valid = codes >= 0
        column = distance_column(cat)
        d = (
            origins[column].to_numpy(dtype=float)
            if column in origins
            else np.full(len(origins), np.inf)
        )
        from_scratch = not bool((served["category"] == cat).any())
        reached = np.nan_to_num(d, nan=np.inf) <= budget
        on_net = o_snap.ok & ~np.isnan(d) if not from_scratch else o_snap.ok
        if from_scratch:
            reached[:] = False
        n = len(units)
        total = np.bincount(codes[valid], weights=weights[valid], minlength=n)
        on_pop = np.bincount(codes[valid], weights=(weights * on_net)[valid], minlength=n)
        now = np.bincount(codes[valid], weights=(weights * reached)[valid], minlength=n)
        passing = np.array([_passes(a, b, share) for a, b in zip(now, total, strict=True)])
        fixable = (total > 0) & (on_pop > 0) & ~passing
        needy = valid & on_net & ~reached
        needy[valid] &= fixable[codes[valid]]
        state.append(
            {
                "rule": rule,
                "category": cat,
                "budget": budget,
                "units": units,
                "codes": codes,
                "total": total,
                "on_pop": on_pop,
                "now": now,
                "passing": passing,
                "fixable": fixable,
                "needy": needy,
                "from_scratch": from_scratch,
            }
        )
        if from_scratch:
            notes.append(
                (
                    f"{cat}: no facility of the kind in the data; planned from scratch (the "
                    "data may only lack it: check whether such facilities exist)",
                    f"{category_label(cat, 'zh')}：数据中没有该类设施，按从零规划（也可能只是数据"
                    "缺失，请核实现状设施）",
                )
            )

    # coverage, once per budget, over every origin some problem still has to reach
    matrices: dict[float, tuple[sp.csc_matrix, npt.NDArray[np.int64]]] = {}
    for budget in sorted({s["budget"] for s in state}):
        union = np.zeros(len(origins), dtype=bool)
        for s in state:
            if s["budget"] == budget:
                union |= s["needy"]
        cols = np.flatnonzero(union)
        matrix = candidate_coverage(network, cand_snap, o_snap.subset(union), budget_m=budget)
        matrices[budget] = (matrix.tocsc(), cols)

    problems: list[CoverageProblem] = []
    problem_rows: list[dict[str, Any]] = []
    solutions: list[Solution] = []
    target_rows: list[dict[str, Any]] = []
    budget_left = max_new
    chosen_by_cat: dict[tuple[str, float], set[int]] = {}
    for s in state:
        rule, cat, budget = s["rule"], s["category"], s["budget"]
        units, codes, total = s["units"], s["codes"], s["total"]
        matrix, cols = matrices[budget]
        pos = np.searchsorted(cols, np.flatnonzero(s["needy"]))
        sub = matrix[:, pos].tocsr()
        origin_unit = codes[cols[pos]]
        pop = weights[cols[pos]]
        now = s["now"].copy()
        # sites already planned for this category (another rule) count as existing
        earlier = sorted(chosen_by_cat.get((cat, budget), set()))
        keep_cols = np.ones(pos.size, dtype=bool)
        if earlier:
            hit = np.unique(sub[earlier].indices)
            now += np.bincount(origin_unit[hit], weights=pop[hit], minlength=len(units))
            keep_cols[hit] = False
        sub = sub[:, np.flatnonzero(keep_cols)].tocsr()
        origin_unit, pop = origin_unit[keep_cols], pop[keep_cols]
        reachable = np.zeros(sub.shape[1], dtype=bool)
        reachable[sub.indices] = True
        best = now + np.bincount(
            origin_unit[reachable], weights=pop[reachable], minlength=len(units)
        )
        target = np.zeros(len(units), dtype=bool)
        for i in np.flatnonzero(~s["passing"]):
            uid = units.index[i]
            base = {
                "rule": rule.id,
                "category": cat,
                "unit": rule.unit,
                "unit_id": uid,
                "name": units["name"].iloc[i] if "name" in units else "",
                "residents": float(total[i]),
            }
            if _passes(now[i], total[i], share):
                continue  # an earlier rule's sites already make it pass
            reason = _impossible_reason(
                rule, cat, total[i], s["on_pop"][i], best[i], share, speed, max_snap
            )
            if reason is None:
                target[i] = True
            else:
                impossible_rows.append(base | {"reason": reason[0], "reason_zh": reason[1]})
        keep_o = target[origin_unit] & reachable
        sub = sub[:, np.flatnonzero(keep_o)].tocsr()
        origin_unit, pop = origin_unit[keep_o], pop[keep_o]
        problem = CoverageProblem.of_targets(
            sub,
            origin_unit=origin_unit,
            population=pop,
            target=target,
            units=units.index,
            total=total,
            gap=share * total - now,
            rule=rule.id,
            category=cat,
            unit=rule.unit,
            budget_m=budget,
        )
        solution = solve_min_sites(problem, time_limit=time_limit, mip_gap=mip_gap)
        greedy_n = None
        if greedy and len(problem.units):
            greedy_n = (
                solution.greedy_sites
                if solution.greedy_sites is not None
                else int(greedy_sites(problem).size)
            )
        problems.append(problem)
        solutions.append(solution)
        problem_rows.append(
            {
                "rule": rule.id,
                "category": cat,
                "budget_m": budget,
                "targets": len(problem.units),
                "candidates": len(cand_frame),
                "useful_candidates": problem.n_candidates,
                "kept_candidates": problem.candidates.size,
                "classes": problem.cover.shape[1],
                "sites": int(solution.rows[0].size),
                "greedy_sites": greedy_n,
                "status": solution.status,
                "gap": solution.gap,
                "bound": solution.bound,
                "seconds": solution.seconds,
                "from_scratch": s["from_scratch"],
            }
        )
        chosen_by_cat.setdefault((cat, budget), set()).update(
            int(c) for c in problem.sites(solution.rows[0])
        )
        s["now_after_rules"] = now
        s["target"] = target

    # the cap: the budgeted program per rule with the sites left
    final_rows: list[npt.NDArray[np.int64]] = [sol.rows[0] for sol in solutions]
    if max_new is not None:
        budget_left = int(max_new)
        for rule in selected:
            idx = [i for i, p in enumerate(problems) if p.rule == rule.id]
            need = sum(final_rows[i].size for i in idx)
            if need <= budget_left:
                budget_left -= need
                continue
            rule_units, residents = _rule_units([problems[i] for i in idx])
            sol = solve_budgeted(
                [problems[i] for i in idx],
                budget_left,
                units=rule_units,
                residents=residents,
                time_limit=time_limit,
                mip_gap=mip_gap,
            )
            for at, r in zip(idx, sol.rows, strict=True):
                final_rows[at] = np.asarray(r, dtype=np.int64)
                problem_rows[at]["sites"] = int(r.size)
                problem_rows[at]["status"] = sol.status
                problem_rows[at]["gap"] = sol.gap
            budget_left -= sum(r.size for r in sol.rows)
            notes.append(
                (
                    f"{rule.id}: --max-new {max_new} caps the plan below the "
                    f"{need} sites that make every unit pass; the sites maximise the residents "
                    "in passing units",
                    f"{rule.id}：新增设施上限 {max_new} 处，少于全部达标所需的 {need} 处；"
                    "所选位置使达标单元的居民最多",
                )
            )

    # the sites
    site_rows: list[dict[str, Any]] = []
    geoms: list[Any] = []
    for p, rows in zip(problems, final_rows, strict=True):
        passing_after = p.passing(rows)
        needy_before = np.ones(p.cover.shape[1], dtype=bool)
        for n, r in enumerate(rows):
            hit = p.cover[r].indices
            units_hit = np.unique(p.class_unit[hit])
            made = [str(p.units[u]) for u in units_hit if passing_after[u]]
            cand = int(p.candidates[r])
            row = cand_frame.iloc[cand]
            site_rows.append(
                {
                    "site": f"{p.rule}-{p.category}-{n + 1:03d}",
                    "category": p.category,
                    "rules": p.rule,
                    "candidate_id": str(row["candidate_id"]),
                    "source": str(row["source"]),
                    "area_m2": float(row["area_m2"]),
                    "units": ";".join(made),
                    "n_units": len(made),
                    "residents_new": float(p.class_pop[hit].sum()),
                }
            )
            geoms.append(row.geometry)
        del needy_before
        for u in np.flatnonzero(passing_after):
            uid = p.units[int(u)]
            st = next(s for s in state if s["rule"].id == p.rule and s["category"] == p.category)
            i = st["units"].index.get_loc(uid)
            new = p.new_residents(rows)[u]
            target_rows.append(
                {
                    "rule": p.rule,
                    "category": p.category,
                    "unit": p.unit,
                    "unit_id": uid,
                    "residents": float(p.total[u]),
                    "share_today": float(st["now"][i] / p.total[u]),
                    "share_planned": float((st["now_after_rules"][i] + new) / p.total[u]),
                }
            )
    deficits = pd.DataFrame(columns=["rule", "street_id", "residents", "deficit_m2", "sites"])
    if others:
        from coverage.plan.counts import plan_counts

        counted = plan_counts(
            result, others, cand_frame=cand_frame, cand_snap=cand_snap, o_snap=o_snap
        )
        numbers: dict[tuple[str, str], int] = {}
        for pick in counted.picks:
            key = (pick["rules"], pick["category"])
            numbers[key] = numbers.get(key, 0) + 1
            row = cand_frame.iloc[pick["candidate"]]
            site_rows.append(
                {
                    "site": f"{pick['rules'].replace(';', '+')}-{pick['category']}-"
                    f"{numbers[key]:03d}",
                    "category": pick["category"],
                    "rules": pick["rules"],
                    "candidate_id": str(row["candidate_id"]),
                    "source": str(row["source"]),
                    "area_m2": float(row["area_m2"]),
                    "units": pick["units"],
                    "n_units": 1,
                    "residents_new": math.nan,
                }
            )
            geoms.append(row.geometry)
        target_rows.extend(counted.targets)
        impossible_rows.extend(counted.impossible)
        notes.extend(counted.notes)
        if counted.deficits:
            deficits = pd.DataFrame(counted.deficits)
    sites = gpd.GeoDataFrame(
        pd.DataFrame(
            site_rows,
            columns=[
                "site",
                "category",
                "rules",
                "candidate_id",
                "source",
                "area_m2",
                "units",
                "n_units",
                "residents_new",
            ],
        ),
        geometry=gpd.GeoSeries(geoms, crs=4326).to_numpy() if geoms else [],
        crs=4326,
    )

    curve_frame = (
        _curves(
            selected,
            problems,
            final_rows,
            state,
            method=curve,
            time_limit=time_limit,
            mip_gap=mip_gap,
        )
        if curve is not None
        else pd.DataFrame(columns=CURVE_COLUMNS)
    )
    statuses = [r["status"] for r in problem_rows]
    status: Status = "optimal" if all(s == "optimal" for s in statuses) else "time_limit"
    gap = max((float(r["gap"]) for r in problem_rows), default=0.0)
    if status == "time_limit":
        logger.warning(
            "the solver stopped at its time limit: the plan is the best found, gap %.2f%%",
            100 * gap,
        )
    re = None
    if reaudit:
        if case is None:
            msg = "the audit result keeps no case to re-audit: pass case= (or reaudit=False)"
            raise DataError(msg)
        re = audit_case(
            case_with_sites(case, sites),
            pack=result.pack,
            walk_speed_kmh=speed,
            min_population_share=share,
            network=network,
        )
    out = Plan(
        sites=sites,
        curve=curve_frame,
        status=status,
        gap=gap,
        impossible=pd.DataFrame(
            impossible_rows,
            columns=[
                "rule",
                "category",
                "unit",
                "unit_id",
                "name",
                "residents",
                "reason",
                "reason_zh",
            ],
        ),
        targets=pd.DataFrame(
            target_rows,
            columns=[
                "rule",
                "category",
                "unit",
                "unit_id",
                "residents",
                "share_today",
                "share_planned",
            ],
        ),
        problems=pd.DataFrame(problem_rows),
        reaudit=re,
        deficits=deficits,
        notes=notes,
        result=result,
    )
    if re is not None:
        unmet = out.unmet()
        if len(unmet):
            logger.warning(
                "the re-audit shows %d targeted units not passing: %s",
                len(unmet),
                ", ".join(
                    f"{r.rule} {r.category} {r.unit_id}" for r in unmet.head(10).itertuples()
                ),
            )
    return out


def _impossible_reason(
    rule: Rule,
    category: str,
    total: float,
    on_pop: float,
    best: float,
    share: float,
    speed: float,
    max_snap: float,
) -> tuple[str, str] | None:
    """Why no set of candidates can make the unit pass (None: some can)."""
    if not total > 0:
        return (
            "no residents (population 0 or missing): nothing to plan",
            "无常住人口（人口为0或缺失），无需规划",
        )
    if not on_pop > 0:
        return (
            f"all {total:,.0f} residents' origins lie more than {max_snap:g} m from any "
            "walkable street: no new site can bring them within reach (check that the OSM "
            "file covers the unit)",
            f"全部{total:,.0f}名居民的出发点距任何可步行道路都超过{max_snap:g}米，新增设施"
            "无法使其可达（请检查OSM文件是否覆盖该单元）",
        )
    if _passes(best, total, share):
        return None
    budget = rule.budget_m(speed) or 0.0
    off = total - on_pop
    off_en = off_zh = ""
    if off > 0:
        off_en = f"; {off:,.0f} residents are off the network"
        off_zh = f"；另有{off:,.0f}名居民不在步行路网上"
    return (
        f"no candidate within reach of enough residents: with every candidate site built, "
        f"{category} would reach {_fmt_pct(best / total)} of residents within {budget:,.0f} m "
        f"(needs {_fmt_pct(share)}){off_en}",
        f"没有足够近的候选地块：即使建设全部候选地块，{category_label(category, 'zh')}在"
        f"{budget:,.0f}米内也只覆盖{_fmt_pct(best / total)}的居民（需{_fmt_pct(share)}）{off_zh}",
    )


def _rule_units(
    problems: Sequence[CoverageProblem],
) -> tuple[pd.Index, npt.NDArray[np.float64]]:
    """The target units of a rule's problems, once each, with their residents."""
    frames = [pd.Series(p.total, index=p.units) for p in problems]
    if not frames:
        return pd.Index([]), np.zeros(0)
    both = pd.concat(frames)
    both = both[~both.index.duplicated()]
    return both.index, np.asarray(both.to_numpy(dtype=float), dtype=np.float64)


CURVE_COLUMNS = [
    "rule",
    "k",
    "units_passing",
    "residents_in_passing_units",
    "method",
    "status",
    "gap",
]


def _curves(
    selected: Sequence[Rule],
    problems: Sequence[CoverageProblem],
    final_rows: Sequence[npt.NDArray[np.int64]],
    state: Sequence[dict[str, Any]],
    *,
    method: str,
    time_limit: float | None,
    mip_gap: float,
) -> pd.DataFrame:
    """k -> units passing every planned category of the rule (and their residents), from 0 up
    to the plan's number of sites.

    ``method="exact"``: each point an exact budgeted program (at most k sites anywhere).
    ``method="plan_order"``: the plan's own sites added one by one, each time the one that
    makes the most residents' units pass (then the one reaching most residents still needed):
    a lower bound of the exact curve at every k, equal to it at k = 0 and at the full plan.
    """
    rows: list[dict[str, Any]] = []
    for rule in selected:
        idx = [i for i, p in enumerate(problems) if p.rule == rule.id]
        if not idx:
            continue
        mine = [s for s in state if s["rule"].id == rule.id]
        units = mine[0]["units"]
        total = mine[0]["total"]
        # units that could pass every planned category: today or with sites
        can = np.ones(len(units), dtype=bool)
        today = np.ones(len(units), dtype=bool)
        for s in mine:
            can &= s["passing"] | s["target"]
            today &= s["passing"]
        today &= total > 0
        base_units = int(today.sum())
        base_res = float(total[today].sum())
        cand_units = units.index[can & ~today]
        residents = total[can & ~today]
        probs = [_restrict(problems[i], cand_units) for i in idx]
        k_max = sum(final_rows[i].size for i in idx)

        def point(
            k: int,
            n_units: int,
            res: float,
            how: str,
            status: str,
            gap: float,
            *,
            rule_id: str = rule.id,
            units0: int = base_units,
            res0: float = base_res,
        ) -> None:
            rows.append(
                {
                    "rule": rule_id,
                    "k": k,
                    "units_passing": units0 + n_units,
                    "residents_in_passing_units": res0 + res,
                    "method": how,
                    "status": status,
                    "gap": gap,
                }
            )

        point(0, 0, 0.0, method, "optimal", 0.0)
        if len(cand_units) == 0:
            continue
        if method == "exact":
            for k in range(1, k_max + 1):
                sol = solve_budgeted(
                    probs,
                    k,
                    units=cand_units,
                    residents=residents,
                    time_limit=time_limit,
                    mip_gap=mip_gap,
                )
                assert sol.passing is not None
                point(k, int(sol.passing.sum()), sol.objective, "exact", sol.status, sol.gap)
            continue
        kept_rows = [np.asarray(final_rows[i], dtype=np.int64) for i in idx]
        for k, passing in enumerate(_plan_order(probs, kept_rows, cand_units), start=1):
            point(
                k,
                int(passing.sum()),
                float(residents[passing].sum()),
                method,
                "lower_bound",
                math.nan,
            )
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


def _plan_order(
    problems: Sequence[CoverageProblem],
    rows: Sequence[npt.NDArray[np.int64]],
    units: pd.Index,
) -> list[npt.NDArray[np.bool_]]:
    """The units passing after each of the plan's sites, added best first (see
    :func:`_curves`)."""
    n = len(units)
    covered = [np.zeros(p.cover.shape[1], dtype=bool) for p in problems]
    new = [np.zeros(len(p.units), dtype=float) for p in problems]
    where = [units.get_indexer(p.units) for p in problems]
    left = [(pi, int(r)) for pi, rr in enumerate(rows) for r in rr]
    out: list[npt.NDArray[np.bool_]] = []

    def passing_with(pi: int | None, add: npt.NDArray[np.float64] | None) -> npt.NDArray[np.bool_]:
        ok = np.ones(n, dtype=bool)
        for qi, p in enumerate(problems):
            got = new[qi] + add if (qi == pi and add is not None) else new[qi]
            ok[where[qi]] &= got >= p.gap - 1e-9 * np.maximum(p.total, 1.0)
        return ok

    res = np.zeros(n)
    for qi, p in enumerate(problems):
        res[where[qi]] = p.total
    while left:
        best: tuple[float, float] | None = None
        pick = 0
        for li, (pi, r) in enumerate(left):
            p = problems[pi]
            hit = p.cover[r].indices
            hit = hit[~covered[pi][hit]]
            add = np.bincount(
                p.class_unit[hit], weights=p.class_pop[hit], minlength=len(p.units)
            ).astype(np.float64)
            ok = passing_with(pi, add)
            useful = float(np.minimum(add, np.maximum(p.gap - new[pi], 0.0)).sum())
            score = (float(res[ok].sum()), useful)
            if best is None or score > best:
                best, pick = score, li
        pi, r = left.pop(pick)
        p = problems[pi]
        hit = p.cover[r].indices
        hit = hit[~covered[pi][hit]]
        new[pi] += np.bincount(p.class_unit[hit], weights=p.class_pop[hit], minlength=len(p.units))
        covered[pi][hit] = True
        passing = passing_with(None, None)
        out.append(passing)
    return out


def _restrict(problem: CoverageProblem, units: pd.Index) -> CoverageProblem:
    """The problem on those of its target units that are among ``units``."""
    keep = problem.units.isin(units)
    if keep.all():
        return problem
    new_pos = np.full(len(problem.units), -1, dtype=np.int64)
    new_pos[keep] = np.arange(int(keep.sum()))
    cols = keep[problem.class_unit]
    return dataclasses.replace(
        problem,
        units=problem.units[keep],
        total=problem.total[keep],
        gap=problem.gap[keep],
        cover=problem.cover[:, np.flatnonzero(cols)].tocsr(),
        class_unit=new_pos[problem.class_unit[cols]],
        class_pop=problem.class_pop[cols],
    )
