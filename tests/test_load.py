"""Readers and validation: one small input per real-world trap."""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
from shapely.geometry import Point, Polygon, box

from coverage.crs import gcj02_to_wgs84
from coverage.errors import DataError
from coverage.load import (
    Finding,
    ValidationReport,
    assign_streets,
    read_communities,
    read_layer,
    read_origins,
    read_services,
    read_streets,
    validate_case_layers,
    validate_communities,
)

# Two streets side by side in Wuhan (each 0.01° × 0.01°, about 960 m × 1110 m).
STREET_A = box(114.30, 30.50, 114.31, 30.51)
STREET_B = box(114.31, 30.50, 114.32, 30.51)


def streets_gdf() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"code": ["420103001", "420103002"], "名称": ["民族街道", "花楼街道"]},
        geometry=[STREET_A, STREET_B],
        crs=4326,
    )


def communities_gdf() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "cid": ["001", "002", "003"],
            "名称": ["江汉社区", "友谊社区", "前进社区"],
            "street": ["420103001", "420103001", "420103002"],
            "pop": [3200, 4100.0, 2500],
        },
        geometry=[
            box(114.301, 30.501, 114.305, 30.505),
            box(114.305, 30.501, 114.309, 30.505),
            box(114.311, 30.501, 114.319, 30.509),
        ],
        crs=4326,
    )


def canonical_streets() -> gpd.GeoDataFrame:
    return read_streets(streets_gdf(), id_column="code", name_column="名称").data


# ------------------------------------------------------------------------------ encodings


def write_poi_csv(path: Path, encoding: str, *, bom: bool = False) -> Path:
    text = (
        "id,名称,类别,lng,lat\n"
        "1,武汉中心医院,clinic,114.305,30.505\n"
        "2,江汉路超市,supermarket,114.315,30.505\n"
    )
    data = text.encode(encoding)
    if bom:
        data = b"\xef\xbb\xbf" + data
    path.write_bytes(data)
    return path


