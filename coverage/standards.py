"""One view across standards: units × rule packs, pass / fail / not evaluable, worst rule named.

An audit of several packs at once (``--pack all``, :func:`coverage.rules.combine_packs`) decides
every rule of every pack; a planner then asks which standard fails where. This module reads
the audit's decisions (it computes nothing again) and gives:

- :func:`standards_matrix`: one row per street (or community), one column group per pack: the
  pack's status in that unit and the rule that decided it;
- :func:`standards_sentences`: the summary in words, English and Chinese, e.g. "W4 (> 1.6 m²)
  passes in 9 streets, NF-AREA (≥ 2.6 m²) in 3";
- :func:`standards_html`: the matrix and the sentences as an HTML section of the report (every
  text from the data escaped).

A street's status under a pack counts its own rules and its communities' decisions under the
pack's community rules: it fails if any of them fails, is not evaluable if none fails but one
cannot be decided, and passes otherwise. Rules switched off (``unverified`` and not enabled)
take no part; the matrix lists them apart.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from coverage.rules import FAIL, NOT_EVALUABLE, PASS, Rule, RulePack

if TYPE_CHECKING:
    from coverage.audit import AuditResult

__all__ = [
    "standards_dict",
    "standards_html",
    "standards_matrix",
    "standards_sentences",
    "threshold_text",
]

_RANK = {FAIL: 0, NOT_EVALUABLE: 1, PASS: 2}
_WORDS = {
    "en": {
        "title": "Standards side by side",
        "intro": (
            "Each pack's status in each street: it fails where any of its rules fails (in the "
            "street, or in one of its communities), is not evaluable where none fails but one "
            "cannot be decided, and passes otherwise. The rule named is the one that decided it."
        ),
        "street": "street",
        "community": "community",
        PASS: "pass",
        FAIL: "fail",
        NOT_EVALUABLE: "not evaluable",
        "off": "Switched off (threshold unverified), not counted: {rules}",
        "speeds": "Walking speeds: {speeds}",
    },
    "zh": {
        "title": "各标准对照",
        "intro": (
            "每个标准在每个街道的结论：任一规则不达标（街道本身或其任一社区）即为不达标；无不达标但有规则"
            "无法评估时为无法评估；否则达标。表中列出决定结论的规则。"
        ),
        "street": "街道",
        "community": "社区",
        PASS: "达标",
        FAIL: "不达标",
        NOT_EVALUABLE: "无法评估",
        "off": "未启用（阈值未核实），不计入：{rules}",
        "speeds": "步行速度：{speeds}",
    },
}


def _deciding_rules(result: AuditResult, pack_id: str) -> list[Rule]:
    return [r for r in result.pack.rules_of(pack_id) if r.decides]


def _unit_statuses(result: AuditResult, rule: Rule, unit: str) -> pd.Series:
    """The rule's status per unit of ``unit``; a community rule seen from a street is the
    worst of its communities' statuses (a street without communities: not evaluable)."""
    if rule.unit == unit:
        table = result.communities if unit == "community" else result.streets
        return table.set_index(f"{unit}_id")[f"{rule.id}_status"].astype(str)
    if rule.unit == "street":  # a street rule says nothing of one community
        return pd.Series(dtype=object)
    comm = result.communities[["street_id", f"{rule.id}_status"]].copy()
    comm["rank"] = comm[f"{rule.id}_status"].astype(str).map(_RANK)
    worst = comm.groupby("street_id")["rank"].min()
    inverse = {v: k for k, v in _RANK.items()}
    streets = result.streets["street_id"]
    return worst.reindex(streets).map(inverse).fillna(NOT_EVALUABLE).set_axis(streets)


def standards_matrix(result: AuditResult, *, unit: str = "street") -> pd.DataFrame:
    """Units × packs: each pack's status in each unit and the rule that decided it.

    Parameters
    ----------
    result
        An audit, usually of several packs (``pack="all"``); one pack gives one column group.
    unit
        ``"street"`` (the street's rules and its communities' decisions) or ``"community"``
        (the community rules only).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``<unit>_id``, with ``name`` and, per pack id ``p``: ``p`` (``pass``,
        ``fail`` or ``not_evaluable``), ``p_rule`` (the first rule, in pack order, with that
        status; empty when the pack has no rule for the unit) and ``p_failing`` (how many
        of its rules fail there).
    """
    if unit not in ("street", "community"):
        msg = f"unit={unit!r}: use 'street' or 'community'"
        raise ValueError(msg)
    table = result.communities if unit == "community" else result.streets
    index = pd.Index(table[f"{unit}_id"].astype(str), name=f"{unit}_id")
    out = pd.DataFrame({"name": table["name"].to_numpy()}, index=index)
    for pack_id in result.pack.pack_ids:
        statuses = {}
        for rule in _deciding_rules(result, pack_id):
            s = _unit_statuses(result, rule, unit)
            if len(s):
                statuses[rule.id] = s.set_axis(s.index.astype(str)).reindex(index)
        status, worst_rule, failing = [], [], []
        for uid in index:
            row = {rid: str(s.get(uid, NOT_EVALUABLE)) for rid, s in statuses.items()}
            if not row:
                status.append(NOT_EVALUABLE)
                worst_rule.append("")
                failing.append(0)
                continue
            worst = min(row.values(), key=lambda v: _RANK.get(v, 1))
            status.append(worst)
            worst_rule.append(next(rid for rid, v in row.items() if v == worst))
            failing.append(sum(v == FAIL for v in row.values()))
        out[pack_id] = status
        out[f"{pack_id}_rule"] = worst_rule
        out[f"{pack_id}_failing"] = failing
    return out


