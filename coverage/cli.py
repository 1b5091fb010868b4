"""The ``service-coverage`` command line.

Commands: ``audit`` (one case -> a folder of outputs), ``demo`` (the embedded demo case),
``batch`` (many cases on Dask), ``rules`` (the rule packs), ``validate`` (check a case without
running it), ``network`` (build and describe a walking network) and ``cache`` (show or clear
the network cache).

Exit codes
----------
0
    The command ran (an audit exits 0 whatever it found).
1
    Inputs were invalid (a :class:`~coverage.errors.CoverageError`: the message is printed,
    no traceback); for ``batch``, at least one case failed.
2
    Usage error (unknown option, bad value), as typer/click report it.
3
    ``--fail-on-violation`` was given and at least one unit fails at least one rule.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.text import Text

from coverage.errors import ConfigError, CoverageError

if TYPE_CHECKING:
    from coverage.audit import AuditResult
    from coverage.batch import BatchResult
    from coverage.case import Case
    from coverage.load import Finding
    from coverage.rules import RulePack

app = typer.Typer(
    name="service-coverage",
    help="Audit how well a city's public services reach its residents on foot.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)

EXIT_INVALID = 1
EXIT_VIOLATION = 3


class Lang(StrEnum):
    """Report language."""

    zh = "zh"
    en = "en"


@app.callback()
def _root() -> None:
    """Audit how well a city's public services reach its residents on foot."""


def _setup_logging(*, quiet: bool, verbose: bool) -> None:
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    if console.is_terminal:
        from rich.logging import RichHandler

        logging.basicConfig(
            level=level,
            format="%(name)s: %(message)s",
            handlers=[RichHandler(console=console, show_time=False, show_path=False, markup=False)],
        )
    else:
        logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level)
    for noisy in ("distributed", "bokeh", "tornado", "asyncio", "fiona", "pyogrio"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def _fail(exc: CoverageError) -> typer.Exit:
    # the message is data (paths, "[streets] path = ..."): never parse it as rich markup
    console.print(Text.assemble(("error: ", "bold red"), str(exc)), highlight=False)
    return typer.Exit(code=EXIT_INVALID)


@contextmanager
def _progress(*, enabled: bool) -> Iterator[Callable[[str], None]]:
    """A ``step(text)`` function: a rich spinner on a terminal, log lines otherwise."""
    log = logging.getLogger("coverage.cli")
    if not enabled:
        yield lambda text: log.debug("%s", text)
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),  # paths and names are data
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("starting", total=None)
        yield lambda text: progress.update(task, description=text)


def _show_progress(*, quiet: bool) -> bool:
    return console.is_terminal and not quiet


# ---- options shared by audit, demo and batch ----------------------------------------------

OutOption = Annotated[Path, typer.Option("--out", "-o", help="Output folder (created).")]
PackOption = Annotated[
    str | None,
    typer.Option(
        "--pack",
        help="Rule pack name (see `rules`) or YAML file; 'all' or a comma list (a,b) audits "
        "several packs in one run; default the case's.",
    ),
]


def _check_speed(value: float | None) -> float | None:
    from coverage.settings import check_walk_speed

    try:
        return None if value is None else check_walk_speed(value, where="--speed-kmh")
    except CoverageError as exc:
        raise typer.BadParameter(str(exc)) from exc


def _check_share(value: float | None) -> float | None:
    from coverage.settings import check_population_share

    try:
        return None if value is None else check_population_share(value, where="--share")
    except CoverageError as exc:
        raise typer.BadParameter(str(exc)) from exc


SpeedOption = Annotated[
    float | None,
    typer.Option(
        "--speed-kmh",
        callback=_check_speed,
        help="Walking speed, 1-8 km/h; default the case's or the pack's.",
    ),
]
ShareOption = Annotated[
    float | None,
    typer.Option(
        "--share",
        callback=_check_share,
        help="Share of residents a reach rule requires, in (0, 1]; default the pack's.",
    ),
]
LangOption = Annotated[Lang, typer.Option("--lang", help="Language of the report and map.")]
OnlineOption = Annotated[
    bool,
    typer.Option(
        "--online/--offline",
        help="--online: load Leaflet from a CDN and add OpenStreetMap base maps (map.html then "
        "needs internet access). Default --offline: map.html is self-contained and works "
        "without internet access.",
    ),
]
NoMapOption = Annotated[bool, typer.Option("--no-map", help="Do not write map.html.")]


