"""Interactive maps of an audit: :func:`audit_map` and :func:`save_map`.

One self-contained HTML file (folium/Leaflet) that a planner opens in a browser, also offline
on an intranet:

* **Rules, one at a time.** Every rule of the pack is a layer (a ``folium.FeatureGroup``); the
  layer control shows them as radio buttons ("显示规则"), so exactly one rule colours the map.
  Communities or streets are filled by their result: pass green (solid), fail red with
  diagonal hatching, not evaluable grey with a dot pattern and a dashed outline. The pattern,
  not only the hue, tells pass from fail, so the map reads the same to colour-blind planners
  and in greyscale print. For each reach rule there are graded views too: the share of
  residents within the walking budget (the weakest required category, and each required
  category), in five sequential classes whose top class starts at the share the rule requires.
* **Hover** a unit: its name and headline ("通过 1/2 条规则"). **Click**: every rule with
  value, requirement, result and reason, the categories below requirement and, per category,
  the walking distances of the median resident and of the 90th percentile.
* **Service points** per category of the pack, each category its own layer with its colour
  and a one-character glyph, clustered where dense. They travel as columns (ids, names,
  category indices, delta-coded coordinates; about 20-40 bytes a point) and the page builds
  markers, tooltips and popups from them, setting every text with ``textContent``.
* **Walking time** (``walk_time=True``, the default): per reach category, an image layer of
  the walking minutes to the nearest facility (:mod:`coverage.timegrid`), a heat map in
  5/10/15-minute classes; each a PNG of a few hundred KB at most, inline.
* **Isochrones and service areas** (when passed in) as layers, time bands as nested shades of
  the category colour (darkest within 5 minutes).
* The page sets ``window.sc_ready`` (and sends the document event ``sc-ready``) once every
  layer shown at opening is built.
* The walking speed and time budget, the pack, the audit date, the data sources and
  "© OpenStreetMap contributors" are on the map.
* **An offline base map** (:mod:`coverage.basemap`): streets, water, green space, railways and
  names from the case's OSM file, drawn by the page on canvas (``basemap.js``); the default
  base layer when no tile server is given. A tile server (``tiles_url``, or the case file's
  ``[map]``) in GCJ-02 shifts every layer into GCJ-02 (:mod:`coverage.map_tiles`).
* **Names, search, layout and print** (``ui.js``, ``ui.css``): community names as labels from
  zoom 15, a search box (name or id, offline) that opens a unit's popup, panels that fold
  (folded on narrow screens), popups placed clear of every control, a north arrow, and a
  print stylesheet (one A4 or A3 landscape sheet: controls hidden; title, legend, scale,
  north arrow and sources kept).

By default (``offline=True``) Leaflet and Leaflet.markercluster (vendored from npm into
``coverage/assets/`` by ``scripts/vendor_assets.py``) are inlined into the HTML and no tile
layer is added unless ``tiles_url`` (a local tile server) is given: the file makes no request
to any other host and works on an intranet without internet access. ``offline=False`` loads
them from a CDN and adds OpenStreetMap base maps.

Names execute nothing. Text from the data (names, ids, reasons, the case name, rule texts of a
pack, file names) enters the page only as JSON written by :func:`_js_json` into verbatim
script elements, never through a template engine (branca and folium compile the output of
their elements as Jinja2 templates, so this module gives them only code-made text, such as
layer names ``sc_view_0``). Inside that JSON, every text shown as HTML (tooltips, popups,
legends, the information panel, layer labels) is HTML-escaped first.
"""

from __future__ import annotations

import html
import json
import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

import numpy as np
import pandas as pd
from branca.element import Element, Figure

if TYPE_CHECKING:
    import folium
    import geopandas as gpd

    from coverage.audit import AuditResult
    from coverage.rules import Rule

__all__ = [
    "BAND_COLOR",
    "CATEGORY_STYLE",
    "STATUS_STYLE",
    "audit_map",
    "default_service_areas",
    "save_map",
]

logger = logging.getLogger(__name__)

Lang = Literal["zh", "en"]

#: Fill, outline and pattern of each result. The pattern (solid / hatched / dotted) carries
#: the distinction for colour-blind readers; the colour repeats it.
STATUS_STYLE: dict[str, dict[str, Any]] = {
    "pass": {"color": "#1a7f37", "fill": "#2ca25f", "pattern": None, "dash": None},
    "fail": {"color": "#b2182b", "fill": "url(#sc-hatch-fail)", "pattern": "hatch", "dash": None},
    "not_evaluable": {
        "color": "#636363",
        "fill": "url(#sc-dots-na)",
        "pattern": "dots",
        "dash": "4 3",
    },
}

#: Sequential 5-class palette (ColorBrewer YlGnBu, colour-blind safe), low to high share.
SHARE_PALETTE: tuple[str, ...] = ("#ffffcc", "#a1dab4", "#41b6c4", "#2c7fb8", "#253494")

#: The hue of isochrone and service-area time bands (darker = fewer minutes).
BAND_COLOR = "#6a3d9a"

#: Colour and glyph (Chinese, English) of every service category.
CATEGORY_STYLE: dict[str, tuple[str, str, str]] = {
    "shopping": ("#1f77b4", "购", "Sh"),
    "housekeeping": ("#8c564b", "家", "Hk"),
    "catering": ("#ff7f0e", "餐", "Ca"),
    "express": ("#9467bd", "递", "Ex"),
    "repair": ("#7f7f7f", "修", "Re"),
    "power": ("#bcbd22", "电", "Po"),
    "water": ("#17becf", "水", "Wa"),
    "telecom": ("#e377c2", "讯", "Te"),
    "government_service_centre": ("#d62728", "政", "Gv"),
    "community_service_centre": ("#c51b7d", "社", "Cs"),
    "exercise_point": ("#2ca02c", "练", "Ep"),
    "sports_ground": ("#006d2c", "体", "Sg"),
    "convenience_store": ("#3182bd", "便", "Cv"),
    "breakfast": ("#e6550d", "早", "Bf"),
    "pharmacy": ("#31a354", "药", "Ph"),
    "laundry": ("#6baed6", "洗", "La"),
    "hairdresser": ("#a55194", "理", "Hd"),
    "fresh_market": ("#637939", "菜", "Fm"),
    "supermarket": ("#393b79", "超", "Su"),
    "primary_school": ("#843c39", "学", "PS"),
    "kindergarten": ("#e7969c", "幼", "Kg"),
    "clinic": ("#ad494a", "医", "Cl"),
    "elderly_care": ("#8c6d31", "老", "El"),
    "park": ("#74c476", "园", "Pk"),
}

_CDN = "https://cdn.jsdelivr.net/npm"
_OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
_CARTO_TILES = "https://{s}.basemaps.cartocdn.com/light_all/{z}/{x}/{y}{r}.png?key="
_OSM_ATTRIBUTION_HTML = (
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
)

_TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "pass": "通过",
        "fail": "未通过",
        "not_evaluable": "不可评估",
        "headline": "通过 {p}/{n} 条规则",
        "headline_na": "，{k} 条不可评估",
        "community": "社区",
        "street": "街道",
        "population": "常住人口",
        "people": "{n} 人",
        "rule": "规则",
        "result": "结果",
        "standard": "标准",
        "worst_rule": "决定性规则",
        "value": "数值",
        "threshold": "要求",
        "missing": "未达标类别",
        "category": "类别",
        "within": "{m}内可达居民",
        "median": "中位居民步行距离",
        "p90": "90%居民步行距离",
        "no_facility": "数据中无此类设施",
        "report_only": "（参考）",
        "beyond": "> {d} 米",
        "metres": "{d} 米",
        "count": "{n} 个",
        "windows": "{n} 个窗口",
        "per_capita": "人均 {v} m²（{a} m²）",
        "share_of": "{s}（{k}/{n} 个社区）",
        "rollup": "{rule}：{n} 个社区中 {k} 个通过，通过社区居民占 {s}",
        "rollup_title": "社区规则汇总",
        "reach_threshold": "≥{s} 居民步行 {budget} 内可达",
        "budget_min": "{m:g}分钟（约{d}米）",
        "budget_m": "{d}米",
        "count_threshold": "{r} 个{cat}",
        "windows_threshold": "每个中心 {r} 个窗口",
        "area_threshold": "人均{cat}面积{sign} {v:g} m²",
        "sign_gt": "大于",
        "sign_ge": "不低于",
        "share_threshold": "≥{s} 的社区{how}有{cat}",
        "share_how_inside": "内",
        "share_how_within": "内或步行{m:g}分钟内",
        "base_osm": "OpenStreetMap 标准地图",
        "base_light": "浅色底图（OpenStreetMap 灰度）",
        "base_carto": "浅色底图（CARTO Positron）",
        "base_local": "本地底图",
        "base_none": "无底图",
        "base_offline": "离线底图（OpenStreetMap 数据）",
        "unit_names": "社区和街道名称",
        "ui_layers": "图层",
        "ui_base": "底图",
        "ui_legend": "图例",
        "ui_info": "说明",
        "search_placeholder": "搜索社区或街道（名称或编号）",
        "search_none": "无匹配结果",
        "north": "指北针：图上方为正北",
        "ctl_base": "底图",
        "ctl_views": "显示规则（单选）",
        "ctl_overlays": "叠加图层",
        "view_status": "{rule}：结果",
        "view_share_min": "{id} 覆盖居民比例（最弱类别）",
        "view_share_cat": "{id} 覆盖居民比例：{cat}",
        "streets_outline": "街道边界",
        "services": "服务设施：{cat}（{n}）",
        "isochrones": "等时圈：{cat}",
        "service_area": "服务范围：{cat}",
        "speed": "步行速度 {v:g} km/h，{m:g}分钟 ≈ {d}米",
        "audit_date": "审计日期 {d}",
        "sources": "数据来源",
        "osm_network": "步行路网 © OpenStreetMap contributors",
        "legend_status": "结果（{unit}）",
        "legend_share": "步行{budget}内可达居民比例",
        "legend_share_na": "不可评估（无居民或无此类设施）",
        "legend_bands": "步行时间",
        "legend_minutes": "≤ {m:g} 分钟",
        "pattern_note": "纹理区分结果：实心 = 通过，斜线 = 未通过，圆点 = 不可评估",
        "basis": "依据",
        "unnamed": "（未命名）",
        "categories": "服务类别",
        "off_network": "距步行路网 {d} 米，未接入路网，不计入步行可达",
        "snap": "距步行路网 {d} 米",
        "id": "编号",
        "tip_share": "覆盖 {s}",
        "tip_na": "不可评估",
        "band": "{a:g}–{b:g} 分钟",
        "band_first": "≤ {b:g} 分钟",
        "units_count": "{n} 个{unit}",
        "walk_time": "步行时间：{cat}",
        "legend_time": "步行至最近设施的时间",
        "time_unreached": "> {m:g} 分钟或不可达",
        "time_note": (
            "每格 {c:g} 米见方；距步行道路 {b:g} 米以外不着色；"
            "时间 = 直线走到最近的步行道路 + 沿路网到最近设施"
        ),
    },
    "en": {
        "pass": "pass",
        "fail": "fail",
        "not_evaluable": "not evaluable",
        "headline": "passes {p} of {n} rules",
        "headline_na": "; {k} not evaluable",
        "community": "community",
        "street": "street",
        "population": "Residents",
        "people": "{n}",
        "rule": "Rule",
        "result": "Result",
        "standard": "Standard",
        "worst_rule": "Deciding rule",
        "value": "Value",
        "threshold": "Required",
        "missing": "Categories below requirement",
        "category": "Category",
        "within": "Residents within {m}",
        "median": "Median resident walks",
        "p90": "90% of residents within",
        "no_facility": "no such facility in the data",
        "report_only": " (reported only)",
        "beyond": "> {d} m",
        "metres": "{d} m",
        "count": "{n}",
        "windows": "{n} windows",
        "per_capita": "{v} m² per resident ({a} m²)",
        "share_of": "{s} ({k} of {n} communities)",
        "rollup": "{rule}: {k} of {n} communities pass; residents in passing communities {s}",
        "rollup_title": "Community rules in this street",
        "reach_threshold": "≥ {s} of residents within {budget}",
        "budget_min": "{m:g} min (≈ {d} m)",
        "budget_m": "{d} m",
        "count_threshold": "{r} {cat}",
        "windows_threshold": "{r} windows per centre",
        "area_threshold": "{cat} area per resident {sign} {v:g} m²",
        "sign_gt": ">",
        "sign_ge": "≥",
        "share_threshold": "≥ {s} of communities have a {cat} {how}",
        "share_how_inside": "inside",
        "share_how_within": "inside or within {m:g} min",
        "base_osm": "OpenStreetMap",
        "base_light": "Light (OpenStreetMap in grey)",
        "base_carto": "Light (CARTO Positron)",
        "base_local": "Local tiles",
        "base_none": "No base map",
        "base_offline": "Offline base map (OpenStreetMap data)",
        "unit_names": "Community and street names",
        "ui_layers": "Layers",
        "ui_base": "Base map",
        "ui_legend": "Legend",
        "ui_info": "About",
        "search_placeholder": "Find a community or street (name or id)",
        "search_none": "No match",
        "north": "North arrow: north is up",
        "ctl_base": "Base map",
        "ctl_views": "Rule shown (pick one)",
        "ctl_overlays": "Overlays",
        "view_status": "{rule}: result",
        "view_share_min": "{id} residents covered (weakest category)",
        "view_share_cat": "{id} residents covered: {cat}",
        "streets_outline": "Street boundaries",
        "services": "Services: {cat} ({n})",
        "isochrones": "Isochrones: {cat}",
        "service_area": "Service area: {cat}",
        "speed": "Walking speed {v:g} km/h: {m:g} min ≈ {d} m",
        "audit_date": "Audited {d}",
        "sources": "Data sources",
        "osm_network": "Walking network © OpenStreetMap contributors",
        "legend_status": "Result ({unit})",
        "legend_share": "Residents within {budget}",
        "legend_share_na": "not evaluable (no residents or no such facility)",
        "legend_bands": "Walking time",
        "legend_minutes": "≤ {m:g} min",
        "pattern_note": (
            "Patterns tell results apart: solid = pass, hatched = fail, dots = not evaluable"
        ),
        "basis": "Source",
        "unnamed": "(unnamed)",
        "categories": "Categories",
        "off_network": "{d} m from the walking network: not on it, not counted as reachable",
        "snap": "{d} m from the walking network",
        "id": "Id",
        "tip_share": "covered {s}",
        "tip_na": "not evaluable",
        "band": "{a:g}–{b:g} min",
        "band_first": "≤ {b:g} min",
        "units_count": "{n} {unit}s",
        "walk_time": "Walking time: {cat}",
        "legend_time": "Walking time to the nearest facility",
        "time_unreached": "> {m:g} min or not reached",
        "time_note": (
            "Cells {c:g} m square; nothing drawn farther than {b:g} m from a walkable street;"
            " time = straight to the nearest street, then along the network"
        ),
    },
}

_STATUS_CODE = {"pass": "p", "fail": "f", "not_evaluable": "n"}

#: The print stylesheet's sheets (landscape).
_PAPER = {"A4": "297mm 210mm", "A3": "420mm 297mm"}

#: The classes of the walking-time layers, minutes (the "15-minute life circle" bands).
_TIME_BANDS: tuple[float, ...] = (5.0, 10.0, 15.0)


# ---- public API -------------------------------------------------------------------------------


