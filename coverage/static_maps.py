"""Print-ready static maps of every rule, drawn with matplotlib (Agg, no display needed).

One map per rule of the pack (:func:`rule_figure`): the units the rule judges, coloured by
their decision (pass / fail / not evaluable, the colours of the report), over the walking
network the audit searched; the title (rule id and title), the case, a legend with the count
of units of each decision, a scale bar, a north arrow, and a line naming the data sources and
the date of the audit. Drawn in the local UTM zone, so that the scale bar is true across the
map (grid north and true north differ by less than 2° within a UTM zone, invisible at this
scale).

:func:`render_rule_maps` gives the images as bytes (PNG and SVG) for ``report.html`` (inline
data URIs: the report stays one file that opens offline) and ``report.docx``;
:func:`write_static_maps` writes them as files, ``<rule id>.png`` and ``<rule id>.svg``.

Chinese text needs a CJK font. The first of :data:`CJK_FONTS` that matplotlib finds is used
(``fonts-noto-cjk`` on Debian/Ubuntu, which the CI installs; Microsoft YaHei or SimHei on
Windows, PingFang on macOS); without one, a warning says what to install and the Chinese
characters show as empty boxes, the rest of the map unchanged.
"""

from __future__ import annotations

import io
import logging
import re
import warnings
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from coverage.rules import FAIL, NOT_EVALUABLE, PASS
from coverage.wording import check_lang, date_text, status_text, unit_plural

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from coverage.audit import AuditResult
    from coverage.rules import Rule

__all__ = [
    "CJK_FONTS",
    "STATUS_COLORS",
    "Basemap",
    "RuleMap",
    "burn_segments",
    "cjk_font",
    "network_rgba",
    "render_rule_maps",
    "rule_figure",
    "write_static_maps",
]

logger = logging.getLogger(__name__)

#: Fill colour of each decision (the report's colours).
STATUS_COLORS = {PASS: "#2da44e", FAIL: "#cf222e", NOT_EVALUABLE: "#afb8c1"}
#: Font families tried, in order, for Chinese text.
CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Hiragino Sans GB",
    "Heiti SC",
    "Arial Unicode MS",
)
#: Image formats of the maps: PNG for screens and documents, SVG for print and editing.
FORMATS = ("png", "svg")
#: Size of a map in inches (A4 landscape less margins) and resolution of the PNG.
FIGSIZE_IN = (10.0, 7.0)
DPI = 150
_NICE_M = (50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10_000, 20_000, 50_000, 100_000)
_WORDS: dict[str, dict[str, str]] = {
    "zh": {
        "network": "步行路网",
        "sources": "数据来源：{files}；路网与设施 OpenStreetMap {attribution}（ODbL）；{date}",
        "date": "审计时间 {date}",
        "north": "北",
        "legend": "{unit}（共 {n} 个）",
        "sep": "、",
    },
    "en": {
        "network": "walking network",
        "sources": "Data: {files}; network and services OpenStreetMap {attribution} (ODbL); {date}",
        "date": "audited {date}",
        "north": "N",
        "legend": "{unit} ({n} in all)",
        "sep": ", ",
    },
}
_ATTRIBUTION = "© OpenStreetMap contributors"


@dataclass(frozen=True)
class RuleMap:
    """One rule's static map as images.

    Attributes
    ----------
    rule_id
        The rule.
    title
        The map's title (rule id and title in the language of the map).
    images
        Format (``"png"``, ``"svg"``) -> the file's bytes.
    """

    rule_id: str
    title: str
    images: Mapping[str, bytes]