def _check_tiles(value: str | None) -> str | None:
    from coverage.settings import check_tile_url

    if value is None:
        return None
    try:
        return check_tile_url(value, where="--tiles")
    except CoverageError as exc:
        raise typer.BadParameter(str(exc)) from exc


def _check_tiles_crs(value: str | None) -> str | None:
    from coverage.settings import check_tile_crs

    if value is None:
        return None
    try:
        return check_tile_crs(value, where="--tiles-crs")
    except CoverageError as exc:
        raise typer.BadParameter(str(exc)) from exc


TilesOption = Annotated[
    str | None,
    typer.Option(
        "--tiles",
        callback=_check_tiles,
        help="A tile server under map.html (an intranet's 天地图 or the bureau's own): a URL "
        "template such as http://tiles.local/{z}/{x}/{y}.png. Replaces the case file's [map] "
        "tiles. Amap/Tencent hosts are drawn in GCJ-02 and the map's data is shifted to match. "
        "The offline base map stays one click away.",
    ),
]
TilesCrsOption = Annotated[
    str | None,
    typer.Option(
        "--tiles-crs",
        callback=_check_tiles_crs,
        help="wgs84 or gcj02: what --tiles is drawn in (default: gcj02 for Amap/Tencent hosts, "
        "else wgs84).",
    ),
]
NoAreasOption = Annotated[
    bool,
    typer.Option(
        "--no-service-areas",
        help="Do not compute walking service areas: the service_areas layer of audit.gpkg is "
        "empty and the map has none (they are the slowest output of a city-size case).",
    ),
]


def _check_outputs(value: str | None) -> str | None:
    from coverage.report import check_outputs

    if value is None:
        return None
    try:
        check_outputs(value.split(","))
    except CoverageError as exc:
        raise typer.BadParameter(str(exc)) from exc
    return value


OutputsOption = Annotated[
    str | None,
    typer.Option(
        "--outputs",
        callback=_check_outputs,
        help="Write only these outputs, comma-separated: gpkg, csv (communities, streets, "
        "findings = the list to rectify, data findings), report, map, docx (report.docx), "
        "static (static-maps/: PNG and SVG per rule); e.g. --outputs report,csv. "
        "summary.json is always written. Default: all.",
    ),
]
FailOption = Annotated[
    bool,
    typer.Option(
        "--fail-on-violation", help="Exit with code 3 when any unit fails any rule (for CI)."
    ),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")]
VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")]
CacheOption = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir",
        help="Network cache folder (default $SERVICE_COVERAGE_CACHE or ~/.cache/service-coverage).",
    ),
]