def _short_threshold(rule: Rule, result: AuditResult) -> str:
    if rule.min_value is not None and rule.kind in (
        "area_per_capita",
        "catchment_per_capita",
        "area_total",
    ):
        return f"{'≥' if rule.inclusive else '>'} {rule.min_value:g} m²"
    if rule.kind == "count_per_population" and rule.min_value is not None:
        return f"≥ {rule.min_value:g} per {rule.per_residents:,.0f}"
    if rule.kind == "area_per_households" and rule.min_value is not None:
        return f"≥ {rule.min_value:g} m² per {rule.per_households:g} households"
    if rule.kind == "reach":
        budget = rule.budget_m(rule.speed(result.walk_speed_kmh))
        minutes = rule.budget_minutes(rule.speed(result.walk_speed_kmh))
        return f"{minutes:g} min, {budget:,.0f} m"
    table = result.communities if rule.unit == "community" else result.streets
    values = table[f"{rule.id}_threshold"].dropna().astype(str).unique()
    return str(values[0]) if len(values) else ""


def pack_label(result: AuditResult, pack_id: str, lang: str) -> str:
    """The label of one of the audited packs (its id when unknown)."""
    for part in result.pack.parts or (result.pack,):
        if part.id == pack_id:
            return part.label(lang)
    return pack_id


def standards_sentences(result: AuditResult, *, lang: str = "en") -> list[str]:
    """Which standard fails where, in words.

    One sentence per measure several packs share (same kind, category and unit: the sports
    area per resident of W4, NF-AREA and WF-AREA), the most lenient first; then one per pack:
    the streets where it passes, and the rule that most often decides a failure.

    Parameters
    ----------
    result
        The audit.
    lang
        ``"en"`` or ``"zh"``.
    """
    if lang not in _WORDS:
        msg = f"lang must be one of {', '.join(_WORDS)}, got {lang!r}"
        raise ValueError(msg)
    sentences: list[str] = []
    groups: dict[tuple[str, str | None, str], list[Rule]] = {}
    for rule in result.pack.rules:
        if rule.decides and rule.min_value is not None:
            groups.setdefault((rule.kind, rule.category, rule.unit), []).append(rule)
    for (_, _, unit), rules in groups.items():
        if len({r.pack_id or result.pack.id for r in rules}) < 2:
            continue
        table = result.communities if unit == "community" else result.streets
        rules = sorted(rules, key=lambda r: r.min_value or 0.0)
        counts = [int((table[f"{r.id}_status"] == PASS).sum()) for r in rules]
        parts = [f"{r.id} ({_short_threshold(r, result)})" for r in rules]
        if lang == "zh":
            unit_zh = "个社区" if unit == "community" else "个街道"
            text = "；".join(f"{p}在{n}{unit_zh}达标" for p, n in zip(parts, counts, strict=True))
            sentences.append(f"{text}（共{len(table)}{unit_zh}）。")
        else:
            noun = "communities" if unit == "community" else "streets"
            first = f"{parts[0]} passes in {counts[0]} {noun}"
            rest = ", ".join(f"{p} in {n}" for p, n in zip(parts[1:], counts[1:], strict=True))
            sentences.append(f"{first}, {rest} (of {len(table)})." if rest else f"{first}.")
    matrix = standards_matrix(result, unit="street")
    n = len(matrix)
    for pack_id in result.pack.pack_ids:
        status = matrix[pack_id]
        passing = int((status == PASS).sum())
        failing = matrix.loc[status == FAIL, f"{pack_id}_rule"]
        label = pack_label(result, pack_id, lang)
        most = failing.value_counts().index[0] if len(failing) else ""
        if lang == "zh":
            tail = f"；不达标最常见于{most}" if most else ""
            sentences.append(
                f"{label}：{n}个街道中{passing}个达标，{len(failing)}个不达标，"
                f"{int((status == NOT_EVALUABLE).sum())}个无法评估{tail}。"
            )
        else:
            tail = f"; most often failed on {most}" if most else ""
            sentences.append(
                f"{label}: passes in {passing} of {n} streets, fails in {len(failing)}, not "
                f"evaluable in {int((status == NOT_EVALUABLE).sum())}{tail}."
            )
    return sentences


