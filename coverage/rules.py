"""Rule packs: planning standards as data, and how each kind of rule is decided.

A rule pack is a YAML file (the shipped ones live in ``coverage/packs/``; users can write
their own with the same schema). :func:`load_pack` validates it once and names the offending
key on error. Each rule states the unit it audits, what it measures, its threshold and the
sentence of the source document it comes from.

Kinds of rule
-------------
``reach`` (unit: community)
    For each of ``categories``, the share of the community's *population* whose walk to the
    nearest facility is within the budget (``max_minutes`` at the walking speed, or
    ``max_distance_m``). Passes when every category's share reaches ``min_population_share``.
    ``report_categories`` are measured and shown but not required.
``count`` (unit: street)
    Facilities of ``category`` inside the street; passes when ``min_count <= n <= max_count``.
``windows`` (unit: community)
    Service windows of each ``category`` centre in the community (``windows`` column); passes
    when every centre has ``min_count``-``max_count`` windows. A centre's presence says nothing
    about its windows: without window counts in the data the rule is ``not_evaluable``, and the
    reason says whether the community has a centre; a centre of unknown count makes its
    community ``not_evaluable`` unless another centre there already fails.
``area_per_capita`` (unit: street)
    Area of ``category`` grounds in the street (the union of their polygons clipped to the
    street in a metric CRS, plus the declared ``area_m2`` of points outside those polygons)
    per resident; passes above ``min_value`` (``inclusive: true`` for "at least"). A ground of
    unknown area (a point without ``area_m2``) makes the measured value a lower bound
    (``<id>_lower_bound``, ``<id>_unknown_area_grounds``): a street that passes on the known
    area passes; one that fails on it is ``not_evaluable``, with the lower bound in the reason.
``community_share`` (unit: street)
    Share of the street's communities that have a ``category`` facility inside them (or, with
    ``within_minutes``, whose median resident walks to one within that time); passes at
    ``min_share`` or more.

``catchment_per_capita`` (unit: street or community)
    What residents can reach, not what lies inside the boundary: the two-step floating
    catchment (2SFCA; with ``decay``, the enhanced E2SFCA). Each ``category`` facility's area
    (its supply) is shared among the residents within ``max_minutes`` (or ``max_distance_m``)
    of it, each weighted by the decay of their walk; each resident sums the shares of the
    facilities within their budget; the unit's value is the population-weighted mean over its
    residents (residents off the network reach nothing and count with 0). Walking distances are
    exact network distances, the same as the reach rules' (:mod:`coverage.catchment`). The
    administrative ratio (area inside the unit per resident) is written beside it
    (``<id>_admin_value``). Facilities of unknown area make the value a lower bound, as for
    ``area_per_capita``. ``decay``: ``none`` (2SFCA, every resident within the budget counts
    fully), ``step`` (E2SFCA, Luo & Qi 2009: the budget cut into equal bands weighted by
    ``decay_weights``, default 1.0, 0.68, 0.22) or ``gaussian`` (Dai 2010:
    ``(exp(-(d/d0)²/2) - exp(-1/2)) / (1 - exp(-1/2))``, 1 at the facility, 0 at the budget).
``count_per_population`` (unit: street)
    Facilities of ``category`` inside the street per ``per_residents`` residents (default
    10,000); passes at ``min_value`` or more (``inclusive: false`` for "above").
``area_per_households`` (unit: community)
    Area of ``category`` facilities inside the community (the declared ``area_m2``, a floor
    area where the data gives one) per ``per_households`` households (default 100). Households
    are the communities' ``households`` column where the case gives it, else the population
    divided by :data:`AVERAGE_HOUSEHOLD_SIZE` (the 2020 census figure); the reason says which.
``presence`` (unit: community)
    Every one of ``categories`` has at least ``min_count`` (default 1) facilities inside the
    community.
``area_total`` (unit: community)
    Area of ``category`` inside the community of at least ``min_value`` m².

Every rule may also carry:

- ``walk_speed_kmh`` and ``walk_speed_source``: the speed of the group the rule serves (a rule
  for older residents walks slower), instead of the pack's; ``min_population_share``: the share
  of residents the rule requires, instead of the pack's. Every report states them.
- ``unverified: true``: the threshold could not be confirmed from a primary text. Such a rule
  is switched off: it is measured, but its decision is ``not_evaluable`` and the reason says
  why, unless the pack also says ``enabled: true``; then it decides and every reason says
  that its threshold is unverified.
- ``document`` and ``date``: the source document and its date (the pack's ``reference`` names
  the documents together).

Every decision is one of ``pass``, ``fail`` or ``not_evaluable`` (the data cannot decide:
no residents, no facility of the category anywhere in the data, no window counts, or a
shortfall that grounds of unknown area could make up), with the reason in words in English
and Chinese.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from coverage.errors import ConfigError, RulePackError
from coverage.settings import check_population_share, check_walk_speed

__all__ = [
    "FAIL",
    "NOT_EVALUABLE",
    "PASS",
    "Rule",
    "RulePack",
    "list_packs",
    "load_pack",
]

PASS = "pass"
FAIL = "fail"
NOT_EVALUABLE = "not_evaluable"

RuleKind = Literal[
    "reach",
    "count",
    "windows",
    "area_per_capita",
    "community_share",
    "catchment_per_capita",
    "count_per_population",
    "area_per_households",
    "presence",
    "area_total",
]
Unit = Literal["community", "street"]

#: The units each kind of rule may audit; the first is the default.
_KIND_UNITS: dict[str, tuple[str, ...]] = {
    "reach": ("community",),
    "count": ("street",),
    "windows": ("community",),
    "area_per_capita": ("street",),
    "community_share": ("street",),
    "catchment_per_capita": ("street", "community"),
    "count_per_population": ("street",),
    "area_per_households": ("community",),
    "presence": ("community",),
    "area_total": ("community",),
}
_KIND_UNIT: dict[str, str] = {kind: units[0] for kind, units in _KIND_UNITS.items()}
_COMMON_KEYS = {
    "id",
    "kind",
    "unit",
    "title",
    "source",
    "document",
    "date",
    "unverified",
    "enabled",
    "walk_speed_kmh",
    "walk_speed_source",
    "min_population_share",
}
_KIND_KEYS: dict[str, set[str]] = {
    "reach": {"categories", "report_categories", "max_minutes", "max_distance_m"},
    "count": {"category", "min_count", "max_count"},
    "windows": {"category", "min_count", "max_count"},
    "area_per_capita": {"category", "min_value", "inclusive"},
    "community_share": {"category", "min_share", "within_minutes"},
    "catchment_per_capita": {
        "category",
        "min_value",
        "inclusive",
        "max_minutes",
        "max_distance_m",
        "decay",
        "decay_weights",
    },
    "count_per_population": {"category", "min_value", "inclusive", "per_residents"},
    "area_per_households": {"category", "min_value", "inclusive", "per_households"},
    "presence": {"categories", "min_count"},
    "area_total": {"category", "min_value", "inclusive"},
}
#: Kinds whose measure is the area of facilities (their ``category`` needs areas measured).
AREA_KINDS = frozenset(
    {"area_per_capita", "catchment_per_capita", "area_per_households", "area_total"}
)
DECAYS = ("none", "step", "gaussian")
#: E2SFCA's weights of three equal travel-time bands (Luo & Qi 2009, Health & Place 15(4)).
DEFAULT_STEP_WEIGHTS = (1.0, 0.68, 0.22)
#: Average size of a family household in China, 7th national census (2020): 2.62 persons
#: ("平均每个家庭户的人口为2.62人", 第七次全国人口普查主要数据, 国家统计局, 2021-05-11).
AVERAGE_HOUSEHOLD_SIZE = 2.62
AVERAGE_HOUSEHOLD_SIZE_SOURCE = (
    "7th national census (2020), average family household 2.62 persons "
    "(第七次全国人口普查：平均每个家庭户的人口为2.62人，国家统计局2021年5月11日)"
)
_PACK_KEYS = {
    "id",
    "version",
    "title",
    "reference",
    "walk_speed_kmh",
    "walk_speed_note",
    "min_population_share",
    "min_population_share_note",
    "rules",
}


def minutes_to_m(minutes: float, walk_speed_kmh: float) -> float:
    """Walking distance in metres covered in ``minutes`` at ``walk_speed_kmh``."""
    return minutes * walk_speed_kmh * 1000.0 / 60.0


@dataclass(frozen=True)
class Rule:
    """One rule of a pack (see the module docstring for the kinds)."""

    id: str
    kind: RuleKind
    unit: Unit
    title: Mapping[str, str]
    source: str
    categories: tuple[str, ...] = ()
    report_categories: tuple[str, ...] = ()
    category: str | None = None
    max_minutes: float | None = None
    max_distance_m: float | None = None
    min_count: int | None = None
    max_count: int | None = None
    min_value: float | None = None
    inclusive: bool = False
    min_share: float | None = None
    within_minutes: float | None = None
    document: str = ""
    date: str = ""
    unverified: bool = False
    enabled: bool | None = None
    walk_speed_kmh: float | None = None
    walk_speed_source: str = ""
    min_population_share: float | None = None
    decay: str = "none"
    decay_weights: tuple[float, ...] = ()
    per_residents: float = 10_000.0
    per_households: float = 100.0
    #: Set when packs are combined (:func:`combine_packs`): the pack the rule comes from and
    #: that pack's speed and share, which the rule keeps in the combined audit.
    pack_id: str | None = None
    pack_walk_speed_kmh: float | None = None
    pack_min_population_share: float | None = None

    def label(self, lang: str = "en") -> str:
        """The rule's title in ``lang`` (``zh`` or ``en``)."""
        return str(self.title.get(lang) or self.title.get("en") or self.id)

    def speed(self, default_kmh: float) -> float:
        """The walking speed this rule is decided at: its own (a group's), else its pack's
        (in a combined audit), else ``default_kmh`` (the audit's)."""
        if self.walk_speed_kmh is not None:
            return float(self.walk_speed_kmh)
        if self.pack_walk_speed_kmh is not None:
            return float(self.pack_walk_speed_kmh)
        return float(default_kmh)

    def share(self, default: float) -> float:
        """The share of residents this rule requires: its own, else its pack's, else
        ``default``."""
        if self.min_population_share is not None:
            return float(self.min_population_share)
        if self.pack_min_population_share is not None:
            return float(self.pack_min_population_share)
        return float(default)

    @property
    def decides(self) -> bool:
        """Whether the rule's decision counts: ``enabled`` when the pack says, else every rule
        but an ``unverified`` one (switched off: measured, never decided)."""
        return self.enabled if self.enabled is not None else not self.unverified

    def budget_m(self, walk_speed_kmh: float) -> float | None:
        """The walking distance a reach rule allows, in metres."""
        if self.max_distance_m is not None:
            return float(self.max_distance_m)
        if self.max_minutes is not None:
            return minutes_to_m(self.max_minutes, walk_speed_kmh)
        return None

    def budget_minutes(self, walk_speed_kmh: float) -> float | None:
        """The walking time a reach rule allows, in minutes."""
        if self.max_minutes is not None:
            return float(self.max_minutes)
        if self.max_distance_m is not None:
            return self.max_distance_m / (walk_speed_kmh * 1000.0 / 60.0)
        return None

    @property
    def all_categories(self) -> tuple[str, ...]:
        """Every category the rule measures (required and reported)."""
        if self.kind in ("reach", "presence"):
            return self.categories + self.report_categories
        return (self.category,) if self.category else ()


