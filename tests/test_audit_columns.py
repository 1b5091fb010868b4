"""The audit's column of nearest-facility ids, made from the distinct ids and the search's
positions, against the plain way: pandas inferring the column from every origin's id (``str``
under pandas 3, ``object`` before; missing where no facility is reached)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from coverage.access import nearest_facility
from coverage.audit import _id_column
from coverage.network import WalkNetwork
from coverage.snapping import snap_points


@pytest.mark.parametrize(
    "ids",
    [
        pd.Index(["S1", "S2", "420102001"], dtype=object),
        pd.Index(["S1", "S2", "420102001"]),  # whatever dtype pandas gives text ids
        pd.Index([], dtype=object),
        pd.Index([7, 8, 9]),  # not text: pandas keeps objects
    ],
)
def test_id_column_is_the_column_pandas_infers(ids: pd.Index) -> None:
    rng = np.random.default_rng(3)
    positions = rng.integers(-1, len(ids), 500) if len(ids) else np.full(500, -1)
    plain = np.array([None if p < 0 else ids[p] for p in positions], dtype=object)
    expected = pd.DataFrame({"f": plain})["f"]
    got = pd.DataFrame({"f": _id_column(ids, positions)})["f"]
    pd.testing.assert_series_equal(got, expected, check_exact=True)


def test_positions_name_the_same_facilities_as_ids(beijing_net: WalkNetwork) -> None:
    net = beijing_net
    rng = np.random.default_rng(5)
    west, south, east, north = net.bbox
    so = snap_points(
        net,
        np.column_stack([rng.uniform(west, east, 300), rng.uniform(south, north, 300)]),
        max_snap_m=250,
    )
    points = np.column_stack([rng.uniform(west, east, 25), rng.uniform(south, north, 25)])
    sf = snap_points(net, pd.DataFrame(points, index=[f"S{i}" for i in range(25)]))
    by_id = nearest_facility(net, so, sf, cutoff_m=900)
    by_pos = nearest_facility(net, so, sf, cutoff_m=900, positions=True)
    np.testing.assert_array_equal(by_id["distance_m"], by_pos["distance_m"])
    pos = by_pos["facility"].to_numpy()
    assert pos.dtype.kind == "i" and (pos >= 0).sum() > 20 and (pos < 0).sum() > 20
    pd.testing.assert_series_equal(
        pd.DataFrame({"f": _id_column(sf.index, pos)})["f"],
        pd.DataFrame({"f": by_id["facility"].to_numpy()})["f"],
        check_exact=True,
    )