def _run_audit(
    config: Path,
    out: Path,
    *,
    pack: str | None,
    speed_kmh: float | None,
    share: float | None,
    lang: Lang,
    online: bool,
    no_map: bool,
    fail_on_violation: bool,
    quiet: bool,
    cache_dir: Path | None,
    no_service_areas: bool = False,
    outputs: str | None = None,
    tiles: str | None = None,
    tiles_crs: str | None = None,
) -> None:
    from coverage.audit import audit_case, check_origin_grid
    from coverage.case import Case
    from coverage.network import build_walk_network
    from coverage.report import any_failing, check_output_folder, write_outputs
    from coverage.rules import load_pack
    from coverage.wording import shareable, step_text

    log = logging.getLogger("coverage.cli")
    try:
        check_output_folder(out)  # before the work, not after it
        with _progress(enabled=_show_progress(quiet=quiet)) as show:

            def step(text: str, detail: str = "") -> None:
                show(step_text(text, lang.value, detail=detail))

            step("reading case", config.name)
            started = time.perf_counter()
            case = Case.from_config(config)
            load_seconds = time.perf_counter() - started
            load_pack(pack or case.pack)  # a pack that audit_case would refuse, refused now
            check_origin_grid(case)  # before the network is built
            network = None
            if case.osm_path is not None:
                step("walking network of", case.osm_path.name)
                network = build_walk_network(case.osm_path, cache_dir=cache_dir)
            step("origins, snapping, searches and rules")
            result = audit_case(
                case,
                pack=pack,
                walk_speed_kmh=speed_kmh,
                min_population_share=share,
                network=network,
                cache_dir=cache_dir,
            )
            if network is not None and network.report is not None:
                # audit_case was given the network: report what building/loading it took
                result.timings = {**result.timings, "network": network.report.build_seconds}
            result.timings = {"load": load_seconds, **result.timings}
            if tiles is not None:  # --tiles replaces the case's tile server, crs and credit
                result.provenance["map"] = {"tiles": tiles} | (
                    {"crs": tiles_crs} if tiles_crs else {}
                )
            elif tiles_crs is not None:
                result.provenance["map"] = {
                    **(result.provenance.get("map") or {}),
                    "crs": tiles_crs,
                }
            written = write_outputs(
                result,
                out,
                lang=lang.value,
                map=not no_map,
                offline=not online,
                service_areas=not no_service_areas,
                outputs=None if outputs is None else outputs.split(","),
                on_step=step,
            )
    except CoverageError as exc:
        raise _fail(exc) from exc
    log.debug("timings: %s", result.timings)
    if not quiet:
        typer.echo(result.describe(lang.value))
        if result.pack.parts:  # several packs: which standard fails where
            from coverage.standards import standards_sentences

            typer.echo("")
            typer.echo("\n".join(standards_sentences(result, lang=lang.value)))
        findings = _findings_text(result, lang.value)
        if findings:
            typer.echo("")
            typer.echo(findings)
        typer.echo("")
        zh = lang is Lang.zh
        typer.echo(f"{'输出文件夹：' if zh else 'output folder: '}{shareable(str(out))}")
        for key, path in written.items():
            what = _OUTPUT_WORDS_ZH.get(key, key) if zh else key
            typer.echo(f"  {what:<16} {path.name}")
    if fail_on_violation and any_failing(result):
        failing = ", ".join(
            f"{r['rule']} ({r['failing']})"
            for r in result.summary.to_dict("records")
            if r["failing"]
        )
        console.print(f"rules with failing units: {failing}", highlight=False, markup=False)
        raise typer.Exit(code=EXIT_VIOLATION)


#: What each output is, on the terminal under --lang zh (keys of report.OUTPUT_FILES).
_OUTPUT_WORDS_ZH = {
    "gpkg": "GIS 图层",
    "communities_csv": "社区表",
    "streets_csv": "街道表",
    "summary_json": "机读摘要",
    "findings_csv": "整改清单",
    "data_findings_csv": "数据问题清单",
    "report_html": "报告网页",
    "report_docx": "报告文档",
    "map_html": "交互地图",
    "static_maps": "静态地图",
}
#: Ids shown per finding on the terminal (all are in data_findings.csv).
_TERMINAL_IDS = 10
_FINDING_WORDS = {
    "en": {
        "head": "findings (all ids in data_findings.csv):",
        "warning": "warning",
        "error": "error",
        "ids": "ids",
        "more": "{n} in all",
        "uncategorised": "{n} of {total} services have no category and feed no rule",
    },
    "zh": {
        "head": "发现（全部编号见 data_findings.csv）：",
        "warning": "警告",
        "error": "错误",
        "ids": "编号",
        "more": "共 {n} 个",
        "uncategorised": "{total} 个服务设施中有 {n} 个未归类，不参与任何规则",
    },
}