@dataclass(frozen=True)
class RulePack:
    """A validated rule pack."""

    id: str
    version: int
    title: Mapping[str, str]
    reference: str
    walk_speed_kmh: float
    walk_speed_note: str
    min_population_share: float
    min_population_share_note: str
    rules: tuple[Rule, ...]
    path: Path | None = field(default=None, compare=False)
    #: The packs a combined pack was made of (:func:`combine_packs`); empty otherwise.
    parts: tuple[RulePack, ...] = field(default=(), compare=False)

    def label(self, lang: str = "en") -> str:
        """The pack's title in ``lang``."""
        return str(self.title.get(lang) or self.title.get("en") or self.id)

    def rule(self, rule_id: str) -> Rule:
        """The rule with this id."""
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        msg = f"pack {self.id!r} has no rule {rule_id!r}; its rules: {[r.id for r in self.rules]}"
        raise KeyError(msg)

    @property
    def categories(self) -> tuple[str, ...]:
        """Every category any rule of the pack measures, in rule order."""
        seen: dict[str, None] = {}
        for rule in self.rules:
            for cat in rule.all_categories:
                seen.setdefault(cat, None)
        return tuple(seen)

    @property
    def reach_categories(self) -> tuple[str, ...]:
        """Every category of the pack's reach rules, in rule order, once each."""
        seen: dict[str, None] = {}
        for rule in self.rules:
            if rule.kind == "reach":
                for cat in rule.all_categories:
                    seen.setdefault(cat, None)
        return tuple(seen)

    def reach_budgets_m(self, walk_speed_kmh: float) -> dict[str, float]:
        """For every category of a reach rule, the largest budget any rule gives it (m)."""
        budgets: dict[str, float] = {}
        for rule in self.rules:
            budget = rule.budget_m(rule.speed(walk_speed_kmh))
            if rule.kind != "reach" or budget is None:
                continue
            for cat in rule.all_categories:
                budgets[cat] = max(budgets.get(cat, 0.0), budget)
        return budgets

    def catchment_budgets_m(self, walk_speed_kmh: float) -> dict[str, float]:
        """For every category of a ``catchment_per_capita`` rule, the largest budget (m)."""
        budgets: dict[str, float] = {}
        for rule in self.rules:
            budget = rule.budget_m(rule.speed(walk_speed_kmh))
            if rule.kind == "catchment_per_capita" and budget is not None:
                assert rule.category is not None
                budgets[rule.category] = max(budgets.get(rule.category, 0.0), budget)
        return budgets

    @property
    def pack_ids(self) -> tuple[str, ...]:
        """The packs the rules come from, in order (one id unless packs were combined)."""
        return tuple(dict.fromkeys(rule.pack_id or self.id for rule in self.rules))

    def rules_of(self, pack_id: str) -> tuple[Rule, ...]:
        """The rules that come from pack ``pack_id``."""
        return tuple(r for r in self.rules if (r.pack_id or self.id) == pack_id)

    def with_overrides(
        self, *, walk_speed_kmh: float | None = None, min_population_share: float | None = None
    ) -> RulePack:
        """The pack with the audit's overrides applied to every rule that has no speed or
        share of its own: in a combined pack each rule otherwise keeps its pack's."""
        import dataclasses

        rules = []
        for rule in self.rules:
            changes: dict[str, Any] = {}
            if walk_speed_kmh is not None:
                changes["pack_walk_speed_kmh"] = None
            if min_population_share is not None:
                changes["pack_min_population_share"] = None
            rules.append(dataclasses.replace(rule, **changes) if changes else rule)
        return dataclasses.replace(self, rules=tuple(rules))


#: ``--pack all`` audits every shipped pack at once.
ALL_PACKS = "all"


def combine_packs(packs: Sequence[RulePack]) -> RulePack:
    """One pack holding the rules of several, for one audit that shares the network and the
    searches (a category searched once serves every pack).

    Each rule keeps its pack's walking speed and share of residents (``pack_id``,
    ``pack_walk_speed_kmh``, ``pack_min_population_share``), so that its decisions are the ones
    auditing its pack alone gives. A rule id that two packs share is prefixed with its pack id
    (``<pack>:<rule>``).

    Raises
    ------
    RulePackError
        If ``packs`` is empty or names a pack twice.
    """
    import dataclasses

    if not packs:
        msg = "combine_packs: give at least one rule pack"
        raise RulePackError(msg)
    ids = [p.id for p in packs]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        msg = f"the pack list names {', '.join(dupes)} more than once"
        raise RulePackError(msg)
    if len(packs) == 1:
        return packs[0]
    counts: dict[str, int] = {}
    for p in packs:
        for r in p.rules:
            counts[r.id] = counts.get(r.id, 0) + 1
    rules = tuple(
        dataclasses.replace(
            r,
            id=f"{p.id}:{r.id}" if counts[r.id] > 1 else r.id,
            pack_id=p.id,
            pack_walk_speed_kmh=p.walk_speed_kmh,
            pack_min_population_share=p.min_population_share,
        )
        for p in packs
        for r in p.rules
    )
    first = packs[0]
    return RulePack(
        id="+".join(ids),
        version=1,
        title={
            "zh": "、".join(p.label("zh") for p in packs),
            "en": "; ".join(p.label("en") for p in packs),
        },
        reference="\n".join(p.reference for p in packs if p.reference),
        walk_speed_kmh=first.walk_speed_kmh,
        walk_speed_note="each rule is decided at its own pack's speed: "
        + "; ".join(f"{p.id} {p.walk_speed_kmh:g} km/h" for p in packs),
        min_population_share=first.min_population_share,
        min_population_share_note="each rule keeps its own pack's share: "
        + "; ".join(f"{p.id} {100 * p.min_population_share:g}%" for p in packs),
        rules=rules,
        parts=tuple(packs),
    )


def list_packs() -> list[str]:
    """Names of the rule packs shipped with the package."""
    return list(_shipped_names())


@functools.lru_cache(maxsize=1)
def _shipped_names() -> tuple[str, ...]:
    folder = resources.files("coverage") / "packs"
    return tuple(
        sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))
    )


def load_pack(name_or_path: str | Path) -> RulePack:
    """Load and validate a rule pack.

    Parameters
    ----------
    name_or_path
        A shipped pack's name (see :func:`list_packs`) or the path of a YAML file; ``"all"``
        (every shipped pack) or a comma-separated list of names and files gives one combined
        pack (:func:`combine_packs`).

    Raises
    ------
    RulePackError
        Naming the file and the key that is wrong.
    """
    if isinstance(name_or_path, str) and (name_or_path.strip() == ALL_PACKS or "," in name_or_path):
        names = (
            list_packs()
            if name_or_path.strip() == ALL_PACKS
            else [n.strip() for n in name_or_path.split(",") if n.strip()]
        )
        return combine_packs([load_pack(n) for n in names])
    text: str
    where: str
    path: Path | None = None
    candidate = Path(name_or_path)
    if candidate.suffix in {".yaml", ".yml"} or candidate.is_file():
        if not candidate.is_file():
            msg = f"{candidate}: rule pack file not found"
            raise RulePackError(msg)
        text = candidate.read_text(encoding="utf-8")
        where = str(candidate)
        path = candidate
    else:
        shipped = list_packs()
        if str(name_or_path) not in shipped:
            msg = f"unknown rule pack {str(name_or_path)!r}; shipped packs: {', '.join(shipped)}"
            raise RulePackError(msg)
        return _shipped_pack(str(name_or_path))
    return _parse_text(text, where=where, path=path)