#: File names of CJK fonts, searched when matplotlib's font cache predates their install.
_CJK_FILES = re.compile(
    r"(NotoSansCJK|NotoSansSC|SourceHanSans|wqy-|msyh|simhei|PingFang|Hiragino Sans GB|STHeiti)",
    re.IGNORECASE,
)


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The first font family of :data:`CJK_FONTS` installed, or ``None`` (logged once).

    matplotlib lists the fonts it found when it built its font cache; a CJK font installed
    later (``apt-get install fonts-noto-cjk`` after matplotlib first ran) is looked for among
    the system's font files and added for this process.
    """
    from matplotlib import font_manager

    def installed() -> set[str]:
        return {f.name for f in font_manager.fontManager.ttflist}

    names = installed()
    if not names & set(CJK_FONTS):
        for path in font_manager.findSystemFonts():
            if _CJK_FILES.search(Path(path).name):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError) as exc:  # an unreadable font file
                    logger.debug("font %s not usable: %s", path, exc)
        names = installed()
    for name in CJK_FONTS:
        if name in names:
            return name
    logger.warning(
        "no CJK font found for the static maps (tried %s): Chinese text will show as boxes. "
        "Install one, e.g. `apt-get install fonts-noto-cjk` (Debian/Ubuntu)",
        ", ".join(CJK_FONTS[:3]),
    )
    return None


def _font_family() -> list[str]:
    font = cjk_font()
    return [font, "DejaVu Sans"] if font else ["DejaVu Sans"]


def _nice_length_m(width_m: float) -> float:
    """A round scale-bar length near a fifth of the map's width."""
    target = width_m / 5
    fits = [n for n in _NICE_M if n <= target]
    return float(fits[-1] if fits else _NICE_M[0])


def _length_text(metres: float, lang: str) -> str:
    if metres >= 1000:
        km = f"{metres / 1000:g}"
        return f"{km} 公里" if lang == "zh" else f"{km} km"
    return f"{metres:g} 米" if lang == "zh" else f"{metres:g} m"


def _scale_bar(ax: Axes, *, lang: str) -> None:
    """A two-tone scale bar in the lower left corner (axes in metres)."""
    from matplotlib.patches import Rectangle

    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    length = _nice_length_m(x1 - x0)
    height = (y1 - y0) * 0.012
    x = x0 + (x1 - x0) * 0.04
    y = y0 + (y1 - y0) * 0.05
    for i, color in enumerate(("black", "white", "black", "white")):
        ax.add_patch(
            Rectangle(
                (x + i * length / 4, y),
                length / 4,
                height,
                facecolor=color,
                edgecolor="black",
                linewidth=0.6,
                zorder=10,
            )
        )
    ax.text(x, y + 1.8 * height, "0", ha="center", va="bottom", fontsize=8, zorder=10)
    ax.text(
        x + length,
        y + 1.8 * height,
        _length_text(length, lang),
        ha="center",
        va="bottom",
        fontsize=8,
        zorder=10,
        gid="scale-bar",
    )


def _north_arrow(ax: Axes, *, lang: str) -> None:
    """An arrow pointing up (grid north of the UTM zone) in the upper right corner."""
    ax.annotate(
        _WORDS[lang]["north"],
        xy=(0.95, 0.95),
        xytext=(0.95, 0.85),
        xycoords="axes fraction",
        textcoords="axes fraction",
        ha="center",
        va="center",
        fontsize=11,
        fontweight="bold",
        arrowprops={"arrowstyle": "-|>", "facecolor": "black", "linewidth": 1.5},
        zorder=10,
        gid="north-arrow",
    )


def _network_segments(result: AuditResult, crs: Any) -> np.ndarray | None:
    """The walking network's segments as an (n, 2, 2) array in ``crs`` (None without one)."""
    net = result.network
    if net is None or net.n_edges == 0:
        return None
    from pyproj import Transformer

    to_metric = Transformer.from_crs(4326, crs, always_xy=True)
    x, y = to_metric.transform(net.lon, net.lat)
    x, y = np.asarray(x), np.asarray(y)
    u, v = net.edge_u, net.edge_v
    return np.stack([np.column_stack([x[u], y[u]]), np.column_stack([x[v], y[v]])], axis=1)


#: Segments sampled at most this far apart (pixels) when burnt into the basemap image.
BURN_STEP_PX = 0.5
_BURN_CHUNK = 200_000  # segments per chunk: bounds the memory of the samples