def _findings_text(result: AuditResult, lang: str) -> str:
    """The audit's findings (off the network, islands, categories without facilities,
    uncategorised services, ...) as terminal lines in ``lang``; empty if there are none."""
    from coverage.wording import finding_text, layer_text

    words = _FINDING_WORDS.get(lang, _FINDING_WORDS["en"])
    lines: list[str] = []
    for f in result.findings:
        message = finding_text(f, lang)
        line = f"  {words.get(f.severity, f.severity)} [{layer_text(f.layer, lang)}] {message}"
        if f.ids and f.ids[0] not in f.message:  # load findings name their ids already
            shown = ", ".join(f.ids[:_TERMINAL_IDS])
            more = (
                f", … ({words['more'].format(n=len(f.ids))})" if len(f.ids) > _TERMINAL_IDS else ""
            )
            line += f" ({words['ids']}: {shown}{more})"
        lines.append(line)
    categories = result.services.get("category")
    if categories is not None and int(categories.isna().sum()):
        text = words["uncategorised"].format(
            n=int(categories.isna().sum()), total=len(result.services)
        )
        lines.append(f"  {words['warning']} [{layer_text('services', lang)}] {text}")
    return "\n".join([words["head"], *lines]) if lines else ""


@app.command(
    help="Audit a case and write audit.gpkg, communities.csv, streets.csv, findings.csv (the "
    "list to rectify), data_findings.csv, summary.json, report.html, report.docx, static-maps/ "
    "and map.html into --out. Walking distances beyond the search limit are inf (audit.gpkg, "
    "CSV and in memory alike).\n\nExit code 0 when the audit ran, whatever it found; 1 when "
    "the inputs are invalid; 3 with --fail-on-violation when any unit fails any rule."
)
def audit(
    case_config: Annotated[Path, typer.Argument(help="The case's TOML configuration file.")],
    *,
    out: OutOption,
    pack: PackOption = None,
    speed_kmh: SpeedOption = None,
    share: ShareOption = None,
    lang: LangOption = Lang.zh,
    online: OnlineOption = False,
    no_map: NoMapOption = False,
    no_service_areas: NoAreasOption = False,
    outputs: OutputsOption = None,
    tiles: TilesOption = None,
    tiles_crs: TilesCrsOption = None,
    fail_on_violation: FailOption = False,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
    cache_dir: CacheOption = None,
) -> None:
    """Audit a case into a folder of outputs (see the module docstring for exit codes)."""
    _setup_logging(quiet=quiet, verbose=verbose)
    _run_audit(
        case_config,
        out,
        pack=pack,
        speed_kmh=speed_kmh,
        share=share,
        lang=lang,
        online=online,
        no_map=no_map,
        fail_on_violation=fail_on_violation,
        quiet=quiet,
        cache_dir=cache_dir,
        no_service_areas=no_service_areas,
        outputs=outputs,
        tiles=tiles,
        tiles_crs=tiles_crs,
    )