@functools.cache
def _shipped_pack(name: str) -> RulePack:
    """A shipped pack, read once per process (the files are part of the installed package;
    ``--pack all`` reads every one of them in each audit of a batch)."""
    resource = resources.files("coverage") / "packs" / f"{name}.yaml"
    text = resource.read_text(encoding="utf-8")
    return _parse_text(text, where=f"coverage/packs/{name}.yaml", path=None)


def _parse_text(text: str, *, where: str, path: Path | None) -> RulePack:
    """The pack in the YAML ``text`` (read from ``where``), validated."""
    try:
        # libyaml's safe loader where PyYAML has it (the same documents, ~5x faster: --pack
        # all reads every shipped pack in the audit)
        raw = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        msg = f"{where}: not valid YAML: {exc}"
        raise RulePackError(msg) from exc
    return _parse_pack(raw, where=where, path=path)


def _need(table: Mapping[str, Any], key: str, where: str, kind: type | tuple[type, ...]) -> Any:
    if key not in table:
        msg = f"{where}: missing key {key!r}"
        raise RulePackError(msg)
    value = table[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        msg = f"{where}: key {key!r} must be {names}, got {value!r}"
        raise RulePackError(msg)
    return value


def _opt(table: Mapping[str, Any], key: str, where: str, kind: type | tuple[type, ...]) -> Any:
    if table.get(key) is None:
        return None
    return _need(table, key, where, kind)


def _labels(value: Any, where: str) -> dict[str, str]:
    if isinstance(value, str):
        return {"en": value, "zh": value}
    if not isinstance(value, Mapping) or not value:
        msg = f"{where}: 'title' must be a text or a mapping like {{zh: ..., en: ...}}"
        raise RulePackError(msg)
    return {str(k): str(v) for k, v in value.items()}


def _categories(value: Any, where: str, key: str) -> tuple[str, ...]:
    from coverage.categories import CATEGORIES

    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Sequence) or not all(isinstance(v, str) for v in items):
        msg = f"{where}: key {key!r} must be a category or a list of categories"
        raise RulePackError(msg)
    unknown = [v for v in items if v not in CATEGORIES]
    if unknown:
        msg = (
            f"{where}: key {key!r} names unknown categories {unknown}; "
            f"known: {', '.join(CATEGORIES)}"
        )
        raise RulePackError(msg)
    return tuple(items)


def _parse_rule(raw: Any, where: str) -> Rule:
    if not isinstance(raw, Mapping):
        msg = f"{where}: each rule must be a mapping"
        raise RulePackError(msg)
    rule_id = _need(raw, "id", where, str)
    where = f"{where} (rule {rule_id})"
    kind = _need(raw, "kind", where, str)
    if kind not in _KIND_UNIT:
        msg = f"{where}: key 'kind' is {kind!r}; use one of {', '.join(_KIND_UNIT)}"
        raise RulePackError(msg)
    unit = raw.get("unit", _KIND_UNIT[kind])
    if unit not in _KIND_UNITS[kind]:
        allowed_units = " or ".join(repr(u) for u in _KIND_UNITS[kind])
        msg = f"{where}: a {kind!r} rule audits unit {allowed_units}, not {unit!r}"
        raise RulePackError(msg)
    allowed = _COMMON_KEYS | _KIND_KEYS[kind]
    unknown = sorted(set(raw) - allowed)
    if unknown:
        msg = f"{where}: unknown keys {unknown} for a {kind!r} rule; allowed: {sorted(allowed)}"
        raise RulePackError(msg)
    number = (int, float)
    common: dict[str, Any] = {
        "id": rule_id,
        "kind": kind,
        "unit": unit,
        "title": _labels(raw.get("title", rule_id), where),
        "source": str(raw.get("source", "")),
        **_common_options(raw, where),
    }
    if kind == "presence":
        min_count = _opt(raw, "min_count", where, int)
        if min_count is not None and min_count < 1:
            msg = f"{where}: key 'min_count' must be 1 or more, got {min_count}"
            raise RulePackError(msg)
        return Rule(
            **common,
            categories=_categories(
                _need(raw, "categories", where, (list, str)), where, "categories"
            ),
            min_count=1 if min_count is None else min_count,
        )
    if kind in (
        "catchment_per_capita",
        "count_per_population",
        "area_per_households",
        "area_total",
    ):
        return _parse_measure_rule(raw, kind, common, where)
    if kind == "reach":
        minutes = _opt(raw, "max_minutes", where, number)
        distance = _opt(raw, "max_distance_m", where, number)
        if (minutes is None) == (distance is None):
            msg = f"{where}: give exactly one of 'max_minutes' and 'max_distance_m'"
            raise RulePackError(msg)
        for key, value in (("max_minutes", minutes), ("max_distance_m", distance)):
            if value is not None and value <= 0:
                msg = f"{where}: key {key!r} must be positive, got {value}"
                raise RulePackError(msg)
        return Rule(
            **common,
            categories=_categories(
                _need(raw, "categories", where, (list, str)), where, "categories"
            ),
            report_categories=_categories(
                raw.get("report_categories") or [], where, "report_categories"
            ),
            max_minutes=None if minutes is None else float(minutes),
            max_distance_m=None if distance is None else float(distance),
        )
    category = _categories(_need(raw, "category", where, str), where, "category")[0]
    if kind in {"count", "windows"}:
        min_count = _opt(raw, "min_count", where, int)
        max_count = _opt(raw, "max_count", where, int)
        if min_count is None and max_count is None:
            msg = f"{where}: give 'min_count', 'max_count' or both"
            raise RulePackError(msg)
        if min_count is not None and max_count is not None and min_count > max_count:
            msg = f"{where}: 'min_count' ({min_count}) is above 'max_count' ({max_count})"
            raise RulePackError(msg)
        return Rule(**common, category=category, min_count=min_count, max_count=max_count)
    if kind == "area_per_capita":
        inclusive = raw.get("inclusive", False)
        if not isinstance(inclusive, bool):
            msg = f"{where}: key 'inclusive' must be true or false"
            raise RulePackError(msg)
        return Rule(
            **common,
            category=category,
            min_value=float(_need(raw, "min_value", where, number)),
            inclusive=inclusive,
        )
    share = float(_need(raw, "min_share", where, number))
    if not 0 < share <= 1:
        msg = f"{where}: key 'min_share' must be in (0, 1], got {share}"
        raise RulePackError(msg)
    within = _opt(raw, "within_minutes", where, number)
    return Rule(
        **common,
        category=category,
        min_share=share,
        within_minutes=None if within is None else float(within),
    )