def burn_segments(
    segments: np.ndarray,
    *,
    extent: tuple[float, float, float, float],
    shape: tuple[int, int],
    step_px: float = BURN_STEP_PX,
) -> np.ndarray:
    """The length of line, in pixels, that falls in each pixel of a grid.

    Every segment is sampled at most ``step_px`` pixels apart, ends included, and each sample
    adds its share of the segment's length to the pixel it falls in. A pixel gets a length
    if and only if a sample falls in it: every pixel it marks is crossed by a segment, and a
    pixel the segments cross along a chord of at least ``step_px`` is always marked (a
    shorter chord, a corner clipped, may be missed).

    Parameters
    ----------
    segments
        (n, 2, 2) array: segment, end, (x, y), in the units of ``extent``.
    extent
        ``(xmin, xmax, ymin, ymax)`` of the grid, as matplotlib's ``imshow``.
    shape
        ``(rows, columns)``; row 0 is the top (``ymax``), as an image's.
    step_px
        Greatest distance between samples, in pixels.

    Returns
    -------
    numpy.ndarray
        ``shape`` float64 array of lengths in pixels (0 where no segment passes).
    """
    rows, cols = shape
    xmin, xmax, ymin, ymax = extent
    if rows < 1 or cols < 1 or not (xmax > xmin and ymax > ymin):
        msg = f"burn_segments needs a non-empty grid and extent, got {shape} and {extent}"
        raise ValueError(msg)
    if step_px <= 0:
        msg = f"step_px must be positive, got {step_px}"
        raise ValueError(msg)
    out = np.zeros(rows * cols, dtype=np.float64)
    sx, sy = cols / (xmax - xmin), rows / (ymax - ymin)
    for start in range(0, len(segments), _BURN_CHUNK):
        seg = np.asarray(segments[start : start + _BURN_CHUNK], dtype=np.float64)
        # in pixels: x to the right from the left edge, y down from the top edge
        px = (seg[:, :, 0] - xmin) * sx
        py = (ymax - seg[:, :, 1]) * sy
        dx, dy = px[:, 1] - px[:, 0], py[:, 1] - py[:, 0]
        length = np.hypot(dx, dy)
        steps = np.maximum(np.ceil(length / step_px), 1).astype(np.int64)
        which = np.repeat(np.arange(len(seg)), steps + 1)
        first = np.cumsum(steps + 1) - (steps + 1)
        t = (np.arange(len(which)) - first[which]) / steps[which]
        x = px[which, 0] + t * dx[which]
        y = py[which, 0] + t * dy[which]
        col, row = np.floor(x), np.floor(y)
        inside = (col >= 0) & (col < cols) & (row >= 0) & (row < rows)
        flat = (row[inside] * cols + col[inside]).astype(np.int64)
        share = (length / (steps + 1))[which[inside]]
        # a segment of no length still marks its pixel
        out += np.bincount(flat, weights=np.maximum(share, 1e-9), minlength=rows * cols)
    return out.reshape(rows, cols)


#: How the network is drawn: colour, line width (points) and opacity.
NETWORK_COLOR = "#57606a"
NETWORK_WIDTH_PT = 0.25
NETWORK_ALPHA = 0.6
_AGG_INK_GAIN = 1.2


def network_rgba(length_px: np.ndarray, *, dpi: float = DPI) -> np.ndarray:
    """An RGBA image (uint8) of the network from :func:`burn_segments`'s lengths.

    A line ``NETWORK_WIDTH_PT`` wide covers ``width * length`` of a pixel; lines that cross
    the same pixel add up as semi-transparent strokes do, ``1 - exp(-alpha * covered)``.
    Agg's antialiasing spreads a thin line's ink a little wider than its width: the gain
    :data:`_AGG_INK_GAIN`, measured against matplotlib's drawing of the same lines on the demo
    and the benchmark's city (mean opacity within 5%), matches it.
    """
    from matplotlib.colors import to_rgb

    width_px = NETWORK_WIDTH_PT * dpi / 72 * _AGG_INK_GAIN
    alpha = 1 - np.exp(-NETWORK_ALPHA * width_px * length_px)
    rgba = np.empty((*length_px.shape, 4), dtype=np.uint8)
    rgba[..., :3] = np.round(np.array(to_rgb(NETWORK_COLOR)) * 255).astype(np.uint8)
    rgba[..., 3] = np.round(np.clip(alpha, 0, 1) * 255).astype(np.uint8)
    return rgba


