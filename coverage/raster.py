"""Reached streets on a grid: burn, grow by a buffer, trace polygons.

The fast path of the service areas and isochrones (:mod:`coverage.isochrones`). The exact path
buffers every reached piece of street with GEOS and dissolves the buffers, which costs minutes
for a city; here the same pieces are burnt into a square grid of ``cell_m`` cells, grown by the
buffer with a minimum filter on a disc, and traced back into polygons by marching squares
(``contourpy``). Every step is a numpy or C loop over cells; the cost grows with the area of the
grid, not with the number of pieces.

What a polygon traced here promises (``b``: the buffer, ``c``: the cell size)
----------------------------------------------------------------------------
1. *No land farther than* ``b + c·√2`` *(the buffer plus one cell diagonal) from a reached
   point.* A cell is burnt only when a sample of a reached piece lies in it (its centre is then
   within ``c·√2/2`` of a reached point); a cell is claimed only when the centre of a burnt cell
   lies within ``ρ = b - c/10`` of its centre; a point of a traced polygon lies within
   ``c·√(5/8) < 0.7906 c`` of the centre of a claimed cell (marching squares cut each quad's
   sides at their midpoints). Together: ``ρ + 0.7072 c + 0.7906 c < b + c·√2``.
2. *Every reached point is inside.* Pieces are sampled at most ``c`` apart, so a reached point
   is within ``c/2`` of a sample of a piece reached in the same band (or a smaller one); the
   four cell centres round the point are then within one cell of the sample's cell along each
   axis, at most ``c·√2`` from its centre, and are all claimed while ``ρ >= c·√2``
   (:func:`check_cell_size` enforces it). A quad with four claimed corners is filled whole.

This module knows nothing of networks: it takes projected segments and band numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely

from coverage.errors import DataError

__all__ = [
    "Grid",
    "burn_segments",
    "check_cell_size",
    "claim_radius_m",
    "dilate_min",
    "grid_around",
    "segment_samples",
    "trace_bands",
    "trace_polygons",
]

#: The claimed disc is this share of a cell smaller than the buffer (see the module docstring).
_SHRINK_CELLS = 0.1


def claim_radius_m(buffer_m: float, cell_m: float) -> float:
    """Largest centre-to-centre distance from a burnt cell to a cell it claims."""
    return buffer_m - _SHRINK_CELLS * cell_m


def check_cell_size(cell_m: float, buffer_m: float) -> None:
    """Refuse a cell too large for promise 2 of the module docstring.

    Raises
    ------
    DataError
        If ``cell_m`` is not positive or larger than ``buffer_m / (√2 + 0.1)``.
    """
    if not math.isfinite(cell_m) or cell_m <= 0:
        msg = f"cell_m must be a positive number of metres, got {cell_m!r}"
        raise DataError(msg)
    largest = buffer_m / (math.sqrt(2.0) + _SHRINK_CELLS)
    if cell_m > largest:
        msg = (
            f"cell_m={cell_m:g} is too large for buffer_m={buffer_m:g}: a reached street could "
            f"fall outside its polygon; use cell_m <= {largest:.2f} (buffer_m / 1.51), or a "
            "larger buffer_m"
        )
        raise DataError(msg)


@dataclass(frozen=True)
class Grid:
    """A square grid in a projected CRS: cell ``(row, col)`` spans
    ``[x0 + col·cell_m, x0 + (col + 1)·cell_m) × [y0 + row·cell_m, ...)``."""

    x0: float
    y0: float
    cell_m: float
    n_rows: int
    n_cols: int

    def cells(self, xy: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        """Flat index (``row * n_cols + col``) of the cell holding each point."""
        col = np.floor((xy[:, 0] - self.x0) / self.cell_m).astype(np.int64)
        row = np.floor((xy[:, 1] - self.y0) / self.cell_m).astype(np.int64)
        return row * self.n_cols + col


def grid_around(
    lo: npt.NDArray[np.float64], hi: npt.NDArray[np.float64], *, cell_m: float, pad_m: float
) -> Grid:
    """The grid covering the box ``lo``-``hi`` grown by ``pad_m`` plus two cells each side."""
    margin = pad_m + 2.0 * cell_m
    x0 = math.floor((float(lo[0]) - margin) / cell_m) * cell_m
    y0 = math.floor((float(lo[1]) - margin) / cell_m) * cell_m
    n_cols = math.ceil((float(hi[0]) + margin - x0) / cell_m) + 1
    n_rows = math.ceil((float(hi[1]) + margin - y0) / cell_m) + 1
    return Grid(x0, y0, float(cell_m), int(n_rows), int(n_cols))


def segment_samples(
    start: npt.NDArray[np.float64], end: npt.NDArray[np.float64], *, step_m: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Points along each segment, both ends included, at most ``step_m`` apart.

    Returns the points' x and y and the number of points of each segment (in segment order).
    """
    dx = end[:, 0] - start[:, 0]
    dy = end[:, 1] - start[:, 1]
    length = np.hypot(dx, dy)
    count = np.ones(length.size, dtype=np.int64)
    line = length > 0
    count[line] = np.ceil(length[line] / step_m).astype(np.int64) + 1
    first = np.cumsum(count) - count
    k = np.arange(int(count.sum()), dtype=np.float64) - np.repeat(first, count)
    frac = k / np.repeat(np.maximum(count - 1, 1), count)
    x = np.repeat(start[:, 0], count) + frac * np.repeat(dx, count)
    y = np.repeat(start[:, 1], count) + frac * np.repeat(dy, count)
    return x, y, count


