"""Every result frame works in a notebook: .explore() and .describe(), with distances beyond
the search limit (inf) documented in coverage.notebook."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from coverage.audit import AuditResult, audit_case
from coverage.isochrones import audit_service_areas
from coverage.notebook import finite

DEMO = Path(__file__).parents[1] / "data" / "demo" / "case.toml"
FRAMES = ("communities", "streets", "origins", "services")


@pytest.fixture(scope="module")
def demo() -> AuditResult:
    return audit_case(DEMO)


def _explore_installed() -> None:
    """``.explore()`` needs folium and, in geopandas 1.0 (the oldest allowed), mapclassify even
    without a column: both come with the ``notebooks`` extra, which make test-oldest leaves out."""
    pytest.importorskip("folium")
    pytest.importorskip("mapclassify", reason="the notebooks extra installs mapclassify")


@pytest.mark.parametrize("name", FRAMES)
def test_explore_every_result_frame(demo: AuditResult, name: str) -> None:
    _explore_installed()
    frame = getattr(demo, name)
    html = frame.explore()._repr_html_()
    assert "leaflet" in html.lower()


def test_explore_the_service_areas(demo: AuditResult) -> None:
    _explore_installed()
    areas = audit_service_areas(demo)
    for category, frame in list(areas.items())[:2]:
        assert "leaflet" in frame.explore(column="minutes")._repr_html_().lower(), category


def test_explore_coloured_by_a_distance(demo: AuditResult) -> None:
    """A distance column holding inf: finite() keeps the colour scale finite, no warning."""
    pytest.importorskip("mapclassify", reason="the notebooks extra installs mapclassify")
    frame = demo.communities
    assert np.isinf(frame["median_m_repair"]).any()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        fmap = finite(frame).explore(column="median_m_repair", scheme="quantiles", k=5)
    assert "leaflet" in fmap._repr_html_().lower()


@pytest.mark.parametrize("name", FRAMES)
def test_describe_every_result_frame(demo: AuditResult, name: str) -> None:
    frame = getattr(demo, name)
    with warnings.catch_warnings():  # pandas' arithmetic on inf: documented, expected
        warnings.simplefilter("ignore", RuntimeWarning)
        raw = frame.describe()  # runs; inf columns have inf maxima
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        table = finite(frame).describe()
    some = table.columns[table.loc["count"] > 0]  # columns with at least one value
    assert not table.loc[["min", "50%", "max"], some].isna().any().any()
    counts = finite(frame).attrs["beyond_search_limit"]
    for column, n in counts.items():
        values = frame[column].to_numpy(dtype=float)
        assert n == int(np.isinf(values).sum())
        assert table.loc["count", column] == int(np.isfinite(values).sum())
        assert raw.loc["max", column] == np.inf
    if name in ("communities", "origins"):
        assert counts  # the demo has residents beyond the limit


def test_finite_changes_nothing_in_place(demo: AuditResult) -> None:
    before = demo.origins["d_repair"].copy()
    out = finite(demo.origins)
    assert np.isinf(demo.origins["d_repair"]).sum() == np.isinf(before).sum() > 0
    assert not np.isinf(out["d_repair"]).any()
    assert type(out) is type(demo.origins)
