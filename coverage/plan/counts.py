"""补短板 for count and area rules (W2, W5 + W6, W4), used by :func:`coverage.plan.plan`.

- **Count rules with a minimum** (W2: 1-2 government service centres per street): a street
  below the minimum gets the missing facilities, each at the candidate inside the street that
  minimises its residents' mean walk (exact network distances, the audit's formula; the next
  best candidate for a second one). A street above the maximum is reported, never changed:
  facilities are never removed.
- **A count rule and a community-share rule of the same category together** (W5: 5 or more
  exercise points per street; W6: in 80 % or more of its communities): one new point inside a
  community without one counts for both, so the fewest new points of a street is
  ``max(points W5 still lacks, communities W6 still lacks)``, a lower bound that is reached:
  the W6 points go to the most populous communities without one, the rest to the most
  populous communities, each at the candidate inside the community that minimises its
  residents' mean walk.
- **Area rules** (W4: sports ground area per resident): the deficit in m² per failing street.
  When the candidates carry an area (a layer of lots), the fewest lots of the street whose
  areas cover the deficit, largest first (for "fewest lots covering an area" taking the
  largest first is optimal); without areas the deficit alone is reported.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.sparse import csgraph

from coverage.categories import category_label

if TYPE_CHECKING:
    import geopandas as gpd

    from coverage.audit import AuditResult
    from coverage.network import WalkNetwork
    from coverage.rules import Rule
    from coverage.snapping import SnappedPoints

__all__ = ["CountPlan", "mean_walk_m", "plan_counts"]

logger = logging.getLogger(__name__)

#: Searches for the mean walk stop here (m): residents farther count at this distance.
MEAN_WALK_LIMIT_M = 5000.0
_BATCH = 32


@dataclass
class CountPlan:
    """What the count and area rules need: new sites, reports, deficits."""

    picks: list[dict[str, Any]] = field(default_factory=list)
    targets: list[dict[str, Any]] = field(default_factory=list)
    impossible: list[dict[str, Any]] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)
    deficits: list[dict[str, Any]] = field(default_factory=list)


def mean_walk_m(
    network: WalkNetwork,
    candidates: SnappedPoints,
    origins: SnappedPoints,
    weights: npt.NDArray[np.float64],
    *,
    limit_m: float = MEAN_WALK_LIMIT_M,
) -> npt.NDArray[np.float64]:
    """Population-weighted mean walk (m) from each candidate to the given origins.

    Exact network distances (the origin's edge ends and the direct walk along a shared
    edge, as :mod:`coverage.access`); a resident off the network or farther than ``limit_m``
    counts at ``limit_m``.
    """
    from coverage.access import _append_rows

    n = network.n_nodes
    ok_o = origins.ok
    total = float(weights.sum())
    out = np.full(len(candidates), np.inf)
    if total <= 0:
        return out
    e_o = origins.edge[ok_o]
    u_o, v_o = network.edge_u[e_o], network.edge_v[e_o]
    off_o, snap_o = origins.offset_m[ok_o], origins.snap_m[ok_o]
    len_o = network.edge_length_m[e_o]
    w_ok = weights[ok_o]
    w_off = float(weights[~ok_o].sum())
    cand = np.flatnonzero(candidates.ok)
    for lo in range(0, cand.size, _BATCH):
        members = cand[lo : lo + _BATCH]
        e = candidates.edge[members]
        off, snap = candidates.offset_m[members], candidates.snap_m[members]
        length = network.edge_length_m[e]
        graph = _append_rows(
            network.adjacency,
            np.column_stack([network.edge_u[e], network.edge_v[e]]).ravel(),
            np.column_stack([snap + off, snap + length - off]).ravel(),
        )
        dist = csgraph.dijkstra(
            graph, directed=True, indices=np.arange(n, n + members.size), limit=limit_m
        )
        walk = snap_o + np.minimum(off_o + dist[:, u_o], len_o - off_o + dist[:, v_o])
        same = e[:, None] == e_o[None, :]
        direct = snap_o[None, :] + np.abs(off_o[None, :] - off[:, None]) + snap[:, None]
        walk = np.where(same, np.minimum(walk, direct), walk)
        walk = np.minimum(walk, limit_m)
        out[members] = (walk @ w_ok + w_off * limit_m) / total
    return out


def _best_sites(
    network: WalkNetwork,
    cand_snap: SnappedPoints,
    inside: npt.NDArray[np.int64],
    o_snap: SnappedPoints,
    origin_mask: npt.NDArray[np.bool_],
    weights: npt.NDArray[np.float64],
    count: int,
    used: set[int],
) -> list[tuple[int, float]]:
    """The ``count`` candidates of ``inside`` (not in ``used``) with the least mean walk."""
    free = np.array([c for c in inside if int(c) not in used], dtype=np.int64)
    if free.size == 0 or count <= 0:
        return []
    mean = mean_walk_m(
        network,
        cand_snap.subset(_mask(len(cand_snap), free)),
        o_snap.subset(origin_mask),
        weights[origin_mask],
    )
    order = np.argsort(mean, kind="stable")[:count]
    return [(int(free[i]), float(mean[i])) for i in order]


def _mask(n: int, positions: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    mask = np.zeros(n, dtype=bool)
    mask[positions] = True
    return mask


def plan_counts(
    result: AuditResult,
    rules: Sequence[Rule],
    *,
    cand_frame: gpd.GeoDataFrame,
    cand_snap: SnappedPoints,
    o_snap: SnappedPoints,
) -> CountPlan:
    """Plan the count, community-share and area rules among ``rules`` (see the module
    docstring)."""
    from coverage.audit import _containment, service_categories

    network = result.network
    assert network is not None
    out = CountPlan()
    streets = result.streets.set_index("street_id")
    comms = result.communities.set_index("community_id")
    cand_street = _containment(cand_frame, result.streets, "street_id").to_numpy()
    cand_comm = _containment(cand_frame, result.communities, "community_id").to_numpy()
    origins = result.origins
    weights = origins["population"].to_numpy(dtype=float)
    o_street = origins["street_id"].astype(str).to_numpy()
    o_comm = origins["community_id"].astype(str).to_numpy()
    used: set[int] = set()
    counts = {r.category: r for r in rules if r.kind == "count"}
    shares = {r.category: r for r in rules if r.kind == "community_share"}
    services = result.services

    by_category = service_categories(services)  # a service may serve several categories

    def served(cat: str) -> npt.NDArray[np.bool_]:
        mask = np.zeros(len(services), dtype=bool)
        mask[by_category.loc[by_category["category"] == cat, "pos"].to_numpy(dtype=np.int64)] = True
        return mask

    for cat in dict.fromkeys([*counts, *shares]):
        if cat is None:
            continue
        count_rule = counts.get(cat)
        share_rule = shares.get(cat)
        here = services[served(cat)]
        per_street = here.groupby("street_id").size()
        per_comm = here.groupby("community_id").size()
        label_zh = category_label(cat, "zh")
        for sid in streets.index:
            have = int(per_street.get(sid, 0))
            need_count = 0
            if count_rule is not None and count_rule.min_count is not None:
                need_count = max(count_rule.min_count - have, 0)
            if (
                count_rule is not None
                and count_rule.max_count is not None
                and have > count_rule.max_count
            ):
                out.notes.append(
                    (
                        f"{count_rule.id} street {sid}: {have} {cat}, more than "
                        f"{count_rule.max_count}; reported, none removed",
                        f"{count_rule.id} 街道 {sid}：{label_zh} {have} 个，超过 "
                        f"{count_rule.max_count} 个；仅报告，不拆除",
                    )
                )
            lacking: list[str] = []
            need_share = 0
            if share_rule is not None and share_rule.min_share is not None:
                members = comms.index[comms["street_id"].astype(str) == str(sid)]
                with_one = [c for c in members if per_comm.get(c, 0) > 0]
                required = math.ceil(share_rule.min_share * len(members) - 1e-9)
                need_share = max(required - len(with_one), 0)
                lacking = sorted(
                    (c for c in members if per_comm.get(c, 0) == 0),
                    key=lambda c: -float(comms.loc[c, "population"] or 0.0),
                )
            total_new = max(need_count, need_share)
            if total_new == 0:
                continue
            rules_fixed = ";".join(r.id for r in (count_rule, share_rule) if r is not None)
            # W6's communities first (the most populous without one that has a candidate),
            # then the rest of W5's points anywhere in the street
            placed = 0
            for comm in lacking:
                if placed >= need_share:
                    break
                inside = np.flatnonzero(cand_comm == comm)
                picks = _best_sites(
                    network, cand_snap, inside, o_snap, o_comm == str(comm), weights, 1, used
                )
                if not picks:
                    continue
                placed += _take(out, used, picks, cat, rules_fixed, str(comm), str(sid))
            if placed < need_share and share_rule is not None:
                out.impossible.append(_impossible(share_rule, cat, "street", sid, streets))
                continue
            extra = total_new - placed
            while extra > 0:
                inside = np.flatnonzero(cand_street == sid)
                picks = _best_sites(
                    network, cand_snap, inside, o_snap, o_street == str(sid), weights, extra, used
                )
                if not picks:
                    out.impossible.append(
                        _impossible(count_rule or share_rule, cat, "street", sid, streets)
                    )
                    break
                placed += _take(out, used, picks, cat, rules_fixed, str(sid), str(sid))
                extra -= len(picks)
            if placed >= total_new:
                for rule in (count_rule, share_rule):
                    if rule is not None and streets.loc[sid, f"{rule.id}_status"] != "pass":
                        out.targets.append(
                            {
                                "rule": rule.id,
                                "category": cat,
                                "unit": "street",
                                "unit_id": sid,
                                "residents": float(streets.loc[sid, "population"]),
                                "share_today": math.nan,
                                "share_planned": math.nan,
                            }
                        )

    for rule in rules:
        if rule.kind != "area_per_capita" or rule.min_value is None or rule.category is None:
            continue
        area_col = f"{rule.id}_value"
        from_scratch = not bool(served(rule.category).any())
        if from_scratch:
            out.notes.append(
                (
                    f"{rule.id}: no {rule.category} in the data; the deficit is the whole target "
                    "(the data may only lack it)",
                    f"{rule.id}：数据中没有{category_label(rule.category, 'zh')}，缺口按全部目标"
                    "计算（也可能只是数据缺失）",
                )
            )
        for sid in streets.index:
            pop = float(streets.loc[sid, "population"])
            failing = streets.loc[sid, f"{rule.id}_status"] == "fail"
            if not (failing or (from_scratch and pop > 0)):
                continue
            per_capita = float(streets.loc[sid, area_col]) if failing else 0.0
            if not np.isfinite(per_capita):
                per_capita = 0.0
            deficit = max(rule.min_value * pop - per_capita * pop, 0.0)
            row = {
                "rule": rule.id,
                "street_id": sid,
                "residents": pop,
                "deficit_m2": deficit,
                "sites": 0,
            }
            free = [int(c) for c in np.flatnonzero(cand_street == sid) if int(c) not in used]
            areas = cand_frame["area_m2"].to_numpy(dtype=float)
            known = sorted((c for c in free if areas[c] > 0), key=lambda c: -areas[c])
            if known:
                got = 0.0
                chosen = []
                for c in known:
                    if got > deficit:
                        break
                    chosen.append(int(c))
                    got += float(areas[c])
                if got > deficit:
                    for c in chosen:
                        used.add(c)
                        out.picks.append(
                            {
                                "candidate": c,
                                "category": rule.category,
                                "rules": rule.id,
                                "units": str(sid),
                                "mean_walk_m": math.nan,
                                "street_id": str(sid),
                            }
                        )
                    row["sites"] = len(chosen)
                    out.targets.append(
                        {
                            "rule": rule.id,
                            "category": rule.category,
                            "unit": "street",
                            "unit_id": sid,
                            "residents": pop,
                            "share_today": math.nan,
                            "share_planned": math.nan,
                        }
                    )
            out.deficits.append(row)
    return out


def _impossible(
    rule: Rule | None, cat: str, unit: str, uid: Any, table: pd.DataFrame
) -> dict[str, Any]:
    return {
        "rule": "" if rule is None else rule.id,
        "category": cat,
        "unit": unit,
        "unit_id": uid,
        "name": str(table.loc[uid, "name"]) if "name" in table else "",
        "residents": float(table.loc[uid, "population"]) if "population" in table else math.nan,
        "reason": f"no candidate site inside the {unit} for a new {cat}",
        "reason_zh": f"{'社区' if unit == 'community' else '街道'}内没有可新建"
        f"{category_label(cat, 'zh')}的候选地块",
    }


def _take(
    out: CountPlan,
    used: set[int],
    picks: list[tuple[int, float]],
    category: str,
    rules: str,
    units: str,
    street_id: str,
) -> int:
    """Record ``picks`` (candidate, mean walk) as proposed sites for ``units`` and mark them
    used; the number taken."""
    for pos, mean in picks:
        used.add(pos)
        out.picks.append(
            {
                "candidate": pos,
                "category": category,
                "rules": rules,
                "units": units,
                "mean_walk_m": mean,
                "street_id": street_id,
            }
        )
    return len(picks)