def audit_map(
    result: AuditResult,
    *,
    rule: str | None = None,
    lang: Lang = "zh",
    offline: bool = True,
    tiles_url: str | None = None,
    isochrones: gpd.GeoDataFrame | None = None,
    service_areas: Mapping[str, gpd.GeoDataFrame] | None = None,
    simplify_m: float = 5.0,
    coordinate_decimals: int = 6,
    carto_api_key: str | None = None,
    walk_time: bool = True,
    basemap: bool = True,
    tiles_attribution: str | None = None,
    tiles_crs: str | None = None,
    tiles_subdomains: str | None = None,
    paper: str = "A4",
) -> folium.Map:
    """An interactive map of an audit.

    Parameters
    ----------
    result
        What :func:`coverage.audit.audit_case` returned.
    rule
        Id of the rule shown when the map opens (default the pack's first rule); the others
        are one click away in the layer control.
    lang
        ``"zh"`` (default) or ``"en"``: every label, legend, tooltip and popup.
    offline
        ``True`` (default): inline Leaflet and its plugin into the HTML and add no internet
        tile layer, so the file makes no request to any other host (it works on an intranet
        without internet access). ``False``: load them from a CDN and add OpenStreetMap base
        maps (a smaller file that needs internet access).
    tiles_url
        A tile URL template (``http://tiles.local/{z}/{x}/{y}.png``) of a tile server (an
        intranet's 天地图 or a bureau's own), added as a base map (the default one when
        given). Default: the case file's ``[map] tiles``, kept in ``result.provenance["map"]``.
        The URL is data: it reaches the page only as a JSON string.
    isochrones
        Facility isochrones (``service_id``, ``category``, ``minutes``, geometry), as
        :func:`coverage.isochrones.facility_isochrones` returns; one layer per category.
    service_areas
        Category -> service area polygons (``minutes``, geometry), as
        :func:`default_service_areas` returns; one layer per category.
    simplify_m
        Tolerance (metres) of the topology-preserving simplification applied for display
        (0 keeps every vertex).
    coordinate_decimals
        Decimals kept in the coordinates (6 ≈ 0.1 m, 5 ≈ 1 m).
    carto_api_key
        A CARTO basemaps key: adds the CARTO Positron base map (CARTO requires a key since
        August 2026). Without it the light base map is OpenStreetMap in grey tones.
    walk_time
        ``True`` (default): one image layer per reach category of the pack, the walking
        minutes to its nearest facility as a heat map (5/10/15-minute classes; see
        :mod:`coverage.timegrid` for what a pixel means), inlined as a PNG of a few hundred KB
        at most. This is how the map shows service areas; the dissolved polygons
        (``service_areas``) are for GIS export and drawn only when passed.
    basemap
        ``True`` (default): the offline base map, read from the case's OSM file
        (``result.provenance["osm_file"]``) by :func:`coverage.basemap.read_osm_basemap`:
        streets (the walking network, and roads a pedestrian cannot use, fainter), water,
        green space, railways and names, drawn by the page itself on canvas. The default
        base map when no tile server is given. About 0.3 MB for the demo; at most
        :data:`coverage.basemap.BASEMAP_BUDGET_BYTES`.
    tiles_attribution
        The tile server's attribution (plain text, shown escaped). Default: the case file's
        ``[map] attribution``, else a credit for the known GCJ-02 providers, else "Local tiles".
    tiles_crs
        ``"wgs84"`` or ``"gcj02"``: the coordinates the tiles are drawn in. Default: the case
        file's ``[map] crs``, else ``"gcj02"`` for the hosts of Amap/AutoNavi, Tencent and
        Google China (:func:`coverage.map_tiles.tile_crs`), else ``"wgs84"``. With
        ``"gcj02"`` every layer of the map (units, services, walking time, isochrones, the
        offline base map) is shifted from WGS-84 into GCJ-02
        (:func:`coverage.crs.wgs84_to_gcj02`) so that it lies on the tiles' streets; the data
        and every other output stay in WGS-84.
    tiles_subdomains
        The letters or digits that replace ``{s}`` in ``tiles_url`` (default: Leaflet's
        ``abc``; ``1234`` for Amap's hosts).
    paper
        ``"A4"`` (default) or ``"A3"``: the landscape sheet the print stylesheet lays the map
        out on (the browser's print dialog may still choose another).

    Returns
    -------
    folium.Map
        Save it with :func:`save_map` (or ``Map.save``).
    """
    import folium

    from coverage.crs import local_metric_crs

    if lang not in _TEXT:
        msg = f"lang must be 'zh' or 'en', got {lang!r}"
        raise ValueError(msg)
    if not 0 <= coordinate_decimals <= 9:
        msg = f"coordinate_decimals must be 0-9, got {coordinate_decimals}"
        raise ValueError(msg)
    if simplify_m < 0:
        msg = f"simplify_m must be 0 or more, got {simplify_m}"
        raise ValueError(msg)
    pack = result.pack
    rule_ids = [r.id for r in pack.rules]
    if rule is not None and rule not in rule_ids:
        msg = f"rule {rule!r} is not in pack {pack.id!r}; its rules: {', '.join(rule_ids)}"
        raise ValueError(msg)
    if paper not in _PAPER:
        msg = f"paper must be one of {', '.join(_PAPER)}, got {paper!r}"
        raise ValueError(msg)
    from coverage.map_tiles import shift_bounds, shift_frame, shift_result, tile_source

    tile = tile_source(
        result,
        url=tiles_url,
        attribution=tiles_attribution,
        crs=tiles_crs,
        subdomains=tiles_subdomains,
    )
    tiles_url = tile["url"]
    shift = tile["crs"] == "gcj02"
    original = result
    if shift:
        result = shift_result(result)
        isochrones = None if isochrones is None else shift_frame(isochrones)
        service_areas = (
            None if service_areas is None else {k: shift_frame(v) for k, v in service_areas.items()}
        )
    t = _TEXT[lang]
    ctx = _Context(result, lang)
    communities = result.communities.to_crs(4326)
    streets = result.streets.to_crs(4326)
    metric = result.network.metric_crs if result.network is not None else local_metric_crs(streets)
    geo = _GeometryWriter(metric=metric, simplify_m=simplify_m, decimals=coordinate_decimals)

    bounds = _bounds(communities, streets)
    title = f"{result.case_name} — {pack.label(lang)}"
    fig = _figure(title)
    fmap = folium.Map(
        location=[(bounds[1] + bounds[3]) / 2, (bounds[0] + bounds[2]) / 2],
        zoom_start=13,
        max_zoom=19,
        tiles=None,
        control_scale=False,
        prefer_canvas=False,
    )
    fig.add_child(fmap)
    fmap.options["maxZoom"] = 19  # the marker clusters need it when no tile layer gives one
    fmap.options["zoomSnap"] = 0.25  # fit the case's extent snugly
    # no zooming out to the whole world: the marker clusters are computed for every zoom
    # level from the smallest, so this halves the work of 100,000 service points
    fmap.options["minZoom"] = _min_zoom(bounds)
    _set_assets(fmap, offline=offline)
    fmap.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])

    # ---- data shared by every view: geometry once per unit, popups once per unit -------------
    data = {
        "community": _unit_features(ctx, communities, "community", geo),
        "street": _unit_features(ctx, streets, "street", geo),
    }
    names = _unit_names(data, {"community": communities, "street": streets}, metric)
    views = _views(ctx, communities, streets)
    default_rule = rule or rule_ids[0]
    default_view = next(i for i, v in enumerate(views) if v["rule"] == default_rule)
    config = {
        "lang": lang,
        "text": {k: t[k] for k in ("pass", "fail", "not_evaluable", "tip_share", "tip_na")},
        "status": {
            code: {
                "color": STATUS_STYLE[s]["color"],
                "fill": STATUS_STYLE[s]["fill"],
                "dash": STATUS_STYLE[s]["dash"],
            }
            for s, code in _STATUS_CODE.items()
        },
        "palette": list(SHARE_PALETTE),
        "scale": 10**coordinate_decimals,
        "band_color": BAND_COLOR,
        "categories": {
            cat: {
                "color": _cat_style(cat)[0],
                "glyph": html.escape(_cat_style(cat)[1 if lang == "zh" else 2]),
                "label": _cat_label(cat, lang),
            }
            for cat in sorted(
                set(result.pack.categories) | set(service_areas or {}) | _iso_cats(isochrones)
            )
        },
        "views": [{k: v for k, v in view.items() if k != "fg"} for view in views],
        "poi_text": {
            **{k: t[k] for k in ("categories", "id", "unnamed", "off_network", "snap")},
            "sep": ctx.sep,
            "list_sep": ctx.list_sep,
        },
    }
    fmap.add_child(
        _Script(
            f"var sc_data = {_js_json(data)};\nvar sc_config = {_js_json(config)};\n"
            f"var sc_names = {_js_text_json(names)};\n"
            f"{_asset('service-coverage', 'maps.js')}\n"
            f"{_asset('service-coverage', 'basemap.js')}\n"
            f"{_asset('service-coverage', 'ui.js')}\n"
            f"sc_setup({fmap.get_name()});"
        )
    )

    # ---- base maps: the first one is shown ----------------------------------------------------
    # Tile layers are made by our own script, not folium.TileLayer: folium's template output is
    # compiled again as a template, and a user's URL or attribution must never be.
    tiles: list[tuple[str, str, dict[str, Any]]] = []  # label, URL template, Leaflet options
    if tiles_url:
        credit = tile["attribution"] or t["base_local"]
        attr = f"{html.escape(credit)} · © OpenStreetMap contributors"
        local_options: dict[str, Any] = {"attribution": attr, "maxZoom": 19}
        if tile["subdomains"]:
            local_options["subdomains"] = tile["subdomains"]
        tiles.append((t["base_local"], tiles_url, local_options))
    if not offline and not shift:  # WGS-84 web tiles would not line up with GCJ-02 data
        # tile.openstreetmap.org refuses requests without a Referer (2026 policy): send the
        # origin when the map is served over http(s); a file:// page has none to send.
        osm_options = {
            "attribution": _OSM_ATTRIBUTION_HTML,
            "maxZoom": 19,
            "maxNativeZoom": 19,
            "referrerPolicy": "strict-origin-when-cross-origin",
        }
        tiles.append((t["base_light"], _OSM_TILES, {**osm_options, "className": "sc-tiles-light"}))
        if carto_api_key:
            carto = {
                "attribution": _OSM_ATTRIBUTION_HTML
                + ' &copy; <a href="https://carto.com/attributions">CARTO</a>',
                "subdomains": "abcd",
                "maxZoom": 20,
                "maxNativeZoom": 20,
                "referrerPolicy": "strict-origin-when-cross-origin",
            }
            url = _CARTO_TILES + quote(carto_api_key, safe="")
            tiles.append((t["base_carto"], url, carto))
        tiles.append((t["base_osm"], _OSM_TILES, osm_options))
    bases: list[tuple[str, str]] = []  # label, JavaScript variable
    code = []
    for i, (label, url, options) in enumerate(tiles):
        var = f"{fmap.get_name()}_base_{i}"
        code.append(f"var {var} = L.tileLayer({_js_json(url)}, {_js_json(options)});")
        bases.append((label, var))
    if tiles:
        code.append(f"{bases[0][1]}.addTo({fmap.get_name()});")
        fmap.add_child(_Script("\n".join(code)))
    offline_base = _basemap_data(original, shift=shift) if basemap else None
    base_group = None
    if offline_base is not None:
        fmap.add_child(_Script(f"var sc_basemap = {_js_text_json(offline_base)};"))
        base_group = folium.FeatureGroup(name="sc_basemap", control=False, show=not tiles)
        fmap.add_child(base_group)
        bases.append((t["base_offline"], base_group.get_name()))
    none = folium.FeatureGroup(
        name="sc_base_none", control=False, show=not tiles and offline_base is None
    )
    fmap.add_child(none)
    bases.append((t["base_none"], none.get_name()))
    names_group = folium.FeatureGroup(name="sc_names", control=False, show=True)
    fmap.add_child(names_group)
    fmap.add_child(
        _Script(
            f"sc_basemap_layers({fmap.get_name()}, "
            f"{base_group.get_name() if base_group is not None else 'null'}, "
            f"{names_group.get_name()});"
        )
    )

    # ---- one layer per rule view (radio) ------------------------------------------------------
    # folium objects get code-made names only; the labels people read go through sc_controls
    for i, view in enumerate(views):
        fg = folium.FeatureGroup(name=f"sc_view_{i}", control=False, show=i == default_view)
        fg.add_child(_Script(f"sc_view_layer({fg.get_name()}, {i});"))
        fmap.add_child(fg)
        view["fg"] = fg

    # ---- overlays -----------------------------------------------------------------------------
    overlays: list[tuple[str, str]] = []  # label (HTML), JavaScript variable
    outline = folium.FeatureGroup(name="sc_streets_outline", control=False, show=True)
    outline.add_child(_Script(f"sc_outline_layer({outline.get_name()});"))
    fmap.add_child(outline)
    overlays.append((html.escape(t["streets_outline"]), outline.get_name()))
    overlays.append((html.escape(t["unit_names"]), names_group.get_name()))

    shown_cats = set(pack.rule(default_rule).all_categories)
    poi, poi_counts = _poi_columns(ctx)
    # names are text here, shown with textContent; < and > escaped too, so that no markup
    # from the data appears in the file at all
    poi_json = _js_json(poi).replace("<", "\\u003c").replace(">", "\\u003e")
    fmap.add_child(_Script(f"var sc_poi = {poi_json};"))
    for i, (cat, n) in enumerate(poi_counts.items()):
        label = t["services"].format(cat=_cat_label(cat, lang), n=n)
        fg = folium.FeatureGroup(name=f"sc_services_{i}", control=False, show=cat in shown_cats)
        fg.add_child(_Script(f"sc_service_layer({fg.get_name()}, {_js_json(cat)});"))
        fmap.add_child(fg)
        overlays.append((_swatch(cat, lang) + html.escape(label), fg.get_name()))

    time_legend = ""
    if walk_time and result.network is not None:
        from coverage.timegrid import walk_time_grids

        grids = walk_time_grids(original, minutes=_TIME_BANDS)
        images = [
            {
                "url": _png_data_uri(grid),
                "b": [round(v, 7) for v in (shift_bounds(grid.bounds) if shift else grid.bounds)],
            }
            for grid in grids.values()
        ]
        fmap.add_child(_Script(f"var sc_time = {_js_json(images)};"))
        for i, cat in enumerate(grids):
            label = t["walk_time"].format(cat=_cat_label(cat, lang))
            fg = folium.FeatureGroup(name=f"sc_walk_time_{i}", control=False, show=False)
            fg.add_child(_Script(f"sc_time_layer({fg.get_name()}, {i});"))
            fmap.add_child(fg)
            overlays.append((html.escape(label), fg.get_name()))
        if grids:
            time_legend = _time_legend_html(ctx, next(iter(grids.values())))

    bands_used: set[float] = set()
    if isochrones is not None and len(isochrones):
        for i, (cat, features, minutes) in enumerate(_isochrone_features(ctx, isochrones, geo)):
            label = t["isochrones"].format(cat=_cat_label(cat, lang))
            fg = folium.FeatureGroup(name=f"sc_isochrones_{i}", control=False, show=False)
            fg.add_child(
                _Script(
                    f"sc_band_layer({fg.get_name()}, {_js_json(cat)}, {_js_json(features)}, "
                    f"{_js_json(minutes)}, false);"
                )
            )
            fmap.add_child(fg)
            overlays.append((html.escape(label), fg.get_name()))
            bands_used.update(minutes)
    for i, (cat, gdf) in enumerate((service_areas or {}).items()):
        features, minutes = _area_features(ctx, gdf, geo)
        if not features:
            continue
        label = t["service_area"].format(cat=_cat_label(cat, lang))
        fg = folium.FeatureGroup(name=f"sc_service_area_{i}", control=False, show=False)
        fg.add_child(
            _Script(
                f"sc_band_layer({fg.get_name()}, {_js_json(cat)}, {_js_json(features)}, "
                f"{_js_json(minutes)}, true);"
            )
        )
        fmap.add_child(fg)
        overlays.append((html.escape(label), fg.get_name()))
        bands_used.update(minutes)

    # ---- controls, legend, information panel -------------------------------------------------
    panels = {
        "info": _info_html(ctx),
        "legends": [_legend_html(ctx, view) for view in views],
        "bands": _bands_legend_html(ctx, sorted(bands_used)) if bands_used else "",
        "time": time_legend,
        "heads": {k: html.escape(t[k]) for k in ("ctl_base", "ctl_views", "ctl_overlays")},
        "osm": html.escape(t["osm_network"]),
        "offline": offline,
        # set as text by ui.js (textContent), never as HTML
        "ui": {
            k.removeprefix("ui_"): t[k]
            for k in (
                "ui_layers",
                "ui_base",
                "ui_legend",
                "ui_info",
                "search_placeholder",
                "search_none",
                "community",
                "street",
                "north",
            )
        },
    }
    fmap.add_child(
        _Script(
            "sc_controls({map}, {bases}, {views}, {overlays}, {panels}, {default});".format(
                map=fmap.get_name(),
                bases=_js_layers((html.escape(name), var) for name, var in bases),
                views=_js_layers((html.escape(v["label"]), v["fg"].get_name()) for v in views),
                overlays=_js_layers(overlays),
                panels=_js_json(panels),
                default=default_view,
            )
        )
    )
    fig.header.add_child(
        _Raw(f"<style>{_asset('service-coverage', 'maps.css')}</style>"), name="sc_css"
    )
    fig.header.add_child(
        _Raw(
            f"<style>{_asset('service-coverage', 'ui.css')}\n"
            f"@page {{ size: {_PAPER[paper]}; margin: 8mm; }}</style>"
        ),
        name="sc_ui_css",
    )
    fig.html.add_child(_Raw(_SVG_DEFS), name="sc_svg_defs")
    return fmap


