"""The audit clips areal services to streets without geopandas.overlay's frames
(``audit._clip_polygons``); the pieces and the areas per street are those overlay gives, on the
demo case and on hand-made polygons that touch, share an edge, cross, or are invalid."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import coverage.audit
from coverage.audit import _clip_polygons
from coverage.case import Case
from coverage.network import build_walk_network

DEMO = Path(__file__).parents[1] / "data" / "demo" / "case.toml"


def _overlay(polygons: np.ndarray, clips: np.ndarray) -> pd.DataFrame:
    """The reference: geopandas.overlay, as the audit called it before."""
    pieces = gpd.overlay(
        gpd.GeoDataFrame({"p": np.arange(polygons.size)}, geometry=list(polygons), crs=3857),
        gpd.GeoDataFrame({"c": np.arange(clips.size)}, geometry=list(clips), crs=3857),
        how="intersection",
        keep_geom_type=True,
    )
    return pd.DataFrame(
        {"p": pieces["p"].to_numpy(int), "c": pieces["c"].to_numpy(int), "g": pieces.geometry}
    )


def _assert_like_overlay(polygons: np.ndarray, clips: np.ndarray) -> None:
    # overlay's row order differs between geopandas versions: compare in (polygon, clip) order
    ref = _overlay(polygons, clips).sort_values(["p", "c"], kind="stable")
    at_p, at_c, pieces = _clip_polygons(polygons, clips)
    order = np.lexsort((at_c, at_p))
    at_p, at_c, pieces = at_p[order], at_c[order], np.asarray(pieces)[order]
    np.testing.assert_array_equal(at_p, ref["p"].to_numpy())
    np.testing.assert_array_equal(at_c, ref["c"].to_numpy())
    np.testing.assert_allclose(shapely.area(pieces), shapely.area(ref["g"].to_numpy()), rtol=1e-12)
    assert shapely.equals(pieces, ref["g"].to_numpy()).all()


def test_special_cases_clip_like_overlay() -> None:
    left, right = shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10)
    clips = np.array([left, right, shapely.box(30, 30, 40, 40)], dtype=object)
    polygons = np.array(
        [
            shapely.box(2, 2, 4, 4),  # inside one clip
            shapely.box(8, 2, 12, 4),  # across two
            shapely.box(10, 2, 12, 4),  # shares an edge with the left clip: a line there
            shapely.box(-5, -5, 0, 0),  # touches a corner only: a point
            shapely.Polygon([(1, 1), (9, 9), (9, 1), (1, 9)]),  # a bow tie (invalid)
            shapely.MultiPolygon([shapely.box(1, 6, 2, 7), shapely.box(15, 6, 16, 7)]),
            shapely.Polygon([(5, 5), (15, 5), (15, 10), (10, 10), (10, 6), (5, 6)]),
            shapely.box(100, 100, 101, 101),  # meets nothing
        ],
        dtype=object,
    )
    assert not shapely.is_valid(polygons[4])
    _assert_like_overlay(polygons, clips)
    _, at_c, pieces = _clip_polygons(polygons[2:4], clips)
    assert at_c.tolist() == [1]  # the shared edge and the corner are no pieces
    assert shapely.area(pieces).tolist() == [4.0]


def test_nothing_to_clip() -> None:
    clips = np.array([shapely.box(0, 0, 1, 1)], dtype=object)
    at_p, at_c, pieces = _clip_polygons(np.array([shapely.box(5, 5, 6, 6)], dtype=object), clips)
    assert at_p.size == at_c.size == pieces.size == 0


def test_the_demo_areas_are_those_of_overlay(monkeypatch: pytest.MonkeyPatch) -> None:
    case = Case.from_config(DEMO)
    assert case.osm_path is not None
    metric = build_walk_network(case.osm_path).metric_crs
    services = case.services.copy()  # with their streets, as the audit assigns them
    services["street_id"] = coverage.audit._containment(services, case.streets, "street_id")
    cats = coverage.audit.service_categories(services)
    polygons = np.asarray(services.geometry.to_crs(metric).to_numpy(), dtype=object)
    polygons = polygons[np.isin(shapely.get_type_id(polygons), (3, 6))]
    clips = np.asarray(case.streets.geometry.to_crs(metric).to_numpy(), dtype=object)
    assert polygons.size > 50
    _assert_like_overlay(polygons, clips)

    ours = coverage.audit._area_pieces(
        services, cats, case.streets, metric, area_categories={"sports"}
    )

    def with_overlay(p: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ref = _overlay(p, c)
        return ref["p"].to_numpy(), ref["c"].to_numpy(), ref["g"].to_numpy()

    monkeypatch.setattr(coverage.audit, "_clip_polygons", with_overlay)
    reference = coverage.audit._area_pieces(
        services, cats, case.streets, metric, area_categories={"sports"}
    )
    assert len(ours) > 50

    def ordered(frame: pd.DataFrame) -> pd.DataFrame:  # overlay's order varies by version
        keys = [c for c in frame.columns if frame[c].dtype.kind in "OUSTifb"]
        return frame.sort_values(keys, kind="stable").reset_index(drop=True)

    pd.testing.assert_frame_equal(ordered(ours), ordered(reference), check_exact=False, rtol=1e-12)