def burn_segments(
    grid: Grid,
    start: npt.NDArray[np.float64],
    end: npt.NDArray[np.float64],
    band: npt.NDArray[np.int64],
    *,
    n_bands: int,
) -> npt.NDArray[np.uint8]:
    """Each cell's smallest band among the segments sampled in it (``n_bands``: none).

    Segments are sampled at most one cell apart (:func:`segment_samples`).
    """
    values = np.full(grid.n_rows * grid.n_cols, n_bands, dtype=np.uint8)
    order = np.argsort(-band, kind="stable")  # larger bands first: smaller ones overwrite them
    x, y, count = segment_samples(start[order], end[order], step_m=grid.cell_m)
    col = ((x - grid.x0) / grid.cell_m).astype(np.int64)  # x > x0: truncation is floor
    row = ((y - grid.y0) / grid.cell_m).astype(np.int64)
    cells = row * grid.n_cols + col
    sample_band = np.repeat(band[order], count)
    bounds = np.flatnonzero(np.diff(sample_band)) + 1
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, sample_band.size], strict=True):
        values[cells[lo:hi]] = sample_band[lo]  # one band per run, runs from large to small
    return values.reshape(grid.n_rows, grid.n_cols)


def dilate_min(
    values: npt.NDArray[np.uint8], *, radius_cells: float, empty: int
) -> npt.NDArray[np.uint8]:
    """Each cell's smallest value over the cells whose centres lie within ``radius_cells``.

    A minimum filter on a disc, split into one horizontal running minimum per row width
    (``scipy.ndimage.minimum_filter1d``) and a minimum over the disc's rows. Cells beyond the
    edge of the grid count as ``empty``.
    """
    from scipy.ndimage import minimum_filter1d

    reach = math.floor(radius_cells + 1e-9)
    widths: dict[int, npt.NDArray[np.uint8]] = {}
    out = np.full_like(values, empty)
    n_rows = values.shape[0]
    for dy in range(-reach, reach + 1):
        half = math.floor(math.sqrt(max(radius_cells**2 - dy * dy, 0.0)) + 1e-9)
        if half not in widths:
            widths[half] = (
                values
                if half == 0
                else minimum_filter1d(values, 2 * half + 1, axis=1, mode="constant", cval=empty)
            )
        rows = widths[half]
        # out[r] = min(out[r], rows[r + dy])
        lo, hi = max(0, -dy), min(n_rows, n_rows - dy)
        if lo < hi:
            np.minimum(out[lo:hi], rows[lo + dy : hi + dy], out=out[lo:hi])
    return out


#: Side (cells) of the blocks :func:`trace_bands` groups a large grid by.
_BLOCK = 8
#: Grids of at most this many cells are traced whole, without grouping.
_SMALL_GRID = 250_000


