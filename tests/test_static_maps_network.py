"""The static maps' network drawn as one image per map size (a city's million segments as
lines cost seconds per map): the burnt pixels against a brute-force rasterisation with
shapely, and the finished map against the slow drawing with a matplotlib LineCollection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from scipy.ndimage import binary_dilation, uniform_filter

from coverage import static_maps
from coverage.audit import AuditResult, audit_case
from coverage.static_maps import Basemap, burn_segments, render_rule_maps, rule_figure

DEMO = Path(__file__).parents[1] / "data" / "demo" / "case.toml"


@pytest.fixture(scope="module")
def demo() -> AuditResult:
    return audit_case(DEMO)


def test_a_segment_burns_its_length_into_the_pixels_it_crosses() -> None:
    """By construction: a horizontal line 3.5 pixels long across row 1 of a 4 x 6 grid."""
    segments = np.array([[[0.25, 2.5], [3.75, 2.5]]])  # y up: row 1 spans y in [2, 3)
    burnt = burn_segments(segments, extent=(0.0, 6.0, 0.0, 4.0), shape=(4, 6))
    assert np.flatnonzero(burnt.sum(axis=1)).tolist() == [1]
    assert np.flatnonzero(burnt[1]).tolist() == [0, 1, 2, 3]
    assert burnt.sum() == pytest.approx(3.5)
    assert burnt[1, 1] == pytest.approx(1.0, abs=0.5 * static_maps.BURN_STEP_PX)
    # outside the grid burns nothing
    away = np.array([[[10.0, 10.0], [12.0, 11.0]]])
    assert not burn_segments(away, extent=(0.0, 6.0, 0.0, 4.0), shape=(4, 6)).any()
    with pytest.raises(ValueError, match="non-empty grid"):
        burn_segments(segments, extent=(0.0, 0.0, 0.0, 4.0), shape=(4, 6))


def test_burnt_pixels_match_a_brute_force_rasterisation(demo: AuditResult) -> None:
    """On the demo's real network, on a coarse grid (segments cross several pixels): a pixel
    is burnt only if a segment crosses it, every pixel a segment crosses along a chord of at
    least the sampling step is burnt, and the length burnt is the network's length."""
    segments = Basemap(demo).segments
    assert segments is not None
    rows, cols = 90, 120
    x0, y0 = segments[..., 0].min() - 7.0, segments[..., 1].min() - 7.0
    x1, y1 = segments[..., 0].max() + 7.0, segments[..., 1].max() + 7.0
    burnt = burn_segments(segments, extent=(x0, x1, y0, y1), shape=(rows, cols))
    # brute force: every segment against every pixel box of its bounding box, with shapely
    px = (segments[..., 0] - x0) / (x1 - x0) * cols
    py = (y1 - segments[..., 1]) / (y1 - y0) * rows
    seg_ids, cells = [], []
    for i in range(len(segments)):
        c = np.arange(int(px[i].min()), int(px[i].max()) + 1)
        r = np.arange(int(py[i].min()), int(py[i].max()) + 1)
        rr, cc = np.meshgrid(r, c, indexing="ij")
        seg_ids.append(np.full(rr.size, i))
        cells.append(np.column_stack([rr.ravel(), cc.ravel()]))
    ids, rc = np.concatenate(seg_ids), np.concatenate(cells)
    lines = shapely.linestrings(np.stack([px, py], axis=-1))[ids]
    boxes = shapely.box(rc[:, 1], rc[:, 0], rc[:, 1] + 1, rc[:, 0] + 1)
    chord = shapely.length(shapely.intersection(lines, boxes))
    touches = shapely.intersects(lines, boxes)
    crossed = np.zeros((rows, cols), dtype=bool)
    crossed[rc[touches, 0], rc[touches, 1]] = True
    long_chord = np.zeros((rows, cols), dtype=bool)
    step = static_maps.BURN_STEP_PX
    long_chord[rc[chord >= step, 0], rc[chord >= step, 1]] = True
    truth_length = np.zeros((rows, cols))
    np.add.at(truth_length, (rc[:, 0], rc[:, 1]), chord)

    assert not (burnt > 0)[~crossed].any()  # nothing burnt where no segment passes
    assert (burnt > 0)[long_chord].all()  # every pixel crossed by a chord >= step is burnt
    assert burnt.sum() == pytest.approx(truth_length.sum(), rel=1e-6)
    # per pixel, the length is right to about a sample's share per segment crossing it
    assert np.abs(burnt - truth_length).mean() < 0.1 * truth_length[crossed].mean()