@app.command(
    "plan",
    help="Plan the fewest new facilities (补短板) that make every community pass, existing ones "
    "kept: audit the case, solve exact integer programs, audit it again with the sites, and "
    "write the audit's outputs plus plan.csv, the proposed_sites layer of audit.gpkg, the plan "
    "in summary.json, report.html and map.html into --out.\n\nExit code 0 when the plan ran "
    "(also when the solver stopped at --time-limit: a warning gives the gap); 1 when the "
    "inputs are invalid.",
)
def plan_command(
    case_config: Annotated[Path, typer.Argument(help="The case's TOML configuration file.")],
    *,
    out: OutOption,
    rules: Annotated[
        str | None,
        typer.Option(
            "--rules",
            help="Rule ids to plan, comma-separated (default: every rule a new site can fix).",
        ),
    ] = None,
    category: Annotated[
        str | None,
        typer.Option("--category", help="Categories to plan, comma-separated (default: all)."),
    ] = None,
    candidates: Annotated[
        Path | None,
        typer.Option(
            "--candidates",
            help="Candidate sites (points or polygons: vacant lots, community rooms); default "
            "points on the walking network every 200 m.",
        ),
    ] = None,
    max_new: Annotated[
        int | None, typer.Option("--max-new", min=0, help="At most this many new sites.")
    ] = None,
    time_limit: Annotated[
        float | None,
        typer.Option(
            "--time-limit",
            min=0.0,
            help="Seconds per integer program (default: none; give one on a large case, where "
            "the exact program is not proven in minutes: the city benchmark uses 90).",
        ),
    ] = None,
    pack: PackOption = None,
    speed_kmh: SpeedOption = None,
    share: ShareOption = None,
    lang: LangOption = Lang.zh,
    online: OnlineOption = False,
    no_map: NoMapOption = False,
    no_service_areas: NoAreasOption = False,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
    cache_dir: CacheOption = None,
) -> None:
    """Plan new facilities for a case and write the outputs."""
    _setup_logging(quiet=quiet, verbose=verbose)
    from coverage.audit import audit_case
    from coverage.case import Case
    from coverage.plan import plan as make_plan
    from coverage.plan_report import write_plan_outputs
    from coverage.report import check_output_folder

    try:
        check_output_folder(out)
        with _progress(enabled=_show_progress(quiet=quiet)) as step:
            step(f"reading case {case_config}")
            case = Case.from_config(case_config)
            step("auditing today's services")
            result = audit_case(
                case,
                pack=pack,
                walk_speed_kmh=speed_kmh,
                min_population_share=share,
                cache_dir=cache_dir,
            )
            step("planning new sites")
            try:
                planned = make_plan(
                    result,
                    rules=None if rules is None else [r.strip() for r in rules.split(",")],
                    categories=None
                    if category is None
                    else [c.strip() for c in category.split(",")],
                    candidates=candidates,
                    max_new=max_new,
                    time_limit=time_limit,
                    case=case,
                )
            except ValueError as exc:
                if isinstance(exc, CoverageError):
                    raise
                raise typer.BadParameter(str(exc)) from exc
            step("writing outputs")
            written = write_plan_outputs(
                planned,
                out,
                lang=lang.value,
                map=not no_map,
                offline=not online,
                service_areas=not no_service_areas,
            )
    except CoverageError as exc:
        raise _fail(exc) from exc
    if planned.status == "time_limit":
        console.print(
            f"warning: the solver stopped at --time-limit; the plan is the best found "
            f"(gap {100 * planned.gap:.2f}%)",
            highlight=False,
            markup=False,
        )
    if not quiet:
        typer.echo(planned.describe(lang.value))
        typer.echo("")
        for key, path in written.items():
            typer.echo(f"{key:<16} {path}")


def demo_config() -> Path:
    """The embedded demo case (``data/demo/case.toml`` of the source tree).

    Raises
    ------
    ConfigError
        If the package is not installed from its repository (the demo data is not packaged).
    """
    import coverage

    path = Path(coverage.__file__).resolve().parents[1] / "data" / "demo" / "case.toml"
    if not path.is_file():
        msg = (
            f"the demo case is not here: {path}. It ships with the source repository, not "
            "with the package: clone the repository and install it with `pip install -e .` "
            "(or `make demo`), or run `service-coverage audit YOUR_CASE.toml --out DIR`"
        )
        raise ConfigError(msg)
    return path


@app.command()
def demo(
    *,
    out: OutOption = Path("out/demo"),
    lang: LangOption = Lang.zh,
    online: OnlineOption = False,
    no_map: NoMapOption = False,
    no_service_areas: NoAreasOption = False,
    outputs: OutputsOption = None,
    tiles: TilesOption = None,
    tiles_crs: TilesCrsOption = None,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
    cache_dir: CacheOption = None,
) -> None:
    """Audit the embedded demo case (central Chengdu, Wuhan "1+10" rules) into --out."""
    _setup_logging(quiet=quiet, verbose=verbose)
    try:
        config = demo_config()
    except CoverageError as exc:
        raise _fail(exc) from exc
    _run_audit(
        config,
        out,
        pack=None,
        speed_kmh=None,
        share=None,
        lang=lang,
        online=online,
        no_map=no_map,
        fail_on_violation=False,
        quiet=quiet,
        cache_dir=cache_dir,
        no_service_areas=no_service_areas,
        outputs=outputs,
        tiles=tiles,
        tiles_crs=tiles_crs,
    )


