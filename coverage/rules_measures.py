"""The rule kinds of the fitness, 完整居住社区, 嵌入式 and green-space packs.

``catchment_per_capita``, ``count_per_population``, ``area_per_households``, ``presence`` and
``area_total`` (see :mod:`coverage.rules` for what each decides). Kept apart from
:mod:`coverage.rules`, which holds the pack schema and the original kinds; every function here
writes the same columns (``<id>_value``, ``_threshold``, ``_status``, ``_reason``,
``_reason_zh``) through :func:`coverage.rules._write_decision`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from coverage.rules import (
    AVERAGE_HOUSEHOLD_SIZE,
    FAIL,
    NOT_EVALUABLE,
    PASS,
    Rule,
    RuleInputs,
    _codes,
    _fmt_m,
    _label_zh,
    _memo,
    _write_decision,
    count_by_unit,
    count_services,
    is_close_or_above,
)

__all__ = ["area_inside", "evaluate_measure", "households"]

_DECAY_WORDS = {
    "none": ("2SFCA, no decay", "两步移动搜索法（2SFCA），无距离衰减"),
    "step": ("E2SFCA, stepped decay", "增强两步移动搜索法（E2SFCA），分段距离衰减"),
    "gaussian": ("E2SFCA, Gaussian decay", "增强两步移动搜索法（E2SFCA），高斯距离衰减"),
}


def evaluate_measure(rule: Rule, inputs: RuleInputs, communities: Any, streets: Any) -> None:
    """Decide one rule of the kinds of this module; the columns go on its unit's table."""
    table = communities if rule.unit == "community" else streets
    if rule.kind == "catchment_per_capita":
        _catchment(rule, inputs, table)
    elif rule.kind == "count_per_population":
        _count_per_population(rule, inputs, streets)
    elif rule.kind == "area_per_households":
        _area_per_households(rule, inputs, communities)
    elif rule.kind == "presence":
        _presence(rule, inputs, communities)
    elif rule.kind == "area_total":
        _area_total(rule, inputs, communities)
    else:  # pragma: no cover - the pack loader admits no other kind
        msg = f"rule {rule.id}: kind {rule.kind!r} is not a measure of this module"
        raise ValueError(msg)