def _polygon_paths(geometries: np.ndarray) -> list[Any]:
    """One matplotlib path per (multi)polygon, each ring a closed sub-path (as geopandas
    draws them, without a patch object per polygon)."""
    import shapely
    from matplotlib.path import Path as MplPath

    parts, part_of = shapely.get_parts(geometries, return_index=True)
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    coords, coord_of = shapely.get_coordinates(rings, return_index=True)
    if not len(coords):
        return [MplPath(np.zeros((0, 2))) for _ in geometries]
    codes = np.full(len(coords), MplPath.LINETO, dtype=MplPath.code_type)
    starts = np.flatnonzero(np.r_[True, coord_of[1:] != coord_of[:-1]])
    codes[starts] = MplPath.MOVETO
    codes[np.r_[starts[1:] - 1, len(coords) - 1]] = MplPath.CLOSEPOLY
    unit_of = part_of[ring_of[coord_of]]
    bounds = np.searchsorted(unit_of, np.arange(len(geometries) + 1))
    return [
        MplPath(coords[a:b], codes[a:b]) if b > a else MplPath(np.zeros((0, 2)))
        for a, b in pairwise(bounds.tolist())
    ]


class Basemap:
    """What every rule's map of one audit shares, prepared once.

    The walking network is reprojected once, and burnt into an image once for each size of
    the map's axes (:func:`burn_segments`): a city's million segments drawn as lines cost
    seconds per map, as an image a few milliseconds. The units are reprojected once.

    Parameters
    ----------
    result
        The audit.
    """

    def __init__(self, result: AuditResult) -> None:
        from coverage.crs import local_metric_crs

        self.result = result
        first = result.streets if len(result.streets) else result.communities
        self.crs = local_metric_crs(first)
        #: the network's segments in metres, (n, 2, 2), or None without a network
        self.segments = _network_segments(result, self.crs)
        self.streets = result.streets.to_crs(self.crs)
        self._units: dict[str, Any] = {}
        self._images: dict[tuple[Any, ...], np.ndarray] = {}
        self._paths: dict[str, list[Any]] = {}

    def units(self, unit: str) -> Any:
        """The communities or streets (``unit``) in the map's CRS."""
        if unit not in self._units:
            table = self.result.communities if unit == "community" else self.result.streets
            self._units[unit] = self.streets if unit == "street" else table.to_crs(self.crs)
        return self._units[unit]

    def unit_paths(self, unit: str) -> list[Any]:
        """The communities or streets as matplotlib paths, one per unit (its every ring),
        in the order of the table; an empty path for a unit without geometry."""
        if unit not in self._paths:
            self._paths[unit] = _polygon_paths(self.units(unit).geometry.to_numpy())
        return self._paths[unit]

    def network_image(
        self, extent: tuple[float, float, float, float], shape: tuple[int, int]
    ) -> np.ndarray | None:
        """The network as an RGBA image of ``shape`` pixels over ``extent`` (cached)."""
        if self.segments is None:
            return None
        key = (extent, shape)
        if key not in self._images:
            self._images[key] = network_rgba(
                burn_segments(self.segments, extent=extent, shape=shape)
            )
        return self._images[key]


def _sources_line(result: AuditResult, lang: str) -> str:
    words = _WORDS[lang]
    files = [
        Path(str(p)).name
        for p in (result.provenance.get("inputs_sha256") or {})
        if not str(p).endswith(".toml")
    ]
    when = date_text(result.provenance.get("created_utc"), lang)
    return words["sources"].format(
        files=words["sep"].join(files) or "–",
        attribution=_ATTRIBUTION,
        date=words["date"].format(date=when) if when else "",
    )