def test_gbk_csv_is_read_correctly_under_auto(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_poi_csv(tmp_path / "pois_gbk.csv", "gbk")
    with caplog.at_level(logging.INFO, logger="coverage.load"):
        gdf = read_layer(path)
    assert gdf["名称"].tolist() == ["武汉中心医院", "江汉路超市"]
    assert gdf.crs.to_epsg() == 4326
    assert "GB18030" in caplog.text
    assert gdf.geometry.iloc[0].equals(Point(114.305, 30.505))


def test_utf8_bom_csv(tmp_path: Path) -> None:
    path = write_poi_csv(tmp_path / "pois_bom.csv", "utf-8", bom=True)
    gdf = read_layer(path)
    assert gdf.columns[0] == "id"  # no "\ufeffid"
    assert gdf["名称"].iloc[1] == "江汉路超市"


def test_gbk_csv_with_explicit_utf8_names_gb18030(tmp_path: Path) -> None:
    path = write_poi_csv(tmp_path / "pois_gbk.csv", "gbk")
    with pytest.raises(DataError, match=r"pois_gbk\.csv.*gb18030"):
        read_layer(path, encoding="utf-8")


def test_gbk_csv_read_as_latin1_is_mojibake(tmp_path: Path) -> None:
    path = write_poi_csv(tmp_path / "pois_gbk.csv", "gbk")
    with pytest.raises(DataError, match=r"garbled.*encoding='gb18030'"):
        read_layer(path, encoding="latin-1")


def test_utf8_csv_read_as_gbk_is_mojibake(tmp_path: Path) -> None:
    path = tmp_path / "pois_utf8.csv"
    path.write_bytes("id,名称,lng,lat\n1,测试社区,114.3,30.5\n".encode())
    with pytest.raises(DataError, match="encoding='utf-8'"):
        read_layer(path, encoding="gbk")


def test_explicit_encodings_that_fit_are_accepted(tmp_path: Path) -> None:
    bom = write_poi_csv(tmp_path / "pois_bom.csv", "utf-8", bom=True)
    assert read_layer(bom, encoding="utf-8").columns[0] == "id"
    gbk = write_poi_csv(tmp_path / "pois_gbk.csv", "gbk")
    assert read_layer(gbk, encoding="gb18030")["名称"].iloc[0] == "武汉中心医院"
    # isolated accented letters in a Latin-1 file are not mistaken for mojibake
    german = tmp_path / "heidelberg.csv"
    german.write_bytes("id,name,lng,lat\n1,Hauptstraße Bäckerei,8.69,49.41\n".encode("latin-1"))
    assert read_layer(german, encoding="latin-1")["name"].iloc[0] == "Hauptstraße Bäckerei"


def test_latin1_csv_is_not_guessed_as_gbk(tmp_path: Path) -> None:
    german = tmp_path / "heidelberg.csv"
    german.write_bytes("id,name,lng,lat\n1,Hauptstraße Bäckerei,8.69,49.41\n".encode("latin-1"))
    with pytest.raises(DataError, match="encoding='latin-1'"):
        read_layer(german)


def test_undecodable_csv_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pois_bad.csv"
    path.write_bytes(b"id,name,lng,lat\n1,\xff\xfe\xff,114.3,30.5\n")
    with pytest.raises(DataError, match="not guessing"):
        read_layer(path)


def test_ids_keep_leading_zeros_and_originals_follow(tmp_path: Path) -> None:
    path = tmp_path / "pois.csv"
    path.write_text("code,名称,类别,x,y\n0042,便利店,convenience_store,114.305,30.505\n")
    loaded = read_services(path, id_column="code", name_column="名称", category_column="类别")
    gdf = loaded.data
    assert gdf["service_id"].tolist() == ["0042"]
    assert list(gdf.columns[:5]) == ["service_id", "name", "category", "area_m2", "windows"]
    assert "x" in gdf.columns  # originals kept after the canonical columns
    assert gdf.geometry.name == "geometry"
    assert np.isnan(gdf["area_m2"].iloc[0])


# Traditional Chinese names as a Taiwanese Excel saves them: Big5 bytes, written out by hand so
# that the test does not depend on the codec it checks. Community 臺北市大安區龍門里, then
# the POIs 幸福菜市場, 啟蒙星幼兒園, 信義區公所 and 仁愛國民小學.
BIG5_CSV = (
    b"id,name,lng,lat\n"
    b"1,\xbbO\xa5_\xa5\xab\xa4j\xa6w\xb0\xcf\xc0s\xaa\xf9\xa8\xbd,121.543,25.033\n"
    b"2,\xa9\xaf\xba\xd6\xb5\xe6\xa5\xab\xb3\xf5,121.544,25.034\n"
    b"3,\xb1\xd2\xbbX\xacP\xa5\xae\xa8\xe0\xb6\xe9,121.545,25.035\n"
    b"4,\xabH\xb8q\xb0\xcf\xa4\xbd\xa9\xd2,121.546,25.036\n"
    b"5,\xa4\xaf\xb7R\xb0\xea\xa5\xc1\xa4p\xbe\xc7,121.547,25.037\n"
)
BIG5_NAMES = ["臺北市大安區龍門里", "幸福菜市場", "啟蒙星幼兒園", "信義區公所", "仁愛國民小學"]


def test_big5_csv_is_not_decoded_as_gb18030(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Big5 bytes decode as GB18030 without an error, into private-use characters and kana
    assert any("\ue000" <= c <= "\uf8ff" for c in BIG5_CSV.decode("gb18030"))
    path = tmp_path / "pois_big5.csv"
    path.write_bytes(BIG5_CSV)
    with caplog.at_level(logging.WARNING, logger="coverage.load"):
        gdf = read_layer(path)
    assert gdf["name"].tolist() == BIG5_NAMES
    assert "Big5" in caplog.text
    # the explicit encoding is accepted as it is
    assert read_layer(path, encoding="big5")["name"].tolist() == BIG5_NAMES


def test_big5_csv_read_as_gb18030_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pois_big5.csv"
    path.write_bytes(BIG5_CSV)
    with pytest.raises(DataError, match=r'pois_big5\.csv.*encoding = "big5"'):
        read_layer(path, encoding="gb18030")


def test_text_that_is_neither_gbk_nor_big5_is_refused(tmp_path: Path) -> None:
    # Big5's rare characters decode as GB18030 into rare hanzi, and as Big5 into rare hanzi
    # too: neither is plainly right, so neither is chosen
    raw = _neither_gbk_nor_big5(20).encode("big5")
    path = tmp_path / "pois_unknown.csv"
    path.write_bytes(b"id,name,lng,lat\n1," + raw + b",121.5,25.0\n")
    with pytest.raises(DataError, match=r'not GBK.*encoding = "big5"'):
        read_layer(path)


def _neither_gbk_nor_big5(n: int) -> str:
    """``n`` hanzi of Big5's level 2 (rare), half with a second byte below 0x7F, half above.

    Their Big5 bytes decode as GB18030 into half rare hanzi, half everyday ones, and as Big5
    into rare hanzi: text that is plainly neither.
    """
    low: list[str] = []
    high: list[str] = []
    for char in map(chr, range(0x4E00, 0x9FA5)):
        try:
            code = int.from_bytes(char.encode("big5"), "big")
        except UnicodeEncodeError:
            continue
        if code >= 0xC940:
            (low if code & 0xFF < 0x7F else high).append(char)
    return "".join(a + b for a, b in zip(low[: n // 2], high[: n // 2], strict=True))


# ------------------------------------------------------------------------------ file formats


def test_shapefile_with_chinese_attributes_and_cpg(tmp_path: Path) -> None:
    path = write_shapefile_without_cpg(streets_gdf(), tmp_path / "streets.shp", "gbk")
    path.with_suffix(".cpg").write_text("GBK")
    loaded = read_streets(path, id_column="code", name_column="名称")
    assert loaded.data["name"].tolist() == ["民族街道", "花楼街道"]
    assert loaded.data["street_id"].tolist() == ["420103001", "420103002"]


def test_shapefile_without_cpg_is_decoded_as_gbk(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_shapefile_without_cpg(streets_gdf(), tmp_path / "streets.shp", "gbk")
    with caplog.at_level(logging.INFO, logger="coverage.load"):
        gdf = read_layer(path)
    assert gdf["名称"].tolist() == ["民族街道", "花楼街道"]
    assert "no .cpg" in caplog.text
    # an explicit wrong encoding is refused, not silently garbled
    with pytest.raises(DataError, match="gb18030"):
        read_layer(path, encoding="latin-1")


def test_shapefile_encoding_option_is_passed_through(tmp_path: Path) -> None:
    path = write_shapefile_without_cpg(streets_gdf(), tmp_path / "streets.shp", "gbk")
    gdf = read_layer(path, encoding="gb18030")
    assert gdf["名称"].iloc[0] == "民族街道"


def write_shapefile_without_cpg(gdf: gpd.GeoDataFrame, path: Path, encoding: str) -> Path:
    """``gdf`` as a Shapefile whose .dbf text is in ``encoding``, with no .cpg beside it.

    pyogrio before 0.8 cannot write a .dbf in another encoding than UTF-8; there the text is
    written as ASCII stand-ins of the same byte length, which are then replaced by the encoded
    bytes, the same bytes GDAL writes elsewhere (a .dbf stores text as fixed-width bytes).
    """
    try:
        gdf.to_file(path, encoding=encoding)
    except pyogrio.errors.FieldError:
        text_columns = [c for c in gdf.columns if c != gdf.geometry.name]
        stand_ins: dict[bytes, bytes] = {}

        def stand_in_for(text: str) -> str:
            encoded = text.encode(encoding)
            if encoded.isascii():
                return text
            stand_in = f"Q{len(stand_ins):03d}".ljust(len(encoded), "q")
            stand_ins[stand_in.encode()] = encoded
            return stand_in

        frame = gdf.rename(columns={c: stand_in_for(c) for c in text_columns})
        for column in frame.columns:
            if column == frame.geometry.name:
                continue
            frame[column] = [stand_in_for(v) if isinstance(v, str) else v for v in frame[column]]
        frame.to_file(path)
        dbf = path.with_suffix(".dbf")
        data = dbf.read_bytes()
        for stand_in, encoded in stand_ins.items():
            data = data.replace(stand_in, encoded)
        dbf.write_bytes(data)
    path.with_suffix(".cpg").unlink(missing_ok=True)
    return path


def test_gbk_shapefile_with_ascii_columns_and_no_cpg(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # only the values are Chinese: with pandas 3 they sit in a str column, not an object one
    communities = communities_gdf().rename(columns={"名称": "name"})
    communities["name"] = ["演示社区 001", "幸福社区", "启蒙社区"]
    path = write_shapefile_without_cpg(communities, tmp_path / "communities.shp", "gbk")
    assert gpd.read_file(path)["name"].iloc[0] == "ÑÝÊ¾ÉçÇø 001"  # what GDAL alone gives
    with caplog.at_level(logging.WARNING, logger="coverage.load"):
        loaded = read_communities(
            path, id_column="cid", population_column="pop", name_column="name"
        )
    assert loaded.data["name"].tolist() == ["演示社区 001", "幸福社区", "启蒙社区"]
    assert ".cpg" in caplog.text
    assert "GBK" in caplog.text


def test_big5_shapefile_without_cpg_is_not_read_as_gbk(tmp_path: Path) -> None:
    pois = gpd.GeoDataFrame(
        {"id": ["1", "2", "3"], "name": BIG5_NAMES[:3]},
        geometry=[Point(121.543, 25.033), Point(121.544, 25.034), Point(121.545, 25.035)],
        crs=4326,
    )
    path = write_shapefile_without_cpg(pois, tmp_path / "pois.shp", "big5")
    assert read_layer(path)["name"].tolist() == BIG5_NAMES[:3]


def test_shapefile_without_cpg_in_no_plain_encoding_names_the_fix(tmp_path: Path) -> None:
    pois = gpd.GeoDataFrame(
        {"id": ["1"], "name": [_neither_gbk_nor_big5(12)]}, geometry=[Point(121.5, 25.0)], crs=4326
    )
    path = write_shapefile_without_cpg(pois, tmp_path / "pois.shp", "big5")
    with pytest.raises(DataError, match=r'pois\.shp.*\.cpg file containing GBK.*encoding = "gbk"'):
        read_layer(path)


def test_geopackage_layers(tmp_path: Path) -> None:
    path = tmp_path / "case.gpkg"
    streets_gdf().to_file(path, layer="streets")
    communities_gdf().to_file(path, layer="communities")
    with pytest.raises(DataError, match=r"2 layers.*layer="):
        read_layer(path)
    loaded = read_communities(
        path, layer="communities", id_column="cid", population_column="pop", name_column="名称"
    )
    assert loaded.data["community_id"].tolist() == ["001", "002", "003"]
    assert loaded.data["population"].dtype == float


def test_wkt_csv(tmp_path: Path) -> None:
    path = tmp_path / "streets.csv"
    path.write_text(
        'code,name,wkt\n1,a,"POLYGON ((114.30 30.50, 114.31 30.50, 114.31 30.51, 114.30 30.51, '
        '114.30 30.50))"\n',
        encoding="utf-8",
    )
    loaded = read_streets(path, id_column="code", name_column="name")
    assert loaded.data.geometry.iloc[0].equals(STREET_A)
    bad = tmp_path / "bad.csv"
    bad.write_text("code,wkt\n1,POLYGON oops\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"not WKT on lines 2"):
        read_layer(bad, wkt="wkt")


def test_cgcs2000_input_is_converted(tmp_path: Path) -> None:
    path = tmp_path / "streets_4490.gpkg"
    streets_gdf().set_crs(4490, allow_override=True).to_file(path)
    loaded = read_streets(path, id_column="code")
    assert loaded.data.crs.to_epsg() == 4326
    # CGCS2000 and WGS-84 agree to centimetres
    assert loaded.data.geometry.iloc[0].equals_exact(STREET_A, tolerance=1e-6)
    assert loaded.data["name"].tolist() == ["420103001", "420103002"]  # ids when no name


def test_projected_input_is_reprojected(tmp_path: Path) -> None:
    path = tmp_path / "streets_utm.gpkg"
    streets_gdf().to_crs(4547).to_file(path)
    loaded = read_streets(path, id_column="code")
    assert loaded.data.geometry.iloc[0].equals_exact(STREET_A, tolerance=1e-7)


def test_missing_crs_names_file_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "streets.shp"
    streets_gdf().to_file(path, encoding="utf-8")
    path.with_suffix(".prj").unlink()
    with pytest.raises(DataError, match=r"streets\.shp: the layer has no CRS.*crs='EPSG:4490'"):
        read_streets(path, id_column="code")
    loaded = read_streets(path, id_column="code", crs="EPSG:4490")
    assert loaded.data.crs.to_epsg() == 4326


def test_gcj02_declared_as_4326_is_converted(tmp_path: Path) -> None:
    path = tmp_path / "amap.csv"
    path.write_text("id,lng,lat\n1,114.305,30.505\n", encoding="utf-8")
    plain = read_layer(path)
    assert plain.geometry.iloc[0].equals(Point(114.305, 30.505))  # default wgs84: untouched
    gdf = read_layer(path, coordinate_system="gcj02")
    lon, lat = gcj02_to_wgs84(114.305, 30.505)
    assert gdf.geometry.iloc[0].x == pytest.approx(lon, abs=1e-12)
    assert gdf.geometry.iloc[0].y == pytest.approx(lat, abs=1e-12)
    baidu = read_layer(path, coordinate_system="bd09")
    assert not baidu.geometry.iloc[0].equals(gdf.geometry.iloc[0])


@pytest.mark.parametrize(
    ("lon", "lat", "system"),
    [
        ("gcj02_lng", "gcj02_lat", "gcj02"),
        ("高德经度", "高德纬度", "gcj02"),
        ("bd09_lng", "bd09_lat", "bd09"),
    ],
)
def test_offset_named_columns_need_a_declared_system(
    tmp_path: Path, lon: str, lat: str, system: str
) -> None:
    path = tmp_path / "pois.csv"
    path.write_text(f"id,{lon},{lat}\n1,114.305,30.505\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_layer(path, lon=lon, lat=lat)
    text = str(err.value)
    assert str(path) in text and lon in text and f"coordinate_system={system!r}" in text
    declared = read_layer(path, lon=lon, lat=lat, coordinate_system=system)
    assert not declared.geometry.iloc[0].equals(Point(114.305, 30.505))  # converted
    converted = read_layer(path, lon=lon, lat=lat, coordinate_system="wgs84")
    assert converted.geometry.iloc[0].equals(Point(114.305, 30.505))  # the user's word


def test_auto_detected_gcj02_columns_are_not_read_as_wgs84(tmp_path: Path) -> None:
    path = tmp_path / "pois.csv"
    path.write_text("id,gcj02_lng,gcj02_lat\n1,114.305,30.505\n", encoding="utf-8")
    with pytest.raises(DataError, match="gcj02_lng"):
        read_layer(path)
    gdf = read_layer(path, coordinate_system="gcj02")
    lon, lat = gcj02_to_wgs84(114.305, 30.505)
    assert gdf.geometry.iloc[0].x == pytest.approx(lon, abs=1e-12)
    assert gdf.geometry.iloc[0].y == pytest.approx(lat, abs=1e-12)


def test_swapped_lon_lat(tmp_path: Path) -> None:
    path = tmp_path / "swapped.csv"
    path.write_text("id,lng,lat\n1,30.505,114.305\n2,30.51,114.31\n", encoding="utf-8")
    with pytest.raises(DataError, match="swapped"):
        read_layer(path, lon="lng", lat="lat")
    # swapped even where both values are valid degrees, caught for China-only systems
    path.write_text("id,lng,lat\n1,30.505,84.305\n", encoding="utf-8")
    with pytest.raises(DataError, match="swapped"):
        read_layer(path, coordinate_system="gcj02")


def test_projected_coordinates_declared_as_degrees(tmp_path: Path) -> None:
    path = tmp_path / "projected.csv"
    path.write_text("id,x,y\n1,38512345.2,3378123.1\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"look projected.*crs="):
        read_layer(path)


def test_missing_file() -> None:
    with pytest.raises(DataError, match="no such file"):
        read_layer("does/not/exist.gpkg")


# ------------------------------------------------------------------------------ layer checks


def test_empty_layer(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("code,name,lng,lat\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"empty\.csv.*empty"):
        read_services(path, id_column="code")


def test_duplicate_ids() -> None:
    gdf = streets_gdf()
    gdf["code"] = ["1", "1"]
    with pytest.raises(
        DataError, match=r"<GeoDataFrame>: 1 id occurs more than once in the streets layer \(id 1\)"
    ):
        read_streets(gdf, id_column="code")


def test_missing_column_lists_existing_columns() -> None:
    with pytest.raises(DataError, match=r"no column 'population'.*'cid', '名称', 'street', 'pop'"):
        read_communities(communities_gdf(), id_column="cid", population_column="population")


def test_missing_population_values() -> None:
    gdf = communities_gdf()
    gdf["pop"] = [3200, None, 10]
    with pytest.raises(DataError, match=r"1 community without population \(id 002\); fill"):
        read_communities(gdf, id_column="cid", population_column="pop")


def test_non_numeric_population() -> None:
    gdf = communities_gdf()
    gdf["pop"] = ["3200", "约4000", "1,250"]
    with pytest.raises(DataError, match=r"non-numeric population \['约4000'\] \(id 002\)"):
        read_communities(gdf, id_column="cid", population_column="pop")
    gdf["pop"] = ["3200", "4000", "1,250"]  # thousands separators are fine
    loaded = read_communities(gdf, id_column="cid", population_column="pop")
    assert loaded.data["population"].tolist() == [3200.0, 4000.0, 1250.0]


def test_zero_population_is_a_warning() -> None:
    gdf = communities_gdf()
    gdf["pop"] = [0, 10, 20]
    loaded = read_communities(gdf, id_column="cid", population_column="pop")
    (finding,) = loaded.findings
    assert finding.severity == "warning"
    assert finding.ids == ("001",)
    assert "community 001 has no residents" in finding.message
    assert "not evaluable" in finding.message


def test_bow_tie_polygon_is_repaired_and_listed() -> None:
    gdf = communities_gdf()
    bow_tie = Polygon([(114.311, 30.501), (114.319, 30.509), (114.319, 30.501), (114.311, 30.509)])
    assert not bow_tie.is_valid
    gdf.loc[2, "geometry"] = bow_tie
    loaded = read_communities(gdf, id_column="cid", population_column="pop")
    repaired = loaded.data.geometry.iloc[2]
    assert repaired.is_valid
    assert repaired.geom_type == "MultiPolygon"
    assert repaired.area == pytest.approx(2 * 0.008 * 0.004 / 2, rel=1e-9)  # two triangles
    (finding,) = loaded.findings
    assert finding.severity == "warning"
    assert finding.ids == ("003",)
    assert "make_valid" in finding.message
    assert not gdf.geometry.iloc[2].is_valid  # input unchanged


def test_null_and_empty_geometries_are_fatal() -> None:
    gdf = communities_gdf()
    gdf.loc[1, "geometry"] = None
    gdf.loc[2, "geometry"] = Polygon()
    with pytest.raises(
        DataError, match=r"2 communities have an empty or missing geometry \(ids 002, 003\)"
    ):
        read_communities(gdf, id_column="cid", population_column="pop")


def test_points_are_not_streets() -> None:
    gdf = gpd.GeoDataFrame({"code": ["1"]}, geometry=[Point(114.3, 30.5)], crs=4326)
    with pytest.raises(DataError, match="must be Polygon or MultiPolygon"):
        read_streets(gdf, id_column="code")


def test_unknown_category_is_reported_and_cleared(tmp_path: Path) -> None:
    path = tmp_path / "pois.csv"
    path.write_text(
        "id,cat,lng,lat\n1,pharmacy,114.305,30.505\n2,药店,114.306,30.505\n3,bank,114.307,30.505\n"
        "4,bank,114.308,30.505\n",
        encoding="utf-8",
    )
    loaded = read_services(path, id_column="id", category_column="cat")
    assert loaded.data["category"].tolist() == ["pharmacy", None, None, None]
    unknown = next(f for f in loaded.findings if "not canonical" in f.message)
    assert unknown.severity == "warning"
    assert "'bank' ×2" in unknown.message
    assert "'药店' ×1" in unknown.message
    assert unknown.ids == ("2", "3", "4")


def test_unknown_category_uses_categories_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import coverage.categories

    monkeypatch.setattr(coverage.categories, "CATEGORIES", ("bank",))
    path = tmp_path / "pois.csv"
    path.write_text("id,cat,lng,lat\n1,bank,114.305,30.505\n", encoding="utf-8")
    assert read_services(path, id_column="id", category_column="cat").findings == []


def test_input_frame_is_not_changed() -> None:
    gdf = communities_gdf()
    before = gdf.copy()
    read_communities(gdf, id_column="cid", population_column="pop", streets=canonical_streets())
    assert gdf.equals(before)
    assert list(gdf.columns) == list(before.columns)


# ------------------------------------------------------------------------------ cross-layer


def test_community_straddling_two_streets() -> None:
    streets = canonical_streets()
    gdf = communities_gdf()
    # 003 lies 25 % in street A and 75 % in street B; its street column says A
    gdf.loc[2, "geometry"] = box(114.308, 30.501, 114.316, 30.505)
    gdf.loc[2, "street"] = "420103001"
    loaded = read_communities(
        gdf, id_column="cid", population_column="pop", street_column="street", streets=streets
    )
    assert loaded.data["street_id"].tolist() == ["420103001", "420103001", "420103002"]
    moved = next(f for f in loaded.findings if "reassigned" in f.message)
    assert moved.ids == ("003",)
    services = read_services(
        gpd.GeoDataFrame({"category": ["clinic"]}, geometry=[Point(114.305, 30.505)], crs=4326),
        category_column="category",
    ).data
    findings = validate_case_layers(streets, loaded.data, services)
    straddle = next(f for f in findings if "do not nest" in f.message)
    assert straddle.severity == "warning"
    assert straddle.ids == ("003",)
    assert "003 75 %" in straddle.message


def test_assign_streets_without_street_column() -> None:
    communities = read_communities(communities_gdf(), id_column="cid", population_column="pop")
    assert communities.data["street_id"].isna().all()
    assigned = assign_streets(communities.data, canonical_streets())
    assert assigned.data["street_id"].tolist() == ["420103001", "420103001", "420103002"]
    assert assigned.findings == []


def test_community_outside_every_street_is_fatal() -> None:
    gdf = communities_gdf()
    gdf.loc[0, "geometry"] = box(114.40, 30.50, 114.41, 30.51)
    with pytest.raises(DataError, match=r"outside every street.*\(id 001\)"):
        read_communities(gdf, id_column="cid", population_column="pop", streets=canonical_streets())


def test_service_outside_all_streets() -> None:
    services = read_services(
        gpd.GeoDataFrame(
            {"id": ["s1", "s2"], "category": ["clinic", "park"]},
            geometry=[Point(114.305, 30.505), Point(114.40, 30.60)],
            crs=4326,
        ),
        id_column="id",
        category_column="category",
        source_name="pois.csv",
    ).data
    communities = read_communities(
        communities_gdf(), id_column="cid", population_column="pop", streets=canonical_streets()
    ).data
    findings = validate_case_layers(canonical_streets(), communities, services)
    (outside,) = [f for f in findings if "outside every street" in f.message]
    assert outside.ids == ("s2",)
    assert outside.message.startswith("pois.csv: 1 services")


def test_validate_case_layers_reports_broken_frames() -> None:
    communities = read_communities(
        communities_gdf(), id_column="cid", population_column="pop", streets=canonical_streets()
    ).data
    communities.loc[0, "population"] = np.nan
    findings = validate_communities(communities)
    assert [f.severity for f in findings] == ["error"]
    report = ValidationReport(findings)
    assert not report.ok
    assert "1 error(s), 0 warning(s)" in str(report)


def test_validation_report_text() -> None:
    report = ValidationReport(
        [
            Finding("warning", "services", "a.csv: something", ("1",)),
            Finding("error", "streets", "b.gpkg: bad"),
        ]
    )
    assert len(report.errors) == 1
    assert len(report.warnings) == 1
    text = str(report)
    assert "error: [streets] b.gpkg: bad" in text
    assert str(ValidationReport()) == "no problems found"


def test_read_origins_joins_communities(tmp_path: Path) -> None:
    communities = read_communities(
        communities_gdf(), id_column="cid", population_column="pop", streets=canonical_streets()
    ).data
    path = tmp_path / "pop.csv"
    path.write_text("lng,lat,pop\n114.302,30.502,50\n114.5,30.5,7\n", encoding="utf-8")
    loaded = read_origins(path, population_column="pop", communities=communities)
    assert loaded.data["community_id"].tolist() == ["001", None]
    assert loaded.data["street_id"].tolist() == ["420103001", None]
    assert loaded.findings[0].ids == ("1",)


# ---- overlapping and duplicated communities -----------------------------------------------

DEMO_COMMUNITIES = Path(__file__).parents[1] / "data" / "demo" / "communities.geojson"


def _demo_communities() -> gpd.GeoDataFrame:
    return gpd.read_file(DEMO_COMMUNITIES)


def _read_demo(frame: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, list[Finding]]:
    return read_communities(
        frame,
        id_column="community_id",
        population_column="population",
        street_column="street_id",
        source_name="communities.geojson",
    )


def test_demo_communities_do_not_overlap() -> None:
    # neighbours share slivers of about 1 m² where their borders were computed separately:
    # far below the tolerance, not reported
    _, findings = _read_demo(_demo_communities())
    assert not [f for f in findings if "overlap" in f.message or "same boundary" in f.message]


def test_duplicated_community_is_refused_with_both_ids() -> None:
    demo = _demo_communities()
    copy = demo.iloc[[5]].assign(community_id="C999", name="复制社区")
    doubled = gpd.GeoDataFrame(
        pd.concat([demo, copy], ignore_index=True), geometry="geometry", crs=demo.crs
    )
    original = str(demo["community_id"].iloc[5])
    with pytest.raises(DataError, match="same boundary") as info:
        _read_demo(doubled)
    message = str(info.value)
    assert f"{original} = C999" in message
    assert "communities.geojson" in message
    assert "Drop the duplicated rows" in message
    errors = [f for f in validate_communities(doubled) if f.severity == "error"]
    assert len(errors) == 1
    assert set(errors[0].ids) == {original, "C999"}


def test_overlapping_communities_are_a_warning_naming_both() -> None:
    demo = _demo_communities()
    first, second = demo.geometry.iloc[0], demo.geometry.iloc[1]
    assert first.intersection(second).area < 1e-9  # neighbours, not overlapping
    # the first community grows 100 m into its neighbour: a boundary drawn twice
    grown = first.union(second.intersection(first.buffer(0.001)))
    moved = demo.copy()
    moved.loc[0, "geometry"] = grown
    _, findings = _read_demo(moved)
    overlaps = [f for f in findings if "overlap" in f.message]
    assert len(overlaps) == 1
    finding = overlaps[0]
    a, b = str(demo["community_id"].iloc[0]), str(demo["community_id"].iloc[1])
    assert finding.severity == "warning"
    assert set(finding.ids) == {a, b}
    assert f"{a} and {b} share" in finding.message
    assert "more than 1% of the smaller one's area" in finding.message
    assert "counted twice" in finding.message or "count them twice" in finding.message


def test_gbk_with_a_user_defined_character_is_not_refused(tmp_path: Path) -> None:
    # one private-use character (a user-defined GBK code, as rare name characters are) among
    # ordinary Simplified Chinese: GBK, not Big5
    names = ["江汉社区卫生服务中心", "花楼街道办事处", "友谊路社区\ue000家园", "前进社区居委会"]
    path = tmp_path / "pois_gbk_udc.csv"
    rows = "".join(f"{i},{n},114.3,30.5\n" for i, n in enumerate(names))
    path.write_bytes(("id,name,lng,lat\n" + rows).encode("gb18030"))
    assert read_layer(path)["name"].tolist() == names
    assert read_layer(path, encoding="gb18030")["name"].tolist() == names