def households(communities: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Households per community, and where each figure comes from.

    The case's ``households`` column where it gives a number; otherwise the population
    divided by :data:`coverage.rules.AVERAGE_HOUSEHOLD_SIZE` (2.62, the 2020 census).

    Returns
    -------
    tuple of numpy.ndarray
        The households (float) and, per community, ``"data"`` or ``"derived"``.
    """
    pop = communities["population"].to_numpy(dtype=float)
    derived = pop / AVERAGE_HOUSEHOLD_SIZE
    if "households" in communities:
        given = pd.to_numeric(communities["households"], errors="coerce").to_numpy(dtype=float)
        use = ~np.isnan(given)
        return np.where(use, given, derived), np.where(use, "data", "derived")
    return derived, np.full(len(pop), "derived", dtype=object)


def _passes(value: float, rule: Rule) -> bool:
    assert rule.min_value is not None
    if rule.inclusive:
        return is_close_or_above(value, rule.min_value)
    return value > rule.min_value and not math.isclose(
        value, rule.min_value, rel_tol=1e-12, abs_tol=1e-12
    )


def _sign(rule: Rule) -> tuple[str, str]:
    return ("≥", "不低于") if rule.inclusive else (">", "大于")


def _facilities(inputs: RuleInputs, category: str) -> pd.DataFrame:
    """The services of ``category`` (once per evaluation: several packs measure a kind)."""
    services = inputs.services
    return _memo(
        inputs, f"facilities:{category}", lambda: services[services["category"] == category]
    )


def _facility_areas(inputs: RuleInputs, category: str) -> pd.Series:
    """Area of each facility of ``category`` (m², NaN if unknown), indexed by service id
    (once per evaluation and category: the area rules of several packs measure one)."""

    def make() -> pd.Series:
        rows = inputs.areas[inputs.areas["category"] == category]
        return rows.groupby("service_id")["area_m2"].sum(min_count=1)

    return _memo(inputs, f"facility_areas:{category}", make)


def area_inside(rule: Rule, inputs: RuleInputs, table: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    """Known area of the rule's category inside each unit of ``table``, the number of
    facilities of unknown area there, and whether the data has any facility of the kind
    (once per evaluation and kind of unit: the area rules of several packs measure one
    category; each caller gets its own arrays)."""
    assert rule.category is not None
    area, unknown, have = _memo(
        inputs,
        f"area_inside:{rule.unit}:{rule.category}",
        lambda: _area_inside_of(rule, inputs, table),
    )
    return area.copy(), unknown.copy(), have


def _area_inside_of(
    rule: Rule, inputs: RuleInputs, table: Any
) -> tuple[np.ndarray, np.ndarray, bool]:
    assert rule.category is not None
    cat = rule.category
    if rule.unit == "street":
        # each street's pieces of the category: the known area summed in row order, the
        # distinct facilities of unknown area counted (numpy, not two groupbys)
        rows = inputs.areas[inputs.areas["category"] == cat]
        a = rows["area_m2"].to_numpy(dtype=float)
        known = ~np.isnan(a)
        unknown = count_by_unit(
            rows["street_id"].to_numpy()[~known],
            table.index,
            distinct=rows["service_id"].to_numpy()[~known],
        )
        area = _known_area(table.index, rows["street_id"], a)
        return area, np.asarray(unknown, dtype=int), len(rows) > 0
    # a community counts its facilities' whole area: each facility belongs to the one
    # community that contains it (audit._containment)
    facilities = _facilities(inputs, cat).drop_duplicates("service_id")
    areas = _facility_areas(inputs, cat)
    # numpy, not three frames and two groupbys (several area rules of --pack all call this)
    a = areas.reindex(facilities["service_id"]).to_numpy(dtype=float)
    known = ~np.isnan(a)
    unknown = count_by_unit(facilities["community_id"].to_numpy()[~known], table.index)
    area = _known_area(table.index, facilities["community_id"], a)
    return area, np.asarray(unknown, dtype=int), len(facilities) > 0


def _known_area(index: pd.Index, units: Any, area_m2: np.ndarray) -> np.ndarray:
    """The known (not NaN) area of the rows in each unit of ``index``, summed in row order
    (pandas' groupby summed in another order: a total may differ in the last bit); rows of
    no unit of ``index`` count for none."""
    unit = np.asarray(index.get_indexer(units), dtype=np.int64)
    keep = (unit >= 0) & ~np.isnan(area_m2)
    return np.bincount(unit[keep], weights=area_m2[keep], minlength=len(index)).astype(float)


def _lower_bound_decision(
    ok: bool, unknown: int, rule: Rule, *, reached: bool = False
) -> tuple[str, str, str]:
    """Status and the words added to the reason, for a measure that facilities of unknown
    area could raise: passes on the known area pass; a shortfall is then not evaluable.
    ``reached``: ``unknown`` only says whether the residents reach such facilities."""
    cat = rule.category or ""
    if unknown == 0:
        return (PASS if ok else FAIL), "", ""
    if reached:
        note = f" (lower bound: its residents reach {cat} of unknown area, not counted)"
        note_zh = f"（下限：居民可达的部分{_label_zh(cat)}面积未知，未计入）"
    else:
        note = f" (lower bound: {unknown} {cat} of unknown area not counted)"
        note_zh = f"（下限：{unknown}处{_label_zh(cat)}面积未知，未计入）"
    if ok:
        return (
            PASS,
            f"{note}; the known area alone meets the rule",
            f"{note_zh}；仅已知面积即已达标",
        )
    return (
        NOT_EVALUABLE,
        f"{note}; below the threshold on the known area, but the facilities of unknown area "
        "could make up the difference",
        f"{note_zh}；已知面积未达标，但面积未知的设施可能补足差额，无法评估",
    )


def _count_per_population(rule: Rule, inputs: RuleInputs, streets: Any) -> None:
    assert rule.category is not None and rule.min_value is not None
    cat = rule.category
    found, n_found = count_services(inputs, cat, streets.index, "street_id", distinct=True)
    counts = found.astype(float)
    pop = streets["population"].to_numpy(dtype=float)
    per = rule.per_residents
    value = np.divide(counts * per, pop, out=np.full(len(pop), np.nan), where=pop > 0)
    sign, sign_zh = _sign(rule)
    per_text = f"{per:,.0f} residents"
    per_zh = f"每{per / 10_000:g}万人" if per >= 10_000 else f"每{per:,.0f}人"
    threshold = f"{sign} {rule.min_value:g} {cat} per {per_text}"
    threshold_zh = f"{per_zh}{_label_zh(cat)}{sign_zh}{rule.min_value:g}个"
    status, reason, reason_zh = [], [], []
    # plain lists: the loop writes words for every street (numpy scalars are slow there)
    for n, p, v in zip(counts.tolist(), pop.tolist(), value.tolist(), strict=True):
        if n_found == 0:
            status.append(NOT_EVALUABLE)
            reason.append(f"no {cat} anywhere in the data: cannot be counted")
            reason_zh.append(f"数据中没有任何{_label_zh(cat)}，无法计数")
        elif not p > 0:
            status.append(NOT_EVALUABLE)
            reason.append("the street has no residents: a count per resident is not evaluable")
            reason_zh.append("街道无常住人口，无法计算人均数量")
        else:
            status.append(PASS if _passes(v, rule) else FAIL)
            reason.append(
                f"{n:.0f} {cat} inside the street for {p:,.0f} residents = {v:.2f} per "
                f"{per_text} (required {sign} {rule.min_value:g})"
            )
            reason_zh.append(
                f"街道内{_label_zh(cat)}{n:.0f}个，常住人口{p:,.0f}人，{per_zh}{v:.2f}个"
                f"（要求{sign_zh}{rule.min_value:g}个）"
            )
    streets[f"{rule.id}_count"] = counts
    _write_decision(
        streets,
        rule.id,
        value=value,
        threshold=threshold,
        threshold_zh=threshold_zh,
        status=status,
        reason=reason,
        reason_zh=reason_zh,
    )


def _area_per_households(rule: Rule, inputs: RuleInputs, communities: Any) -> None:
    assert rule.category is not None and rule.min_value is not None
    cat = rule.category
    area, unknown, have_data = area_inside(rule, inputs, communities)
    hh, source = households(communities)
    per = rule.per_households
    value = np.divide(area * per, hh, out=np.full(len(hh), np.nan), where=hh > 0)
    sign, sign_zh = _sign(rule)
    threshold = f"{sign} {rule.min_value:g} m² per {per:g} households"
    threshold_zh = f"每{per:g}户{sign_zh}{rule.min_value:g}平方米"
    status, reason, reason_zh = [], [], []
    rows = zip(
        area.tolist(), hh.tolist(), value.tolist(), unknown.tolist(), list(source), strict=True
    )
    for a, h, v, k, src in rows:  # plain lists: see _count_per_population
        if not have_data:
            status.append(NOT_EVALUABLE)
            reason.append(f"no {cat} in the data (its area cannot be measured)")
            reason_zh.append(f"数据中没有{_label_zh(cat)}，无法计算面积")
            continue
        if not h > 0:
            status.append(NOT_EVALUABLE)
            reason.append("the community has no households: area per household is not evaluable")
            reason_zh.append("社区无住户，无法计算户均面积")
            continue
        if src == "data":
            hh_text, hh_zh = f"{h:,.0f} households", f"{h:,.0f}户"
        else:
            hh_text = (
                f"{h:,.0f} households (population / {AVERAGE_HOUSEHOLD_SIZE:g}, the 2020 "
                "census average household size)"
            )
            hh_zh = (
                f"{h:,.0f}户（常住人口÷{AVERAGE_HOUSEHOLD_SIZE:g}，2020年人口普查平均家庭户规模）"
            )
        s, note, note_zh = _lower_bound_decision(_passes(v, rule), int(k), rule)
        status.append(s)
        reason.append(
            f"{a:,.0f} m² of {cat} for {hh_text} = {v:.1f} m² per {per:g} households{note} "
            f"(required {sign} {rule.min_value:g})"
        )
        reason_zh.append(
            f"{_label_zh(cat)}{a:,.0f}平方米，{hh_zh}，每{per:g}户{v:.1f}平方米{note_zh}"
            f"（要求{sign_zh}{rule.min_value:g}平方米）"
        )
    communities[f"{rule.id}_area_m2"] = area
    communities[f"{rule.id}_households"] = hh
    communities[f"{rule.id}_households_source"] = source
    communities[f"{rule.id}_lower_bound"] = unknown > 0
    _write_decision(
        communities,
        rule.id,
        value=value,
        threshold=threshold,
        threshold_zh=threshold_zh,
        status=status,
        reason=reason,
        reason_zh=reason_zh,
    )


def _area_total(rule: Rule, inputs: RuleInputs, communities: Any) -> None:
    assert rule.category is not None and rule.min_value is not None
    cat = rule.category
    area, unknown, have_data = area_inside(rule, inputs, communities)
    sign, sign_zh = _sign(rule)
    status, reason, reason_zh = [], [], []
    for a, k in zip(area.tolist(), unknown.tolist(), strict=True):  # see _count_per_population
        if not have_data:
            status.append(NOT_EVALUABLE)
            reason.append(f"no {cat} in the data (its area cannot be measured)")
            reason_zh.append(f"数据中没有{_label_zh(cat)}，无法计算面积")
            continue
        s, note, note_zh = _lower_bound_decision(_passes(a, rule), int(k), rule)
        status.append(s)
        reason.append(
            f"{a:,.0f} m² of {cat} inside the community{note} "
            f"(required {sign} {rule.min_value:g} m²)"
        )
        reason_zh.append(
            f"社区内{_label_zh(cat)}{a:,.0f}平方米{note_zh}（要求{sign_zh}{rule.min_value:g}平方米）"
        )
    communities[f"{rule.id}_lower_bound"] = unknown > 0
    _write_decision(
        communities,
        rule.id,
        value=area,
        threshold=f"{sign} {rule.min_value:g} m²",
        threshold_zh=f"{sign_zh}{rule.min_value:g}平方米",
        status=status,
        reason=reason,
        reason_zh=reason_zh,
    )


def _presence(rule: Rule, inputs: RuleInputs, communities: Any) -> None:
    need = rule.min_count or 1
    counts: dict[str, np.ndarray] = {}
    no_data: list[str] = []
    for cat in rule.categories:
        counts[cat], found = count_services(
            inputs, cat, communities.index, "community_id", distinct=True
        )
        if found == 0:
            no_data.append(cat)
        communities[f"{rule.id}_n_{cat}"] = counts[cat]
    measured = [c for c in rule.categories if c not in no_data]
    each = f"each of {len(rule.categories)} kinds ≥ {need}"
    each_zh = f"{len(rule.categories)}类设施各不少于{need}个"
    n = len(communities)
    unknown = unknown_zh = ""
    if no_data:
        unknown = f"; not evaluable (none in the data): {', '.join(no_data)}"
        unknown_zh = f"；数据中没有{'、'.join(_label_zh(c) for c in no_data)}，无法评估"
    # the words depend only on which measured kinds are missing: made once per pattern
    have = np.column_stack([counts[c] >= need for c in rule.categories] or [np.zeros(n, bool)])
    values = have[:, : len(rule.categories)].sum(axis=1) / len(rule.categories)
    lacking = np.column_stack([counts[c] < need for c in measured] or [np.zeros(n, bool)])
    patterns, inverse = np.unique(lacking[:, : len(measured)], axis=0, return_inverse=True)
    words: list[tuple[str, str, str, str]] = []  # status, reason, reason_zh, missing
    for row in patterns:
        missing = [c for c, low in zip(measured, row, strict=True) if low]
        if missing:
            words.append(
                (
                    FAIL,
                    f"missing inside the community: {', '.join(missing)}{unknown}",
                    f"社区内缺少：{'、'.join(_label_zh(c) for c in missing)}{unknown_zh}",
                    ";".join(missing),
                )
            )
        elif no_data:
            words.append(
                (
                    NOT_EVALUABLE,
                    f"every kind measured is present{unknown}",
                    f"已测量的设施均已配置{unknown_zh}",
                    "",
                )
            )
        else:
            words.append(
                (
                    PASS,
                    f"every required kind is present inside the community ({each})",
                    f"社区内所需设施均已配置（{each_zh}）",
                    "",
                )
            )
    of_unit = [words[k] for k in np.asarray(inverse).reshape(-1).tolist()]
    status = [w[0] for w in of_unit]
    reason = [w[1] for w in of_unit]
    reason_zh = [w[2] for w in of_unit]
    missing_col = [w[3] for w in of_unit]
    communities[f"{rule.id}_missing"] = missing_col
    _write_decision(
        communities,
        rule.id,
        value=values,
        threshold=f"{each}: {', '.join(rule.categories)}",
        threshold_zh=f"{each_zh}：{'、'.join(_label_zh(c) for c in rule.categories)}",
        status=status,
        reason=reason,
        reason_zh=reason_zh,
    )


def _unit_codes(rule: Rule, inputs: RuleInputs, table: Any) -> np.ndarray:
    """Each origin's position in the rule's unit table (once per evaluation and kind of
    unit: a get_indexer of every origin's id)."""
    if rule.unit == "community":  # the reach rules' codes (rules._codes): made once
        return np.asarray(_codes(inputs)[0])
    column = "street_id"
    return _memo(
        inputs,
        f"origin_units:{column}",
        lambda: np.asarray(table.index.get_indexer(inputs.origins[column]), dtype=np.int64),
    )


def _units_and_weights(
    rule: Rule, inputs: RuleInputs, table: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Which origins lie in a unit, their unit and residents, and each unit's residents."""
    codes = _unit_codes(rule, inputs, table)
    ok = codes >= 0
    weights = np.nan_to_num(inputs.origins["population"].to_numpy(dtype=float), nan=0.0)[ok]
    unit = codes[ok]
    return ok, unit, weights, np.bincount(unit, weights=weights, minlength=len(table))


def _catchment(rule: Rule, inputs: RuleInputs, table: Any) -> None:
    from coverage.catchment import decay_weights, two_step_fca

    assert rule.category is not None and rule.min_value is not None
    cat = rule.category
    speed = rule.speed(inputs.walk_speed_kmh)
    budget = rule.budget_m(speed)
    minutes = rule.budget_minutes(speed)
    assert budget is not None and minutes is not None
    n = len(table)
    pop_units = table["population"].to_numpy(dtype=float)
    admin_area, admin_unknown, have_data = area_inside(rule, inputs, table)
    admin = np.divide(admin_area, pop_units, out=np.full(n, np.nan), where=pop_units > 0)
    sign, sign_zh = _sign(rule)
    method, method_zh = _DECAY_WORDS[rule.decay]
    budget_text = f"{minutes:g} min ({_fmt_m(budget)} at {speed:g} km/h)"
    budget_zh = f"步行{minutes:g}分钟（{speed:g}公里/小时，约{budget:,.0f}米）"
    matrix = inputs.catchments.get(cat)
    value = np.full(n, np.nan)
    unit_unknown = np.zeros(n, dtype=bool)
    if have_data and matrix is not None:
        if matrix.cutoff_m < budget * (1 - 1e-9):
            msg = (
                f"rule {rule.id}: the walking distances to {cat} were searched to "
                f"{matrix.cutoff_m:,.0f} m, less than the rule's {budget:,.0f} m"
            )
            raise ValueError(msg)
        areas = _facility_areas(inputs, cat)
        supply = areas.reindex(pd.Index(matrix.facility_ids, dtype=object)).to_numpy(dtype=float)
        demand = inputs.origins["population"].to_numpy(dtype=float)
        access = two_step_fca(
            demand,
            supply,
            matrix.distance_m,
            budget_m=budget,
            decay=rule.decay,
            step_weights=rule.decay_weights,
        )
        # residents who reach a facility of unknown area: their value is a lower bound
        coo = _memo(inputs, f"coo:{cat}", matrix.distance_m.tocoo)
        reach = decay_weights(coo.data, budget, decay=rule.decay, step_weights=rule.decay_weights)
        bad = (reach > 0) & np.isnan(supply[coo.col])
        reaches_unknown = np.zeros(len(demand), dtype=bool)
        reaches_unknown[coo.row[bad]] = True
        # each origin's unit and weight, and each unit's residents: once per evaluation and
        # kind of unit (--pack all has three catchment rules)
        ok, unit, weights, total = _memo(
            inputs, f"catchment_units:{rule.unit}", lambda: _units_and_weights(rule, inputs, table)
        )
        summed = np.bincount(unit, weights=weights * access[ok], minlength=n)
        value = np.divide(summed, total, out=np.full(n, np.nan), where=total > 0)
        unit_unknown = np.bincount(unit, weights=weights * reaches_unknown[ok], minlength=n) > 0
    status, reason, reason_zh = [], [], []
    unit_zh = "社区" if rule.unit == "community" else "街道"
    # plain lists: see _count_per_population
    admin_of, admin_unknown_of = admin.tolist(), admin_unknown.tolist()
    value_of, pop_units_of, unit_unknown_of = (
        value.tolist(),
        pop_units.tolist(),
        unit_unknown.tolist(),
    )
    for i in range(n):
        admin_text = (
            f"; inside the {rule.unit}: {admin_of[i]:.2f} m² per resident (administrative ratio"
            f"{', lower bound' if admin_unknown_of[i] else ''})"
            if not math.isnan(admin_of[i])
            else ""
        )
        admin_zh = (
            f"；按{unit_zh}内面积计为人均{admin_of[i]:.2f}平方米"
            f"（行政口径{'，下限' if admin_unknown_of[i] else ''}）"
            if not math.isnan(admin_of[i])
            else ""
        )
        if not have_data:
            status.append(NOT_EVALUABLE)
            reason.append(f"no {cat} in the data: what residents reach cannot be measured")
            reason_zh.append(f"数据中没有{_label_zh(cat)}，无法计算居民可达面积")
        elif matrix is None:
            status.append(NOT_EVALUABLE)
            reason.append(f"the walking distances to each {cat} were not computed")
            reason_zh.append(f"未计算到各{_label_zh(cat)}的步行距离")
        elif not pop_units_of[i] > 0 or math.isnan(value_of[i]):
            status.append(NOT_EVALUABLE)
            reason.append("no residents: the area residents reach per resident is not evaluable")
            reason_zh.append("无常住人口，无法计算居民人均可达面积")
        else:
            s, note, note_zh = _lower_bound_decision(
                _passes(value_of[i], rule), int(unit_unknown_of[i]), rule, reached=True
            )
            status.append(s)
            reason.append(
                f"residents reach {value_of[i]:.2f} m² of {cat} per resident within {budget_text}"
                f" ({method}){note} (required {sign} {rule.min_value:g}){admin_text}"
            )
            reason_zh.append(
                f"居民{budget_zh}内人均可达{_label_zh(cat)}{value_of[i]:.2f}平方米（{method_zh}）"
                f"{note_zh}（要求{sign_zh}{rule.min_value:g}平方米）{admin_zh}"
            )
    table[f"{rule.id}_admin_value"] = admin
    table[f"{rule.id}_lower_bound"] = unit_unknown
    _write_decision(
        table,
        rule.id,
        value=value,
        threshold=f"{sign} {rule.min_value:g} m² per resident within {budget_text}",
        threshold_zh=f"{budget_zh}内人均可达{sign_zh}{rule.min_value:g}平方米",
        status=status,
        reason=reason,
        reason_zh=reason_zh,
    )
