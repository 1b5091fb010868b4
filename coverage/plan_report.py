"""The outputs of a plan (补短板): what ``service-coverage plan`` writes.

Next to the audit's own outputs (written by :func:`coverage.report.write_outputs`, with its
staging folder), a plan adds:

- ``proposed_sites``, a layer of ``audit.gpkg``: one point per proposed site;
- ``plan.csv``: one row per proposed site (UTF-8 with BOM, neutralised for spreadsheets by
  :func:`coverage.report.write_spreadsheet_csv`; Chinese headers under ``lang="zh"``);
- ``plan`` in ``summary.json``: sites per category, units made to pass, the curve, the
  impossible units and the solver's status;
- a plan section in ``report.html`` with the k-curve chart (every text escaped);
- in ``map.html`` the proposed sites and a 现状 / 规划后 switch (the re-audit's statuses). Data
  reaches the page only as JSON from :func:`coverage.maps._js_json`, through the maps'
  verbatim script element: no name is ever compiled as a template.
"""

from __future__ import annotations

import html
import json
import logging
import math
import os
import tempfile
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from coverage.categories import category_label

if TYPE_CHECKING:
    from coverage.plan import Plan

__all__ = [
    "PLAN_CSV_HEADERS_ZH",
    "plan_dict",
    "plan_docx_section",
    "plan_table",
    "render_plan_html",
    "write_plan_outputs",
]

logger = logging.getLogger(__name__)

#: Chinese headers of plan.csv.
PLAN_CSV_HEADERS_ZH = {
    "site": "规划设施编号",
    "category": "设施类别",
    "category_zh": "类别名称",
    "rules": "对应规则",
    "units": "达标单元",
    "n_units": "达标单元数",
    "residents_new": "新增覆盖居民",
    "candidate_id": "候选地块编号",
    "source": "候选来源",
    "area_m2": "面积（平方米）",
    "lon": "经度",
    "lat": "纬度",
}


def plan_table(plan: Plan, *, lang: str = "zh") -> pd.DataFrame:
    """One row per proposed site, as plan.csv holds it.

    Parameters
    ----------
    plan
        The plan.
    lang
        ``"zh"``: Chinese headers; ``"en"``: the column names.

    Returns
    -------
    pandas.DataFrame
        site, category (and its Chinese name), rules, units, n_units, residents_new,
        candidate_id, source, area_m2, lon, lat.
    """
    sites = plan.sites
    frame = pd.DataFrame(
        {
            "site": sites["site"].astype(str).to_numpy(dtype=object),
            "category": sites["category"].astype(str).to_numpy(dtype=object),
            "category_zh": [category_label(str(c), "zh") for c in sites["category"]],
            "rules": sites["rules"].astype(str).to_numpy(dtype=object),
            "units": sites["units"].astype(str).to_numpy(dtype=object),
            "n_units": sites["n_units"].to_numpy(dtype=np.int64),
            "residents_new": np.round(sites["residents_new"].to_numpy(dtype=float)),
            "candidate_id": sites["candidate_id"].astype(str).to_numpy(dtype=object),
            "source": sites["source"].astype(str).to_numpy(dtype=object),
            "area_m2": sites["area_m2"].to_numpy(dtype=float),
            "lon": np.round(sites.geometry.x.to_numpy(dtype=float), 6) if len(sites) else [],
            "lat": np.round(sites.geometry.y.to_numpy(dtype=float), 6) if len(sites) else [],
        }
    )
    return frame.rename(columns=PLAN_CSV_HEADERS_ZH) if lang == "zh" else frame


def _number(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): _number(v) for k, v in row.items()} for row in frame.to_dict("records")]


def plan_dict(plan: Plan) -> dict[str, Any]:
    """The plan as plain JSON data (the ``plan`` of summary.json)."""
    sites = plan.sites
    by_cat = sites.groupby("category").size() if len(sites) else pd.Series(dtype=int)
    units = plan.targets.drop_duplicates(["rule", "unit_id"]) if len(plan.targets) else None
    return {
        "status": plan.status,
        "gap": _number(plan.gap),
        "sites": len(sites),
        "sites_per_category": {str(k): int(v) for k, v in by_cat.items()},
        "units_made_to_pass": 0 if units is None else len(units),
        "problems": _records(plan.problems),
        "curve": _records(plan.curve),
        "impossible": _records(plan.impossible),
        "area_deficits": _records(plan.deficits),
        "notes": [{"en": en, "zh": zh} for en, zh in plan.notes],
        "unmet_in_reaudit": len(plan.unmet()),
    }


