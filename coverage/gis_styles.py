"""Default QGIS styles for ``audit.gpkg``: the GeoPackage opens styled, with Chinese aliases.

QGIS reads a layer's default style from the ``layer_styles`` table of its GeoPackage (the table
QGIS itself creates when a style is saved "in the database"; :data:`LAYER_STYLES_DDL`), one row
per style, the default one with ``useAsDefault`` true. :func:`write_layer_styles` adds:

``communities``, ``streets``
    The default style colours each unit by its decision on the layer's first rule (pass green,
    fail red, not evaluable grey and hatched: the report's colours); one more style per other
    rule, and a graded style of each reach rule's value (the lowest share of residents
    within the budget) in five classes of 20%.
``services``
    Points coloured by category, labelled in the output language.
``service_areas``
    Graded by the minute budget (lighter for longer walks).
``origins``
    Small points, graded by the walk to the first category of the first reach rule.

Every style carries field aliases (QML ``<aliases>``) in the output language: Chinese headers
as the CSV tables have them (``W1 结论``, ``社区编号``, ...). The QML is built with
:mod:`xml.etree.ElementTree`, so labels from a pack or the data are escaped, never markup.
"""

from __future__ import annotations

import itertools
import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from coverage.rules import FAIL, NOT_EVALUABLE, PASS
from coverage.wording import category_text, check_lang, column_header, status_text

if TYPE_CHECKING:
    import pandas as pd

    from coverage.audit import AuditResult

__all__ = ["LAYER_STYLES_DDL", "LayerStyle", "layer_styles", "write_layer_styles"]

#: The ``layer_styles`` table as QGIS creates it in a GeoPackage.
LAYER_STYLES_DDL = """
CREATE TABLE IF NOT EXISTS layer_styles (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  f_table_catalog TEXT(256),
  f_table_schema TEXT(256),
  f_table_name TEXT(256),
  f_geometry_column TEXT(256),
  styleName TEXT(30),
  styleQML TEXT,
  styleSLD TEXT,
  useAsDefault BOOLEAN,
  description TEXT,
  owner TEXT(30),
  ui TEXT(30),
  update_time DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
)
"""
#: RGBA of each decision (QGIS colour strings).
STATUS_RGBA = {
    PASS: "45,164,78,160",
    FAIL: "207,34,46,160",
    NOT_EVALUABLE: "175,184,193,160",
}
#: Five classes of a share, red (few residents) to green (all).
SHARE_CLASSES = (
    (0.0, 0.2, "215,48,39,170"),
    (0.2, 0.4, "252,141,89,170"),
    (0.4, 0.6, "254,224,139,170"),
    (0.6, 0.8, "145,207,96,170"),
    (0.8, 1.0, "26,152,80,170"),
)
_MINUTE_COLORS = ("8,81,156,110", "49,130,189,90", "107,174,214,70", "189,215,231,60")
_CATEGORY_COLORS = (
    "31,119,180,255",
    "255,127,14,255",
    "44,160,44,255",
    "214,39,40,255",
    "148,103,189,255",
    "140,86,75,255",
    "227,119,194,255",
    "127,127,127,255",
    "188,189,34,255",
    "23,190,207,255",
)
_QGIS_VERSION = "3.28.0"


@dataclass(frozen=True)
class LayerStyle:
    """One row of ``layer_styles``.

    Attributes
    ----------
    layer
        The GeoPackage layer (table) it styles.
    name
        The style's name, as QGIS lists it.
    qml
        The QGIS style document.
    default
        Whether QGIS applies it when the layer is opened.
    description
        What it shows.
    """

    layer: str
    name: str
    qml: str
    default: bool
    description: str


# --------------------------------------------------------------------------------------------
# QML


def _option_map(parent: ET.Element, values: Mapping[str, str]) -> None:
    options = ET.SubElement(parent, "Option", type="Map")
    for key, value in values.items():
        ET.SubElement(options, "Option", type="QString", name=key, value=value)