def save_map(
    map_or_result: folium.Map | AuditResult,
    path: str | Path,
    **options: Any,
) -> Path:
    """Write a map (or the map of an audit, built with ``options``) to one HTML file.

    Parameters
    ----------
    map_or_result
        A map from :func:`audit_map`, or an :class:`~coverage.audit.AuditResult`.
    path
        The HTML file to write (UTF-8).
    **options
        The options of :func:`audit_map`, when ``map_or_result`` is an audit result.

    Returns
    -------
    Path
        The file written.
    """
    import folium

    if isinstance(map_or_result, folium.Map):
        if options:
            msg = (
                f"save_map: options {sorted(options)} apply only when passing an AuditResult; "
                "pass them to audit_map instead"
            )
            raise TypeError(msg)
        fmap = map_or_result
        lang = "zh"
    else:
        fmap = audit_map(map_or_result, **options)
        lang = options.get("lang", "zh")
    text = fmap.get_root().render()
    text = text.replace("<html>", f'<html lang="{"zh-CN" if lang == "zh" else "en"}">', 1)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    logger.info("map written to %s (%.1f MB)", out, out.stat().st_size / 1e6)
    return out


def default_service_areas(
    result: AuditResult,
    categories: Sequence[str] | None = None,
    minutes: Sequence[float] = (5, 10, 15),
) -> dict[str, gpd.GeoDataFrame]:
    """Walking service areas of every reach category of the pack, for :func:`audit_map`.

    Parameters
    ----------
    result
        An audit result with its walking network.
    categories
        Categories to compute (default: every category of the pack's reach rules that has a
        facility on the network).
    minutes
        The time bands.

    Returns
    -------
    dict
        Category -> GeoDataFrame (``minutes``, geometry) from
        :func:`coverage.isochrones.service_area`, exact (see
        :func:`coverage.isochrones.audit_service_areas`, which this calls with ``cell_m=None``).
    """
    from coverage.isochrones import audit_service_areas

    # exact polygons (GEOS buffers): the map is small enough for them, unlike the GeoPackage of
    # a city, which write_outputs fills from rasters
    return audit_service_areas(result, categories=categories, minutes=minutes, cell_m=None)


# ---- the context: labels and numbers of one audit ---------------------------------------------


class _Context:
    """The audit and the language, with the formatting every part of the map shares."""

    def __init__(self, result: AuditResult, lang: Lang) -> None:
        from coverage.audit import service_categories
        from coverage.rules import distance_categories

        self.result = result
        self.lang: Lang = lang
        self.t = _TEXT[lang]
        self.sep = "：" if lang == "zh" else ": "
        self.list_sep = "、" if lang == "zh" else ", "
        self.speed = float(result.walk_speed_kmh)
        self.share = float(
            result.provenance.get("min_population_share", result.pack.min_population_share)
        )
        factor = float(result.provenance.get("search_limit_factor", 2.0))
        self.limit_m = {
            c: factor * b for c, b in distance_categories(result.pack, self.speed).items()
        }
        cats = service_categories(result.services)
        self.present = set(cats["category"])
        self.service_cats = cats
        # several packs at once (--pack all): every popup shows its unit's row of the
        # units x standards matrix (coverage.standards), as the report shows the whole matrix
        self.standards: dict[str, pd.DataFrame] = {}
        if result.pack.parts:
            from coverage.standards import standards_matrix

            self.standards = {u: standards_matrix(result, unit=u) for u in ("community", "street")}

    def pct(self, value: Any) -> str:
        v = _num(value)
        return "—" if v is None else f"{100 * v:.1f}%"

    def metres(self, value: Any, category: str) -> str:
        v = _num(value, keep_inf=True)
        if v is None:
            return "—"
        if math.isinf(v):
            return self.t["beyond"].format(d=f"{self.limit_m.get(category, 0):,.0f}")
        return self.t["metres"].format(d=f"{v:,.0f}")

    def budget(self, rule: Rule) -> str:
        if rule.max_minutes is not None:
            d = rule.budget_m(self.speed) or 0.0
            return self.t["budget_min"].format(m=rule.max_minutes, d=f"{d:,.0f}")
        return self.t["budget_m"].format(d=f"{rule.max_distance_m or 0:,.0f}")

    def threshold(self, rule: Rule) -> str:
        t = self.t
        cat = _cat_label(rule.category, self.lang) if rule.category else ""
        if rule.kind not in _MAP_KINDS:  # the standards packs' kinds: coverage.standards words
            from coverage.standards import threshold_text

            return threshold_text(rule, self.result.pack, lang=self.lang)
        if rule.kind == "reach":
            return t["reach_threshold"].format(s=_pct_short(self.share), budget=self.budget(rule))
        if rule.kind in ("count", "windows"):
            lo, hi = rule.min_count, rule.max_count
            if lo is not None and hi is not None:
                r = f"{lo}–{hi}"
            elif lo is not None:
                r = f"≥ {lo}"
            else:
                r = f"≤ {hi}"
            key = "count_threshold" if rule.kind == "count" else "windows_threshold"
            return t[key].format(r=r, cat=cat)
        if rule.kind == "area_per_capita":
            sign = t["sign_ge"] if rule.inclusive else t["sign_gt"]
            return t["area_threshold"].format(cat=cat, sign=sign, v=rule.min_value or 0)
        how = (
            t["share_how_inside"]
            if rule.within_minutes is None
            else t["share_how_within"].format(m=rule.within_minutes)
        )
        return t["share_threshold"].format(s=_pct_short(rule.min_share), how=how, cat=cat)

    def value(self, rule: Rule, row: Mapping[str, Any]) -> str:
        t = self.t
        v = _num(row.get(f"{rule.id}_value"))
        if rule.kind not in _MAP_KINDS:
            return "—" if v is None else f"{v:,.2f}"
        if rule.kind == "reach":
            return self.pct(v)
        if v is None:
            return "—"
        if rule.kind == "count":
            return t["count"].format(n=f"{v:,.0f}")
        if rule.kind == "windows":
            return t["windows"].format(n=f"{v:g}")
        if rule.kind == "area_per_capita":
            area = _num(row.get(f"{rule.id}_area_m2")) or 0.0
            return t["per_capita"].format(v=f"{v:,.2f}", a=f"{area:,.0f}")
        k = _num(row.get(f"{rule.id}_communities_with"))
        n = _num(row.get(f"{rule.id}_communities"))
        if k is None or n is None:
            return self.pct(v)
        return t["share_of"].format(s=self.pct(v), k=f"{k:.0f}", n=f"{n:.0f}")

    def reason(self, rule: Rule, row: Mapping[str, Any]) -> str:
        key = f"{rule.id}_reason_zh" if self.lang == "zh" else f"{rule.id}_reason"
        value = row.get(key)
        return "" if value is None or (isinstance(value, float) and math.isnan(value)) else value


#: The rule kinds the map words itself; the others (coverage.rules_measures) are worded by
#: coverage.standards.threshold_text and shown with their plain value.
_MAP_KINDS = frozenset({"reach", "count", "windows", "area_per_capita", "community_share"})


def _pct_short(value: float | None) -> str:
    """A requirement's share: 90%, 87.5%."""
    return "—" if value is None else f"{100 * value:.4g}%"


def _num(value: Any, *, keep_inf: bool = False) -> float | None:
    """A finite float (or inf with ``keep_inf``), else None."""
    if value is None or isinstance(value, (str, bytes)):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    if math.isnan(v) or (math.isinf(v) and not keep_inf):
        return None
    return v


def _text(value: Any) -> str:
    """Data as text (missing -> empty)."""
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    return str(value)


def _esc(value: Any) -> str:
    return html.escape(_text(value), quote=True)


@lru_cache(maxsize=64)
def _cat_label(category: str, lang: str) -> str:
    from coverage.categories import category_label

    try:
        return category_label(category, "zh" if lang == "zh" else "en")
    except ValueError:
        return category


def _cat_style(category: str) -> tuple[str, str, str]:
    return CATEGORY_STYLE.get(category, ("#555555", category[:1].upper(), category[:2]))


def _iso_cats(isochrones: gpd.GeoDataFrame | None) -> set[str]:
    if isochrones is None or "category" not in isochrones:
        return set()
    return {str(c) for c in isochrones["category"].unique()}


def _swatch(category: str, lang: str) -> str:
    color, zh, en = _cat_style(category)
    glyph = zh if lang == "zh" else en
    return f'<span class="sc-poi-sw" style="background:{color}">{html.escape(glyph)}</span> '


# ---- geometry for display ---------------------------------------------------------------------