def rule_figure(
    result: AuditResult, rule: Rule | str, *, lang: str = "zh", basemap: Basemap | None = None
) -> Figure:
    """The static map of one rule as a matplotlib figure (not attached to pyplot).

    Parameters
    ----------
    result
        The audit.
    rule
        A rule of ``result.pack`` or its id.
    lang
        ``"zh"`` or ``"en"``: every word on the map.
    basemap
        What the maps of ``result`` share (:class:`Basemap`), to draw several rules without
        preparing it again; ``None``: prepared for this map.

    Returns
    -------
    matplotlib.figure.Figure
        Title, legend with counts, scale bar (gid ``scale-bar``), north arrow (gid
        ``north-arrow``), the walking network (an image, gid ``network``, burnt at the
        resolution of the map's axes), and the sources and date line.

    Raises
    ------
    KeyError
        If ``rule`` is not a rule of the pack.
    """
    import matplotlib as mpl
    from matplotlib.collections import PathCollection
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    check_lang(lang)
    if isinstance(rule, str):
        by_id = {r.id: r for r in result.pack.rules}
        if rule not in by_id:
            msg = f"rule {rule!r} is not in pack {result.pack.id} ({', '.join(by_id)})"
            raise KeyError(msg)
        rule = by_id[rule]
    if basemap is None or basemap.result is not result:
        basemap = Basemap(result)
    words = _WORDS[lang]
    units = basemap.units(rule.unit)
    streets = basemap.streets
    status = units[f"{rule.id}_status"].astype(object).to_numpy()

    with mpl.rc_context({"font.family": _font_family(), "svg.hashsalt": "service-coverage"}):
        fig = Figure(figsize=FIGSIZE_IN, dpi=DPI, layout="constrained")
        ax = fig.add_subplot()
        ax.set_aspect("equal")
        ax.set_axis_off()
        paths = basemap.unit_paths(rule.unit)
        for code, color in STATUS_COLORS.items():
            which = np.flatnonzero(status == code)
            if len(which):
                ax.add_collection(
                    PathCollection(
                        [paths[i] for i in which],
                        facecolors=color,
                        edgecolors="white",
                        linewidths=0.4,
                        alpha=0.55,
                        hatch="////" if code == NOT_EVALUABLE else None,
                        zorder=1,
                        gid=f"units-{code}",
                    ),
                    autolim=False,
                )
        streets.boundary.plot(ax=ax, color="#24292f", linewidth=0.9, zorder=3)
        xmin, ymin, xmax, ymax = streets.total_bounds if len(streets) else units.total_bounds
        pad = 0.03 * max(xmax - xmin, ymax - ymin)
        ax.set_xlim(xmin - pad, xmax + pad)
        ax.set_ylim(ymin - pad, ymax + pad)

        summary = next(r for r in result.summary.to_dict("records") if r["rule"] == rule.id)
        counts = {
            PASS: int(summary["passing"]),
            FAIL: int(summary["failing"]),
            NOT_EVALUABLE: int(summary["not_evaluable"]),
        }
        handles: list[Any] = [
            Patch(
                facecolor=STATUS_COLORS[code],
                alpha=0.55,
                hatch="////" if code == NOT_EVALUABLE else None,
                label=f"{status_text(code, lang)}  {n}",
            )
            for code, n in counts.items()
        ]
        handles.append(Line2D([], [], color=NETWORK_COLOR, linewidth=0.8, label=words["network"]))
        legend_title = words["legend"].format(
            unit=unit_plural(rule.unit, lang), n=int(summary["units"])
        )
        ax.legend(
            handles=handles,
            title=legend_title,
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
            fontsize=10,
            frameon=False,
        )
        title = f"{rule.id} {rule.label(lang)}"
        ax.set_title(title, fontsize=14, loc="left")
        fig.suptitle(
            f"{result.case_name} · {result.pack.label(lang)}", fontsize=10, x=0.01, ha="left"
        )
        _scale_bar(ax, lang=lang)
        _north_arrow(ax, lang=lang)
        fig.text(0.01, 0.005, _sources_line(result, lang), fontsize=7, color="#57606a", wrap=True)
        _add_network(fig, ax, basemap)
    return fig