def _common_options(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The keys every kind of rule may carry: provenance, verification, group settings."""
    out: dict[str, Any] = {
        "document": str(raw.get("document") or ""),
        "date": str(raw.get("date") or ""),
        "walk_speed_source": str(raw.get("walk_speed_source") or "").strip(),
    }
    for key in ("unverified", "enabled"):
        value = raw.get(key)
        if value is not None and not isinstance(value, bool):
            msg = f"{where}: key {key!r} must be true or false, got {value!r}"
            raise RulePackError(msg)
        if value is not None:
            out[key] = value
    try:  # the same ranges as the pack's, the case file's and the CLI's
        speed = _opt(raw, "walk_speed_kmh", where, (int, float))
        if speed is not None:
            out["walk_speed_kmh"] = check_walk_speed(
                float(speed), where=f"{where}: key 'walk_speed_kmh'"
            )
            if not out["walk_speed_source"]:
                msg = (
                    f"{where}: a rule with its own 'walk_speed_kmh' must cite where the speed "
                    "comes from in 'walk_speed_source'"
                )
                raise RulePackError(msg)
        share = _opt(raw, "min_population_share", where, (int, float))
        if share is not None:
            out["min_population_share"] = check_population_share(
                float(share), where=f"{where}: key 'min_population_share'"
            )
    except ConfigError as exc:
        raise RulePackError(str(exc)) from exc
    return out


def _parse_measure_rule(
    raw: Mapping[str, Any], kind: str, common: dict[str, Any], where: str
) -> Rule:
    """``catchment_per_capita``, ``count_per_population``, ``area_per_households`` and
    ``area_total``: a category, a threshold and the kind's own options."""
    number = (int, float)
    category = _categories(_need(raw, "category", where, str), where, "category")[0]
    value = float(_need(raw, "min_value", where, number))
    if value < 0:
        msg = f"{where}: key 'min_value' must not be negative, got {value:g}"
        raise RulePackError(msg)
    inclusive = raw.get("inclusive", True)
    if not isinstance(inclusive, bool):
        msg = f"{where}: key 'inclusive' must be true or false"
        raise RulePackError(msg)
    options: dict[str, Any] = {"category": category, "min_value": value, "inclusive": inclusive}
    if kind == "catchment_per_capita":
        minutes = _opt(raw, "max_minutes", where, number)
        distance = _opt(raw, "max_distance_m", where, number)
        if (minutes is None) == (distance is None):
            msg = f"{where}: give exactly one of 'max_minutes' and 'max_distance_m'"
            raise RulePackError(msg)
        if (minutes is not None and minutes <= 0) or (distance is not None and distance <= 0):
            msg = f"{where}: the walking budget must be positive"
            raise RulePackError(msg)
        decay = str(raw.get("decay", "none"))
        if decay not in DECAYS:
            msg = f"{where}: key 'decay' is {decay!r}; use one of {', '.join(DECAYS)}"
            raise RulePackError(msg)
        weights = raw.get("decay_weights")
        if weights is not None and decay != "step":
            msg = f"{where}: 'decay_weights' goes with decay: step only"
            raise RulePackError(msg)
        if decay == "step":
            weights = DEFAULT_STEP_WEIGHTS if weights is None else weights
            if (
                not isinstance(weights, Sequence)
                or not weights
                or not all(isinstance(w, number) and 0 <= w <= 1 for w in weights)
            ):
                msg = f"{where}: 'decay_weights' must be a list of weights in [0, 1]"
                raise RulePackError(msg)
        options.update(
            max_minutes=None if minutes is None else float(minutes),
            max_distance_m=None if distance is None else float(distance),
            decay=decay,
            decay_weights=tuple(float(w) for w in weights or ()) if decay == "step" else (),
        )
    for key in ("per_residents", "per_households"):
        if key in _KIND_KEYS[kind] and raw.get(key) is not None:
            per = _need(raw, key, where, number)
            if per <= 0:
                msg = f"{where}: key {key!r} must be positive, got {per}"
                raise RulePackError(msg)
            options[key] = float(per)
    return Rule(**common, **options)


def _parse_pack(raw: Any, *, where: str, path: Path | None) -> RulePack:
    if not isinstance(raw, Mapping):
        msg = f"{where}: a rule pack must be a YAML mapping with keys {sorted(_PACK_KEYS)}"
        raise RulePackError(msg)
    unknown = sorted(set(raw) - _PACK_KEYS)
    if unknown:
        msg = f"{where}: unknown keys {unknown}; allowed: {sorted(_PACK_KEYS)}"
        raise RulePackError(msg)
    speed = float(_need(raw, "walk_speed_kmh", where, (int, float)))
    try:  # the ranges are coverage.settings', the same as the case file's and the CLI's
        speed = check_walk_speed(speed, where=f"{where}: key 'walk_speed_kmh'")
        share = check_population_share(
            raw.get("min_population_share", 0.9), where=f"{where}: key 'min_population_share'"
        )
    except ConfigError as exc:
        raise RulePackError(str(exc)) from exc
    rules_raw = _need(raw, "rules", where, list)
    if not rules_raw:
        msg = f"{where}: key 'rules' is empty"
        raise RulePackError(msg)
    rules = tuple(_parse_rule(r, f"{where}: rules[{i}]") for i, r in enumerate(rules_raw))
    ids = [r.id for r in rules]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        msg = f"{where}: duplicate rule ids {dupes}"
        raise RulePackError(msg)
    return RulePack(
        id=str(_need(raw, "id", where, str)),
        version=int(raw.get("version", 1)),
        title=_labels(raw.get("title", raw["id"]), where),
        reference=str(raw.get("reference", "")),
        walk_speed_kmh=speed,
        walk_speed_note=str(raw.get("walk_speed_note", "")).strip(),
        min_population_share=share,
        min_population_share_note=str(raw.get("min_population_share_note", "")).strip(),
        rules=rules,
        path=path,
    )


def is_close_or_above(value: float, threshold: float) -> bool:
    """``value >= threshold`` that forgives floating-point noise (shares such as 4/5)."""
    return value >= threshold or math.isclose(value, threshold, rel_tol=1e-12, abs_tol=1e-12)


def _close_or_above(values: Any, threshold: float) -> Any:
    """:func:`is_close_or_above` of every item of an array (the same comparison: ``>=``, or
    :func:`math.isclose` with the same tolerances)."""
    import numpy as np

    values = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"):
        diff = np.abs(values - threshold)
        tol = np.maximum(1e-12 * np.maximum(np.abs(values), abs(threshold)), 1e-12)
        return (values >= threshold) | (values == threshold) | (diff <= tol)


# ---- evaluation -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleInputs:
    """What the rules are decided on: plain tables, no geometry.

    Attributes
    ----------
    communities
        Indexed by ``community_id``: ``name``, ``street_id``, ``population`` (other columns,
        such as the audit's ``population_source``, are carried through).
    streets
        Indexed by ``street_id``: ``name``, ``population`` (sum of its communities).
    origins
        One row per residential origin: ``community_id``, ``street_id``, ``population`` and
        one column ``d_<category>`` per measured category (walking metres to the nearest
        facility; ``inf`` beyond the search limit, ``NaN`` when the origin is off the network).
    services
        One row per facility and category it serves: ``service_id``, ``category``,
        ``street_id``, ``community_id`` (missing when outside every unit), ``windows``.
    areas
        One row per piece of a facility inside a street: ``service_id``, ``category``,
        ``street_id``, ``area_m2`` (polygon areas clipped to the street in a metric CRS, each
        ground counting only what no other ground of the category already covers, so that the
        rows of a street sum to the union; or the declared area of points outside every
        polygon). ``area_m2`` is NaN for a ground whose area is unknown (a point without a
        declared area).
    walk_speed_kmh
        The walking speed every minute budget is converted with.
    min_population_share
        Share of a community's residents that a reach rule requires.
    max_snap_m
        The snapping limit: origins farther than this from any walkable street are off the
        network (``NaN`` distances); named in the reasons.
    catchments
        For each category of a ``catchment_per_capita`` rule, the
        :class:`coverage.catchment.FacilityDistances` of the origins (rows aligned with
        ``origins``) to the category's facilities within the largest budget.
    """

    communities: Any
    streets: Any
    origins: Any
    services: Any
    areas: Any
    walk_speed_kmh: float
    min_population_share: float
    max_snap_m: float = 250.0  # coverage.snapping.DEFAULT_MAX_SNAP_M (not imported: stay light)
    catchments: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RuleTables:
    """The decisions: a column group per rule on the community and street tables."""

    communities: Any
    streets: Any
    summary: Any


def distance_column(category: str) -> str:
    """The origins column holding walking metres to the nearest ``category`` facility."""
    return f"d_{category}"


def distance_categories(pack: RulePack, walk_speed_kmh: float) -> dict[str, float]:
    """Every category whose walking distances the pack needs, with the largest budget (m)."""
    budgets = pack.reach_budgets_m(walk_speed_kmh)
    for rule in pack.rules:
        if rule.kind == "community_share" and rule.within_minutes is not None:
            assert rule.category is not None
            budget = minutes_to_m(rule.within_minutes, rule.speed(walk_speed_kmh))
            budgets[rule.category] = max(budgets.get(rule.category, 0.0), budget)
    return budgets


def _fmt_m(value: float) -> str:
    return f"{value:,.0f} m"


def _fmt_pct(value: float) -> str:
    return f"{100 * value:.1f}%"


@functools.lru_cache(maxsize=256)
def _label_zh(category: str) -> str:
    from coverage.categories import category_label

    return category_label(category, "zh")


def weighted_quantiles(values: Any, weights: Any, groups: Any, n_groups: int, q: float) -> Any:
    """Population-weighted ``q`` quantile of ``values`` within each group (vectorised).

    The quantile is the smallest value whose cumulative weight reaches ``q`` of the group's
    total (``inf`` values sort last). Groups without weight get NaN.
    """
    return weighted_quantiles_many(values, weights, groups, n_groups, (q,))[0]


def weighted_quantiles_many(
    values: Any, weights: Any, groups: Any, n_groups: int, qs: Sequence[float]
) -> list[Any]:
    """:func:`weighted_quantiles` for several ``qs`` from one sort (an audit of every pack
    asks the median and the 90th percentile of many categories)."""
    import numpy as np

    values = np.asarray(values, dtype=float)
    weights = np.asarray(weights, dtype=float)
    groups = np.asarray(groups, dtype=np.int64)
    keep = ~np.isnan(values) & (weights > 0)
    values, weights, groups = values[keep], weights[keep], groups[keep]
    if values.size == 0:
        return [np.full(n_groups, np.nan) for _ in qs]
    order = _group_value_order(values, groups, n_groups)
    return _quantiles_in_order(values[order], weights[order], groups[order], n_groups, qs)


def _quantiles_in_order(
    v: Any,
    w: Any,
    g: Any,
    n_groups: int,
    qs: Sequence[float],
    *,
    starts: Any = None,
    totals: Any = None,
) -> list[Any]:
    """:func:`weighted_quantiles_many` of values already in (group, value) order, with
    their weights and (sorted) groups; ``starts``: ``searchsorted(g, arange(n_groups))``,
    when the caller has it.

    ``totals``: each group's whole weight, when ``v`` holds only the finite values and the
    rest of a group's weight is at ``inf`` (left out, as it sorts last): a quantile whose
    weight the finite values do not reach is ``inf``.
    """
    import numpy as np

    outs = [np.full(n_groups, np.nan) for _ in qs]
    cum = np.cumsum(w)
    if starts is None:
        starts = np.searchsorted(g, np.arange(n_groups))
    if totals is None:
        totals = np.bincount(g, weights=w, minlength=n_groups)
        ends = None
    else:
        ends = np.append(starts[1:], v.size)
    before = np.where(starts > 0, cum[np.maximum(starts - 1, 0)], 0.0) if v.size else 0.0
    present = totals > 0
    for q, out in zip(qs, outs, strict=True):
        target = before + q * totals
        # tolerate rounding in the cumulative sum
        pos = np.searchsorted(cum, target[present] - 1e-9 * np.maximum(totals[present], 1.0))
        found = v[np.minimum(pos, v.size - 1)] if v.size else np.full(pos.size, np.inf)
        if ends is not None:  # beyond the group's finite values: at inf
            found = np.where(pos < ends[present], found, np.inf)
        out[present] = found
    return outs


def _distance_quantiles(
    distances: Any, weights: Any, groups: Any, totals: Any, qs: Sequence[float]
) -> list[Any]:
    """:func:`weighted_quantiles_many` of walking distances (every weight positive, every
    group in range), where ``NaN`` (off the network) counts as ``inf`` (beyond the search
    limit), given each group's whole weight ``totals``.

    Only the finite distances are sorted: the others sort last in their group, and a city's
    residents are mostly beyond the limit of a sparse kind of service.
    """
    import numpy as np

    n = totals.size
    finite = np.flatnonzero(np.isfinite(distances))
    d, w, g = distances[finite], weights[finite], groups[finite]
    if n <= np.iinfo(np.int16).max:
        # by value, then by group with a stable sort of 16-bit codes (numpy's radix sort):
        # twice as fast as the one-sort order; which of two equal distances comes first
        # does not change a quantile's value
        order = np.argsort(d)
        order = order[np.argsort(g[order].astype(np.int16), kind="stable")]
    else:
        order = _group_value_order(d, g, n)
    g = g[order]
    return _quantiles_in_order(
        d[order], w[order], g, n, qs, starts=np.searchsorted(g, np.arange(n)), totals=totals
    )


def _group_value_order(values: Any, groups: Any, n_groups: int) -> Any:
    """``numpy.lexsort((values, groups))`` (by group, then value, ties in input order) for
    values without NaN, from one sort of distinct integers instead of a two-key sort.

    Each value is replaced by its rank among the distinct values (equal values share a rank),
    and the key ``(group * ranks + rank) * n + position`` is distinct and orders as the
    lexsort does; sorting the keys themselves (not their argsort) and reading the position
    back is several times faster than the lexsort, which ``--pack all`` runs for every
    category. When the key would not fit in 63 bits, the lexsort itself.
    """
    import numpy as np

    n = values.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    by_value = np.argsort(values)  # not stable: the ties are ordered by the key below
    ordered = values[by_value]
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    ranks = int(new.sum())
    if max(n_groups, 1) * ranks * n >= 2**62:
        return np.lexsort((values, groups))
    rank = np.empty(n, dtype=np.int64)
    rank[by_value] = np.cumsum(new) - 1
    key = (groups.astype(np.int64) * ranks + rank) * n + np.arange(n, dtype=np.int64)
    key.sort()
    return key % n


def evaluate_pack(pack: RulePack, inputs: RuleInputs) -> RuleTables:
    """Decide every rule of ``pack`` for every community and street.

    Returns the community and street tables with, per rule, ``<id>_value``,
    ``<id>_threshold``, ``<id>_status`` (``pass``/``fail``/``not_evaluable``), ``<id>_reason``
    and ``<id>_reason_zh``, plus the measures behind them; and a summary row per rule.
    """
    _CALL_MEMO[id(inputs)] = {}
    try:
        return _evaluate_pack(pack, inputs)
    finally:
        _CALL_MEMO.pop(id(inputs), None)


def _evaluate_pack(pack: RulePack, inputs: RuleInputs) -> RuleTables:
    import pandas as pd

    communities = _NewColumns(inputs.communities)
    streets = _NewColumns(inputs.streets)
    _add_distance_measures(pack, inputs, communities)
    for rule in pack.rules:
        if rule.kind == "reach":
            _reach(rule, inputs, communities)
        elif rule.kind == "count":
            _count(rule, inputs, streets)
        elif rule.kind == "windows":
            _windows(rule, inputs, communities)
        elif rule.kind == "area_per_capita":
            _area_per_capita(rule, inputs, streets)
        elif rule.kind == "community_share":
            _community_share(rule, inputs, communities, streets)
        else:
            from coverage.rules_measures import evaluate_measure

            evaluate_measure(rule, inputs, communities, streets)
        _mark_unverified(rule, communities if rule.unit == "community" else streets)
    _street_rollup(pack, communities, streets)
    summary = pd.DataFrame([_summarise(rule, communities, streets) for rule in pack.rules])
    summary.insert(1, "pack", [rule.pack_id or pack.id for rule in pack.rules])
    return RuleTables(
        communities=communities.to_frame(), streets=streets.to_frame(), summary=summary
    )


class _NewColumns:
    """A unit table that the rules add columns to: the input frame, untouched, and the new
    columns' values, made into one frame joined to the input by :meth:`to_frame`.

    Setting ~400 columns one at a time on a DataFrame (``--pack all``: 30 rules) inserts
    each into its block manager and copies the frame to consolidate it: the largest per-rule
    cost on small cases. Here a value is kept as given (an array copied) and pandas makes
    every column at once, with the same inference ``frame[name] = value`` makes (a list of
    text is ``str`` under pandas 3, ``object`` before). The rules read and write it as they
    would the frame: ``t[name]``, ``t[name] = value``, ``t.get(name)``, ``name in t``,
    ``t.index``, ``len(t)``.
    """

    def __init__(self, frame: Any) -> None:
        self.frame = frame
        self.index = frame.index
        self.new: dict[str, Any] = {}
        self._read: dict[str, Any] = {}

    def __len__(self) -> int:
        return len(self.frame)

    def __contains__(self, name: object) -> bool:
        return name in self.new or name in self.frame

    def __getitem__(self, name: str) -> Any:
        import pandas as pd

        if name not in self.new:
            return self.frame[name]
        if name not in self._read:  # as the frame's column would read
            self._read[name] = pd.DataFrame({name: self.new[name]}, index=self.index)[name]
        return self._read[name]

    def text(self, name: str) -> Any:
        """A column of text as a numpy object array (the values as set: no Series made)."""
        import numpy as np

        if name not in self.new:
            return self.frame[name].to_numpy(dtype=object)
        value = self.new[name]
        if isinstance(value, str):
            return np.full(len(self.index), value, dtype=object)
        return np.asarray(value, dtype=object)

    def get(self, name: str, default: Any = None) -> Any:
        if name in self.new:
            return self[name]
        return self.frame.get(name, default)

    def __setitem__(self, name: str, value: Any) -> None:
        import numpy as np
        import pandas as pd

        if isinstance(value, pd.Series):
            value = value.reindex(self.index).array.copy()
        elif isinstance(value, np.ndarray):
            value = value.copy()
        sized = isinstance(value, np.ndarray | list | tuple | pd.api.extensions.ExtensionArray)
        if sized and len(value) != len(self.index):
            msg = f"column {name!r}: {len(value)} values for {len(self.index)} rows"
            raise ValueError(msg)
        self.new[name] = value
        self._read.pop(name, None)

    def to_frame(self) -> Any:
        """The input frame with the new columns (in the order first set; a column of the
        input that was set again keeps its place), as one new DataFrame."""
        import pandas as pd

        # one constructor call over the input's columns and the new ones (a copy of the
        # frame, a frame of the new columns and their concat copied every block twice)
        columns: dict[str, Any] = {name: self.frame[name] for name in self.frame.columns}
        columns.update(self.new)  # a column set again keeps its place; new ones follow
        return pd.DataFrame(columns, index=self.index)


def _mark_unverified(rule: Rule, table: Any) -> None:
    """An unverified threshold: switched off (``not_evaluable``, the measure kept), or, when
    the pack switches it on, decided with every reason saying the threshold is unverified."""
    import numpy as np

    if not rule.unverified:
        return
    status = f"{rule.id}_status"
    # the columns as plain values (each read as a Series, and its words joined by pandas,
    # took ~0.3 ms a rule; --pack all has several unverified rules)
    reason = [str(x) for x in table.text(f"{rule.id}_reason").tolist()]
    reason_zh = [str(x) for x in table.text(f"{rule.id}_reason_zh").tolist()]
    if rule.decides:
        table[f"{rule.id}_reason"] = [
            "UNVERIFIED threshold (not confirmed from a primary text): " + r for r in reason
        ]
        table[f"{rule.id}_reason_zh"] = [
            "阈值未经核实（未能在原文中确认）：" + r for r in reason_zh
        ]
        return
    measured = [str(x) for x in table.text(status).tolist()]
    words_zh = {PASS: "达标", FAIL: "不达标", NOT_EVALUABLE: "无法评估"}
    table[f"{rule.id}_measured_status"] = np.asarray(measured, dtype=object)
    table[status] = NOT_EVALUABLE
    table[f"{rule.id}_reason"] = [
        "switched off: the threshold could not be confirmed from a primary text "
        f"(unverified: true); on the measure, it would be {m}: {r}"
        for m, r in zip(measured, reason, strict=True)
    ]
    table[f"{rule.id}_reason_zh"] = [
        "规则未启用：阈值未能在原文中核实（unverified: true）；按测量值将为"
        f"{words_zh.get(m, m)}：{r}"
        for m, r in zip(measured, reason_zh, strict=True)
    ]


#: What several rules of one :func:`evaluate_pack` call look up alike (each origin's
#: community, the categories present), kept for that call only, by ``id`` of its inputs.
_CALL_MEMO: dict[int, dict[str, Any]] = {}


def _memo(inputs: RuleInputs, key: str, make: Any) -> Any:
    """``make()``, once per :func:`evaluate_pack` call (every time outside one)."""
    memo = _CALL_MEMO.get(id(inputs))
    if memo is None:
        return make()
    if key not in memo:
        memo[key] = make()
    return memo[key]


def count_by_unit(keys: Any, index: Any, *, distinct: Any = None) -> Any:
    """How many rows of ``keys`` name each unit of ``index`` (a unique index); with
    ``distinct``, how many distinct non-missing values of ``distinct`` those rows hold.

    What ``frame.groupby(keys).size()`` (or ``[distinct].nunique()``) ``.reindex(index,
    fill_value=0)`` gives, as an int64 array, without pandas' groupby: under pandas 3 each
    groupby of the services (text columns) copied them, ~1.5 ms a call on a city, and
    ``--pack all`` counts dozens of categories. Rows whose key is missing or names no unit
    of ``index`` count for none.
    """
    import numpy as np

    codes = np.asarray(index.get_indexer(keys), dtype=np.int64)
    ids = None if distinct is None else _id_codes(distinct)
    return _count_codes(codes, len(index), ids)


def _id_codes(values: Any) -> Any:
    """Each value's code (equal values, equal codes; -1 for a missing value)."""
    import numpy as np
    import pandas as pd

    return np.asarray(pd.factorize(np.asarray(values, dtype=object))[0], dtype=np.int64)


def _count_codes(codes: Any, n: int, ids: Any = None) -> Any:
    """:func:`count_by_unit` from the rows' unit positions (-1: none) and id codes."""
    import numpy as np

    ok = codes >= 0
    if ids is None:
        return np.bincount(codes[ok], minlength=n).astype(np.int64)
    ok &= ids >= 0
    width = int(ids.max()) + 1 if ids.size else 1
    pairs = np.unique(codes[ok] * width + ids[ok])
    return np.bincount(pairs // width, minlength=n).astype(np.int64)


def count_services(
    inputs: RuleInputs, category: str, index: Any, column: str, *, distinct: bool = False
) -> tuple[Any, int]:
    """:func:`count_by_unit` of the services of ``category`` by ``column`` (``street_id``
    with the streets' index, ``community_id`` with the communities'), distinct service ids
    or rows; and how many services of the category there are.

    The services' unit positions, id codes and rows of each category are made once per
    :func:`evaluate_pack` call: the presence rules of several packs count ~40 categories.
    """
    import numpy as np

    services = inputs.services
    rows = _memo(inputs, "rows_by_category", lambda: _rows_by_category(services["category"]))
    codes = _memo(
        inputs,
        f"unit_codes:{column}",
        lambda: np.asarray(index.get_indexer(services[column]), dtype=np.int64),
    )
    at = rows.get(category, np.zeros(0, dtype=np.int64))
    ids = _memo(inputs, "id_codes", lambda: _id_codes(services["service_id"]))[at]
    return _count_codes(codes[at], len(index), ids if distinct else None), int(at.size)


def _rows_by_category(categories: Any) -> dict[str, Any]:
    """The row positions of each category (in row order)."""
    import numpy as np
    import pandas as pd

    codes, uniques = pd.factorize(categories)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    return {
        str(cat): order[bounds[k] : bounds[k + 1]].astype(np.int64)
        for k, cat in enumerate(uniques.tolist())
    }


def _codes(inputs: RuleInputs) -> tuple[Any, int]:
    import numpy as np

    def make() -> tuple[Any, int]:
        index = inputs.communities.index
        codes = index.get_indexer(inputs.origins["community_id"])
        return np.asarray(codes, dtype=np.int64), len(index)

    return _memo(inputs, "codes", make)


def _add_distance_measures(pack: RulePack, inputs: RuleInputs, communities: Any) -> None:
    """Population-weighted median and 90th percentile distance per community and category.

    The population is the one the reach shares use: every resident of the community. A
    resident off the network (``NaN``) counts as farther than the search limit (``inf``), as in
    the shares, where such residents are not reached; a percentile that lands on them reads
    ``inf`` ("farther than the limit"), never a distance measured on the others only.
    """
    import numpy as np

    codes, n = _codes(inputs)
    weights = inputs.origins["population"].to_numpy(dtype=float)
    # what weighted_quantiles_many keeps (an origin in a community, with weight) and each
    # community's weight are the same for every category: made once
    keep = (codes >= 0) & (weights > 0)
    kept_weights, kept_codes = weights[keep], codes[keep]
    totals = np.bincount(kept_codes, weights=kept_weights, minlength=n)
    for cat in distance_categories(pack, inputs.walk_speed_kmh):
        col = distance_column(cat)
        if col not in inputs.origins:
            continue
        if not _has_facility(inputs, cat) or not kept_codes.size:
            # not measured (no facility of the kind in the data), or nobody to weigh
            median, p90 = np.full(n, np.nan), np.full(n, np.nan)
        else:
            d = inputs.origins[col].to_numpy(dtype=float)[keep]
            median, p90 = _distance_quantiles(d, kept_weights, kept_codes, totals, (0.5, 0.9))
        communities[f"median_m_{cat}"] = median
        communities[f"p90_m_{cat}"] = p90


def _has_facility(inputs: RuleInputs, category: str) -> bool:
    present = _memo(
        inputs, "present", lambda: frozenset(inputs.services["category"].dropna().tolist())
    )
    return category in present


def _write_decision(
    table: Any,
    rule_id: str,
    *,
    value: Any,
    threshold: str,
    threshold_zh: str,
    status: list[str],
    reason: list[str],
    reason_zh: list[str],
) -> None:
    """The columns every rule writes for its unit: value, threshold, status, reasons."""
    table[f"{rule_id}_value"] = value
    table[f"{rule_id}_threshold"] = threshold
    table[f"{rule_id}_threshold_zh"] = threshold_zh
    table[f"{rule_id}_status"] = status
    table[f"{rule_id}_reason"] = reason
    table[f"{rule_id}_reason_zh"] = reason_zh


def _reach_base(inputs: RuleInputs) -> tuple[Any, Any, Any, int]:
    """The community position and weight of every origin in a community, and each
    community's residents (once per evaluation: ``--pack all`` has 11 reach rules)."""
    import numpy as np

    def make() -> tuple[Any, Any, Any, int]:
        codes, n = _codes(inputs)
        valid = codes >= 0
        weights = inputs.origins["population"].to_numpy(dtype=float)[valid]
        codes = codes[valid]
        return codes, weights, np.bincount(codes, weights=weights, minlength=n), n

    return _memo(inputs, "reach_base", make)


def _valid_distances(inputs: RuleInputs, category: str) -> Any:
    """The walking metres to ``category`` of every origin in a community."""
    import numpy as np

    def make() -> Any:
        codes, _ = _codes(inputs)
        return inputs.origins[distance_column(category)].to_numpy(dtype=float)[codes >= 0]

    return np.asarray(_memo(inputs, f"distances:{category}", make))


def _stranded(inputs: RuleInputs, measured: Sequence[str], codes: Any, weights: Any) -> Any:
    """Communities with residents none of whom is on the network: off the network, an
    origin has no distance (NaN) to any of the ``measured`` categories."""
    import numpy as np

    n = len(inputs.communities.index)
    off = np.ones(codes.shape, dtype=bool) if measured else np.zeros(codes.shape, dtype=bool)
    for cat in measured:
        off &= np.isnan(_valid_distances(inputs, cat))
    total = np.bincount(codes, weights=weights, minlength=n)
    on_network = np.bincount(codes, weights=weights * ~off, minlength=n)
    return (total > 0) & ~(on_network > 0)  # residents, but none on the network


def _reach(rule: Rule, inputs: RuleInputs, communities: Any) -> None:
    import numpy as np

    speed = rule.speed(inputs.walk_speed_kmh)
    budget = rule.budget_m(speed)
    minutes = rule.budget_minutes(speed)
    assert budget is not None and minutes is not None
    need = rule.share(inputs.min_population_share)
    codes, weights, total, n = _reach_base(inputs)
    measured = tuple(c for c in rule.all_categories if _has_facility(inputs, c))
    # an origin's distance is NaN to every kind alike (it is off the network): whether a
    # community is stranded depends only on whether anything is measured
    stranded = _memo(
        inputs,
        f"stranded:{bool(measured)}",
        lambda: _stranded(inputs, measured[:1], codes, weights),
    )
    shares: dict[str, Any] = {}
    for cat in rule.all_categories:
        within = _memo(
            inputs,
            f"within:{cat}:{budget!r}",
            lambda cat=cat: np.bincount(
                codes, weights=weights * (_valid_distances(inputs, cat) <= budget), minlength=n
            ),
        )
        share = np.divide(within, total, out=np.full(n, np.nan), where=total > 0)
        if not _has_facility(inputs, cat):
            share = np.full(n, np.nan)  # not measured: no facility of the kind in the data
        share[stranded] = np.nan  # not measured either: nobody could be placed on a street
        shares[cat] = share
        communities[f"{rule.id}_share_{cat}"] = share
    no_data = [c for c in rule.categories if not _has_facility(inputs, c)]
    required = [c for c in rule.categories if c not in no_data]
    budget_text = f"{minutes:g} min ({_fmt_m(budget)} at {speed:g} km/h)"
    budget_zh = f"步行{minutes:g}分钟（{speed:g}公里/小时，约{budget:,.0f}米）"
    need_pct = _fmt_pct(need)
    unknown = unknown_zh = ""
    if no_data:
        unknown = f"; not evaluable (no facilities in the data): {', '.join(no_data)}"
        unknown_zh = f"；数据中没有{'、'.join(_label_zh(c) for c in no_data)}，无法评估"
    # per community: the lowest share of a required category (min() of the shares in order,
    # as a loop over them would take it), and the categories below the share required; the
    # arrays are read as Python lists in the loop below, which only writes the words
    value_arr = np.full(n, math.nan)
    for j, c in enumerate(required):
        value_arr = (
            shares[c].copy() if j == 0 else np.where(shares[c] < value_arr, shares[c], value_arr)
        )
    values = value_arr.tolist()
    below_rows = np.column_stack(
        [~_close_or_above(shares[c], need) for c in required] or [np.zeros(n, dtype=bool)]
    )[:, : len(required)]
    # the categories below the share, per distinct pattern of them (few): listed once each
    patterns, inverse = np.unique(below_rows, axis=0, return_inverse=True)
    missing_in = [[c for c, low in zip(required, row, strict=True) if low] for row in patterns]
    joined_in = [";".join(missing) for missing in missing_in]
    # the words, as object arrays a group of communities at a time: each pattern of
    # categories below the share writes its communities' reasons at once (the shares in
    # words only where they are listed); a community without residents or stranded, one by
    # one (few)
    pattern = np.asarray(inverse).reshape(-1)
    has_missing = np.array([bool(m) for m in missing_in])[pattern]
    no_one = ~(total > 0)
    status_arr = np.empty(n, dtype=object)
    reason_arr = np.empty(n, dtype=object)
    reason_zh_arr = np.empty(n, dtype=object)
    missing_arr = np.array(joined_in, dtype=object)[pattern]
    missing_arr[stranded] = ""
    status_arr[no_one] = NOT_EVALUABLE
    reason_arr[no_one] = "no residents (population 0 or missing): reach is not evaluable"
    reason_zh_arr[no_one] = "无常住人口（人口为0或缺失），无法评估可达性"
    snap = f"{inputs.max_snap_m:g}"
    for i in np.flatnonzero(stranded & ~no_one).tolist():
        residents = f"{float(total[i]):,.0f}"
        status_arr[i] = NOT_EVALUABLE
        reason_arr[i] = (
            f"all {residents} residents' origins lie more than {snap} m from any "
            "walkable street: reach is not evaluable (check that the OSM file covers the "
            "community)"
        )
        reason_zh_arr[i] = (
            f"全部{residents}名居民的出发点距任何可步行道路都超过{snap}米，无法评估可达性"
            "（请检查OSM文件是否覆盖该社区）"
        )
    decided = ~no_one & ~stranded
    fail = decided & has_missing
    for k, missing in enumerate(missing_in):
        at = np.flatnonzero(fail & (pattern == k)) if missing else np.zeros(0, dtype=np.int64)
        if at.size == 0:
            continue
        pcts = {c: np.array([_fmt_pct(x) for x in shares[c][at].tolist()], object) for c in missing}
        parts: Any = functools.reduce(
            lambda a, b: a + ", " + b, [c + " " + pcts[c] for c in missing]
        )
        parts_zh: Any = functools.reduce(
            lambda a, b: a + "、" + b, [_label_zh(c) + pcts[c] for c in missing]
        )
        status_arr[at] = FAIL
        reason_arr[at] = f"residents within {budget_text} below {need_pct} for: " + parts + unknown
        reason_zh_arr[at] = f"{budget_zh}内可达居民比例低于{need_pct}：" + parts_zh + unknown_zh
    rest = np.flatnonzero(decided & ~has_missing)
    if no_data:
        status_arr[rest] = NOT_EVALUABLE
        reason_arr[rest] = (
            f"no {', '.join(no_data)} facilities in the data; the other categories reach "
            f"{need_pct} of residents within {budget_text}"
        )
        reason_zh_arr[rest] = (
            f"数据中没有{'、'.join(_label_zh(c) for c in no_data)}设施；其余类别在{budget_zh}内"
            f"覆盖{need_pct}以上居民"
        )
    elif rest.size:
        lowest = np.array([_fmt_pct(x) for x in value_arr[rest].tolist()], dtype=object)
        status_arr[rest] = PASS
        reason_arr[rest] = (
            f"every required category reaches at least {need_pct} of residents "
            f"within {budget_text} (lowest " + lowest + ")"
        )
        reason_zh_arr[rest] = (
            f"所有必备类别在{budget_zh}内均覆盖{need_pct}以上居民（最低" + lowest + "）"
        )
    statuses, reasons, reasons_zh = status_arr.tolist(), reason_arr.tolist(), reason_zh_arr.tolist()
    missing_col = missing_arr.tolist()
    _write_decision(
        communities,
        rule.id,
        value=values,
        threshold=f"≥ {_fmt_pct(need)} of residents within {_fmt_m(budget)}",
        threshold_zh=f"{budget:,.0f}米内居民比例不低于{_fmt_pct(need)}",
        status=statuses,
        reason=reasons,
        reason_zh=reasons_zh,
    )
    communities[f"{rule.id}_missing"] = missing_col


def _count_range_text(rule: Rule) -> tuple[str, str]:
    lo, hi = rule.min_count, rule.max_count
    if lo is not None and hi is not None:
        return f"{lo}–{hi}", f"{lo}-{hi}个"
    if lo is not None:
        return f"≥ {lo}", f"{lo}个及以上"
    return f"≤ {hi}", f"不超过{hi}个"


def _in_range(count: float, rule: Rule) -> bool:
    if rule.min_count is not None and count < rule.min_count:
        return False
    return not (rule.max_count is not None and count > rule.max_count)


def _count(rule: Rule, inputs: RuleInputs, streets: Any) -> None:
    assert rule.category is not None
    cat = rule.category
    counts, found = count_services(inputs, cat, streets.index, "street_id")
    text, text_zh = _count_range_text(rule)
    have_data = found > 0
    status, reason, reason_zh = [], [], []
    for n in counts.tolist():
        if not have_data:
            status.append(NOT_EVALUABLE)
            reason.append(f"no {cat} facilities anywhere in the data: cannot be counted")
            reason_zh.append(f"数据中没有任何{_label_zh(cat)}，无法计数")
        elif _in_range(n, rule):
            status.append(PASS)
            reason.append(f"{n} {cat} inside the street (required {text})")
            reason_zh.append(f"街道内有{n}个{_label_zh(cat)}（要求{text_zh}）")
        else:
            status.append(FAIL)
            reason.append(f"{n} {cat} inside the street (required {text})")
            reason_zh.append(f"街道内有{n}个{_label_zh(cat)}（要求{text_zh}）")
    _write_decision(
        streets,
        rule.id,
        value=counts.astype(float),
        threshold=text,
        threshold_zh=text_zh,
        status=status,
        reason=reason,
        reason_zh=reason_zh,
    )


def _centres(n: int, category: str) -> str:
    """``1 community_service_centre is`` / ``2 community_service_centre are``."""
    return f"{n} {category} {'is' if n == 1 else 'are'}"


def _windows(rule: Rule, inputs: RuleInputs, communities: Any) -> None:
    import numpy as np

    assert rule.category is not None
    cat = rule.category
    centres = inputs.services[inputs.services["category"] == cat]
    text, text_zh = _count_range_text(rule)
    known = centres["windows"].notna()
    window_data = bool(known.any())
    by_comm = dict(list(centres.groupby("community_id")))
    status, reason, reason_zh, values = [], [], [], []
    for cid in communities.index:
        group = by_comm.get(cid)
        present = group is not None and len(group) > 0
        if len(centres) == 0:
            status.append(NOT_EVALUABLE)
            reason.append(f"no {cat} anywhere in the data")
            reason_zh.append(f"数据中没有任何{_label_zh(cat)}")
            values.append(np.nan)
        elif not window_data:
            # no window count anywhere: the rule's measure is not in the data, whatever the
            # presence of a centre says
            status.append(NOT_EVALUABLE)
            values.append(np.nan)
            if present:
                assert group is not None
                reason.append(
                    f"{_centres(len(group), cat)} present but the data gives no window count "
                    f"(required {text} windows per centre)"
                )
                reason_zh.append(
                    f"社区内有{len(group)}个{_label_zh(cat)}，但数据未给出窗口数量"
                    f"（要求每个中心{text_zh}窗口）"
                )
            else:
                reason.append(
                    f"no {cat} in the data for this community, and the data gives no window "
                    f"counts (required {text} windows per centre)"
                )
                reason_zh.append(
                    f"数据中该社区没有{_label_zh(cat)}，且数据未给出窗口数量"
                    f"（要求每个中心{text_zh}窗口）"
                )
        elif not present:
            status.append(FAIL)
            reason.append(f"no {cat} inside the community")
            reason_zh.append(f"社区内没有{_label_zh(cat)}")
            values.append(0.0)
        else:
            assert group is not None
            windows = group["windows"].to_numpy(dtype=float)
            unknown = int(np.isnan(windows).sum())
            known_w = windows[~np.isnan(windows)]
            bad = [w for w in known_w if not _in_range(w, rule)]
            shown = ", ".join(f"{w:g}" for w in known_w)
            if bad:
                status.append(FAIL)
                values.append(float(bad[0]))
                reason.append(f"window counts {shown}; required {text} per centre")
                reason_zh.append(f"窗口数量{shown}；要求每个中心{text_zh}")
            elif unknown:
                # a centre without a count could have any number of windows
                status.append(NOT_EVALUABLE)
                values.append(float(known_w.min()) if known_w.size else np.nan)
                counted = f"; the others have {shown}" if known_w.size else ""
                counted_zh = f"；其余窗口数量{shown}" if known_w.size else ""
                reason.append(
                    f"{unknown} of {len(group)} {cat} have no window count in the data"
                    f"{counted} (required {text} per centre)"
                )
                reason_zh.append(
                    f"{len(group)}个{_label_zh(cat)}中有{unknown}个缺少窗口数量{counted_zh}"
                    f"（要求每个中心{text_zh}）"
                )
            else:
                status.append(PASS)
                values.append(float(known_w.min()))
                reason.append(f"window counts {shown} (required {text} per centre)")
                reason_zh.append(f"窗口数量{shown}（要求每个中心{text_zh}）")
    _write_decision(
        communities,
        rule.id,
        value=values,
        threshold=f"{text} windows per centre",
        threshold_zh=f"每个中心{text_zh}窗口",
        status=status,
        reason=reason,
        reason_zh=reason_zh,
    )


def _area_per_capita(rule: Rule, inputs: RuleInputs, streets: Any) -> None:
    import numpy as np

    assert rule.category is not None and rule.min_value is not None
    cat = rule.category
    from coverage.rules_measures import area_inside

    # the known area in each street, and the grounds whose area the data does not give (the
    # measured area is then a lower bound): made once an evaluation for the category
    area, unknown, have_data = area_inside(rule, inputs, streets)
    pop = streets["population"].to_numpy(dtype=float)
    value = np.divide(area, pop, out=np.full(len(pop), np.nan), where=pop > 0)
    sign = "≥" if rule.inclusive else ">"
    sign_zh = "不低于" if rule.inclusive else "大于"
    required = f"(required {sign} {rule.min_value:g})"
    required_zh = f"（要求{sign_zh}{rule.min_value:g}平方米）"
    status, reason, reason_zh = [], [], []
    for a, p, v, k in zip(area, pop, value, unknown, strict=True):
        if not have_data:
            status.append(NOT_EVALUABLE)
            reason.append(f"no {cat} with area in the data")
            reason_zh.append(f"数据中没有带面积的{_label_zh(cat)}")
            continue
        if not p > 0:
            status.append(NOT_EVALUABLE)
            reason.append("the street has no residents: per-capita area is not evaluable")
            reason_zh.append("街道无常住人口，无法计算人均面积")
            continue
        ok = v >= rule.min_value if rule.inclusive else v > rule.min_value
        measured = f"{a:,.0f} m² of {cat} for {p:,.0f} residents"
        measured_zh = f"{_label_zh(cat)}{a:,.0f}平方米，常住人口{p:,.0f}人"
        if k == 0:
            status.append(PASS if ok else FAIL)
            reason.append(f"{measured} = {v:.2f} m² per resident {required}")
            reason_zh.append(f"{measured_zh}，人均{v:.2f}平方米{required_zh}")
            continue
        grounds = f"{k} {cat} of unknown area"
        bound = f"≥ {v:.2f} m² per resident (lower bound: {grounds} not counted)"
        bound_zh = f"人均不少于{v:.2f}平方米（下限：{k}处{_label_zh(cat)}面积未知，未计入）"
        if ok:
            status.append(PASS)
            reason.append(f"{measured} = {bound}; the known area alone meets the rule {required}")
            reason_zh.append(f"{measured_zh}，{bound_zh}；仅已知面积即已达标{required_zh}")
        else:
            status.append(NOT_EVALUABLE)
            reason.append(
                f"{measured} = {bound}; below the threshold on the known area, but the "
                f"grounds of unknown area could make up the difference {required}"
            )
            reason_zh.append(
                f"{measured_zh}，{bound_zh}；已知面积未达标，但面积未知的场地可能补足差额，"
                f"无法评估{required_zh}"
            )
    streets[f"{rule.id}_area_m2"] = area
    streets[f"{rule.id}_unknown_area_grounds"] = unknown
    streets[f"{rule.id}_lower_bound"] = unknown > 0
    _write_decision(
        streets,
        rule.id,
        value=value,
        threshold=f"{sign} {rule.min_value:g} m² per resident",
        threshold_zh=f"人均{sign_zh}{rule.min_value:g}平方米",
        status=status,
        reason=reason,
        reason_zh=reason_zh,
    )


def _community_share(rule: Rule, inputs: RuleInputs, communities: Any, streets: Any) -> None:
    import numpy as np

    assert rule.category is not None and rule.min_share is not None
    cat = rule.category
    inside, found = count_services(inputs, cat, communities.index, "community_id")
    has = inside > 0
    how = "inside"
    how_zh = "社区内"
    if rule.within_minutes is not None:
        budget = minutes_to_m(rule.within_minutes, rule.speed(inputs.walk_speed_kmh))
        median = communities.get(f"median_m_{cat}")
        if median is not None:
            has = has | (median.to_numpy(dtype=float) <= budget)
        how = (
            f"inside or within {rule.within_minutes:g} min ({_fmt_m(budget)}) "
            "of the median resident"
        )
        how_zh = f"社区内或中位居民步行{rule.within_minutes:g}分钟内"
    communities[f"{rule.id}_has_{cat}"] = has
    street_codes = streets.index.get_indexer(communities["street_id"])
    ok = street_codes >= 0
    n_comm = np.bincount(street_codes[ok], minlength=len(streets))
    n_has = np.bincount(street_codes[ok], weights=has[ok].astype(float), minlength=len(streets))
    share = np.divide(n_has, n_comm, out=np.full(len(streets), np.nan), where=n_comm > 0)
    status, reason, reason_zh = [], [], []
    for k, n, s in zip(n_has, n_comm, share, strict=True):
        if found == 0:
            status.append(NOT_EVALUABLE)
            reason.append(f"no {cat} anywhere in the data")
            reason_zh.append(f"数据中没有任何{_label_zh(cat)}")
        elif n == 0:
            status.append(NOT_EVALUABLE)
            reason.append("the street has no communities in the data")
            reason_zh.append("街道内没有社区数据")
        else:
            passed = is_close_or_above(s, rule.min_share)
            status.append(PASS if passed else FAIL)
            reason.append(
                f"{k:.0f} of {n} communities ({_fmt_pct(s)}) have a {cat} {how} "
                f"(required ≥ {_fmt_pct(rule.min_share)})"
            )
            reason_zh.append(
                f"{n}个社区中{k:.0f}个（{_fmt_pct(s)}）{how_zh}有{_label_zh(cat)}"
                f"（要求{_fmt_pct(rule.min_share)}以上）"
            )
    streets[f"{rule.id}_communities_with"] = n_has
    streets[f"{rule.id}_communities"] = n_comm
    _write_decision(
        streets,
        rule.id,
        value=share,
        threshold=f"≥ {_fmt_pct(rule.min_share)} of communities",
        threshold_zh=f"不低于{_fmt_pct(rule.min_share)}的社区",
        status=status,
        reason=reason,
        reason_zh=reason_zh,
    )


def _street_rollup(pack: RulePack, communities: Any, streets: Any) -> None:
    """For community rules, how many of each street's communities (and residents) pass."""
    import numpy as np

    codes = streets.index.get_indexer(communities["street_id"])
    ok = codes >= 0
    pop = communities["population"].to_numpy(dtype=float)
    pop = np.where(np.isnan(pop), 0.0, pop)
    for rule in pack.rules:
        if rule.unit != "community":
            continue
        passed = _text(communities, f"{rule.id}_status") == PASS
        streets[f"{rule.id}_communities_passing"] = np.bincount(
            codes[ok], weights=passed[ok].astype(float), minlength=len(streets)
        )
        streets[f"{rule.id}_communities"] = np.bincount(codes[ok], minlength=len(streets))
        covered = np.bincount(codes[ok], weights=(pop * passed)[ok], minlength=len(streets))
        total = np.bincount(codes[ok], weights=pop[ok], minlength=len(streets))
        streets[f"{rule.id}_population_share_passing"] = np.divide(
            covered, total, out=np.full(len(streets), np.nan), where=total > 0
        )


def _text(table: Any, name: str) -> Any:
    """A text column of a rule table (a :class:`_NewColumns` or a DataFrame) as a numpy
    object array."""
    text = getattr(table, "text", None)
    if text is not None:
        return text(name)
    return table[name].to_numpy(dtype=object)


def _summarise(rule: Rule, communities: Any, streets: Any) -> dict[str, Any]:
    import numpy as np

    table = communities if rule.unit == "community" else streets
    status = _text(table, f"{rule.id}_status")
    pop = table["population"].to_numpy(dtype=float)
    pop = np.where(np.isnan(pop), 0.0, pop)
    passed = status == PASS
    total_pop = float(pop.sum())
    return {
        "rule": rule.id,
        "unverified": rule.unverified,
        "decides": rule.decides,
        "walk_speed_kmh": rule.walk_speed_kmh,
        "title": rule.label("en"),
        "title_zh": rule.label("zh"),
        "unit": rule.unit,
        "units": len(table),
        "passing": int(passed.sum()),
        "failing": int((status == FAIL).sum()),
        "not_evaluable": int((status == NOT_EVALUABLE).sum()),
        "population": total_pop,
        "population_in_passing_units": float(pop[passed].sum()),
        "population_share_in_passing_units": float(pop[passed].sum() / total_pop)
        if total_pop > 0
        else math.nan,
    }