_WORDS = {
    "zh": {
        "title": "补短板规划",
        "intro": "在保留现有设施的前提下，使每个可达标单元达标所需的最少新增设施"
        "（精确整数规划求解），并用新增设施重新体检验证。",
        "status_optimal": "已证明最优",
        "status_time_limit": "时限内最优解，与下界差距 {gap}",
        "sites": "新增设施",
        "category": "类别",
        "exact": "精确解",
        "greedy": "贪心法",
        "units": "达标单元",
        "curve": "新增设施数量与达标社区数（k 曲线）",
        "k": "新增 {k} 处",
        "impossible": "无法通过新增设施达标的单元",
        "reason": "原因",
        "unit": "单元",
        "reaudit": "重新体检：规划后仍未达标的目标单元 {n} 个",
        "lower_bound": "按规划顺序逐个建设（下界）",
        "deficit": "体育场地面积缺口（按街道）",
    },
    "en": {
        "title": "Closing the gaps (补短板)",
        "intro": "The fewest new facilities that make every community that can pass pass, "
        "existing ones kept (exact integer programs), proven by auditing the case again with "
        "them.",
        "status_optimal": "proven optimal",
        "status_time_limit": "best found in the time limit, gap {gap} to the bound",
        "sites": "new sites",
        "category": "category",
        "exact": "exact",
        "greedy": "greedy",
        "units": "units made to pass",
        "curve": "New sites and units passing (the k-curve)",
        "k": "{k} new",
        "impossible": "Units no new site can make pass",
        "reason": "reason",
        "unit": "unit",
        "reaudit": "Re-audit: {n} targeted units still failing after the plan",
        "lower_bound": "the plan's sites built best first (a lower bound)",
        "deficit": "Sports ground area deficit per street",
    },
}


def _label(category: Any, lang: str) -> str:
    return category_label(str(category), "zh" if lang == "zh" else "en")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _curve_svg(curve: pd.DataFrame, rule: str, words: dict[str, str]) -> str:
    """The k-curve of one rule as an inline SVG line chart (numbers only reach the SVG)."""
    part = curve[curve["rule"] == rule]
    if len(part) == 0:
        return ""
    ks = part["k"].to_numpy(dtype=float)
    ys = part["units_passing"].to_numpy(dtype=float)
    width, height, pad = 560.0, 220.0, 36.0
    kx = max(float(ks.max()), 1.0)
    ky = max(float(ys.max()), 1.0)
    points = " ".join(
        f"{pad + (width - 2 * pad) * k / kx:.1f},{height - pad - (height - 2 * pad) * y / ky:.1f}"
        for k, y in zip(ks, ys, strict=True)
    )
    method = str(part["method"].iloc[0]) if "method" in part else "exact"
    note = words["lower_bound"] if method == "plan_order" else words["exact"]
    return (
        f'<figure><svg viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" '
        f'height="{height:.0f}" role="img" aria-label="{_e(words["curve"])}">'
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        'stroke="#555"/>'
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="#555"/>'
        f'<polyline fill="none" stroke="#1a7f37" stroke-width="2" points="{points}"/>'
        f'<text x="{pad}" y="{pad - 8}" font-size="12">{int(ky)}</text>'
        f'<text x="{width - pad}" y="{height - 10}" font-size="12" text-anchor="end">'
        f"{_e(words['k'].format(k=int(kx)))}</text>"
        f'<text x="{pad + 4}" y="{height - 10}" font-size="12">0</text>'
        "</svg>"
        f"<figcaption>{_e(rule)}: {_e(words['curve'])} — {_e(note)}</figcaption></figure>"
    )