def _symbol(parent: ET.Element, name: str, kind: str, rgba: str, *, hatch: bool = False) -> None:
    symbol = ET.SubElement(
        parent, "symbol", type=kind, name=name, alpha="1", clip_to_extent="1", force_rhr="0"
    )
    if kind == "fill":
        layer = ET.SubElement(symbol, "layer", {"class": "SimpleFill"}, enabled="1")
        layer.attrib["pass"] = "0"
        _option_map(
            layer,
            {
                "color": rgba,
                "style": "solid",
                "outline_color": "255,255,255,255",
                "outline_width": "0.26",
                "outline_style": "solid",
            },
        )
        if hatch:
            lines = ET.SubElement(symbol, "layer", {"class": "SimpleFill"}, enabled="1")
            lines.attrib["pass"] = "0"
            _option_map(
                lines,
                {"color": "87,96,106,200", "style": "f_diagonal", "outline_style": "no"},
            )
    elif kind == "marker":
        layer = ET.SubElement(symbol, "layer", {"class": "SimpleMarker"}, enabled="1")
        layer.attrib["pass"] = "0"
        _option_map(
            layer,
            {
                "color": rgba,
                "name": "circle",
                "size": "2",
                "outline_color": "255,255,255,255",
                "outline_width": "0.2",
            },
        )
    else:  # line
        layer = ET.SubElement(symbol, "layer", {"class": "SimpleLine"}, enabled="1")
        layer.attrib["pass"] = "0"
        _option_map(layer, {"line_color": rgba, "line_width": "0.4"})


def _qml(renderer: ET.Element, aliases: Mapping[str, str]) -> str:
    root = ET.Element("qgis", version=_QGIS_VERSION, styleCategories="Symbology|Fields")
    root.append(renderer)
    alias_el = ET.SubElement(root, "aliases")
    for index, (field, alias) in enumerate(aliases.items()):
        ET.SubElement(alias_el, "alias", field=field, index=str(index), name=alias)
    text = ET.tostring(root, encoding="unicode")
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + text


def _categorized(
    attr: str, kind: str, categories: Sequence[tuple[str, str, str, bool]]
) -> ET.Element:
    """A categorized renderer: (value, label, rgba, hatched) per category."""
    renderer = ET.Element(
        "renderer-v2",
        type="categorizedSymbol",
        attr=attr,
        symbollevels="0",
        enableorderby="0",
        forceraster="0",
    )
    cats = ET.SubElement(renderer, "categories")
    symbols = ET.SubElement(renderer, "symbols")
    for n, (value, label, rgba, hatch) in enumerate(categories):
        ET.SubElement(cats, "category", render="true", value=value, symbol=str(n), label=label)
        _symbol(symbols, str(n), kind, rgba, hatch=hatch)
    return renderer


def _graduated(attr: str, kind: str, ranges: Sequence[tuple[float, float, str, str]]) -> ET.Element:
    """A graduated renderer: (lower, upper, label, rgba) per class."""
    renderer = ET.Element(
        "renderer-v2",
        type="graduatedSymbol",
        attr=attr,
        graduatedMethod="GraduatedColor",
        symbollevels="0",
        enableorderby="0",
        forceraster="0",
    )
    ranges_el = ET.SubElement(renderer, "ranges")
    symbols = ET.SubElement(renderer, "symbols")
    for n, (lower, upper, label, rgba) in enumerate(ranges):
        ET.SubElement(
            ranges_el,
            "range",
            render="true",
            lower=f"{lower:g}",
            upper=f"{upper:g}",
            symbol=str(n),
            label=label,
        )
        _symbol(symbols, str(n), kind, rgba)
    return renderer


def _single(kind: str, rgba: str) -> ET.Element:
    renderer = ET.Element("renderer-v2", type="singleSymbol", symbollevels="0", forceraster="0")
    symbols = ET.SubElement(renderer, "symbols")
    _symbol(symbols, "0", kind, rgba)
    return renderer


# --------------------------------------------------------------------------------------------
# styles of the audit's layers


def _aliases(columns: Sequence[str], lang: str) -> dict[str, str]:
    out = {}
    for column in columns:
        header = column_header(column, lang)
        if header is None:  # the English twin of a Chinese column
            header = f"{column_header(column + '_zh', lang)}（英文）"
        out[column] = header
    return out


def _status_style(rule_id: str, counts: pd.Series, aliases: Mapping[str, str], lang: str) -> str:
    categories = [
        (
            code,
            f"{status_text(code, lang)} ({int(counts.get(code, 0))})",
            STATUS_RGBA[code],
            code == NOT_EVALUABLE,
        )
        for code in (PASS, FAIL, NOT_EVALUABLE)
    ]
    return _qml(_categorized(f"{rule_id}_status", "fill", categories), aliases)


def _share_style(rule_id: str, aliases: Mapping[str, str]) -> str:
    ranges = [(lo, hi, f"{100 * lo:.0f}–{100 * hi:.0f}%", rgba) for lo, hi, rgba in SHARE_CLASSES]
    return _qml(_graduated(f"{rule_id}_value", "fill", ranges), aliases)