def _trace(
    values: npt.NDArray[np.uint8], x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], n: int
) -> list[tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
    """Per band ``b < n``: the rings round the cells with ``values <= b`` (ragged layout)."""
    xx, yy = np.meshgrid(x, y)  # shared by the bands
    return [_filled((values <= band).astype(np.float64), xx, yy) for band in range(n)]


def _filled(
    claimed: npt.NDArray[np.float64], xx: npt.NDArray[np.float64], yy: npt.NDArray[np.float64]
) -> tuple[Any, Any, Any]:
    """Marching squares round the cells where ``claimed`` is 1, sides cut at their midpoints:
    the points, ring offsets and polygon offsets (contourpy's ``ChunkCombinedOffsetOffset``)."""
    from contourpy import FillType, LineType, SerialContourGenerator, ZInterp

    gen = SerialContourGenerator(
        xx,
        yy,
        claimed,
        None,  # type: ignore[arg-type]  # no mask
        corner_mask=True,
        line_type=LineType.SeparateCode,
        fill_type=FillType.ChunkCombinedOffsetOffset,
        quad_as_tri=False,
        z_interp=ZInterp.Linear,
        x_chunk_size=0,
        y_chunk_size=0,
    )
    filled: Any = gen.filled(0.5, 2.0)
    return filled[0][0], filled[1][0], filled[2][0]


def _drop_collinear(
    coords: npt.NDArray[np.float64], ring_offsets: npt.NDArray[np.int64], tol: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """The rings without their vertices that lie on a straight line between their neighbours.

    Marching squares put a vertex on every cell side a boundary crosses, most of them along
    straight runs; the polygons are the same without them. ``tol`` bounds the cross product
    (m²) under which three vertices count as collinear.
    """
    starts = ring_offsets[:-1]
    lengths = np.diff(ring_offsets) - 1  # open rings: the closing vertex repeats the first
    ring = np.repeat(np.arange(starts.size), lengths)
    first = np.repeat(starts, lengths)
    pos = np.arange(ring.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    here = first + pos
    size = lengths[ring]
    a = coords[first + (pos - 1) % size]
    b = coords[here]
    c = coords[first + (pos + 1) % size]
    cross = (b[:, 0] - a[:, 0]) * (c[:, 1] - b[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - b[:, 0])
    keep = np.abs(cross) > tol
    kept = np.bincount(ring[keep], minlength=starts.size)
    short = kept < 3  # (never from marching squares) keep such a ring whole
    keep |= short[ring]
    kept = np.bincount(ring[keep], minlength=starts.size)
    open_xy = b[keep]
    # close each ring again with its first kept vertex
    new_starts = np.cumsum(kept + 1) - (kept + 1)
    out = np.empty((open_xy.shape[0] + starts.size, 2))
    slot = np.repeat(new_starts, kept) + (
        np.arange(open_xy.shape[0]) - np.repeat(np.cumsum(kept) - kept, kept)
    )
    out[slot] = open_xy
    out[new_starts + kept] = open_xy[np.cumsum(kept) - kept]
    return out, np.append(new_starts, out.shape[0]).astype(np.int64)


def trace_bands(
    values: npt.NDArray[np.uint8], grid: Grid, *, n_bands: int
) -> list[shapely.Geometry]:
    """Per band ``b``: the polygon round the cell centres whose value is at most ``b``
    (``n_bands``: not claimed), in the grid's CRS.

    Marching squares (``contourpy``) on each band's claimed cells: a quad's side between a
    claimed and an unclaimed centre is cut at its midpoint. The bands share the cell centres'
    coordinates.

    A small grid is traced whole. A large one is cut into blocks of :data:`_BLOCK` cells;
    blocks holding a claimed cell are grouped into clusters of touching blocks (diagonals
    included), and each cluster is traced on its own bounding box. Clusters are at least one
    empty block apart, so their polygons never meet and each band is a valid MultiPolygon
    without any overlay.
    """
    from scipy import ndimage

    n_rows, n_cols = values.shape
    boxes: list[tuple[int, int, int, int, int]]  # label (0: whole grid), r0, r1, c0, c1
    labels: npt.NDArray[np.int32] | None = None
    size = _BLOCK
    if values.size <= _SMALL_GRID:
        boxes = [(0, 0, n_rows, 0, n_cols)]
    else:
        b_rows, b_cols = -(-n_rows // size), -(-n_cols // size)
        padded = np.zeros((b_rows * size, b_cols * size), dtype=bool)
        padded[:n_rows, :n_cols] = values < n_bands
        occupied = padded.reshape(b_rows, size, b_cols, size).any(axis=(1, 3))
        del padded
        labels, _ = ndimage.label(occupied, structure=np.ones((3, 3), dtype=bool))
        boxes = [
            (
                k,
                max(box[0].start * size - 1, 0),
                min(box[0].stop * size + 1, n_rows),
                max(box[1].start * size - 1, 0),
                min(box[1].stop * size + 1, n_cols),
            )
            for k, box in enumerate(ndimage.find_objects(labels), start=1)
            if box is not None
        ]
    coords: list[list[npt.NDArray[np.float64]]] = [[] for _ in range(n_bands)]
    rings: list[list[npt.NDArray[np.int64]]] = [[] for _ in range(n_bands)]
    polys: list[list[npt.NDArray[np.int64]]] = [[] for _ in range(n_bands)]
    n_points = [0] * n_bands
    n_rings = [0] * n_bands
    for k, r0, r1, c0, c1 in boxes:
        z = values[r0:r1, c0:c1]
        if labels is not None:
            near = labels[r0 // size : (r1 - 1) // size + 1, c0 // size : (c1 - 1) // size + 1]
            if np.any((near != k) & (near != 0)):  # another cluster in the box or its margin
                mine = labels[np.arange(r0, r1) // size][:, np.arange(c0, c1) // size] == k
                z = np.where(mine, z, np.uint8(n_bands))
        if z.shape[0] < 2 or z.shape[1] < 2:
            continue
        x = grid.x0 + (np.arange(c0, c1, dtype=np.float64) + 0.5) * grid.cell_m
        y = grid.y0 + (np.arange(r0, r1, dtype=np.float64) + 0.5) * grid.cell_m
        for band, (points, offsets, outer) in enumerate(_trace(z, x, y, n_bands)):
            if points is None:
                continue
            coords[band].append(np.asarray(points, dtype=np.float64))
            rings[band].append(np.asarray(offsets[:-1], dtype=np.int64) + n_points[band])
            polys[band].append(np.asarray(outer[:-1], dtype=np.int64) + n_rings[band])
            n_points[band] += len(points)
            n_rings[band] += len(offsets) - 1
    # the collinear vertices of every band in one pass
    ring_base = np.cumsum([0, *n_rings])
    point_base = np.cumsum([0, *n_points])
    xy, ring_offsets = _drop_collinear(
        np.concatenate([c for band in coords for c in band] or [np.empty((0, 2))]),
        np.concatenate(
            [r + point_base[b] for b in range(n_bands) for r in rings[b]]
            + [np.array([point_base[-1]], dtype=np.int64)]
        ),
        1e-6 * grid.cell_m**2,
    )
    out: list[shapely.Geometry] = []
    for band in range(n_bands):
        if not coords[band]:
            out.append(shapely.MultiPolygon())
            continue
        n_polygons = sum(p.size for p in polys[band])
        r0, r1 = ring_base[band], ring_base[band + 1]
        p0, p1 = ring_offsets[r0], ring_offsets[r1]
        out.append(
            shapely.from_ragged_array(
                shapely.GeometryType.MULTIPOLYGON,
                xy[p0:p1],
                (
                    ring_offsets[r0 : r1 + 1] - p0,
                    np.concatenate([*polys[band], [n_rings[band]]]),
                    np.array([0, n_polygons], dtype=np.int64),
                ),
            )[0]
        )
    return out


def trace_polygons(mask: npt.NDArray[np.bool_], grid: Grid) -> shapely.Geometry:
    """The polygon round the cell centres where ``mask`` is true (sides cut at midpoints)."""
    return trace_bands(np.where(mask, 0, 1).astype(np.uint8), grid, n_bands=1)[0]