@app.command()
def rules(
    pack: Annotated[
        str | None, typer.Argument(help="A pack name or YAML file; default: every shipped pack.")
    ] = None,
    *,
    lang: LangOption = Lang.en,
) -> None:
    """List the rule packs and their rules: id, unit, threshold and the source sentence
    (``--lang zh``: headers, units, thresholds and category names in Chinese)."""
    from rich.table import Table

    from coverage.rules import list_packs, load_pack
    from coverage.standards import threshold_text

    zh = lang.value == "zh"
    out = Console(soft_wrap=False)
    try:
        packs = [load_pack(pack)] if pack else [load_pack(name) for name in list_packs()]
    except CoverageError as exc:
        raise _fail(exc) from exc
    packs = [part for p in packs for part in (p.parts or (p,))]  # --pack all, a,b: each pack
    heads = ("编号", "单元", "规则", "阈值", "依据原文") if zh else _RULES_HEADS
    for p in packs:
        # pack texts are data (a user's YAML): Text, never rich markup
        caption = (
            f"步行速度 {p.walk_speed_kmh:g} 公里/小时；可达性规则要求 "
            f"{100 * p.min_population_share:g}% 的居民可到达。{p.reference}"
            if zh
            else f"walking speed {p.walk_speed_kmh:g} km/h; reach rules need "
            f"{100 * p.min_population_share:g}% of residents. {p.reference}"
        )
        table = Table(
            title=Text(f"{p.id} (v{p.version}): {p.label(lang.value)}"),
            caption=Text(caption),
            show_lines=True,
        )
        for i, head in enumerate(heads):
            table.add_column(head, no_wrap=i < 2, overflow="fold")
        for rule in p.rules:
            label = rule.label(lang.value)
            if rule.unverified:
                label += (
                    ("（阈值未核实，已启用）" if zh else " (UNVERIFIED threshold, switched on)")
                    if rule.decides
                    else (
                        "（阈值未核实，未启用）" if zh else " (unverified threshold: switched off)"
                    )
                )
            source = ("；" if zh else "; ").join(
                v for v in (rule.source, rule.document, rule.date) if v
            )
            if rule.walk_speed_source:
                source += (
                    "；步行速度依据：" if zh else "; walking speed: "
                ) + rule.walk_speed_source
            unit = {"community": "社区", "street": "街道"}[rule.unit] if zh else rule.unit
            table.add_row(
                *(
                    Text(v)
                    for v in (
                        rule.id,
                        unit,
                        label,
                        threshold_text(rule, p, lang=lang.value),
                        source,
                    )
                )
            )
        out.print(table)


_RULES_HEADS = ("id", "unit", "rule", "threshold", "source")


def _undecidable_rules(case: Case, pack: RulePack) -> list[Finding]:
    """One warning per rule the data cannot decide: none of its categories has a service, or a
    windows rule has no window count. (Single categories without any facility are reported by
    :meth:`coverage.case.Case.validate`, with the rules they feed.)"""
    from coverage.audit import service_categories
    from coverage.load import Finding

    present = set(service_categories(case.services)["category"])
    findings: list[Finding] = []
    for rule in pack.rules:
        needed = rule.categories if rule.kind == "reach" else rule.all_categories
        missing = [c for c in needed if c not in present]
        if missing and len(missing) == len(needed):
            findings.append(
                Finding(
                    "warning",
                    "services",
                    f"{rule.id} ({rule.label('en')}): no {', '.join(missing)} in the data; this "
                    "rule is not evaluable. Add these services, or check their categories",
                    tuple(missing),
                )
            )
        if rule.kind == "windows" and not missing:
            windows = case.services.get("windows")
            if windows is None or windows.notna().sum() == 0:
                findings.append(
                    Finding(
                        "warning",
                        "services",
                        f"{rule.id} ({rule.label('en')}): no window counts in the data "
                        "([services] windows); this rule cannot be decided from presence alone",
                    )
                )
    return findings


