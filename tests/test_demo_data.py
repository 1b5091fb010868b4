"""The shipped demo case data/demo/ is complete, consistent and plausible."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import geopandas as gpd
import pytest

from coverage.categories import CATEGORIES

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"
UTM = 32648  # central Chengdu


@pytest.fixture(scope="module")
def communities() -> gpd.GeoDataFrame:
    return gpd.read_file(DEMO / "communities.geojson")


@pytest.fixture(scope="module")
def streets() -> gpd.GeoDataFrame:
    return gpd.read_file(DEMO / "streets.geojson")


@pytest.fixture(scope="module")
def readme() -> str:
    return (DEMO / "README.md").read_text(encoding="utf-8")


def test_files_exist_and_are_small() -> None:
    names = {p.name for p in DEMO.iterdir()}
    assert names >= {
        "chengdu-center.osm.bz2",
        "communities.geojson",
        "streets.geojson",
        "services.geojson",
        "case.toml",
        "README.md",
    }
    total = sum(p.stat().st_size for p in DEMO.rglob("*") if p.is_file())
    assert total < 10 * 1024 * 1024


def test_case_toml_points_at_the_files() -> None:
    case = tomllib.loads((DEMO / "case.toml").read_text(encoding="utf-8"))
    assert case["case"]["pack"] == "wuhan-1plus10"
    assert (DEMO / case["network"]["osm"]).is_file()
    for layer in ("streets", "communities", "services"):
        assert (DEMO / case[layer]["path"]).is_file()
        assert case[layer]["crs"] == "EPSG:4326"
    assert (DEMO / case["residents"]["buildings"]).is_file()
    assert case["residents"]["grid_m"] == 50
    comm = gpd.read_file(DEMO / case["communities"]["path"])
    for key in ("id", "name", "street", "population"):
        assert case["communities"][key] in comm.columns


def test_ids_unique_and_columns(communities, streets) -> None:
    assert communities.community_id.is_unique
    assert streets.street_id.is_unique
    assert communities.name.is_unique and streets.name.is_unique
    assert communities.name.str.startswith("演示社区").all()
    assert streets.name.str.startswith("演示街道").all()
    assert {"name_en"} <= set(communities.columns) & set(streets.columns)
    assert communities.crs.to_epsg() == 4326


def test_population_totals_match_readme(communities, streets, readme) -> None:
    stated = int(re.search(r"\*\*Total population: (\d+)\*\*", readme).group(1))
    assert communities.population.sum() == stated
    assert streets.population.sum() == stated
    # the per-district table adds up to the total too
    per_district = [
        int(m.group(1).replace(",", ""))
        for m in re.finditer(r"^\| 5101\d\d \|(?:[^|]*\|){4} ([\d,]+) \|", readme, flags=re.M)
    ]
    assert len(per_district) == 5 and sum(per_district) == stated
    assert (communities.population >= 0).all()
    assert (communities.population == communities.population.round()).all()
    assert 500_000 < stated < 1_500_000  # ~70 km² of central Chengdu


def test_communities_nest_in_streets(communities, streets) -> None:
    assert set(communities.street_id) == set(streets.street_id)
    c = communities.to_crs(UTM).set_index("community_id")
    s = streets.to_crs(UTM).set_index("street_id")
    for cid, row in c.iterrows():
        assert row.geometry.difference(s.loc[row.street_id].geometry.buffer(1.0)).area < 1.0, cid
    # communities do not overlap and tile their streets
    assert abs(c.area.sum() - s.area.sum()) < 1e-6 * s.area.sum()
    for sid, pop in streets.set_index("street_id").population.items():
        assert communities.loc[communities.street_id == sid, "population"].sum() == pop


def test_size_ranges(communities, streets) -> None:
    ckm2 = communities.to_crs(UTM).area / 1e6
    skm2 = streets.to_crs(UTM).area / 1e6
    # blocks are 0.1-1 km²; blocks without housing are merged into a neighbour up to 2 km²
    assert ckm2.min() >= 0.099 and ckm2.max() <= 2.001
    assert skm2.min() >= 2.0 and skm2.max() <= 10.0
    assert (communities.geometry.geom_type == "Polygon").all()  # merged blocks are contiguous


def test_communities_are_residential(communities, readme) -> None:
    """Blocks without mapped housing were merged away: few communities are left empty."""
    assert communities.population.sum() == 876_993  # census-derived, unchanged by the merging
    empty = communities[communities.population == 0]
    assert len(empty) <= 5
    assert f"**{len(empty)} communities have 0 people**" in readme
    for cid in empty.community_id:  # each one is listed in the README as a finding
        assert f"`{cid}` (street `" in readme
    assert (empty.residential_km2 == 0).all()
    assert (communities.loc[communities.residential_km2 > 0, "population"] > 0).all()
    # the README states the sizes against RULES.md
    m = re.search(r"^\| community \| (\d+) \| [\d.]+ / [\d.]+ / ([\d.]+) \|", readme, flags=re.M)
    assert m is not None
    assert int(m.group(1)) == len(communities)
    assert float(m.group(2)) == pytest.approx(communities.area_km2.max(), abs=0.006)
    assert "typed in by hand from memory" in readme  # the land-area caveat stays visible


def test_population_follows_residential_land(communities, readme) -> None:
    """Population = district people per km² of residential land x the community's residential land.

    A community inside one district has exactly its district's density (up to rounding); one
    that straddles districts lies between them.
    """
    dens = [
        float(m.group(1).replace(",", ""))
        for m in re.finditer(r"^\| 5101\d\d \|(?:[^|]*\|){6} ([\d,]+) \|", readme, flags=re.M)
    ]
    assert len(dens) == 5
    lo, hi = min(dens), max(dens)
    res = communities.residential_km2
    assert (communities.population >= lo * (res - 0.00005) - 1).all()
    assert (communities.population <= hi * (res + 0.00005) + 1).all()
    # C003 (north-west) lies in one district: its density is one of the table's
    c003 = communities.set_index("community_id").loc["C003"]
    assert c003.residential_km2 > 0
    d = c003.population / c003.residential_km2
    assert min(abs(d - x) / x for x in dens) < 0.02


def test_services(readme) -> None:
    s = gpd.read_file(DEMO / "services.geojson")
    assert s.service_id.is_unique
    assert set(s.category) <= set(CATEGORIES)
    # nodes are points; objects mapped as areas keep their polygon (W4 measures the union of
    # overlapping grounds) and carry its area
    kinds = s.geometry.geom_type
    assert kinds.isin(["Point", "Polygon", "MultiPolygon"]).all()
    assert (kinds != "Point").any()
    assert s.loc[kinds != "Point", "area_m2"].gt(0).all()
    assert s.loc[s.service_id.str.startswith("n"), "geometry"].geom_type.eq("Point").all()
    for cat in CATEGORIES:
        m = re.search(rf"^\| `{cat}` \|[^|]*\| (\d+) \| (\d+) \|", readme, flags=re.M)
        assert m is not None, cat
        assert int(m.group(1)) == (s.category == cat).sum()
        assert int(m.group(2)) == s.categories.str.split(";").apply(lambda x, c=cat: c in x).sum()


def test_readme_attribution(readme) -> None:
    assert "© OpenStreetMap contributors, ODbL" in readme
    assert "thebamboogrove/tudigong" in readme and "MIT" in readme
    assert "NOT real" in readme