def _add_network(fig: Figure, ax: Axes, basemap: Basemap) -> None:
    """Draw the network as an image exactly the size, in pixels, of the laid-out axes."""
    if basemap.segments is None:
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        fig.draw_without_rendering()  # runs the layout: the axes' final place and size
    box = ax.get_window_extent()
    shape = (max(round(box.height), 1), max(round(box.width), 1))
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    extent = (float(x0), float(x1), float(y0), float(y1))
    rgba = basemap.network_image(extent, shape)
    if rgba is None:
        return
    image = ax.imshow(
        rgba, extent=extent, origin="upper", interpolation="nearest", zorder=2, resample=False
    )
    image.set_gid("network")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")


def _figure_bytes(fig: Figure, fmt: str) -> bytes:
    import matplotlib as mpl

    buf = io.BytesIO()
    with (
        mpl.rc_context({"font.family": _font_family(), "svg.hashsalt": "service-coverage"}),
        warnings.catch_warnings(),
    ):
        # without a CJK font, cjk_font() has said so once; not once per missing character
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        fig.savefig(buf, format=fmt, dpi=DPI, metadata=_metadata(fmt))
    data = buf.getvalue()
    return _small_png(data) if fmt == "png" else data


def _small_png(data: bytes) -> bytes:
    """The PNG with a 256-colour palette: a third of the size, the same look (flat colours,
    thin lines; no dithering)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        paletted = image.convert("RGB").quantize(
            colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
        out = io.BytesIO()
        paletted.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _metadata(fmt: str) -> dict[str, Any]:
    # no creation date in the file: the same audit gives the same bytes
    if fmt == "svg":
        return {"Date": None}
    if fmt == "png":
        return {"Software": "service-coverage"}
    return {}


def render_rule_maps(
    result: AuditResult,
    *,
    lang: str = "zh",
    formats: Collection[str] = FORMATS,
    rules: Collection[str] | None = None,
) -> list[RuleMap]:
    """Every rule's static map as images.

    Parameters
    ----------
    result
        The audit.
    lang
        ``"zh"`` or ``"en"``.
    formats
        Any of ``"png"`` and ``"svg"``.
    rules
        Rule ids to draw; ``None``: every rule of the pack, in its order.

    Returns
    -------
    list of RuleMap
        One per rule.
    """
    check_lang(lang)
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        msg = f"formats must be among {', '.join(FORMATS)}, got {', '.join(unknown)}"
        raise ValueError(msg)
    maps = []
    basemap = Basemap(result)
    for rule in result.pack.rules:
        if rules is not None and rule.id not in rules:
            continue
        fig = rule_figure(result, rule, lang=lang, basemap=basemap)
        images = {fmt: _figure_bytes(fig, fmt) for fmt in formats}
        maps.append(RuleMap(rule.id, f"{rule.id} {rule.label(lang)}", images))
    return maps


def _file_stem(rule_id: str) -> str:
    """A rule id as a file name (ids come from a pack, which a user may write)."""
    stem = re.sub(r"[^\w.-]+", "_", rule_id).strip("._")
    return stem or "rule"


def write_static_maps(
    result: AuditResult | list[RuleMap],
    folder: str | Path,
    *,
    lang: str = "zh",
    formats: Collection[str] = FORMATS,
) -> dict[str, list[Path]]:
    """Write every rule's static map into ``folder`` as ``<rule id>.png`` and ``.svg``.

    Parameters
    ----------
    result
        The audit, or maps already rendered by :func:`render_rule_maps`.
    folder
        Created if missing.
    lang, formats
        As :func:`render_rule_maps` (ignored for maps already rendered).

    Returns
    -------
    dict[str, list[Path]]
        Rule id -> the files written.
    """
    maps = (
        result if isinstance(result, list) else render_rule_maps(result, lang=lang, formats=formats)
    )
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[Path]] = {}
    used: set[str] = set()
    for m in maps:
        stem = _file_stem(m.rule_id)
        while stem.lower() in used:  # two ids that differ only in case or in odd characters
            stem += "_"
        used.add(stem.lower())
        paths = []
        for fmt, data in m.images.items():
            path = out / f"{stem}.{fmt}"
            path.write_bytes(data)
            paths.append(path)
        written[m.rule_id] = paths
    return written