def _predicted_errors(case: Case, *, cache_dir: Path | None) -> list[Finding]:
    """What `audit` would refuse beyond the load: the OSM file, the origin grid, and inputs
    that do not cover the same place (:func:`coverage.audit.check_case_overlap`)."""
    from coverage.audit import check_case_overlap, check_origin_grid
    from coverage.load import Finding
    from coverage.network import build_walk_network
    from coverage.overlap import InputMismatchError

    findings: list[Finding] = []
    try:
        check_origin_grid(case)
    except CoverageError as exc:
        findings.append(Finding("error", "communities", str(exc)))
    if case.osm_path is not None:
        try:  # the network is cached: `audit` reuses it
            net = build_walk_network(case.osm_path, cache_dir=cache_dir)
        except CoverageError as exc:
            findings.append(Finding("error", "network", str(exc)))
        else:
            assert net.report is not None
            logging.getLogger("coverage.cli").info("%s", net.report)
            try:
                check_case_overlap(case, network=net)
            except InputMismatchError as exc:
                findings.append(Finding("error", "network", str(exc)))
            except CoverageError as exc:
                findings.append(Finding("error", "communities", str(exc)))
    return findings


@app.command()
def validate(
    case_config: Annotated[Path, typer.Argument(help="The case's TOML configuration file.")],
    *,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
    cache_dir: CacheOption = None,
) -> None:
    """Check a case (files, columns, ids, geometries, settings, rule pack, OSM file, origin
    grid, rules the data cannot decide) without running the audit.

    With an OSM file, also builds (or loads from the cache) the walking network and checks
    that it, the boundaries and the services cover the same place, as `audit` does.
    Prints what was found; exit code 1 if `audit` would refuse the case.
    """
    from coverage.case import Case
    from coverage.load import ValidationReport
    from coverage.rules import load_pack

    _setup_logging(quiet=quiet, verbose=verbose)
    try:
        case = Case.from_config(case_config)
        pack = load_pack(case.pack)
    except CoverageError as exc:
        raise _fail(exc) from exc
    report = ValidationReport(
        [
            *case.validate(),
            *_predicted_errors(case, cache_dir=cache_dir),
            *_undecidable_rules(case, pack),
        ]
    )
    typer.echo(case.describe())
    typer.echo(str(report))
    if case.osm_path is None:
        typer.echo('note: no [network] osm file: `audit` needs one (add osm = "city.osm.pbf")')
    if not report.ok:
        raise typer.Exit(code=EXIT_INVALID)


def _size(n_bytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n_bytes < 1024 or unit == "GB":
            return f"{n_bytes:,.0f} {unit}" if unit == "B" else f"{n_bytes:,.1f} {unit}"
        n_bytes /= 1024
    return f"{n_bytes:,.1f} GB"


@app.command()
def cache(
    *,
    clear: Annotated[bool, typer.Option("--clear", help="Delete every file of the cache.")] = False,
    cache_dir: CacheOption = None,
) -> None:
    """Show where the cache is and what it holds (or empty it with --clear).

    Each file is one OSM file's walking network (with its snapping index), or the buildings or
    land use read from one, keyed by the file's contents, or the residential origins of a case,
    keyed by its inputs; a file that cannot be read is rebuilt on its next use.
    """
    from coverage.network import cache_entries, clear_cache, default_cache_dir

    folder = (cache_dir if cache_dir is not None else default_cache_dir()).absolute()
    entries = cache_entries(folder)
    if clear:
        deleted = clear_cache(folder)
        freed = sum(e.size_bytes for e in entries if e.path in set(deleted))
        typer.echo(f"cache {folder}: deleted {len(deleted)} file(s), {_size(freed)}")
        return
    typer.echo(f"cache: {folder}")
    if not entries:
        typer.echo("  empty")
        return
    for entry in entries:
        if entry.error:
            what = entry.error
        elif entry.kind == "network":
            what = (
                f"{entry.osm_file or 'unknown OSM file'}; {entry.nodes or 0:,} nodes, "
                f"{entry.edges or 0:,} edges"
            )
        elif entry.kind == "origins":
            what = f"residential origins, {entry.rows or 0:,} rows"
        else:
            what = (
                f"{entry.osm_file or 'unknown OSM file'}; {entry.reader or 'features'}, "
                f"{entry.rows or 0:,} rows"
            )
        if entry.created_utc and not entry.error:
            what += f"; built {entry.created_utc}"
        typer.echo(f"  {entry.kind:<13} {entry.path.name}  {_size(entry.size_bytes):>10}  {what}")
    total = sum(e.size_bytes for e in entries)
    typer.echo(f"  total: {len(entries)} file(s), {_size(total)}")


@app.command(
    help="Audit many cases in parallel on Dask: one folder per case plus batch_summary.csv "
    "and batch_summary.json.\n\nEach distinct OSM file's network is built once before the "
    "cases start. Cases whose inputs and parameters are unchanged since their last successful "
    "audit are skipped (--force re-runs them).\n\nExit code 1 if any case failed, 3 with "
    "--fail-on-violation when any unit of any case fails a rule, else 0."
)
def batch(
    case_configs: Annotated[
        list[Path], typer.Argument(help="Case TOML files (one output folder each).")
    ],
    *,
    out: OutOption,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="Local worker processes (default 2)."),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="Address of a running Dask scheduler (tcp://host:8786) instead of a local "
            "cluster; --cache-dir must then be on storage every worker can read.",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Re-run cases whose inputs are unchanged.")
    ] = False,
    with_map: Annotated[bool, typer.Option("--map", help="Also write map.html per case.")] = False,
    pack: PackOption = None,
    speed_kmh: SpeedOption = None,
    lang: LangOption = Lang.zh,
    fail_on_violation: FailOption = False,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
    cache_dir: CacheOption = None,
) -> None:
    """Audit many cases on Dask (see :mod:`coverage.batch`)."""
    from coverage.batch import batch_audit

    _setup_logging(quiet=quiet, verbose=verbose)
    try:
        with _progress(enabled=_show_progress(quiet=quiet)) as step:
            result = batch_audit(
                case_configs,
                out,
                workers=workers,
                scheduler=scheduler,
                pack=pack,
                speed_kmh=speed_kmh,
                lang=lang.value,
                map=with_map,
                force=force,
                cache_dir=cache_dir,
                on_step=step,
            )
    except CoverageError as exc:
        raise _fail(exc) from exc
    if not quiet:
        _print_batch(result)
    if result.failed:
        raise typer.Exit(code=EXIT_INVALID)
    if fail_on_violation and result.any_failing:
        raise typer.Exit(code=EXIT_VIOLATION)