def _status_text(plan: Plan, words: dict[str, str]) -> str:
    """Optimal, or the best plan found with its gap."""
    if plan.status == "optimal":
        return words["status_optimal"]
    return words["status_time_limit"].format(gap=f"{100 * plan.gap:.2f}%")


def render_plan_html(plan: Plan, *, lang: str = "zh") -> str:
    """The plan section of report.html (every text escaped).

    Parameters
    ----------
    plan
        The plan.
    lang
        ``"zh"`` or ``"en"``.

    Returns
    -------
    str
        A ``<section id="plan">`` element.
    """
    words = _WORDS.get(lang, _WORDS["en"])
    status = _status_text(plan, words)
    parts = [
        '<section id="plan">',
        f"<h2>{_e(words['title'])}</h2>",
        f"<p>{_e(words['intro'])}</p>",
        f"<p><b>{len(plan.sites)}</b> {_e(words['sites'])} · {_e(status)}</p>",
    ]
    if len(plan.problems):
        rows = "".join(
            "<tr>"
            f"<td>{_e(r['rule'])}</td>"
            f"<td>{_e(_label(r['category'], lang))}</td>"
            f"<td>{_e(r['targets'])}</td>"
            f"<td>{_e(r['sites'])}</td>"
            f"<td>{_e('' if pd.isna(r['greedy_sites']) else int(r['greedy_sites']))}</td>"
            "</tr>"
            for r in plan.problems.to_dict("records")
        )
        parts.append(
            "<table><thead><tr>"
            f"<th></th><th>{_e(words['category'])}</th><th>{_e(words['units'])}</th>"
            f"<th>{_e(words['exact'])}</th><th>{_e(words['greedy'])}</th>"
            f"</tr></thead><tbody>{rows}</tbody></table>"
        )
    for rule in pd.unique(plan.curve["rule"]) if len(plan.curve) else []:
        parts.append(_curve_svg(plan.curve, str(rule), words))
    notes = [zh if lang == "zh" else en for en, zh in plan.notes]
    if notes:
        parts.append("<ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>")
    if len(plan.impossible):
        reason = "reason_zh" if lang == "zh" else "reason"
        rows = "".join(
            f"<tr><td>{_e(r['rule'])}</td><td>{_e(_label(r['category'], lang))}</td>"
            f"<td>{_e(r['unit_id'])}</td><td>{_e(r['name'])}</td><td>{_e(r[reason])}</td></tr>"
            for r in plan.impossible.to_dict("records")
        )
        parts.append(
            f"<h3>{_e(words['impossible'])}</h3><table><thead><tr><th></th>"
            f"<th>{_e(words['category'])}</th><th>{_e(words['unit'])}</th><th></th>"
            f"<th>{_e(words['reason'])}</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    if len(plan.deficits):
        rows = "".join(
            f"<tr><td>{_e(r['rule'])}</td><td>{_e(r['street_id'])}</td>"
            f"<td>{float(r['deficit_m2']):,.0f}</td><td>{_e(r['sites'])}</td></tr>"
            for r in plan.deficits.to_dict("records")
        )
        parts.append(
            f"<h3>{_e(words['deficit'])}</h3><table><thead><tr><th></th>"
            f"<th>{_e(words['unit'])}</th><th>m²</th><th>{_e(words['sites'])}</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )
    if plan.reaudit is not None:
        parts.append(f"<p>{_e(words['reaudit'].format(n=len(plan.unmet())))}</p>")
    parts.append("</section>")
    return "\n".join(parts)


#: The columns of the proposed sites' table in report.docx.
_DOCX_COLUMNS = ("site", "category_zh", "rules", "n_units", "residents_new", "lon", "lat")


def plan_docx_section(plan: Plan) -> Callable[[Any, str], None]:
    """The proposed sites as a section of report.docx (:func:`coverage.document.
    build_report_docx`'s ``sections=``): the solver's status, the sites per category (exact
    and greedy), the units no site can fix, and one row per site as plan.csv holds it.

    Parameters
    ----------
    plan
        The plan.

    Returns
    -------
    callable
        ``add(document, lang)``, which appends the section.
    """

    def add(doc: Any, lang: str) -> None:
        from coverage.document import _table

        words = _WORDS.get(lang, _WORDS["en"])
        doc.add_heading(words["title"], level=1)
        doc.add_paragraph(words["intro"])
        status = _status_text(plan, words)
        doc.add_paragraph(f"{len(plan.sites)} {words['sites']} · {status}")
        if len(plan.problems):
            _table(
                doc,
                ["", words["category"], words["units"], words["exact"], words["greedy"]],
                [
                    [
                        r["rule"],
                        _label(r["category"], lang),
                        r["targets"],
                        r["sites"],
                        "" if pd.isna(r["greedy_sites"]) else int(r["greedy_sites"]),
                    ]
                    for r in plan.problems.to_dict("records")
                ],
            )
        if len(plan.impossible):
            sep = "：" if lang == "zh" else ": "
            doc.add_paragraph(f"{words['impossible']}{sep}{len(plan.impossible)}")
        if len(plan.sites):
            table = plan_table(plan, lang="en")
            if lang != "zh":
                table["category_zh"] = table["category"]
            header = [
                PLAN_CSV_HEADERS_ZH[c] if lang == "zh" else c.removesuffix("_zh")
                for c in _DOCX_COLUMNS
            ]
            _table(
                doc, header, [[rec[c] for c in _DOCX_COLUMNS] for rec in table.to_dict("records")]
            )

    return add


def _plan_map_script(plan: Plan, map_name: str, *, lang: str) -> str:
    """JavaScript that adds the proposed sites and the 现状 / 规划后 switch to a map."""
    from coverage.maps import STATUS_STYLE, _js_json, _js_name

    assert plan.reaudit is not None
    rules = list(pd.unique(plan.sites["rules"])) if len(plan.sites) else []
    rule = str(rules[0]) if rules else str(plan.reaudit.pack.rules[0].id)
    comms = plan.reaudit.communities.to_crs(4326)
    status_col = f"{rule}_status"
    features = []
    for row in comms.itertuples():
        geom = row.geometry
        if geom is None or geom.is_empty or status_col not in comms:
            continue
        simple = geom.simplify(1e-5)
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "id": str(row.community_id),
                    "status": str(getattr(row, status_col)),
                },
                "geometry": json.loads(json.dumps(simple.__geo_interface__)),
            }
        )
    sites = [
        {
            "lat": round(float(p.y), 6),
            "lon": round(float(p.x), 6),
            "text": f"{s} · {_label(c, lang)}",
        }
        for s, c, p in zip(
            plan.sites["site"], plan.sites["category"], plan.sites.geometry, strict=True
        )
    ]
    colors = {s: STATUS_STYLE[s]["color"] for s in STATUS_STYLE}
    words = (
        {"today": "现状", "planned": "规划后", "sites": "规划新增设施"}
        if lang == "zh"
        else {
            "today": "today (现状)",
            "planned": "with the plan (规划后)",
            "sites": "proposed sites",
        }
    )
    data = {"features": features, "sites": sites, "colors": colors, "words": words}
    return f"""(function () {{
  var map = {_js_name(map_name)};
  var d = {_js_json(data)};
  var planned = L.geoJSON({{"type": "FeatureCollection", "features": d.features}}, {{
    style: function (f) {{
      var c = d.colors[f.properties.status] || "#888";
      return {{color: c, weight: 1.5, fillColor: c, fillOpacity: 0.35}};
    }},
    onEachFeature: function (f, layer) {{
      var el = document.createElement("span");
      el.textContent = f.properties.id + " · " + f.properties.status;
      layer.bindTooltip(el);
    }}
  }});
  var sites = L.layerGroup(d.sites.map(function (s) {{
    var el = document.createElement("span");
    el.textContent = s.text;
    return L.circleMarker([s.lat, s.lon], {{radius: 6, color: "#6f42c1", weight: 2,
      fillColor: "#ffffff", fillOpacity: 1}}).bindTooltip(el);
  }}));
  var box = L.control({{position: "topright"}});
  box.onAdd = function () {{
    var div = L.DomUtil.create("div", "leaflet-bar sc-plan-switch");
    div.style.background = "#fff";
    div.style.padding = "4px 8px";
    [["today", false], ["planned", true]].forEach(function (pair) {{
      var label = document.createElement("label");
      label.style.display = "block";
      var input = document.createElement("input");
      input.type = "radio";
      input.name = "sc-plan";
      input.checked = !pair[1];
      input.addEventListener("change", function () {{
        if (pair[1]) {{ planned.addTo(map); sites.addTo(map); }}
        else {{ map.removeLayer(planned); map.removeLayer(sites); }}
      }});
      label.appendChild(input);
      label.appendChild(document.createTextNode(" " + d.words[pair[0]]));
      div.appendChild(label);
    }});
    L.DomEvent.disableClickPropagation(div);
    return div;
  }};
  box.addTo(map);
}})();"""