class _GeometryWriter:
    """Simplify in the metric CRS (shared edges kept shared) and round coordinates."""

    def __init__(self, *, metric: Any, simplify_m: float, decimals: int) -> None:
        self.metric = metric
        self.simplify_m = simplify_m
        self.decimals = decimals

    def polygons(self, geoms: gpd.GeoSeries, *, coverage: bool = True) -> list[Any]:
        """GeoJSON geometry dicts (None for empty), simplified as a coverage when possible."""
        import shapely

        series = geoms.to_crs(self.metric)
        arr = np.asarray(series.values, dtype=object)
        if self.simplify_m > 0 and len(arr):
            valid = np.array([g is not None and not g.is_empty for g in arr])
            done = False
            if coverage and valid.all() and hasattr(shapely, "coverage_simplify"):
                try:
                    if bool(shapely.coverage_is_valid(arr)):
                        arr = shapely.coverage_simplify(arr, self.simplify_m)
                        done = True
                except Exception:  # GEOS coverage operations are best effort
                    logger.debug("coverage simplification failed; simplifying one by one")
            if not done:
                arr[valid] = shapely.simplify(arr[valid], self.simplify_m, preserve_topology=True)
        import geopandas as gpd

        out = gpd.GeoSeries(arr, crs=self.metric).to_crs(4326)
        return [self.geojson(g) for g in out.values]

    def geojson(self, geom: Any) -> Any:
        """The polygons of ``geom`` in the compact encoding ``sc_geom`` (maps.js) decodes.

        Each ring is one flat list of integers: the first vertex in units of
        10^-decimals degrees (longitude, latitude), then the differences to the previous
        vertex; the closing vertex and repeated vertices are left out. Three to four
        characters per number instead of ten keep isochrone-heavy maps small.
        """
        import shapely

        if geom is None or geom.is_empty:
            return None
        parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
        polygons = []
        scale = 10.0**self.decimals
        for part in parts:
            for poly in shapely.get_parts(part):
                rings = [poly.exterior, *poly.interiors]
                encoded = [_encode_ring(np.asarray(r.coords)[:, :2], scale) for r in rings]
                if encoded[0] is None:
                    continue
                polygons.append([e for e in encoded if e is not None])
        return polygons or None

    def point(self, geom: Any) -> list[float] | None:
        if geom is None or geom.is_empty:
            return None
        if geom.geom_type != "Point":
            geom = geom.representative_point()
        return [round(float(geom.y), self.decimals), round(float(geom.x), self.decimals)]


def _encode_ring(coords: np.ndarray, scale: float) -> list[int] | None:
    q = np.rint(coords * scale).astype(np.int64)
    if len(q) > 1 and (q[0] == q[-1]).all():
        q = q[:-1]
    if len(q) > 1:
        keep = np.ones(len(q), dtype=bool)
        keep[1:] = (np.diff(q, axis=0) != 0).any(axis=1)
        q = q[keep]
    if len(q) < 3:
        return None
    deltas = np.vstack([q[:1], np.diff(q, axis=0)])
    return [int(v) for v in deltas.ravel()]


def _min_zoom(bounds: tuple[float, float, float, float]) -> int:
    """Three zoom levels out from the one that fits ``bounds`` in about 1,000 pixels."""
    span = max(bounds[2] - bounds[0], (bounds[3] - bounds[1]) * 1.3, 1e-6)
    fit = math.log2(360.0 * 1000.0 / (256.0 * span))
    return int(min(max(math.floor(fit) - 3, 0), 12))


def _bounds(*frames: gpd.GeoDataFrame) -> tuple[float, float, float, float]:
    boxes = np.array([f.total_bounds for f in frames if len(f)], dtype=float)
    boxes = boxes[np.isfinite(boxes).all(axis=1)]
    if not len(boxes):
        return (-180.0, -85.0, 180.0, 85.0)
    return (
        float(boxes[:, 0].min()),
        float(boxes[:, 1].min()),
        float(boxes[:, 2].max()),
        float(boxes[:, 3].max()),
    )


# ---- units: tooltips, popups, view values -----------------------------------------------------


def _unit_rules(ctx: _Context, unit: str) -> list[Rule]:
    return [r for r in ctx.result.pack.rules if r.unit == unit]


def _headline(ctx: _Context, row: Mapping[str, Any], rules: Sequence[Rule]) -> str:
    statuses = [row.get(f"{r.id}_status") for r in rules]
    passed = sum(s == "pass" for s in statuses)
    na = sum(s == "not_evaluable" for s in statuses)
    text = ctx.t["headline"].format(p=passed, n=len(rules))
    if na:
        text += ctx.t["headline_na"].format(k=na)
    return text


def _status_badge(ctx: _Context, status: Any) -> str:
    s = status if status in _STATUS_CODE else "not_evaluable"
    return f'<span class="sc-badge sc-{_STATUS_CODE[s]}">{html.escape(ctx.t[s])}</span>'


def _popup_html(ctx: _Context, row: Mapping[str, Any], unit: str, names: Mapping[str, str]) -> str:
    t = ctx.t
    rules = _unit_rules(ctx, unit)
    id_col = "community_id" if unit == "community" else "street_id"
    sub = [f"{html.escape(t[unit])} {_esc(row.get(id_col))}"]
    if unit == "community" and _text(row.get("street_id")):
        street = names.get(_text(row.get("street_id")), _text(row.get("street_id")))
        sub.append(f"{html.escape(t['street'])} {_esc(street)}")
    pop = _num(row.get("population"))
    if pop is not None:
        sub.append(f"{html.escape(t['population'])} {t['people'].format(n=f'{pop:,.0f}')}")
    parts = [
        '<div class="sc-pop">',
        f'<div class="sc-pop-title">{_esc(row.get("name")) or _esc(row.get(id_col))}</div>',
        f'<div class="sc-muted">{" · ".join(sub)}</div>',
        f'<div class="sc-headline">{html.escape(_headline(ctx, row, rules))}</div>',
        _standards_rows(ctx, unit, _text(row.get(id_col))),
        '<table class="sc-t"><thead><tr>',
        "".join(f"<th>{html.escape(t[k])}</th>" for k in ("rule", "result", "value", "threshold")),
        "</tr></thead><tbody>",
    ]
    for rule in rules:
        status = row.get(f"{rule.id}_status")
        parts.append(
            f'<tr class="sc-rule"><td><b>{html.escape(rule.id)}</b> '
            f"{html.escape(rule.label(ctx.lang))}</td>"
            f"<td>{_status_badge(ctx, status)}</td>"
            f"<td>{html.escape(ctx.value(rule, row))}</td>"
            f"<td>{html.escape(ctx.threshold(rule))}</td></tr>"
        )
        reason = ctx.reason(rule, row)
        if reason:
            parts.append(f'<tr class="sc-reason"><td colspan="4">{_esc(reason)}</td></tr>')
    parts.append("</tbody></table>")
    if unit == "community":
        for rule in rules:
            if rule.kind == "reach":
                parts.append(_reach_table(ctx, rule, row))
    else:
        parts.append(_rollup_html(ctx, row))
    parts.append("</div>")
    return "".join(parts)