def _speeds_text(result: AuditResult) -> str:
    parts = []
    for part in result.pack.parts or (result.pack,):
        own = [r for r in part.rules if r.walk_speed_kmh is not None]
        speed = result.walk_speed_kmh if not result.pack.parts else part.walk_speed_kmh
        if result.pack.parts and any(
            r.pack_walk_speed_kmh is None for r in result.pack.rules_of(part.id)
        ):
            speed = result.walk_speed_kmh  # an override applies to every pack
        text = f"{part.id} {speed:g} km/h"
        if own:
            text += " (" + ", ".join(f"{r.id} {r.walk_speed_kmh:g} km/h" for r in own) + ")"
        parts.append(text)
    return "; ".join(parts)


def standards_dict(result: AuditResult) -> dict[str, Any]:
    """The matrix and the sentences as JSON-able types (for ``summary.json``)."""

    def rows(unit: str) -> list[dict[str, Any]]:
        matrix = standards_matrix(result, unit=unit)
        out = []
        for uid, row in matrix.iterrows():
            out.append(
                {
                    f"{unit}_id": str(uid),
                    "name": str(row["name"]),
                    "packs": {
                        p: {
                            "status": row[p],
                            "rule": row[f"{p}_rule"] or None,
                            "failing_rules": int(row[f"{p}_failing"]),
                        }
                        for p in result.pack.pack_ids
                    },
                }
            )
        return out

    return {
        "packs": [
            {
                "id": p,
                "title": pack_label(result, p, "en"),
                "title_zh": pack_label(result, p, "zh"),
            }
            for p in result.pack.pack_ids
        ],
        "walk_speeds": _speeds_text(result),
        "switched_off": [r.id for r in result.pack.rules if not r.decides],
        "streets": rows("street"),
        "communities": rows("community"),
        "sentences": standards_sentences(result, lang="en"),
        "sentences_zh": standards_sentences(result, lang="zh"),
    }


def _cell(status: str, rule: str, words: Mapping[str, str]) -> str:
    css = {PASS: "pass", FAIL: "fail"}.get(status, "not_evaluable")
    detail = f"<br><small>{html.escape(rule)}</small>" if rule and status != PASS else ""
    return f'<td class="{css}">{html.escape(words.get(status, status))}{detail}</td>'


def standards_html(result: AuditResult, *, lang: str = "zh") -> str:
    """The standards matrix (streets × packs) and the sentences, as an HTML section."""
    words = _WORDS.get(lang, _WORDS["en"])
    matrix = standards_matrix(result, unit="street")
    packs: Sequence[str] = result.pack.pack_ids
    head = "".join(
        f"<th>{html.escape(pack_label(result, p, lang))}<br><small>{html.escape(p)}</small></th>"
        for p in packs
    )
    body = []
    for uid, row in matrix.iterrows():
        cells = "".join(_cell(str(row[p]), str(row[f"{p}_rule"]), words) for p in packs)
        body.append(
            f"<tr><td>{html.escape(str(uid))}</td><td>{html.escape(str(row['name']))}</td>"
            f"{cells}</tr>"
        )
    sentences = "".join(
        f"<li>{html.escape(s)}</li>" for s in standards_sentences(result, lang=lang)
    )
    off = [r.id for r in result.pack.rules if not r.decides]
    notes = [words["speeds"].format(speeds=_speeds_text(result))]
    if off:
        notes.append(words["off"].format(rules=", ".join(off)))
    notes_html = "".join(f"<p><small>{html.escape(n)}</small></p>" for n in notes)
    return (
        f'<section id="standards"><h2>{html.escape(words["title"])}</h2>'
        f"<p>{html.escape(words['intro'])}</p><ul>{sentences}</ul>{notes_html}"
        f"<table><thead><tr><th>id</th><th>{html.escape(words['street'])}</th>{head}</tr>"
        f"</thead><tbody>{''.join(body)}</tbody></table></section>"
    )


_UNIT_ZH = {"community": "社区", "street": "街道"}