def _rgb(fig: object) -> np.ndarray:
    canvas = FigureCanvasAgg(fig)  # type: ignore[arg-type]
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].astype(float)


def test_the_network_image_matches_the_slow_line_drawing(demo: AuditResult) -> None:
    """The map with the burnt image against the same map with the network drawn as a
    matplotlib LineCollection of every segment (the drawing it replaces): where either shows
    the network, the other shows it within one pixel, and as dark overall."""
    basemap = Basemap(demo)
    assert basemap.segments is not None
    fig = rule_figure(demo, "W1", lang="zh", basemap=basemap)
    ax = fig.axes[0]
    image = next(i for i in ax.images if i.get_gid() == "network")
    fast = _rgb(fig)
    image.set_visible(False)
    bare = _rgb(fig)
    ax.add_collection(
        LineCollection(
            list(basemap.segments),
            colors=static_maps.NETWORK_COLOR,
            linewidths=static_maps.NETWORK_WIDTH_PT,
            alpha=static_maps.NETWORK_ALPHA,
            zorder=2,
        )
    )
    slow = _rgb(fig)
    dark_fast = np.abs(fast - bare).max(axis=-1)
    dark_slow = np.abs(slow - bare).max(axis=-1)
    near = np.ones((3, 3), dtype=bool)
    for threshold in (8, 20):
        on_fast, on_slow = dark_fast > threshold, dark_slow > threshold
        assert on_fast.sum() > 10_000 and on_slow.sum() > 10_000
        assert (on_slow & binary_dilation(on_fast, near)).sum() >= 0.98 * on_slow.sum()
        assert (on_fast & binary_dilation(on_slow, near)).sum() >= 0.98 * on_fast.sum()
    assert 0.9 < dark_fast.sum() / dark_slow.sum() < 1.1  # as dark: _AGG_INK_GAIN
    smooth_fast, smooth_slow = uniform_filter(dark_fast, 5), uniform_filter(dark_slow, 5)
    assert np.corrcoef(smooth_fast.ravel(), smooth_slow.ravel())[0, 1] > 0.9


def test_the_network_is_burnt_once_per_map_size(
    demo: AuditResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[int, int]] = []
    real = static_maps.burn_segments

    def counting(segments: np.ndarray, **kwargs: object) -> np.ndarray:
        calls.append(kwargs["shape"])  # type: ignore[arg-type]
        return real(segments, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(static_maps, "burn_segments", counting)
    maps = render_rule_maps(demo, lang="zh", formats=("png",))
    assert len(maps) == len(demo.pack.rules) > len(calls) >= 1
    assert len(set(calls)) == len(calls)


def test_unit_fills_match_geopandas_drawing(demo: AuditResult) -> None:
    """The units are drawn from paths prepared once per audit, not with geopandas' ``plot``
    per decision per rule: the same pixels as geopandas draws (hatching included)."""
    from coverage.rules import NOT_EVALUABLE

    with_ne = [
        str(r["rule"]) for r in demo.summary.to_dict("records") if int(r["not_evaluable"]) > 0
    ]
    assert with_ne, "the demo should have a rule with units not evaluable (hatched)"
    basemap = Basemap(demo)
    for rule_id in ("W1", with_ne[0]):
        fig = rule_figure(demo, rule_id, lang="zh", basemap=basemap)
        ax = fig.axes[0]
        fast = _rgb(fig)
        rule = next(r for r in demo.pack.rules if r.id == rule_id)
        units = basemap.units(rule.unit)
        status = units[f"{rule_id}_status"].astype(object).to_numpy()
        drawn = [c for c in ax.collections if str(c.get_gid()).startswith("units-")]
        judged = np.isin(status, list(static_maps.STATUS_COLORS))
        assert sum(len(c.get_paths()) for c in drawn) == int(judged.sum())
        for c in drawn:
            c.remove()
        for code, color in static_maps.STATUS_COLORS.items():
            part = units[status == code]
            if len(part):
                part.plot(
                    ax=ax,
                    facecolor=color,
                    edgecolor="white",
                    linewidth=0.4,
                    alpha=0.55,
                    hatch="////" if code == NOT_EVALUABLE else None,
                    zorder=1,
                )
        slow = _rgb(fig)
        # rounding of the edges' antialiasing only: at most 4 levels with matplotlib 3.10, 5 with
        # 3.8 (the oldest allowed); a wrong colour, a missing unit or hatch differs by tens
        assert np.abs(fast - slow).max() <= 6
