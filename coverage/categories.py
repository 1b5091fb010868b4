"""Service categories and the mapping of OSM tags, POI names and Amap type codes onto them.

The mapping is data: ``coverage/data/categories.yaml`` ships with the package and a user file
with the same schema can extend or override it (:func:`load_category_map`). Everything is
validated here, once; the rest of the package trusts a :class:`CategoryMap`.

Examples
--------
>>> cmap = load_category_map()
>>> cmap.classify_osm_tags({"shop": "supermarket", "name": "物美"})
'supermarket'
>>> cmap.classify_osm_tags_all({"shop": "supermarket"})
['supermarket', 'shopping']
>>> cmap.classify_amap("141204", "某某幼儿园")
'kindergarten'
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml

from coverage.errors import DataError

__all__ = [
    "CATEGORIES",
    "CategoryMap",
    "NameRule",
    "TagRule",
    "category_label",
    "load_category_map",
    "tags_from_columns",
]

logger = logging.getLogger(__name__)

CATEGORIES: tuple[str, ...] = (
    "shopping",
    "housekeeping",
    "catering",
    "express",
    "repair",
    "power",
    "water",
    "telecom",
    "government_service_centre",
    "community_service_centre",
    "exercise_point",
    "sports_ground",
    "convenience_store",
    "breakfast",
    "pharmacy",
    "laundry",
    "hairdresser",
    "fresh_market",
    "supermarket",
    "primary_school",
    "kindergarten",
    "clinic",
    "elderly_care",
    "park",
    "nursery",
    "elderly_service_station",
    "community_health_station",
    "general_supermarket",
    "fitness_facility",
    "football_pitch",
    "open_public_space",
    "public_green",
    "activity_ground",
)

_SHIPPED = "categories.yaml"
_NAME_TAGS = ("name:zh", "name:zh-Hans", "name", "official_name", "short_name", "alt_name")


@dataclass(frozen=True)
class NameRule:
    """A rule on the POI name.

    Parameters
    ----------
    any_of
        The name must contain at least one of these substrings.
    all_of
        The name must also contain every one of these substrings.
    none_of
        The name must contain none of these substrings.
    categories
        The categories the rule gives; the first one is the primary category.
    """

    any_of: tuple[str, ...]
    categories: tuple[str, ...]
    all_of: tuple[str, ...] = ()
    none_of: tuple[str, ...] = ()

    def matches(self, name: str) -> bool:
        """Whether ``name`` satisfies the rule."""
        return (
            any(s in name for s in self.any_of)
            and all(s in name for s in self.all_of)
            and not any(s in name for s in self.none_of)
        )


@dataclass(frozen=True)
class TagRule:
    """A rule on OSM tags.

    Parameters
    ----------
    tags
        ``{key: values}``; every key must be present with one of the values (``None`` means
        any value). A value that is a ``;``-separated list matches if one of its parts does.
    categories
        The categories the rule gives; the first one is the primary category.
    name_any
        If not empty, the name must also contain one of these substrings.
    """

    tags: tuple[tuple[str, frozenset[str] | None], ...]
    categories: tuple[str, ...]
    name_any: tuple[str, ...] = ()

    def matches(self, tags: Mapping[str, str], name: str) -> bool:
        """Whether the tags (and ``name``) satisfy the rule."""
        for key, values in self.tags:
            value = tags.get(key)
            if value is None or value == "" or value == "no":
                return False
            if values is not None and not any(
                part.strip() in values for part in str(value).split(";")
            ):
                return False
        return not self.name_any or any(s in name for s in self.name_any)


@dataclass(frozen=True)
class CategoryMap:
    """The validated category mapping.

    Use :func:`load_category_map` to build one. The ``classify_*`` methods return the primary
    category (or ``None``); the ``*_all`` variants return every category the POI serves, the
    primary first.
    """

    labels: Mapping[str, Mapping[str, str]]
    name_rules: tuple[NameRule, ...]
    tag_rules: tuple[TagRule, ...]
    amap_codes: Mapping[str, tuple[str, ...]]
    sources: tuple[str, ...] = field(default=())

    # -- OSM ------------------------------------------------------------------------------
    def classify_osm_tags_all(self, tags: Mapping[str, str]) -> list[str]:
        """Every category an OSM object with these tags serves, the primary one first.

        Parameters
        ----------
        tags
            The object's tags.

        Returns
        -------
        list of str
            Categories of :data:`CATEGORIES`, without duplicates; empty if none applies.
        """
        if not isinstance(tags, Mapping):
            msg = f"tags must be a mapping of OSM tags, got {type(tags).__name__}"
            raise TypeError(msg)
        name = _osm_name(tags)
        found: list[str] = []
        for name_rule in self.name_rules:
            if name and name_rule.matches(name):
                _extend(found, name_rule.categories)
        for tag_rule in self.tag_rules:
            if tag_rule.matches(tags, name):
                _extend(found, tag_rule.categories)
        return found

    def classify_osm_tags(self, tags: Mapping[str, str]) -> str | None:
        """The primary category of an OSM object, or ``None`` if it serves none.

        Parameters
        ----------
        tags
            The object's tags.

        Returns
        -------
        str or None
            One of :data:`CATEGORIES`.
        """
        found = self.classify_osm_tags_all(tags)
        return found[0] if found else None

    # -- Amap -----------------------------------------------------------------------------
    def classify_amap_all(self, typecode: str | None, name: str | None) -> list[str]:
        """Every category of an Amap (高德) POI, the primary one first.

        Parameters
        ----------
        typecode
            The 6-digit Amap type code (``"060400"``); Amap joins several codes with ``|``
            or ``;``, all are used. ``None`` or empty if unknown.
        name
            The POI name; name rules come before code rules.

        Returns
        -------
        list of str
            Categories of :data:`CATEGORIES`; empty if none applies.
        """
        found: list[str] = []
        clean_name = (name or "").strip()
        if clean_name:
            for rule in self.name_rules:
                if rule.matches(clean_name):
                    _extend(found, rule.categories)
        for code in _split_codes(typecode):
            for length in (6, 4, 2):
                cats = self.amap_codes.get(code[:length])
                if cats is not None:
                    _extend(found, cats)
                    break
        return found

    def classify_amap(self, typecode: str | None, name: str | None) -> str | None:
        """The primary category of an Amap (高德) POI, or ``None``.

        Parameters
        ----------
        typecode
            The 6-digit Amap type code, or ``None``.
        name
            The POI name, or ``None``.

        Returns
        -------
        str or None
            One of :data:`CATEGORIES`.
        """
        found = self.classify_amap_all(typecode, name)
        return found[0] if found else None

    def label(self, category: str, *, lang: Literal["zh", "en"] = "zh") -> str:
        """The display label of ``category`` in ``lang``."""
        return _label(self.labels, category, lang)


def category_label(category: str, lang: Literal["zh", "en"] = "zh") -> str:
    """The Chinese or English label of a category (from the shipped mapping).

    Parameters
    ----------
    category
        One of :data:`CATEGORIES`.
    lang
        ``"zh"`` or ``"en"``.

    Returns
    -------
    str
        For example ``category_label("shopping")`` is ``"购物"``.
    """
    return _label(load_category_map().labels, category, lang)


def load_category_map(extra: str | Path | None = None) -> CategoryMap:
    """Load the shipped category mapping, extended or overridden by a user YAML file.

    Parameters
    ----------
    extra
        A YAML file with the schema of ``coverage/data/categories.yaml``; every section is
        optional. Its ``categories`` labels replace the shipped ones key by key, its ``names``
        and ``osm_tags`` rules are tried before the shipped ones (so they win the primary
        category), and its ``amap`` codes replace shipped codes with the same prefix. With
        ``replace_rules: true`` the shipped name and tag rules are dropped instead.

    Returns
    -------
    CategoryMap
        The validated mapping.

    Raises
    ------
    DataError
        If a file is missing, is not YAML, or has a malformed key; the message names the file
        and the key.
    """
    if extra is None:
        return _load_shipped()
    base = _load_shipped()
    path = Path(extra)
    if not path.is_file():
        msg = f"{path}: category mapping file not found; pass an existing YAML file"
        raise DataError(msg)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        msg = f"{path}: not a readable UTF-8 YAML file ({exc}); fix the syntax"
        raise DataError(msg) from exc
    if raw is None:
        raw = {}
    user = _parse(raw, source=str(path), require_all_labels=False)
    labels = {cat: dict(base.labels[cat]) for cat in CATEGORIES}
    for cat, lab in user.labels.items():
        labels[cat].update(lab)
    replace = bool(raw.get("replace_rules", False))
    name_rules = user.name_rules + (() if replace else base.name_rules)
    tag_rules = user.tag_rules + (() if replace else base.tag_rules)
    amap = dict(base.amap_codes)
    amap.update(user.amap_codes)
    logger.info(
        "category map: %s extends the shipped mapping (%d name, %d tag, %d Amap rules added)",
        path,
        len(user.name_rules),
        len(user.tag_rules),
        len(user.amap_codes),
    )
    return CategoryMap(
        labels=labels,
        name_rules=name_rules,
        tag_rules=tag_rules,
        amap_codes=amap,
        sources=(*base.sources, str(path)),
    )


# -- internals -----------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _load_shipped() -> CategoryMap:
    text = resources.files("coverage").joinpath("data", _SHIPPED).read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    return _parse(raw, source=f"coverage/data/{_SHIPPED}", require_all_labels=True)


def _label(labels: Mapping[str, Mapping[str, str]], category: str, lang: str) -> str:
    if category not in labels:
        msg = f"unknown category {category!r}; expected one of {', '.join(CATEGORIES)}"
        raise ValueError(msg)
    if lang not in ("zh", "en"):
        msg = f"lang must be 'zh' or 'en', got {lang!r}"
        raise ValueError(msg)
    return labels[category][lang]


def _extend(found: list[str], cats: Sequence[str]) -> None:
    for cat in cats:
        if cat not in found:
            found.append(cat)


def _osm_name(tags: Mapping[str, str]) -> str:
    parts = [str(tags[k]) for k in _NAME_TAGS if tags.get(k)]
    return " ".join(parts)


#: An OSM key as exports write it before ``=``: ``amenity``, ``shop``, ``healthcare:speciality``.
_TAG_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_:.\-]*")
#: One pair of GDAL's ``other_tags`` column: ``"amenity"=>"restaurant"``.
_HSTORE_PAIR = re.compile(r'"((?:[^"\\]|\\.)*)"=>"((?:[^"\\]|\\.)*)"')


def tags_from_columns(
    record: Mapping[str, Any], *, name_column: str | None = None
) -> dict[str, str]:
    """The OSM tags of one row of a POI table, for :meth:`CategoryMap.classify_osm_tags_all`.

    Parameters
    ----------
    record
        Column name to value. Empty values (``None``, NaN, blank text) are left out.
    name_column
        The column holding the POI name. Its value becomes the ``name`` tag, whatever the
        column is called, so that name rules see it (``名称`` → ``name``).

    Returns
    -------
    dict
        Every column as a tag (``amenity`` = ``pharmacy``), plus the tags written inside
        values: ``key=value`` (``类型`` = ``amenity=restaurant``, a common export of OSM POIs),
        several such pairs separated by ``;`` (``amenity=cafe;cuisine=coffee_shop``), and
        GDAL's ``other_tags`` (``"amenity"=>"restaurant","shop"=>"bakery"``). A tag that is a
        column of its own keeps the column's value.

    Examples
    --------
    >>> row = {"名称": "幸福菜市场", "类型": "amenity=marketplace"}
    >>> tags = tags_from_columns(row, name_column="名称")
    >>> tags["name"], tags["amenity"]
    ('幸福菜市场', 'marketplace')
    """
    columns: dict[str, str] = {}
    for key, value in record.items():
        text = _cell_text(value)
        if text is not None:
            columns[str(key)] = text
    tags = dict(columns)
    for text in columns.values():
        for key, value in _tags_in_value(text):
            if key not in columns:
                tags[key] = value
    if name_column is not None:
        name = columns.get(name_column)
        if name is not None:
            tags["name"] = name
        else:
            tags.pop("name", None)
    return tags


def _cell_text(value: Any) -> str | None:
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):  # a list or an array: not a missing value
        pass
    text = str(value).strip()
    return text or None


def _tags_in_value(text: str) -> list[tuple[str, str]]:
    """``key=value`` pairs (``;``-separated) or ``"key"=>"value"`` pairs written in a value."""
    if '"=>"' in text:
        return [
            (k.replace('\\"', '"'), v.replace('\\"', '"')) for k, v in _HSTORE_PAIR.findall(text)
        ]
    if "=" not in text:
        return []
    pairs: list[tuple[str, str]] = []
    for part in text.split(";"):
        key, sep, value = part.partition("=")
        key = key.strip()
        if sep and _TAG_KEY.fullmatch(key) and value.strip():
            pairs.append((key, value.strip()))
        elif pairs and not sep:
            # ``cuisine=chinese;japanese``: a value that lists several, as OSM writes them
            last_key, last_value = pairs[-1]
            pairs[-1] = (last_key, f"{last_value};{part.strip()}")
        else:
            return []  # not a list of tags: text that happens to contain "="
    return pairs


def _split_codes(typecode: str | None) -> list[str]:
    if typecode is None:
        return []
    text = str(typecode).strip()
    if not text or text.lower() == "nan":
        return []
    codes = []
    for part in text.replace(";", "|").split("|"):
        code = part.strip()
        if code.endswith(".0"):  # a code read as a float from a spreadsheet
            code = code[:-2]
        if code.isdigit():
            codes.append(code.zfill(6))
    return codes


def _str_list(value: Any, *, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
        msg = f"{where}: expected a list of strings, got {value!r}"
        raise DataError(msg)
    return tuple(str(v) for v in value)


def _cat_list(value: Any, *, where: str) -> tuple[str, ...]:
    cats = _str_list(value, where=where)
    if not cats:
        msg = f"{where}: give at least one category"
        raise DataError(msg)
    unknown = [c for c in cats if c not in CATEGORIES]
    if unknown:
        msg = (
            f"{where}: unknown categor{'y' if len(unknown) == 1 else 'ies'} "
            f"{', '.join(map(repr, unknown))}; use one of {', '.join(CATEGORIES)}"
        )
        raise DataError(msg)
    return cats


def _parse(raw: Any, *, source: str, require_all_labels: bool) -> CategoryMap:
    if not isinstance(raw, dict):
        msg = (
            f"{source}: the top level must be a mapping with keys "
            "version, categories, names, osm_tags, amap"
        )
        raise DataError(msg)
    allowed = {"version", "categories", "names", "osm_tags", "amap", "replace_rules"}
    unknown_keys = sorted(set(raw) - allowed)
    if unknown_keys:
        msg = f"{source}: unknown top-level key(s) {unknown_keys}; allowed: {sorted(allowed)}"
        raise DataError(msg)
    version = raw.get("version", 1)
    if version != 1:
        msg = f"{source}: key 'version' is {version!r}; only version 1 is supported"
        raise DataError(msg)

    labels: dict[str, dict[str, str]] = {}
    cats_raw = raw.get("categories") or {}
    if not isinstance(cats_raw, dict):
        msg = f"{source}: key 'categories' must map category -> {{zh: ..., en: ...}}"
        raise DataError(msg)
    for cat, lab in cats_raw.items():
        where = f"{source}: categories.{cat}"
        if cat not in CATEGORIES:
            msg = f"{where}: unknown category; the categories are fixed: {', '.join(CATEGORIES)}"
            raise DataError(msg)
        if not isinstance(lab, dict) or not set(lab) <= {"zh", "en"}:
            msg = f"{where}: expected {{zh: <label>, en: <label>}}, got {lab!r}"
            raise DataError(msg)
        if require_all_labels and not (lab.get("zh") and lab.get("en")):
            msg = f"{where}: both 'zh' and 'en' labels are required"
            raise DataError(msg)
        labels[str(cat)] = {k: str(v) for k, v in lab.items()}
    if require_all_labels:
        missing = [c for c in CATEGORIES if c not in labels]
        if missing:
            msg = f"{source}: key 'categories' lacks labels for {', '.join(missing)}"
            raise DataError(msg)

    name_rules: list[NameRule] = []
    names_raw = raw.get("names") or []
    if not isinstance(names_raw, list):
        msg = f"{source}: key 'names' must be a list of rules"
        raise DataError(msg)
    for i, rule in enumerate(names_raw):
        where = f"{source}: names[{i}]"
        if not isinstance(rule, dict) or "any" not in rule or "categories" not in rule:
            msg = f"{where}: a name rule needs 'any' (substrings) and 'categories'"
            raise DataError(msg)
        extra_keys = sorted(set(rule) - {"any", "all", "none", "categories"})
        if extra_keys:
            msg = f"{where}: unknown key(s) {extra_keys}; allowed: any, all, none, categories"
            raise DataError(msg)
        any_of = _str_list(rule["any"], where=f"{where}.any")
        if not any_of:
            msg = f"{where}.any: give at least one substring"
            raise DataError(msg)
        name_rules.append(
            NameRule(
                any_of=any_of,
                all_of=_str_list(rule.get("all") or [], where=f"{where}.all"),
                none_of=_str_list(rule.get("none") or [], where=f"{where}.none"),
                categories=_cat_list(rule["categories"], where=f"{where}.categories"),
            )
        )

    tag_rules: list[TagRule] = []
    tags_raw = raw.get("osm_tags") or []
    if not isinstance(tags_raw, list):
        msg = f"{source}: key 'osm_tags' must be a list of rules"
        raise DataError(msg)
    for i, rule in enumerate(tags_raw):
        where = f"{source}: osm_tags[{i}]"
        if not isinstance(rule, dict) or "tags" not in rule or "categories" not in rule:
            msg = f"{where}: a tag rule needs 'tags' ({{key: [values]}}) and 'categories'"
            raise DataError(msg)
        extra_keys = sorted(set(rule) - {"tags", "name_any", "categories"})
        if extra_keys:
            msg = f"{where}: unknown key(s) {extra_keys}; allowed: tags, name_any, categories"
            raise DataError(msg)
        tag_spec = rule["tags"]
        if not isinstance(tag_spec, dict) or not tag_spec:
            msg = f"{where}.tags: expected a non-empty mapping {{key: [values] or '*'}}"
            raise DataError(msg)
        parsed: list[tuple[str, frozenset[str] | None]] = []
        for key, values in tag_spec.items():
            if values == "*":
                parsed.append((str(key), None))
            else:
                vals = _str_list(values, where=f"{where}.tags.{key}")
                parsed.append((str(key), frozenset(vals)))
        tag_rules.append(
            TagRule(
                tags=tuple(parsed),
                name_any=_str_list(rule.get("name_any") or [], where=f"{where}.name_any"),
                categories=_cat_list(rule["categories"], where=f"{where}.categories"),
            )
        )

    amap: dict[str, tuple[str, ...]] = {}
    amap_raw = raw.get("amap") or {}
    if not isinstance(amap_raw, dict):
        msg = f"{source}: key 'amap' must map a type-code prefix to a list of categories"
        raise DataError(msg)
    for code, cats in amap_raw.items():
        key = str(code)
        where = f"{source}: amap.{key}"
        if not key.isdigit() or len(key) not in (2, 4, 6):
            msg = f'{where}: a type-code prefix is 2, 4 or 6 digits, quoted ("0604")'
            raise DataError(msg)
        amap[key] = _cat_list(cats, where=where)

    return CategoryMap(
        labels=labels,
        name_rules=tuple(name_rules),
        tag_rules=tuple(tag_rules),
        amap_codes=amap,
        sources=(source,),
    )