def threshold_text(rule: Rule, pack: RulePack, *, lang: str = "en") -> str:
    """What a rule requires, in words, in ``lang`` (``en`` or ``zh``): units, thresholds and
    category names all in that language (``service-coverage rules --lang zh``).

    The walking budget uses the rule's own speed (a group's), else its pack's.
    """
    from coverage.categories import category_label

    zh = lang == "zh"
    speed = rule.speed(pack.walk_speed_kmh)
    share = rule.share(pack.min_population_share)

    def cat(name: str | None) -> str:
        if name is None:
            return ""
        return category_label(name, "zh") if zh else name

    def cats(names: Sequence[str]) -> str:
        return ("、" if zh else ", ").join(cat(n) for n in names)

    sign, sign_zh = ("≥", "不低于") if rule.inclusive else (">", "大于")
    value = f"{rule.min_value:g}" if rule.min_value is not None else ""
    if rule.kind in ("reach", "catchment_per_capita"):
        minutes = rule.budget_minutes(speed)
        budget = rule.budget_m(speed)
        assert minutes is not None and budget is not None
        own = rule.walk_speed_kmh is not None
        if rule.kind == "catchment_per_capita":
            decay = {"none": "2SFCA", "step": "E2SFCA", "gaussian": "E2SFCA"}[rule.decay]
            if zh:
                return (
                    f"居民步行{minutes:g}分钟（{speed:g}公里/小时，约{budget:,.0f}米）内人均可达"
                    f"{cat(rule.category)}{sign_zh}{value}平方米（两步移动搜索法 {decay}）"
                )
            return (
                f"{sign} {value} m² of {cat(rule.category)} per resident within {minutes:g} min "
                f"({budget:,.0f} m at {speed:g} km/h; {decay})"
            )
        shown = cats(rule.report_categories)
        if zh:
            extra = f"（另列出：{shown}）" if shown else ""
            group = f"，按本规则步行速度{speed:g}公里/小时" if own else ""
            return (
                f"{100 * share:g}%以上居民在步行{minutes:g}分钟（{speed:g}公里/小时，约"
                f"{budget:,.0f}米）内可达：{cats(rule.categories)}{extra}{group}"
            )
        extra = f" (also shown: {shown})" if shown else ""
        return (
            f"≥ {100 * share:g}% of residents within {minutes:g} min ({budget:,.0f} m at "
            f"{speed:g} km/h) of: {cats(rule.categories)}{extra}"
        )
    if rule.kind in ("count", "windows"):
        lo, hi = rule.min_count, rule.max_count
        if zh:
            what = cat(rule.category) if rule.kind == "count" else f"每个{cat(rule.category)}的窗口"
            if lo is not None and hi is not None:
                return f"{what}{lo}-{hi}个"
            return f"{what}{lo}个及以上" if lo is not None else f"{what}不超过{hi}个"
        noun = str(rule.category) if rule.kind == "count" else f"windows per {rule.category}"
        if lo is not None and hi is not None:
            return f"{lo}–{hi} {noun}"
        return f"≥ {lo} {noun}" if lo is not None else f"≤ {hi} {noun}"
    if rule.kind == "area_per_capita":
        if zh:
            inside = f"（按{_UNIT_ZH[rule.unit]}内面积）"
            return f"人均{cat(rule.category)}面积{sign_zh}{value}平方米{inside}"
        return f"{sign} {value} m² of {rule.category} per resident"
    if rule.kind == "count_per_population":
        per = rule.per_residents
        if zh:
            per_zh = f"每{per / 10_000:g}万人" if per >= 10_000 else f"每{per:,.0f}人"
            return f"{per_zh}{cat(rule.category)}{sign_zh}{value}个"
        return f"{sign} {value} {rule.category} per {per:,.0f} residents"
    if rule.kind == "area_per_households":
        if zh:
            return f"每{rule.per_households:g}户{cat(rule.category)}面积{sign_zh}{value}平方米"
        return f"{sign} {value} m² of {rule.category} per {rule.per_households:g} households"
    if rule.kind == "presence":
        if zh:
            return f"社区内{cats(rule.categories)}各不少于{rule.min_count or 1}个"
        return f"each of {cats(rule.categories)} inside the community (≥ {rule.min_count or 1})"
    if rule.kind == "area_total":
        if zh:
            return f"社区内{cat(rule.category)}面积{sign_zh}{value}平方米"
        return f"{sign} {value} m² of {rule.category} inside the community"
    within = rule.within_minutes
    pct = f"{100 * (rule.min_share or 0.0):g}%"
    if zh:
        how = f"社区内或步行{within:g}分钟内" if within else "社区内"
        return f"不低于{pct}的社区{how}有{cat(rule.category)}"
    where = f" within {within:g} min" if within else " inside them"
    return f"≥ {pct} of communities with a {rule.category}{where}"