def _write_map(plan: Plan, path: Path, *, lang: str, offline: bool) -> Path:
    from coverage.maps import _ScriptCode, audit_map, save_map

    assert plan.result is not None
    rules = list(pd.unique(plan.sites["rules"])) if len(plan.sites) else []
    fmap = audit_map(plan.result, rule=str(rules[0]) if rules else None, lang=lang, offline=offline)  # type: ignore[arg-type]
    if plan.reaudit is not None:
        fmap.add_child(_ScriptCode(_plan_map_script(plan, fmap.get_name(), lang=lang)))
    return save_map(fmap, path)


def _file_mode() -> int:
    """The mode a plain new file gets (0o666 less the umask), not mkstemp's 0o600."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _replace(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    Path(tmp).chmod(_file_mode())
    Path(tmp).replace(path)


def write_plan_outputs(
    plan: Plan,
    out_dir: str | Path,
    *,
    lang: str = "zh",
    map: bool = True,
    offline: bool = True,
    service_areas: bool = True,
    outputs: Collection[str] | None = None,
) -> dict[str, Path]:
    """Write the audit's outputs and the plan's into a folder.

    The audit's outputs are written by :func:`coverage.report.write_outputs` (today's audit,
    its staging folder); then the plan's: ``proposed_sites`` in audit.gpkg, plan.csv, the
    ``plan`` of summary.json, the plan section of report.html and the plan layers of
    map.html (see the module docstring).

    Parameters
    ----------
    plan
        The plan (its :attr:`~coverage.plan.Plan.result` is the audit written).
    out_dir
        The folder.
    lang, map, offline, service_areas, outputs
        As in :func:`coverage.report.write_outputs`.

    Returns
    -------
    dict
        Output key -> path, with ``plan_csv``.
    """
    from coverage.report import write_outputs, write_spreadsheet_csv

    assert plan.result is not None
    out = Path(out_dir)
    # the audit's map is written too (so that report.html links to map.html), then replaced
    # by the map with the plan's layers below
    written = write_outputs(
        plan.result,
        out,
        lang=lang,
        map=map,
        offline=offline,
        service_areas=service_areas,
        outputs=outputs,
        docx_sections=[plan_docx_section(plan)],
    )
    if "gpkg" in written:
        sites = plan.sites
        if len(sites):
            sites.to_file(written["gpkg"], layer="proposed_sites", driver="GPKG")
    csv_path = out / "plan.csv"
    fd, tmp = tempfile.mkstemp(dir=out, prefix=".plan.csv.", suffix=".tmp")
    os.close(fd)
    write_spreadsheet_csv(plan_table(plan, lang=lang), tmp)
    Path(tmp).chmod(_file_mode())
    Path(tmp).replace(csv_path)
    written["plan_csv"] = csv_path
    summary_path = written["summary_json"]
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    summary["plan"] = plan_dict(plan)
    summary.setdefault("outputs", {})["plan_csv"] = "plan.csv"
    _replace(summary_path, json.dumps(summary, ensure_ascii=False, indent=2, allow_nan=False))
    if "report_html" in written:
        page = written["report_html"].read_text(encoding="utf-8")
        section = render_plan_html(plan, lang=lang)
        at = page.rfind("</body>")
        page = page[:at] + section + page[at:] if at >= 0 else page + section
        _replace(written["report_html"], page)
    if "map_html" in written:
        written["map_html"] = _write_map(plan, written["map_html"], lang=lang, offline=offline)
    logger.info("plan written to %s", out)
    return written
