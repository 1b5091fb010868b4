"""The snapping index is cached with the network: a cached load snaps without rebuilding it,
and snaps exactly as a freshly built network does."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import scipy

import coverage.snapping
from coverage.network import NETWORK_FORMAT_VERSION, WalkNetwork, build_walk_network
from coverage.snapping import SnappedPoints, snap_points
from tests.conftest import BEIJING, CHENGDU


def _points(net: WalkNetwork, n: int = 3000) -> np.ndarray:
    """Points over the network's box and a margin around it (some beyond the snapping limit),
    plus every tenth node exactly (ties between the edges that meet there)."""
    rng = np.random.default_rng(13)
    west, south, east, north = net.bbox
    pad = 0.004  # about 400 m: some points are farther than 250 m from every street
    scattered = np.column_stack(
        [rng.uniform(west - pad, east + pad, n), rng.uniform(south - pad, north + pad, n)]
    )
    on_nodes = np.column_stack([net.lon[::10], net.lat[::10]])
    return np.vstack([scattered, on_nodes])


def _assert_same(a: SnappedPoints, b: SnappedPoints) -> None:
    np.testing.assert_array_equal(a.edge, b.edge)
    np.testing.assert_array_equal(a.offset_m, b.offset_m)  # NaN where unsnapped, on both
    np.testing.assert_array_equal(a.snap_m, b.snap_m)


def _never_rebuild(monkeypatch: pytest.MonkeyPatch) -> list[WalkNetwork]:
    calls: list[WalkNetwork] = []

    def counting(network: WalkNetwork) -> object:
        calls.append(network)
        msg = "the snapping index was rebuilt"
        raise AssertionError(msg)

    monkeypatch.setattr(coverage.snapping, "_build_segment_index", counting)
    return calls


@pytest.mark.parametrize("osm", [BEIJING, CHENGDU], ids=["beijing", "chengdu"])
def test_a_cached_network_snaps_as_a_fresh_one_without_rebuilding_the_index(
    osm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = build_walk_network(osm, cache=False)
    points = _points(fresh)
    expected = snap_points(fresh, points)
    assert expected.ok.any() and not expected.ok.all()
    build_walk_network(osm, cache_dir=tmp_path)  # writes the cache
    calls = _never_rebuild(monkeypatch)
    cached = build_walk_network(osm, cache_dir=tmp_path)
    assert cached.report is not None and cached.report.from_cache
    _assert_same(snap_points(cached, points), expected)
    assert calls == []


def test_another_scipy_rebuilds_only_the_tree_from_the_cached_samples(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = build_walk_network(BEIJING, cache=False)
    points = _points(fresh)
    expected = snap_points(fresh, points)
    build_walk_network(BEIJING, cache_dir=tmp_path)
    # the k-d tree's stored state is scipy's private layout: another version must not read it
    monkeypatch.setattr(scipy, "__version__", "0.0.0-other")
    calls = _never_rebuild(monkeypatch)
    cached = build_walk_network(BEIJING, cache_dir=tmp_path)
    assert cached.report is not None and cached.report.from_cache
    _assert_same(snap_points(cached, points), expected)
    assert calls == []


def test_a_cache_of_an_older_format_is_rebuilt_silently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import coverage.network

    monkeypatch.setattr(coverage.network, "NETWORK_FORMAT_VERSION", NETWORK_FORMAT_VERSION - 1)
    build_walk_network(BEIJING, cache_dir=tmp_path)
    monkeypatch.undo()
    with caplog.at_level(logging.WARNING):
        again = build_walk_network(BEIJING, cache_dir=tmp_path)
    assert again.report is not None and not again.report.from_cache
    assert caplog.text == ""