def _standards_rows(ctx: _Context, unit: str, unit_id: str) -> str:
    """The unit's row of the units x standards matrix: each pack's decision and the rule that
    decided it (empty unless several packs were audited together)."""
    matrix = ctx.standards.get(unit)
    if matrix is None or unit_id not in matrix.index:
        return ""
    from coverage.standards import pack_label

    t = ctx.t
    row = matrix.loc[unit_id]
    heads = "".join(f"<th>{html.escape(t[k])}</th>" for k in ("standard", "result", "worst_rule"))
    body = "".join(
        f"<tr><td>{html.escape(pack_label(ctx.result, pack_id, ctx.lang))}</td>"
        f"<td>{_status_badge(ctx, row[pack_id])}</td>"
        f"<td>{html.escape(_text(row[f'{pack_id}_rule']))}</td></tr>"
        for pack_id in ctx.result.pack.pack_ids
    )
    return (
        f'<table class="sc-t sc-standards"><thead><tr>{heads}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


def _reach_table(ctx: _Context, rule: Rule, row: Mapping[str, Any]) -> str:
    t = ctx.t
    missing = [c for c in _text(row.get(f"{rule.id}_missing")).split(";") if c]
    parts = []
    if missing:
        labels = "、".join(_cat_label(c, ctx.lang) for c in missing)
        if ctx.lang == "en":
            labels = ", ".join(_cat_label(c, ctx.lang) for c in missing)
        parts.append(
            f'<div class="sc-missing"><b>{html.escape(rule.id)} '
            f"{html.escape(t['missing'])}</b>：{html.escape(labels)}</div>"
            if ctx.lang == "zh"
            else f'<div class="sc-missing"><b>{html.escape(rule.id)} '
            f"{html.escape(t['missing'])}</b>: {html.escape(labels)}</div>"
        )
    parts.append('<table class="sc-t sc-cats"><thead><tr>')
    heads = (
        t["category"],
        t["within"].format(m=ctx.budget(rule)),
        t["median"],
        t["p90"],
    )
    parts.append("".join(f"<th>{html.escape(h)}</th>" for h in heads))
    parts.append("</tr></thead><tbody>")
    for cat in rule.all_categories:
        label = _cat_label(cat, ctx.lang) + ("" if cat in rule.categories else t["report_only"])
        cls = ' class="sc-miss"' if cat in missing else ""
        mark = " ✗" if cat in missing else ""
        if cat not in ctx.present:
            parts.append(
                f"<tr{cls}><td>{html.escape(label)}</td>"
                f'<td colspan="3" class="sc-muted">{html.escape(t["no_facility"])}</td></tr>'
            )
            continue
        parts.append(
            f"<tr{cls}><td>{html.escape(label + mark)}</td>"
            f"<td>{html.escape(ctx.pct(row.get(f'{rule.id}_share_{cat}')))}</td>"
            f"<td>{html.escape(ctx.metres(row.get(f'median_m_{cat}'), cat))}</td>"
            f"<td>{html.escape(ctx.metres(row.get(f'p90_m_{cat}'), cat))}</td></tr>"
        )
    parts.append("</tbody></table>")
    return "".join(parts)


def _rollup_html(ctx: _Context, row: Mapping[str, Any]) -> str:
    lines = []
    for rule in _unit_rules(ctx, "community"):
        k = _num(row.get(f"{rule.id}_communities_passing"))
        n = _num(row.get(f"{rule.id}_communities"))
        if k is None or n is None:
            continue
        lines.append(
            ctx.t["rollup"].format(
                rule=f"{rule.id} {rule.label(ctx.lang)}",
                k=f"{k:.0f}",
                n=f"{n:.0f}",
                s=ctx.pct(row.get(f"{rule.id}_population_share_passing")),
            )
        )
    if not lines:
        return ""
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    return (
        f'<div class="sc-rollup"><b>{html.escape(ctx.t["rollup_title"])}</b><ul>{items}</ul></div>'
    )


def _share_views(rule: Rule) -> list[tuple[str, str | None]]:
    """(view key, category or None for the weakest) of a reach rule's graded views."""
    views: list[tuple[str, str | None]] = [(f"{rule.id}_value", None)]
    views += [(f"{rule.id}_share_{c}", c) for c in rule.categories]
    return views


def _views(
    ctx: _Context, communities: gpd.GeoDataFrame, streets: gpd.GeoDataFrame
) -> list[dict[str, Any]]:
    """Every view the radio list offers: each rule's result, and reach rules' shares."""
    t = ctx.t
    views: list[dict[str, Any]] = []
    for rule in ctx.result.pack.rules:
        table = communities if rule.unit == "community" else streets
        status = table[f"{rule.id}_status"]
        views.append(
            {
                "rule": rule.id,
                "unit": rule.unit,
                "kind": "status",
                "key": rule.id,
                "label": t["view_status"].format(rule=f"{rule.id} {rule.label(ctx.lang)}"),
                "tip": f"{rule.id} {rule.label(ctx.lang)}",
                "counts": {s: int((status == s).sum()) for s in _STATUS_CODE},
            }
        )
        if rule.kind != "reach":
            continue
        for key, cat in _share_views(rule):
            if key not in table:
                continue
            label = (
                t["view_share_min"].format(id=rule.id)
                if cat is None
                else t["view_share_cat"].format(id=rule.id, cat=_cat_label(cat, ctx.lang))
            )
            values = _share_values(ctx, table, rule, key, cat)
            views.append(
                {
                    "rule": rule.id,
                    "unit": rule.unit,
                    "kind": "share",
                    "key": key,
                    "label": label,
                    "tip": label,
                    "breaks": _share_breaks(ctx.share),
                    "budget": ctx.budget(rule),
                    "hist": _share_hist(values, _share_breaks(ctx.share)),
                }
            )
    return views


def _share_values(
    ctx: _Context, table: pd.DataFrame, rule: Rule, key: str, cat: str | None
) -> np.ndarray:
    values = pd.to_numeric(table[key], errors="coerce").to_numpy(dtype=float)
    values = values.copy()
    status = table[f"{rule.id}_status"].to_numpy()
    if cat is not None and cat not in ctx.present:
        values[:] = np.nan  # no facility at all: the share says nothing
    if cat is None:
        values[status == "not_evaluable"] = np.nan
    pop = pd.to_numeric(table["population"], errors="coerce").to_numpy(dtype=float)
    values[~(pop > 0)] = np.nan
    return values


def _share_breaks(need: float) -> list[float]:
    """Class edges: round quarters below the required share, then the required share."""
    inner = [e for e in (0.25, 0.5, 0.75) if e < need - 1e-9]
    return [0.0, *inner, need]


def _share_class(value: float | None, breaks: Sequence[float]) -> int | None:
    if value is None or math.isnan(value):
        return None
    for i in range(len(breaks) - 1, 0, -1):
        if value >= breaks[i] - 1e-12:
            return i
    return 0


def _share_hist(values: np.ndarray, breaks: Sequence[float]) -> list[int]:
    counts = [0] * (len(breaks) + 1)  # classes, then not evaluable
    for v in values:
        c = _share_class(float(v), breaks)
        counts[len(breaks) if c is None else c] += 1
    return counts


def _unit_features(
    ctx: _Context, table: gpd.GeoDataFrame, unit: str, geo: _GeometryWriter
) -> list[dict[str, Any]]:
    """One compact record per unit: geometry, tooltip, popup, statuses, graded classes."""
    rules = _unit_rules(ctx, unit)
    names = {
        _text(s): _text(n)
        for s, n in zip(ctx.result.streets["street_id"], ctx.result.streets["name"], strict=True)
    }
    geoms = geo.polygons(table.geometry)
    share_keys: list[tuple[Rule, str, str | None]] = [
        (r, key, cat) for r in rules if r.kind == "reach" for key, cat in _share_views(r)
    ]
    breaks = _share_breaks(ctx.share)
    share_vals = {
        key: _share_values(ctx, table, r, key, cat) for r, key, cat in share_keys if key in table
    }
    id_col = "community_id" if unit == "community" else "street_id"
    records = table.drop(columns="geometry").to_dict("records")
    out = []
    for i, (row, g) in enumerate(zip(records, geoms, strict=True)):
        if g is None:
            continue
        name = _esc(row.get("name")) or _esc(row.get(id_col))
        tip = f"<b>{name}</b><br>{html.escape(_headline(ctx, row, rules))}"
        statuses = {r.id: _STATUS_CODE.get(row.get(f"{r.id}_status"), "n") for r in rules}
        shares = {}
        for key, vals in share_vals.items():
            v = _num(vals[i])
            shares[key] = None if v is None else round(v, 4)
        out.append(
            {
                "id": _text(row.get(id_col)),
                "g": g,
                "t": tip,
                "p": _popup_html(ctx, row, unit, names),
                "s": statuses,
                "v": shares,
                "c": {k: _share_class(v, breaks) for k, v in shares.items()},
            }
        )
    return out


# ---- names and the offline base map -----------------------------------------------------------


def _unit_names(
    data: Mapping[str, list[dict[str, Any]]],
    tables: Mapping[str, gpd.GeoDataFrame],
    metric: Any,
) -> dict[str, list[list[Any]]]:
    """Each unit record's name as text and where to write it, aligned with ``data``.

    ``{"community": [[name, lon, lat], ...], "street": [...]}`` (``[name]`` alone when the
    unit has no geometry). The name is the data's text, unescaped: the page draws it with the
    canvas ``fillText`` (labels) and sets it with ``textContent`` (search results), never as
    HTML; it is written with :func:`_js_text_json`, without a single ``<`` or ``>``. The
    place is the pole of inaccessibility of the unit's largest part (the point inside
    farthest from its edge, where a label fits best), to 10^-5 degrees.
    """
    import geopandas as gpd
    from shapely.ops import polylabel

    out: dict[str, list[list[Any]]] = {}
    for unit, table in tables.items():
        id_col = "community_id" if unit == "community" else "street_id"
        geoms = table.geometry.to_crs(metric).to_numpy()
        points: list[Any] = []
        for g in geoms:
            if g is None or g.is_empty:
                points.append(None)
                continue
            parts = [p for p in _parts(g) if p.geom_type == "Polygon"]
            if not parts:
                points.append(g.representative_point())
                continue
            largest = max(parts, key=lambda p: p.area)
            try:
                points.append(polylabel(largest, tolerance=5.0))
            except Exception:  # a degenerate polygon: any inner point will do
                points.append(largest.representative_point())
        where = gpd.GeoSeries(points, crs=metric).to_crs(4326)
        labels = table["name"] if "name" in table else table[id_col]
        by_id: dict[str, list[Any]] = {}
        for row_id, name, p in zip(table[id_col], labels, where, strict=True):
            label = _text(name) or _text(row_id)
            at = [] if p is None or p.is_empty else [round(p.x, 5), round(p.y, 5)]
            by_id[_text(row_id)] = [label, *at]
        out[unit] = [by_id.get(record["id"], [record["id"]]) for record in data[unit]]
    return out


def _parts(geom: Any) -> list[Any]:
    import shapely

    return list(shapely.get_parts(geom))


def _basemap_data(result: AuditResult, *, shift: bool) -> dict[str, Any] | None:
    """The encoded offline base map of the case's OSM file, or None without one."""
    from coverage.basemap import encode_basemap, read_osm_basemap
    from coverage.errors import DataError

    osm = result.provenance.get("osm_file")
    if not osm:
        logger.info("no OSM file in the audit's provenance: the map has no offline base map")
        return None
    path = Path(str(osm))
    if not path.is_file():
        logger.warning("%s: the case's OSM file is gone, so the map has no offline base map", path)
        return None
    try:
        features = read_osm_basemap(path)
    except DataError as exc:
        logger.warning("the map has no offline base map: %s", exc)
        return None
    if shift:
        from coverage.map_tiles import gcj02_coordinates

        return encode_basemap(features, shift=gcj02_coordinates)
    return encode_basemap(features)


# ---- services, isochrones, service areas ------------------------------------------------------


#: Coordinates of service points are written in units of 10^-POI_DECIMALS degrees (≈ 1 m).
POI_DECIMALS = 5

_NUMBERED_ID = re.compile(r"(\D*)([0-9]{1,15})")


def _morton(ix: np.ndarray, iy: np.ndarray) -> np.ndarray:
    """Z-order keys of non-negative integer cells (16 bits each): neighbours stay near."""

    def spread(v: np.ndarray) -> np.ndarray:
        v = v.astype(np.uint64) & np.uint64(0xFFFF)
        v = (v | (v << np.uint64(8))) & np.uint64(0x00FF00FF)
        v = (v | (v << np.uint64(4))) & np.uint64(0x0F0F0F0F)
        v = (v | (v << np.uint64(2))) & np.uint64(0x33333333)
        return (v | (v << np.uint64(1))) & np.uint64(0x55555555)

    return spread(ix) | (spread(iy) << np.uint64(1))


def _delta(values: np.ndarray) -> list[int]:
    v = np.asarray(values, dtype=np.int64)
    if not v.size:
        return []
    return [int(x) for x in np.concatenate([v[:1], np.diff(v)])]


def _text_column(values: Sequence[str]) -> dict[str, Any]:
    """Strings compactly: one prefix and delta-coded numbers when every value is a prefix
    and a number (``S1``, ``S2``; ``S0001`` with a width ``w`` when zero-padded to one
    width); else a table of distinct values and an index each when values repeat; else a
    plain list."""
    numbered = [_NUMBERED_ID.fullmatch(v) for v in values]
    if values and all(numbered):
        prefixes = {m.group(1) for m in numbered if m is not None}
        digits = [m.group(2) for m in numbered if m is not None]
        widths = {len(d) for d in digits}
        padded = any(len(d) > 1 and d[0] == "0" for d in digits)
        if len(prefixes) == 1 and (not padded or len(widths) == 1):
            return {
                "p": prefixes.pop(),
                "w": widths.pop() if padded else 0,
                "n": _delta(np.array([int(d) for d in digits])),
            }
    table = list(dict.fromkeys(values))
    if len(table) * 2 <= len(values):
        where = {v: i for i, v in enumerate(table)}
        return {"t": table, "i": [where[v] for v in values]}
    return {"v": list(values)}


def _poi_columns(ctx: _Context) -> tuple[dict[str, Any], dict[str, int]]:
    """The service points as columns, and the number of points of each pack category.

    One entry per service point (not per category): ``id`` and ``name`` (text columns, see
    :func:`_text_column`; a name equal to the id or empty is ``""``, shown as "unnamed"),
    ``x``/``y`` (longitude and latitude in 10^-5 degrees, delta-coded in Z order), ``c`` (the
    first category, an index into ``cats``), ``more`` ([point, category] pairs of points in
    several categories), ``snap`` (metres to the walking network, rounded; -1 unknown) and
    ``off`` (points off the network). The page builds markers, tooltips and popups from
    them (maps.js, ``sc_poi_*``), with text set as text, never parsed as HTML.
    """
    services = ctx.result.services
    cats = ctx.service_cats
    pack_cats = [c for c in ctx.result.pack.categories if c in ctx.present]
    geoms = services.geometry
    if geoms.crs is not None and not geoms.crs.equals("EPSG:4326"):
        geoms = geoms.to_crs(4326)
    pts = np.array(geoms.values, dtype=object)
    valid = np.array([g is not None and not g.is_empty for g in pts], dtype=bool)
    non_point = valid & np.array([g is not None and g.geom_type != "Point" for g in pts])
    if non_point.any():
        import shapely

        pts[non_point] = shapely.point_on_surface(pts[non_point])
    import shapely

    lon = np.full(len(pts), np.nan)
    lat = np.full(len(pts), np.nan)
    if valid.any():
        lon[valid] = shapely.get_x(pts[valid])
        lat[valid] = shapely.get_y(pts[valid])
    valid &= np.isfinite(lon) & np.isfinite(lat)
    # every category a point is in (first = the one it is drawn with first)
    cat_table = list(dict.fromkeys(cats["category"].tolist()))
    cat_index = {c: i for i, c in enumerate(cat_table)}
    # the points of the pack's categories (each with all its categories in its popup)
    in_layer = cats.loc[cats["category"].isin(pack_cats), "pos"].to_numpy()
    keep_pos = np.unique(in_layer[valid[in_layer]])
    scale = 10**POI_DECIMALS
    qx = np.rint(lon[keep_pos] * scale).astype(np.int64)
    qy = np.rint(lat[keep_pos] * scale).astype(np.int64)
    if keep_pos.size:
        cell = 10 ** (POI_DECIMALS - 3)  # ≈ 100 m cells for the Z order
        order = np.lexsort(
            (qx, _morton((qx - qx.min()) // cell, (qy - qy.min()) // cell)),
        )
        keep_pos = keep_pos[order]
        qx, qy = qx[order], qy[order]
    row_of = {int(p): i for i, p in enumerate(keep_pos)}
    first: list[int] = [-1] * len(keep_pos)
    more: list[list[int]] = []
    for pos, cat in zip(cats["pos"].to_numpy(), cats["category"].to_numpy(), strict=True):
        i = row_of.get(int(pos))
        if i is None:
            continue
        if first[i] < 0:
            first[i] = cat_index[cat]
        else:
            more.append([i, cat_index[cat]])
    sid = services["service_id"].to_numpy()[keep_pos]
    names = services["name"].to_numpy()[keep_pos] if "name" in services else np.full(len(sid), "")
    ids = [_text(v) for v in sid]
    shown = [_text(n) for n in names]
    shown = [n if n and n != i else "" for n, i in zip(shown, ids, strict=True)]
    snap = (
        pd.to_numeric(services["snap_m"], errors="coerce").to_numpy(dtype=float)[keep_pos]
        if "snap_m" in services
        else np.full(len(keep_pos), np.nan)
    )
    on = (
        services["on_network"].to_numpy(dtype=object)[keep_pos]
        if "on_network" in services
        else np.full(len(keep_pos), None)
    )
    off = [i for i, v in enumerate(on) if not (v is None or pd.isna(v) or bool(v))]
    columns = {
        "k": scale,
        "cats": cat_table,
        "labels": [_cat_label(c, ctx.lang) for c in cat_table],
        "id": _text_column(ids),
        "name": _text_column(shown),
        "x": _delta(qx),
        "y": _delta(qy),
        "c": first,
        "more": more,
        "snap": [round(float(v)) if np.isfinite(v) else -1 for v in snap],
        "off": off,
    }
    counts = {
        cat: int(cats.loc[cats["category"] == cat, "pos"].isin(keep_pos).sum()) for cat in pack_cats
    }
    return columns, {c: n for c, n in counts.items() if n}


def _bands(geoms: Sequence[Any], minutes: Sequence[float]) -> list[tuple[float, float, Any]]:
    """Disjoint time bands (previous minutes, minutes, geometry) from nested or ring polygons."""
    import shapely

    order = np.argsort(np.asarray(minutes, dtype=float), kind="stable")
    out = []
    reached = None
    previous = 0.0
    by_minutes: dict[float, list[Any]] = {}
    for i in order:
        by_minutes.setdefault(float(minutes[i]), []).append(geoms[i])
    for m in sorted(by_minutes):
        g = shapely.union_all([x for x in by_minutes[m] if x is not None and not x.is_empty])
        if g.is_empty:
            continue
        total = g if reached is None else shapely.union(reached, g)
        band = total if reached is None else shapely.difference(total, reached)
        band = shapely.make_valid(band) if not band.is_valid else band
        if not band.is_empty:
            out.append((previous, m, band))
        reached, previous = total, m
    return out


def _band_features(
    ctx: _Context,
    geoms: Sequence[Any],
    minutes: Sequence[float],
    geo: _GeometryWriter,
    name: str | None = None,
) -> list[dict[str, Any]]:
    import geopandas as gpd

    bands = _bands(geoms, minutes)
    if not bands:
        return []
    series = gpd.GeoSeries([b for _, _, b in bands], crs=4326)
    shapes = geo.polygons(series, coverage=False)
    out = []
    for (lo, hi, _), g in zip(bands, shapes, strict=True):
        if g is None:
            continue
        band = ctx.t["band_first"].format(b=hi) if lo == 0 else ctx.t["band"].format(a=lo, b=hi)
        tip = html.escape(band) if name is None else f"<b>{_esc(name)}</b> · {html.escape(band)}"
        out.append({"g": g, "m": hi, "t": tip})
    return out


def _isochrone_features(
    ctx: _Context, isochrones: gpd.GeoDataFrame, geo: _GeometryWriter
) -> Iterable[tuple[str, list[dict[str, Any]], list[float]]]:
    need = {"category", "minutes", "geometry"}
    if not need <= set(isochrones.columns):
        msg = f"isochrones needs columns {sorted(need)}; got {list(isochrones.columns)}"
        raise ValueError(msg)
    iso = isochrones.to_crs(4326)
    names = dict(
        zip(
            ctx.result.services["service_id"].astype(str),
            ctx.result.services["name"],
            strict=False,
        )
    )
    if "service_id" not in iso:
        iso = iso.assign(service_id=np.arange(len(iso)).astype(str))
    for cat, group in iso.groupby("category", sort=False):
        features: list[dict[str, Any]] = []
        for sid, fac in group.groupby("service_id", sort=False):
            features += _band_features(
                ctx,
                list(fac.geometry.values),
                list(fac["minutes"].astype(float)),
                geo,
                name=_text(names.get(str(sid), sid)),
            )
        minutes = sorted({float(m) for m in group["minutes"]})
        yield str(cat), features, minutes


def _area_features(
    ctx: _Context, gdf: gpd.GeoDataFrame, geo: _GeometryWriter
) -> tuple[list[dict[str, Any]], list[float]]:
    if "minutes" not in gdf:
        msg = f"a service area needs a 'minutes' column; got {list(gdf.columns)}"
        raise ValueError(msg)
    area = gdf.to_crs(4326)
    minutes = [float(m) for m in area["minutes"]]
    return _band_features(ctx, list(area.geometry.values), minutes, geo), sorted(set(minutes))


def _time_colors(n_bands: int) -> list[str]:
    """Colours of ``n_bands`` bands, then "beyond the last band", then "not reached"."""
    from coverage.timegrid import TIME_PALETTE

    bands = list(TIME_PALETTE[:-2])
    if n_bands != len(bands):
        idx = np.linspace(0, len(bands) - 1, n_bands).round().astype(int)
        bands = [bands[i] for i in idx]
    return [*bands, TIME_PALETTE[-2], TIME_PALETTE[-1]]


def _png_data_uri(grid: Any, bands: Sequence[float] = _TIME_BANDS) -> str:
    """The walking-time grid as an indexed PNG data URI, coloured by :func:`_time_colors`."""
    import base64

    from coverage.timegrid import encode_png, time_classes

    colors = _time_colors(len(bands))
    palette = [(0, 0, 0, 0)] + [
        (int(c[1:3], 16), int(c[3:5], 16), int(c[5:7], 16), 255) for c in colors
    ]
    png = encode_png(time_classes(grid.minutes, bands), palette)
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _time_legend_html(ctx: _Context, grid: Any, bands: Sequence[float] = _TIME_BANDS) -> str:
    t = ctx.t
    colors = _time_colors(len(bands))
    labels = [
        t["band_first"].format(b=b) if i == 0 else t["band"].format(a=bands[i - 1], b=b)
        for i, b in enumerate(bands)
    ]
    labels.append(t["band"].format(a=bands[-1], b=grid.limit_minutes))
    labels.append(t["time_unreached"].format(m=grid.limit_minutes))
    rows = "".join(
        '<div class="sc-legend-row">'
        '<svg class="sc-sw" width="26" height="16" aria-hidden="true">'
        f'<rect x="1" y="1" width="24" height="14" fill="{color}" fill-opacity="0.75"'
        ' stroke="#555" stroke-width="1"/></svg>'
        f"<span>{html.escape(label)}</span></div>"
        for color, label in zip(colors, labels, strict=True)
    )
    note = t["time_note"].format(c=grid.cell_m, b=grid.buffer_m)
    return (
        f'<div class="sc-legend-title">{html.escape(t["legend_time"])}</div>'
        + rows
        + f'<div class="sc-legend-note">{html.escape(note)}</div>'
    )


# ---- panels -----------------------------------------------------------------------------------


def _audit_date(result: AuditResult, lang: Lang) -> str:
    """When the audit ran, for people: Beijing time in Chinese form under zh, with the zone."""
    from coverage.wording import date_text

    created = _text(result.provenance.get("created_utc"))
    return date_text(created, lang) or date.today().isoformat()


def _info_html(ctx: _Context) -> str:
    from coverage.rules import minutes_to_m

    t = ctx.t
    result = ctx.result
    budgets = [r.budget_minutes(ctx.speed) for r in result.pack.rules if r.kind == "reach"]
    minutes = max((b for b in budgets if b is not None), default=15.0)
    speed = t["speed"].format(v=ctx.speed, m=minutes, d=f"{minutes_to_m(minutes, ctx.speed):,.0f}")
    sources = []
    for path in result.provenance.get("inputs_sha256") or {}:
        name = Path(str(path)).name
        if name and not name.endswith(".toml"):
            sources.append(name)
    src = "、".join(sources) if ctx.lang == "zh" else ", ".join(sources)
    sep = "：" if ctx.lang == "zh" else ": "
    audited = t["audit_date"].format(d=_audit_date(result, ctx.lang))
    return (
        f'<div class="sc-info-title">{_esc(result.case_name)}</div>'
        f'<div class="sc-info-pack">{html.escape(result.pack.label(ctx.lang))}</div>'
        f'<div class="sc-info-view" id="sc-info-view"></div>'
        f'<div class="sc-info-speed">{html.escape(speed)}</div>'
        f'<div class="sc-info-small">{html.escape(audited)}'
        f" · {html.escape(t['sources'])}{sep}{_esc(src)}"
        f" · {html.escape(t['osm_network'])}</div>"
    )


def _status_swatch(status: str) -> str:
    style = STATUS_STYLE[status]
    dash = f' stroke-dasharray="{style["dash"]}"' if style["dash"] else ""
    opacity = "0.6" if status == "pass" else "0.85"
    return (
        '<svg class="sc-sw" width="26" height="16" aria-hidden="true">'
        f'<rect x="1" y="1" width="24" height="14" fill="{style["fill"]}" fill-opacity="{opacity}"'
        f' stroke="{style["color"]}" stroke-width="2"{dash}/></svg>'
    )


def _legend_html(ctx: _Context, view: Mapping[str, Any]) -> str:
    t = ctx.t
    rule = ctx.result.pack.rule(view["rule"])
    unit = t[view["unit"]]
    head = f'<div class="sc-legend-title">{html.escape(view["label"])}</div>'
    sep = ctx.sep
    if view["kind"] == "status":
        rows = "".join(
            f'<div class="sc-legend-row">{_status_swatch(s)}<span>{html.escape(t[s])}</span>'
            f'<span class="sc-legend-n">{view["counts"][s]}</span></div>'
            for s in _STATUS_CODE
        )
        sub = (
            f'<div class="sc-legend-sub">{html.escape(t["threshold"])}{sep}'
            f"{html.escape(ctx.threshold(rule))}</div>"
        )
        basis = (
            f'<div class="sc-legend-basis">{html.escape(t["basis"])}{sep}'
            f"{html.escape(rule.source)}</div>"
            if rule.source
            else ""
        )
        return (
            head
            + sub
            + '<div class="sc-legend-unit">'
            + html.escape(t["legend_status"].format(unit=unit))
            + "</div>"
            + rows
            + f'<div class="sc-legend-note">{html.escape(t["pattern_note"])}</div>'
            + basis
        )
    breaks = view["breaks"]
    hist = view["hist"]
    rows_list = []
    for i in range(len(breaks) - 1, -1, -1):
        lo = breaks[i]
        label = (
            f"≥ {100 * lo:.0f}%"
            if i == len(breaks) - 1
            else f"{100 * lo:.0f}–{100 * breaks[i + 1]:.0f}%"
        )
        color = SHARE_PALETTE[min(i, len(SHARE_PALETTE) - 1) if len(breaks) >= 5 else i]
        rows_list.append(
            '<div class="sc-legend-row">'
            '<svg class="sc-sw" width="26" height="16" aria-hidden="true">'
            f'<rect x="1" y="1" width="24" height="14" fill="{color}" fill-opacity="0.85"'
            ' stroke="#555" stroke-width="1"/></svg>'
            f"<span>{html.escape(label)}</span>"
            f'<span class="sc-legend-n">{hist[i]}</span></div>'
        )
    rows_list.append(
        f'<div class="sc-legend-row">{_status_swatch("not_evaluable")}'
        f"<span>{html.escape(t['legend_share_na'])}</span>"
        f'<span class="sc-legend-n">{hist[-1]}</span></div>'
    )
    sub = html.escape(t["legend_share"].format(budget=view["budget"]))
    return (
        head
        + f'<div class="sc-legend-unit">{sub}（{html.escape(unit)}）</div>'
        + "".join(rows_list)
    )


def _bands_legend_html(ctx: _Context, minutes: Sequence[float]) -> str:
    rows = []
    n = len(minutes)
    for i, m in enumerate(minutes):
        opacity = _band_opacity(i, n)
        rows.append(
            '<div class="sc-legend-row">'
            '<svg class="sc-sw" width="26" height="16" aria-hidden="true">'
            f'<rect x="1" y="1" width="24" height="14" fill="{BAND_COLOR}"'
            f' fill-opacity="{opacity:.2f}" stroke="{BAND_COLOR}" stroke-width="1"/></svg>'
            f"<span>{html.escape(ctx.t['legend_minutes'].format(m=m))}</span></div>"
        )
    return f'<div class="sc-legend-title">{html.escape(ctx.t["legend_bands"])}</div>' + "".join(
        rows
    )


def _band_opacity(index: int, count: int) -> float:
    """Fill opacity of the ``index``-th shortest of ``count`` bands (darkest first)."""
    if count <= 1:
        return 0.45
    return 0.5 - 0.35 * index / (count - 1)


# ---- folium plumbing --------------------------------------------------------------------------


def _js_json(value: Any) -> str:
    """JSON safe inside a <script> element.

    The HTML parser ends a script at ``</script`` and treats ``<!--`` specially; ``</``
    becomes ``<\\/`` and ``<!`` becomes ``\\u003c!`` (both plain JSON escapes), so no data
    text can close the element. U+2028/2029 are escaped for old JavaScript engines.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (
        text.replace("</", "<\\/")
        .replace("<!", "\\u003c!")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _js_text_json(value: Any) -> str:
    """:func:`_js_json` with every ``<`` and ``>`` escaped too, for data that holds raw text
    (names drawn on canvas or set with ``textContent``): no markup from the data appears in
    the file at all."""
    return _js_json(value).replace("<", "\\u003c").replace(">", "\\u003e")


def _js_layers(pairs: Iterable[tuple[str, str]]) -> str:
    """A JavaScript array of [label, layer variable] pairs; labels as JSON strings."""
    return "[" + ",".join(f"[{_js_json(name)}, {_js_name(var)}]" for name, var in pairs) + "]"


def _js_name(name: str) -> str:
    """``name`` if it is a plain JavaScript identifier made by this module, else an error."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        msg = f"not a JavaScript variable name: {name!r}"
        raise ValueError(msg)
    return name


def _figure(title: str) -> Any:
    # the title is a value of Figure's own template, inserted without being compiled again
    return Figure(title=html.escape(title))


class _Verbatim(Element):
    """A branca element that renders its text exactly as given.

    branca's ``Element(text)`` compiles ``text`` as a Jinja2 template: ``{{ 7*7 }}`` in it
    becomes ``49`` and ``{% ... %}`` runs. Nothing this module writes into the page goes
    through a template engine; this element is how text reaches the page.
    """

    def __init__(self, text: str) -> None:
        super().__init__()
        self._name = "Verbatim"
        self.text = text

    def render(self, **kwargs: Any) -> str:  # noqa: ARG002 - branca's signature
        return str(self.text)


class _ScriptCode(Element):
    """JavaScript code added verbatim to the page's ``<script>`` when the map renders.

    Unlike a folium ``MacroElement``, whose rendered output branca compiles once more as a
    template, the code is added as a :class:`_Verbatim` element. Data reaches the code only
    as JSON made by :func:`_js_json`.
    """

    def __init__(self, code: str) -> None:
        super().__init__()
        self._name = "ScScript"
        self.code = code

    def render(self, **kwargs: Any) -> str:
        figure = self.get_root()
        if not isinstance(figure, Figure):
            msg = "a map script renders only inside a Figure (add the map to one first)"
            raise TypeError(msg)
        figure.script.add_child(_Verbatim(self.code), name=self.get_name())
        for child in self._children.values():
            child.render(**kwargs)
        return ""


def _Raw(text: str) -> Any:  # noqa: N802 - reads like the branca class it builds
    """A branca Element holding ``text`` verbatim (never compiled as a template)."""
    return _Verbatim(text)


def _Script(code: str) -> Any:  # noqa: N802
    """An element whose JavaScript ``code`` goes verbatim into the map's script."""
    return _ScriptCode(code)


@lru_cache(maxsize=1)
def _manifest() -> dict[str, Any]:
    text = resources.files("coverage").joinpath("assets", "manifest.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _asset(package: str, name: str) -> str:
    return resources.files("coverage").joinpath("assets", package, name).read_text("utf-8")


_ASSET_FILES: tuple[tuple[str, str, str], ...] = (
    ("leaflet", "leaflet.css", "css"),
    ("leaflet", "leaflet.js", "js"),
    ("leaflet.markercluster", "MarkerCluster.css", "css"),
    ("leaflet.markercluster", "leaflet.markercluster.js", "js"),
)


def _set_assets(fmap: folium.Map, *, offline: bool) -> None:
    """Only Leaflet and Leaflet.markercluster: from the CDN, or inlined when offline.

    folium's default jQuery, Bootstrap, Font Awesome and awesome-markers are not used (icons
    are inline SVG, panels plain HTML), so they are not loaded at all.
    """
    fmap.default_js = []
    fmap.default_css = []
    header = fmap.get_root().header  # type: ignore[attr-defined]
    manifest = _manifest()
    for i, (package, name, kind) in enumerate(_ASSET_FILES):
        if offline:
            text = _asset(package, name)
            if kind == "js":
                safe = text.replace("</script", "<\\/script")
                element = _Raw(f"<script>{safe}</script>")
            else:
                element = _Raw(f"<style>{text}</style>")
        else:
            version = manifest[package]["version"]
            folder = "dist"
            url = f"{_CDN}/{package}@{version}/{folder}/{name}"
            element = (
                _Raw(f'<script src="{url}"></script>')
                if kind == "js"
                else _Raw(f'<link rel="stylesheet" href="{url}"/>')
            )
        header.add_child(element, name=f"sc_asset_{i}")


# ---- static CSS and JavaScript ----------------------------------------------------------------

_SVG_DEFS = """
<svg width="0" height="0" style="position:absolute" aria-hidden="true" focusable="false">
 <defs>
  <pattern id="sc-hatch-fail" patternUnits="userSpaceOnUse" width="8" height="8"
           patternTransform="rotate(45)">
   <rect width="8" height="8" fill="#f4a582"/>
   <rect width="3.5" height="8" fill="#b2182b"/>
  </pattern>
  <pattern id="sc-dots-na" patternUnits="userSpaceOnUse" width="7" height="7">
   <rect width="7" height="7" fill="#d9d9d9"/>
   <circle cx="3.5" cy="3.5" r="1.3" fill="#636363"/>
  </pattern>
 </defs>
</svg>
"""