def _print_batch(result: BatchResult) -> None:
    from rich.table import Table

    # every cell is a Text: case names, paths and messages are data, never rich markup
    table = Table(title=Text(f"batch: {len(result.cases)} cases -> {result.out_dir}"))
    for column in ("case", "status", "passing/failing", "seconds", "error"):
        table.add_column(column, overflow="fold")
    for rec in result.cases:
        counts = " ".join(
            f"{rid} {c.get('passing', 0)}/{c.get('failing', 0)}"
            for rid, c in (rec.get("rules") or {}).items()
        )
        seconds = rec.get("seconds")
        table.add_row(
            Text(str(rec["case"])),
            Text(str(rec["status"])),
            Text(counts),
            Text("" if seconds is None else f"{seconds:.1f}"),
            Text(str(rec.get("error") or "")),
        )
    Console(soft_wrap=False).print(table)
    typer.echo(f"summary: {result.summary_csv}\n         {result.summary_json}")


@app.command()
def network(
    osm_file: Annotated[Path, typer.Argument(help="An .osm, .osm.bz2 or .osm.pbf file.")],
    *,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Build from the file even if a cached copy exists.")
    ] = False,
    cache_dir: Annotated[
        Path | None, typer.Option(help="Network cache folder (default ~/.cache/service-coverage).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Build the walking network of an OSM file and print what it contains."""
    from coverage.network import build_walk_network

    _setup_logging(quiet=quiet, verbose=verbose)
    try:
        with _progress(enabled=_show_progress(quiet=quiet)) as step:
            step(f"walking network of {osm_file.name}")
            net = build_walk_network(osm_file, cache=not no_cache, cache_dir=cache_dir)
    except CoverageError as exc:
        raise _fail(exc) from exc
    assert net.report is not None
    if as_json:
        typer.echo(json.dumps(net.report.as_dict(), ensure_ascii=False, indent=2))
    else:
        typer.echo(str(net.report))


def main() -> None:
    """Entry point of the console script."""
    app()


if __name__ == "__main__":
    main()