def layer_styles(
    result: AuditResult, *, lang: str = "zh", area_minutes: Sequence[float] | None = None
) -> list[LayerStyle]:
    """The styles of every layer of ``audit.gpkg`` (see the module docstring).

    Parameters
    ----------
    result
        The audit.
    lang
        Language of the labels and field aliases.
    area_minutes
        The minute budgets of the ``service_areas`` layer; ``None``: those of the pack's rules.

    Returns
    -------
    list of LayerStyle
        Exactly one default style per styled layer.
    """
    check_lang(lang)
    styles: list[LayerStyle] = []
    for layer, table in (("communities", result.communities), ("streets", result.streets)):
        unit = "community" if layer == "communities" else "street"
        rules = [r for r in result.pack.rules if r.unit == unit and f"{r.id}_status" in table]
        columns = [c for c in table.columns if c != table.geometry.name]
        aliases = _aliases(columns, lang)
        for n, rule in enumerate(rules):
            counts = table[f"{rule.id}_status"].astype(object).value_counts()
            title = f"{rule.id} {rule.label(lang)}"
            styles.append(
                LayerStyle(
                    layer,
                    f"{rule.id} {'结论' if lang == 'zh' else 'decision'}",
                    _status_style(rule.id, counts, aliases, lang),
                    default=n == 0,
                    description=title,
                )
            )
            if rule.kind == "reach":
                styles.append(
                    LayerStyle(
                        layer,
                        f"{rule.id} {'可达比例' if lang == 'zh' else 'share reached'}",
                        _share_style(rule.id, aliases),
                        default=False,
                        description=title,
                    )
                )
        if not rules:
            styles.append(
                LayerStyle(
                    layer, layer, _qml(_single("fill", "200,200,200,120"), aliases), True, layer
                )
            )
    services = result.services
    cats = sorted({str(c) for c in services["category"].dropna()}) if len(services) else []
    styles.append(
        LayerStyle(
            "services",
            "类别" if lang == "zh" else "category",
            _qml(
                _categorized(
                    "category",
                    "marker",
                    [
                        (c, category_text(c, lang), _CATEGORY_COLORS[i % 10], False)
                        for i, c in enumerate(cats)
                    ],
                ),
                _aliases([c for c in services.columns if c != services.geometry.name], lang),
            ),
            default=True,
            description="services by category",
        )
    )
    if area_minutes is None:
        area_minutes = [
            m for r in result.pack.rules if (m := r.budget_minutes(result.walk_speed_kmh))
        ]
    bounds = [0.0, *sorted({float(m) for m in area_minutes})]
    ranges = [
        (lo, hi, f"≤ {hi:g} {'分钟' if lang == 'zh' else 'min'}", _MINUTE_COLORS[i % 4])
        for i, (lo, hi) in enumerate(itertools.pairwise(bounds))
    ]
    styles.append(
        LayerStyle(
            "service_areas",
            "步行时间" if lang == "zh" else "walking time",
            _qml(
                _graduated("minutes", "fill", ranges),
                {
                    "category": "类别" if lang == "zh" else "category",
                    "minutes": "分钟" if lang == "zh" else "minutes",
                },
            ),
            default=True,
            description="service areas by minutes",
        )
    )
    origins = result.origins
    styles.append(
        LayerStyle(
            "origins",
            "居民点" if lang == "zh" else "origins",
            _qml(
                _single("marker", "87,96,106,200"),
                _aliases([c for c in origins.columns if c != origins.geometry.name], lang),
            ),
            default=True,
            description="residential origins",
        )
    )
    return styles


def write_layer_styles(
    path: str | Path, styles: Sequence[LayerStyle], *, geometry_column: str = "geom"
) -> None:
    """Store ``styles`` in the ``layer_styles`` table of the GeoPackage at ``path``.

    The table is created as QGIS creates it and registered in ``gpkg_contents`` as an
    attributes table, so that the file stays a valid GeoPackage.

    Parameters
    ----------
    path
        An existing GeoPackage whose layers the styles name.
    styles
        From :func:`layer_styles`.
    geometry_column
        The layers' geometry column (``geom``, GDAL's default).
    """
    with closing(sqlite3.connect(str(path))) as con, con:
        con.execute(LAYER_STYLES_DDL)
        con.execute(
            "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, "
            "description) VALUES ('layer_styles', 'attributes', 'layer_styles', "
            "'QGIS styles of the layers')"
        )
        con.executemany(
            "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, "
            "f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, description, "
            "owner, ui) VALUES ('', '', ?, ?, ?, ?, '', ?, ?, 'service-coverage', '')",
            [
                (s.layer, geometry_column, s.name, s.qml, int(s.default), s.description)
                for s in styles
            ],
        )
