"""Read streets, communities and services into the canonical schema, and validate them.

Every reader returns a :class:`LoadedLayer`: a new GeoDataFrame in EPSG:4326 with the canonical
columns of ``docs/architecture.md`` first and the original columns after them, plus the list of
non-fatal :class:`Finding` s met while loading (repaired geometries, unknown categories, zero
population, communities reassigned to a street). Fatal problems raise
:class:`~coverage.errors.DataError` with the file, the ids and the fix.

Real inputs and their traps, all handled here:

* CSV files in GBK/GB18030 (Excel in China) or UTF-8 with a BOM: ``encoding="auto"`` tries
  UTF-8 (with or without BOM) then GB18030 and refuses to guess otherwise; an explicit encoding
  that produces mojibake is an error naming the encoding to use.
* Shapefiles without ``.cpg`` (GDAL then reads Latin-1): ``encoding="auto"`` detects the
  mojibake and re-reads as UTF-8 or GB18030.
* Files without CRS, CGCS2000 (EPSG:4490), and GCJ-02/BD-09 data that declare EPSG:4326: pass
  ``crs=`` and ``coordinate_system=``; see :func:`coverage.crs.to_wgs84`. The offsets cannot be
  seen in the numbers, so what can be seen is used: CSV coordinate columns named for GCJ-02 or
  BD-09 (``gcj02_lng``, ``高德经度``, ``bd09_lat`` ...) are refused without a declared
  ``coordinate_system``, and a case classifying services as Amap exports without one gets a
  warning (:mod:`coverage.case`).
* Swapped longitude/latitude and projected coordinates declared as degrees.
"""

from __future__ import annotations

import codecs
import io
import logging
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeAlias

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import shapely

from coverage.crs import local_metric_crs, normalise_coordinate_system, to_wgs84
from coverage.errors import DataError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "COMMUNITY_COLUMNS",
    "ORIGIN_COLUMNS",
    "SERVICE_COLUMNS",
    "STREET_COLUMNS",
    "Finding",
    "LoadedLayer",
    "ValidationReport",
    "assign_streets",
    "read_communities",
    "read_layer",
    "read_origins",
    "read_services",
    "read_streets",
    "service_category_sets",
    "validate_case_layers",
    "validate_communities",
    "validate_service_categories",
    "validate_services",
    "validate_streets",
]

logger = logging.getLogger(__name__)

STREET_COLUMNS: tuple[str, ...] = ("street_id", "name")
COMMUNITY_COLUMNS: tuple[str, ...] = ("community_id", "name", "street_id", "population")
SERVICE_COLUMNS: tuple[str, ...] = ("service_id", "name", "category", "area_m2", "windows")
ORIGIN_COLUMNS: tuple[str, ...] = ("origin_id", "community_id", "street_id", "population")

#: A community with less than this share of its area in its street is reported.
NESTING_THRESHOLD = 0.9
#: Two communities overlap (a warning naming both) when they share more than this share of the
#: smaller one's area; slivers between separately digitised neighbours stay far below it.
OVERLAP_TOLERANCE = 0.01
#: Two communities are duplicates (an error) when each covers the other to within this share.
DUPLICATE_TOLERANCE = 1e-6
_ID_LIMIT = 10
_LON_NAMES = ("lon", "lng", "long", "longitude", "x", "经度", "wgs84_lng", "gcj02_lng")
_LAT_NAMES = ("lat", "latitude", "y", "纬度", "wgs84_lat", "gcj02_lat")
_WKT_NAMES = ("wkt", "geometry", "geom", "the_geom", "shape")
_CSV_SUFFIXES = (".csv", ".txt", ".tsv")
_POLYGONAL = ("Polygon", "MultiPolygon")
_SERVICE_TYPES = ("Point", "Polygon", "MultiPolygon")
_THOUSANDS = re.compile(r"^\s*-?\d{1,3}(,\d{3})+(\.\d+)?\s*$")
_CJK = re.compile(r"[\u3400-\u9fff]")
_LATIN1_HIGH = re.compile(r"[\u0080-\u00ff]")
_LATIN1_RUN = re.compile(r"[\u0080-\u00ff]{2,}")
_PRIVATE_USE = re.compile(r"[\ue000-\uf8ff]")
#: The everyday characters of each Chinese double-byte standard, as ranges of their codes:
#: GB2312's symbols (rows 1-3) and hanzi (rows 16-87); Big5's symbols and its 5,401 frequent
#: hanzi (常用字). Text read with the wrong one of GBK and Big5 decodes without error but lands
#: outside these ranges: private-use characters, kana, rare hanzi.
_COMMON_CODES: dict[str, tuple[tuple[int, int], ...]] = {
    "gb2312": ((0xA1A1, 0xA3FE), (0xB0A1, 0xF7FE)),
    "big5": ((0xA140, 0xA3BF), (0xA440, 0xC67E)),
}
#: Below this many non-ASCII characters only private-use characters count as evidence.
_MIN_CHARS_FOR_SHARE = 10
#: GB18030 text with a smaller share of everyday GB2312 characters is not taken as GBK.
_MIN_GB_SHARE = 0.8
#: Big5 text is taken as Big5 when at least this share are everyday Big5 characters.
_MIN_BIG5_SHARE = 0.9
_GB_FAMILY = ("gb18030", "gbk", "gb2312", "cp936")

Severity = Literal["error", "warning"]
PathOrFrame: TypeAlias = str | Path | gpd.GeoDataFrame


# --------------------------------------------------------------------------------------------
# findings


@dataclass(frozen=True)
class Finding:
    """One problem found in an input layer.

    Parameters
    ----------
    severity
        ``"error"`` (the layer cannot be used as is; loaders raise on these) or ``"warning"``
        (loaded, but part of the result is affected).
    layer
        ``"streets"``, ``"communities"``, ``"services"`` or ``"origins"``.
    message
        A sentence naming the file, the rows and what to do.
    ids
        The ids (or row numbers) concerned, all of them.
    message_zh
        The message in Chinese, where one was written (empty otherwise).
    """

    severity: Severity
    layer: str
    message: str
    ids: tuple[str, ...] = ()
    message_zh: str = ""

    def __str__(self) -> str:
        return f"{self.severity}: [{self.layer}] {self.message}"


class ValidationReport(list[Finding]):
    """A list of :class:`Finding` with readable text and error/warning views."""

    @property
    def errors(self) -> list[Finding]:
        """The findings with severity ``"error"``."""
        return [f for f in self if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        """The findings with severity ``"warning"``."""
        return [f for f in self if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True if there is no error (warnings allowed)."""
        return not self.errors

    def __str__(self) -> str:
        if not self:
            return "no problems found"
        head = f"{len(self.errors)} error(s), {len(self.warnings)} warning(s)"
        return "\n".join([head, *(f"- {f}" for f in self)])


class LoadedLayer(NamedTuple):
    """What a reader returns: the canonical frame and the non-fatal findings."""

    data: gpd.GeoDataFrame
    findings: list[Finding]


def _dedupe(findings: Iterable[Finding]) -> list[Finding]:
    return list(dict.fromkeys(findings))


def _count(n: int, one: str, many: str) -> str:
    """``1 community`` / ``3 communities``."""
    return f"{n} {one if n == 1 else many}"


def _fmt_ids(ids: Sequence[Any]) -> str:
    shown = ", ".join(str(i) for i in list(ids)[:_ID_LIMIT])
    if len(ids) > _ID_LIMIT:
        return f"ids {shown}, … ({len(ids)} in all)"
    return f"ids {shown}" if len(ids) != 1 else f"id {shown}"


def _fmt_ids_zh(ids: Sequence[Any]) -> str:
    """:func:`_fmt_ids` in Chinese: ``编号 a、b、…（共 n 个）``."""
    shown = "、".join(str(i) for i in list(ids)[:_ID_LIMIT])
    more = f"…（共 {len(ids)} 个）" if len(ids) > _ID_LIMIT else ""
    return f"编号 {shown}{more}"


def _category_zh(category: str) -> str:
    """A category's Chinese label (the code itself if it has none)."""
    from coverage.categories import category_label

    try:
        return category_label(category, "zh")
    except (KeyError, ValueError):
        return category


def _finding(
    severity: Severity,
    layer: str,
    message: str,
    ids: Iterable[Any] = (),
    *,
    message_zh: str = "",
) -> Finding:
    return Finding(severity, layer, message, tuple(str(i) for i in ids), message_zh=message_zh)


def _raise_errors(findings: Sequence[Finding]) -> list[Finding]:
    errors = [f for f in findings if f.severity == "error"]
    if errors:
        raise DataError("\n".join(f.message for f in errors))
    return [f for f in findings if f.severity == "warning"]


def _source_of(gdf: gpd.GeoDataFrame, default: str) -> str:
    source = gdf.attrs.get("source")
    return str(source) if source else default


# --------------------------------------------------------------------------------------------
# text encodings


def _looks_like_mojibake(text: str) -> str | None:
    """Return the encoding the text was probably meant to be read with, or None."""
    if "\ufffd" in text:
        return "gb18030"
    if "锟斤拷" in text or "烫烫烫" in text:
        return "gb18030"
    high = _LATIN1_HIGH.findall(text)
    runs = _LATIN1_RUN.findall(text)
    # GBK or UTF-8 bytes read as Latin-1 give runs of 2-3 such characters per Chinese
    # character, mapping back to bytes that decode cleanly into Chinese. Isolated accented
    # letters (Straße, Düsseldorf) are ordinary Latin-1 text.
    if high and sum(len(r) for r in runs) >= 0.5 * len(high):
        try:
            raw = text.encode("latin-1")
        except UnicodeEncodeError:
            return None
        for candidate in ("utf-8", "gb18030"):
            try:
                decoded = raw.decode(candidate)
            except UnicodeDecodeError:
                continue
            if _CJK.search(decoded):
                return candidate
    return None


def _looks_like_latin_text(text: str) -> bool:
    """True if most non-ASCII characters sit alone between Latin letters (``Stra裨e``)."""
    non_ascii = isolated = 0
    for i, char in enumerate(text):
        if char.isascii():
            continue
        non_ascii += 1
        before = text[i - 1] if i > 0 else ""
        after = text[i + 1] if i + 1 < len(text) else ""
        if before.isascii() and before.isalpha() and after.isascii() and after.isalpha():
            isolated += 1
    return non_ascii > 0 and isolated >= 0.5 * non_ascii


def _common_share(text: str, standard: str) -> tuple[float, int]:
    """The share of non-ASCII characters of ``text`` that are everyday characters of
    ``standard`` (``"gb2312"`` or ``"big5"``), and how many non-ASCII characters there are."""
    counts = Counter(c for c in text if not c.isascii() and not c.isspace())
    total = sum(counts.values())
    if not total:
        return 1.0, 0
    ranges = _COMMON_CODES[standard]
    common = 0
    for char, n in counts.items():
        try:
            encoded = char.encode(standard)
        except UnicodeEncodeError:
            continue
        code = int.from_bytes(encoded, "big")
        if len(encoded) == 2 and any(lo <= code <= hi for lo, hi in ranges):
            common += n
    return common / total, total


def _implausible_gb(text: str) -> bool:
    """True if text decoded as GB18030 is unlikely to be Chinese written in GBK.

    Big5 (Traditional Chinese) bytes decode as GB18030 without an error, into private-use
    characters, kana and rare hanzi; real GBK text is nearly all GB2312's everyday characters.
    """
    share, total = _common_share(text, "gb2312")
    if total < _MIN_CHARS_FOR_SHARE:
        return bool(_PRIVATE_USE.search(text))
    # a few user-defined (private-use) characters in GBK text are rare names, not Big5
    return share < _MIN_GB_SHARE


def _as_big5(text: str) -> bool:
    """True if ``text`` (decoded as Big5) is plainly Traditional Chinese."""
    if _PRIVATE_USE.search(text):
        return False
    share, total = _common_share(text, "big5")
    return total > 0 and share >= _MIN_BIG5_SHARE


def _big5_message(source: str, sample: str, *, how: str) -> str:
    return (
        f"{source}: {how} gives private-use or unlikely characters ({sample!r}): the text is "
        "probably not GBK. If it is Traditional Chinese (Taiwan, Hong Kong), pass "
        'encoding = "big5" (Python: encoding="big5"); if it is GBK with user-defined '
        'characters, pass encoding = "gb18030"; otherwise re-save the file as UTF-8'
    )


def _first_implausible(text: str) -> str:
    """A short sample around the first private-use or non-GB2312 character."""
    for i, char in enumerate(text):
        if char.isascii() or char.isspace():
            continue
        if _PRIVATE_USE.match(char) or _common_share(char, "gb2312")[0] < 1.0:
            start = text.rfind("\n", 0, i) + 1
            end = text.find("\n", i)
            line = text[start : end if end >= 0 else len(text)]
            return line[max(0, i - start - 8) : i - start + 8].strip()
    return _first_bad_sample(text)


def _decode_csv(raw: bytes, *, encoding: str, source: str) -> str:
    if encoding.lower() == "auto":
        try:
            return raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            pass
        try:
            text = raw.decode("gb18030")
        except UnicodeDecodeError as exc:
            msg = (
                f"{source}: the text is neither UTF-8 nor GB18030/GBK (undecodable byte at "
                f"position {exc.start}); not guessing. Re-save it as UTF-8 or pass the encoding "
                "explicitly, e.g. encoding='big5' or encoding='latin-1'"
            )
            raise DataError(msg) from exc
        if _looks_like_latin_text(text):
            msg = (
                f"{source}: the text is not UTF-8; it decodes as GB18030 but gives Chinese "
                f"characters inside Latin words ({_first_bad_sample(text)!r}), so it is "
                "probably a Latin-1/Windows-1252 file; not guessing. Pass "
                "encoding='latin-1' (or 'cp1252'), or encoding='gb18030' if it really is Chinese"
            )
            raise DataError(msg)
        if _implausible_gb(text):
            big5 = _try_decode(raw, "big5")
            if big5 is not None and _as_big5(big5):
                logger.warning(
                    "%s: not UTF-8, and as GB18030 it gives private-use or unlikely characters; "
                    'decoded as Big5 (Traditional Chinese). Pass encoding = "big5" to say so',
                    source,
                )
                return big5
            how = "the text is not UTF-8, and decoding it as GB18030 (GBK)"
            raise DataError(_big5_message(source, _first_implausible(text), how=how))
        logger.info("%s: not UTF-8; decoded as GB18030 (GBK superset)", source)
        return text
    try:
        text = raw.decode(encoding).removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        hint = _suggest_encoding(raw)
        msg = (
            f"{source}: cannot be decoded as {encoding!r} (byte {raw[exc.start]:#04x} at position "
            f"{exc.start}); {hint}"
        )
        raise DataError(msg) from exc
    except LookupError as exc:
        msg = f"{source}: unknown encoding {encoding!r}; use 'auto', 'utf-8' or 'gb18030'"
        raise DataError(msg) from exc
    _check_decoded(text, raw=raw, encoding=encoding, source=source)
    return text


def _try_decode(raw: bytes, encoding: str) -> str | None:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        return None


def _suggest_encoding(raw: bytes | None) -> str:
    if raw is not None:
        for candidate in ("utf-8-sig", "gb18030"):
            try:
                raw.decode(candidate)
            except UnicodeDecodeError:
                continue
            return f"it decodes cleanly as {candidate!r}: pass encoding={candidate!r} (or 'auto')"
    return "Chinese files are usually GBK: pass encoding='gb18030' (or 'auto')"


def _check_decoded(text: str, *, raw: bytes | None, encoding: str, source: str) -> None:
    meant = _looks_like_mojibake(text)
    if meant is None and raw is not None and not raw.isascii():
        try:
            as_utf8 = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            as_utf8 = None
        if as_utf8 is not None and as_utf8 != text.removeprefix("\ufeff"):
            meant = "utf-8"
    if meant is not None:
        sample = _first_bad_sample(text)
        msg = (
            f"{source}: reading with encoding={encoding!r} gives garbled text ({sample!r}); "
            f"the file looks like {meant.upper()}: pass encoding={meant!r} or encoding='auto'"
        )
        if meant != "gb18030":
            msg += " (Chinese files from Excel are usually GBK: encoding='gb18030')"
        raise DataError(msg)
    if raw is not None and encoding.lower().replace("-", "") in _GB_FAMILY:
        # the encoding was named: refuse it only when the bytes are plainly Big5
        big5 = _try_decode(raw, "big5")
        if _implausible_gb(text) and big5 is not None and _as_big5(big5):
            msg = (
                f"{source}: reading with encoding={encoding!r} gives private-use or unlikely "
                f"characters ({_first_implausible(text)!r}), and the file reads as plain "
                f'Traditional Chinese in Big5 ({_first_bad_sample(big5)!r}): pass encoding = "big5"'
            )
            raise DataError(msg)


def _first_bad_sample(text: str) -> str:
    match = re.search(r"[^\x00-\x7f]{1,12}", text)
    return match.group(0) if match else text[:12]


# --------------------------------------------------------------------------------------------
# reading files


def _read_csv(
    path: Path,
    *,
    encoding: str,
    lon: str | None,
    lat: str | None,
    wkt: str | None,
    source: str,
) -> gpd.GeoDataFrame:
    text = _decode_csv(path.read_bytes(), encoding=encoding, source=source)
    first_line = text.split("\n", 1)[0]
    sep = ","
    if "," not in first_line:
        sep = "\t" if "\t" in first_line else (";" if ";" in first_line else ",")
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, sep=sep, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        msg = f"{source}: not a readable CSV table ({exc})"
        raise DataError(msg) from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    columns = list(frame.columns)
    lowered = {c.lower(): c for c in columns}
    if wkt is None and lon is None and lat is None:
        lon = next((lowered[n] for n in _LON_NAMES if n in lowered), None)
        lat = next((lowered[n] for n in _LAT_NAMES if n in lowered), None)
        if lon is None or lat is None:
            lon = lat = None
            wkt = next((lowered[n] for n in _WKT_NAMES if n in lowered), None)
        if lon is None and wkt is None:
            msg = (
                f"{source}: no coordinate columns found among {columns}; pass lon= and lat= "
                "(column names of longitude and latitude) or wkt= (a column of WKT geometries)"
            )
            raise DataError(msg)
    if wkt is not None:
        _require_columns(frame, [wkt], source=source, option="wkt")
        values = frame[wkt]
        geoms = shapely.from_wkt(values.to_numpy(dtype=object), on_invalid="ignore")
        bad = np.flatnonzero(values.notna().to_numpy() & pd.isna(geoms))
        if len(bad):
            rows = [int(i) + 2 for i in bad]
            msg = (
                f"{source}: column {wkt!r} has text that is not WKT on lines "
                f"{', '.join(map(str, rows[:_ID_LIMIT]))} ({len(rows)} in all); fix those "
                f"cells, e.g. 'POINT (114.30 30.59)'"
            )
            raise DataError(msg)
        return gpd.GeoDataFrame(frame.drop(columns=[wkt]), geometry=list(geoms), crs=None)
    if lon is None or lat is None:
        msg = f"{source}: pass both lon= and lat= (got lon={lon!r}, lat={lat!r})"
        raise DataError(msg)
    _require_columns(frame, [lon, lat], source=source, option="lon/lat")
    xs = _to_float(frame[lon])
    ys = _to_float(frame[lat])
    for col, values in ((lon, xs), (lat, ys)):
        bad_mask = values.isna() & frame[col].notna()
        if bad_mask.any():
            rows = [int(i) + 2 for i in np.flatnonzero(bad_mask.to_numpy())]
            examples = frame.loc[bad_mask, col].head(3).tolist()
            msg = (
                f"{source}: column {col!r} has non-numeric values {examples} on lines "
                f"{', '.join(map(str, rows[:_ID_LIMIT]))} ({len(rows)} in all); use decimal "
                "degrees such as 114.305"
            )
            raise DataError(msg)
    geometry = gpd.points_from_xy(xs, ys)
    missing = (xs.isna() | ys.isna()).to_numpy()
    geoms = np.asarray(geometry, dtype=object)
    geoms[missing] = None
    out = gpd.GeoDataFrame(frame, geometry=list(geoms), crs=None)
    out.attrs["coordinate_columns"] = (lon, lat)
    return out


def _to_float(values: pd.Series) -> pd.Series:
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        text = values.astype("string").str.strip()
        text = text.where(~text.fillna("").str.match(_THOUSANDS), text.str.replace(",", ""))
        return pd.to_numeric(text, errors="coerce").astype(float)
    return pd.to_numeric(values, errors="coerce").astype(float)


def _is_text_column(values: pd.Series) -> bool:
    """True for columns that may hold text: object (pandas 2) and any string dtype (pandas 3)."""
    # is_string_dtype is True for the object dtype and for every StringDtype
    return isinstance(values.dtype, pd.StringDtype) or pd.api.types.is_string_dtype(values.dtype)


def _string_samples(gdf: pd.DataFrame, *, limit: int = 2000) -> str:
    """The column names and up to ``limit`` values of every text column, one per line.

    Values are checked whatever the dtype that holds them: ``object`` under pandas 2, the
    ``str``/``string`` dtypes (:class:`pandas.StringDtype`) under pandas 3. Checking only
    ``object`` columns would check nothing but the column names under pandas 3.
    """
    parts = [str(c) for c in gdf.columns]
    for col in gdf.columns:
        if col == "geometry" or not _is_text_column(gdf[col]):
            continue
        parts.extend(str(v) for v in gdf[col].dropna().head(limit) if isinstance(v, str))
    return "\n".join(parts)


def _read_vector(
    path: Path, *, layer: str | int | None, encoding: str, source: str
) -> gpd.GeoDataFrame:
    if layer is None:
        try:
            layers = pyogrio.list_layers(path)
        except pyogrio.errors.DataSourceError as exc:
            msg = f"{source}: cannot be opened as a vector file ({exc})"
            raise DataError(msg) from exc
        if len(layers) > 1:
            names = ", ".join(str(n) for n in layers[:, 0])
            msg = f"{source} has {len(layers)} layers ({names}); pass layer= to choose one"
            raise DataError(msg)
    is_shp = path.suffix.lower() in (".shp", ".dbf")
    auto = encoding.lower() == "auto"
    kwargs: dict[str, Any] = {"layer": layer, "engine": "pyogrio"}
    if not auto:
        kwargs["encoding"] = encoding
    try:
        gdf = gpd.read_file(path, **kwargs)
    except UnicodeDecodeError as exc:
        msg = f"{source}: text cannot be decoded as {encoding!r}; {_suggest_encoding(None)}"
        raise DataError(msg) from exc
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        msg = f"{source}: cannot be read ({exc})"
        raise DataError(msg) from exc
    text = _string_samples(gdf)
    if not auto:
        _check_decoded(text, raw=None, encoding=encoding, source=source)
        return gdf
    if is_shp and not path.with_suffix(".cpg").exists() and _looks_like_mojibake(text):
        # GDAL read the .dbf as Latin-1 because there is no .cpg: try the real encodings.
        # GB18030 text must also look like GBK: Big5 bytes decode as GB18030 without error.
        for candidate in ("utf-8", "gb18030", "big5"):
            try:
                retry = gpd.read_file(path, layer=layer, engine="pyogrio", encoding=candidate)
            except (UnicodeDecodeError, pyogrio.errors.DataSourceError):
                continue
            retry_text = _string_samples(retry)
            if _looks_like_mojibake(retry_text) is not None or _looks_like_latin_text(retry_text):
                continue
            if candidate == "gb18030" and _implausible_gb(retry_text):
                continue
            if candidate == "big5" and not _as_big5(retry_text):
                continue
            logger.warning(
                "%s: no .cpg file, so GDAL read the attribute text as Latin-1 and garbled it "
                '(%r); read it as %s instead. Add a .cpg file containing "%s" next to the .shp '
                "to say so",
                source,
                _first_bad_sample(text),
                candidate.upper(),
                "GBK" if candidate == "gb18030" else candidate.upper(),
            )
            return retry
        msg = (
            f"{source}: there is no .cpg file, GDAL read the attribute text as Latin-1 and it "
            f"comes out garbled ({_first_bad_sample(text)!r}), and it is not plainly UTF-8, "
            "GBK or Big5; not guessing. Add a .cpg file containing GBK next to the .shp, or "
            'pass encoding = "gbk" in the case file (encoding = "big5" for Traditional '
            "Chinese)"
        )
        raise DataError(msg)
    cpg = path.with_suffix(".cpg")
    if is_shp and cpg.exists() and _looks_like_mojibake(text):
        # Some GDAL builds (pyogrio 0.7's wheels) cannot recode the encoding a .cpg names,
        # e.g. GBK, and return Latin-1: decode it in Python instead.
        declared = _cpg_encoding(cpg)
        if declared is not None:
            try:
                retry = gpd.read_file(path, layer=layer, engine="pyogrio", encoding=declared)
            except (UnicodeDecodeError, pyogrio.errors.DataSourceError):
                retry = None
            if retry is not None and _looks_like_mojibake(_string_samples(retry)) is None:
                return retry
    if _looks_like_mojibake(text):
        _check_decoded(text, raw=None, encoding="(as declared by the file)", source=source)
    return gdf


def _cpg_encoding(cpg: Path) -> str | None:
    """The Python codec a Shapefile's ``.cpg`` names (``GBK``, ``UTF-8``, ``936``), or None."""
    try:
        name = cpg.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if name.isdigit():
        name = f"cp{name}"
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def read_layer(
    path: str | Path,
    *,
    layer: str | int | None = None,
    encoding: str = "auto",
    lon: str | None = None,
    lat: str | None = None,
    wkt: str | None = None,
    crs: str | int | pyproj.CRS | None = None,
    coordinate_system: str | int | pyproj.CRS | None = None,
) -> gpd.GeoDataFrame:
    """Read a vector file or a CSV table into a GeoDataFrame in EPSG:4326.

    Parameters
    ----------
    path
        GeoPackage, Shapefile, GeoJSON (anything GDAL reads through pyogrio) or CSV
        (``.csv``/``.txt``/``.tsv``) with longitude/latitude columns or a WKT column.
    layer
        Layer name or index in a multi-layer file (GeoPackage). Required if there are several.
    encoding
        Text encoding. ``"auto"`` (default): CSV is read as UTF-8 (BOM or not), else GB18030
        (a superset of GBK), else refused; a Shapefile uses its ``.cpg``, and without one
        UTF-8 or GB18030 when GDAL's Latin-1 default garbles the text. An explicit encoding
        that yields garbled text raises :class:`DataError`.
    lon, lat
        CSV column names of longitude and latitude. When neither these nor ``wkt`` are given,
        common names (``lon``/``lng``/``longitude``/``x``/``经度``...) are looked for.
    wkt
        CSV column holding WKT geometries.
    crs
        The CRS of the coordinates when the file has none (CSV defaults to EPSG:4326). If the
        file declares another CRS, ``crs`` overrides it (logged).
    coordinate_system
        ``"wgs84"`` (default), ``"gcj02"`` (Amap/Gaode, Tencent) or ``"bd09"`` (Baidu) for
        lon/lat data whose offsets must be removed; see :func:`coverage.crs.to_wgs84`. GCJ-02
        files usually *declare* EPSG:4326: only this option tells them apart.

    Returns
    -------
    geopandas.GeoDataFrame
        In EPSG:4326. CSV attribute columns are text (so that codes keep leading zeros);
        ``source`` in ``.attrs`` holds the path.

    Raises
    ------
    DataError
        Missing file, undecodable or garbled text, missing CRS, coordinates out of range
        (swapped lon/lat, projected values declared as degrees).
    """
    path = Path(path)
    source = str(path)
    if not path.exists():
        msg = f"{source}: no such file (looked for {path.resolve()})"
        raise DataError(msg)
    if path.suffix.lower() in _CSV_SUFFIXES:
        gdf = _read_csv(path, encoding=encoding, lon=lon, lat=lat, wkt=wkt, source=source)
        if crs is None:
            crs = 4326
        if coordinate_system is None:
            _check_column_names_for_offsets(gdf.attrs.get("coordinate_columns"), source=source)
    else:
        if lon is not None or lat is not None or wkt is not None:
            msg = f"{source}: lon=, lat= and wkt= apply to CSV files only"
            raise DataError(msg)
        gdf = _read_vector(path, layer=layer, encoding=encoding, source=source)
    out = _finish_crs(gdf, crs=crs, coordinate_system=coordinate_system, source=source)
    out.attrs["source"] = source
    return out


# --------------------------------------------------------------------------------------------
# CRS and coordinate checks

#: Words in a coordinate column's name that say which offset system its values carry.
_OFFSET_WORDS = {
    ("gcj02", "GCJ-02"): ("gcj", "gaode", "amap", "高德", "火星"),
    ("bd09", "BD-09"): ("bd09", "baidu", "百度"),
}


def _check_column_names_for_offsets(columns: tuple[str, str] | None, *, source: str) -> None:
    """Refuse to read columns named e.g. ``gcj02_lng`` as WGS-84 when nobody said so."""
    if not columns:
        return
    names = " ".join(columns).lower()
    for (system, label), words in _OFFSET_WORDS.items():
        if any(word in names for word in words):
            lon, lat = columns
            msg = (
                f"{source}: the coordinate columns {lon!r} and {lat!r} are named as "
                f"{label} coordinates, which lie several hundred "
                "metres off WGS-84 in China, but no coordinate_system was given. Pass "
                f"coordinate_system={system!r} (in a case file: coordinate_system = "
                f'"{system}" in the layer\'s section), or coordinate_system="wgs84" if the '
                "values were already converted"
            )
            raise DataError(msg)


def _finish_crs(
    gdf: gpd.GeoDataFrame,
    *,
    crs: str | int | pyproj.CRS | None,
    coordinate_system: str | int | pyproj.CRS | None,
    source: str,
) -> gpd.GeoDataFrame:
    out = gdf
    if crs is not None:
        wanted = pyproj.CRS.from_user_input(crs)
        if out.crs is not None and not pyproj.CRS.from_user_input(out.crs).equals(wanted):
            logger.warning(
                "%s: declared CRS %s overridden by crs=%s",
                source,
                out.crs.to_string(),
                wanted.to_string(),
            )
        out = out.set_crs(wanted, allow_override=True)
    system = normalise_coordinate_system(
        "wgs84" if coordinate_system is None else coordinate_system
    )
    if out.crs is None:
        if isinstance(system, pyproj.CRS):
            out = out.set_crs(system)
        else:
            hint = (
                "pass crs='EPSG:4490' (CGCS2000), crs='EPSG:4326' (WGS-84 lon/lat) or the "
                "projected CRS the data provider names (e.g. 'EPSG:4547')"
            )
            if system != "wgs84":
                hint = f"pass crs='EPSG:4326' (with coordinate_system={system!r})"
            msg = f"{source}: the layer has no CRS (no .prj / no CRS in the file); {hint}"
            raise DataError(msg)
    declared = out.crs if isinstance(system, str) else system
    if pyproj.CRS.from_user_input(declared).is_geographic:
        _check_degrees(out, source=source, declared=declared, system=system)
    result = to_wgs84(out, coordinate_system=system, source=source)
    _check_degrees(result, source=source, declared=result.crs, system="wgs84")
    return result


def _present(geoms: gpd.GeoSeries) -> np.ndarray:
    """Boolean mask of geometries that are neither missing nor empty."""
    values = np.asarray(geoms.to_numpy(), dtype=object)
    missing = pd.isna(values)
    present = ~missing
    present[present] = ~shapely.is_empty(values[present])
    return np.asarray(present, dtype=bool)


def _check_degrees(
    gdf: gpd.GeoDataFrame, *, source: str, declared: Any, system: str | pyproj.CRS
) -> None:
    geoms = gdf.geometry
    present = _present(geoms)
    if not present.any():
        return
    coords = shapely.get_coordinates(np.asarray(geoms.to_numpy())[present])
    if len(coords) == 0:
        return
    x, y = coords[:, 0], coords[:, 1]
    crs_text = pyproj.CRS.from_user_input(declared).to_string()
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        msg = (
            f"{source}: some coordinates cannot be transformed from {crs_text} (infinite "
            "results); check crs= / coordinate_system="
        )
        raise DataError(msg)
    sample = f"x={x[0]:.6g}, y={y[0]:.6g}"
    degrees_ok = (np.abs(x) <= 180).all() and (np.abs(y) <= 90).all()
    swapped = (np.abs(y) <= 180).all() and (np.abs(x) <= 90).all()
    if not degrees_ok:
        if swapped:
            msg = (
                f"{source}: latitudes beyond ±90° ({sample}): longitude and latitude look "
                "swapped; for a CSV exchange lon= and lat=, otherwise swap the axes of the data"
            )
        else:
            msg = (
                f"{source}: coordinates ({sample}) are not degrees although the layer is "
                f"declared as {crs_text}; they look projected (metres). Pass crs= with the real "
                "projected CRS, e.g. crs='EPSG:4547' (CGCS2000 / 3-degree Gauss-Kruger CM 114E)"
            )
        raise DataError(msg)
    if system in ("gcj02", "bd09"):
        in_china = (x >= 73) & (x <= 136) & (y >= 3) & (y <= 54)
        if not in_china.any():
            swapped_china = (y >= 73) & (y <= 136) & (x >= 3) & (x <= 54)
            if swapped_china.all():
                msg = (
                    f"{source}: coordinates ({sample}) lie outside China but inside it with "
                    "longitude and latitude swapped; exchange lon= and lat="
                )
            else:
                msg = (
                    f"{source}: coordinate_system={system!r} but the data ({sample}) lie "
                    "outside China, where GCJ-02/BD-09 do not apply; use "
                    "coordinate_system='wgs84'"
                )
            raise DataError(msg)


# --------------------------------------------------------------------------------------------
# canonical frames


def _require_columns(
    frame: pd.DataFrame, columns: Iterable[str | None], *, source: str, option: str
) -> None:
    missing = [c for c in columns if c is not None and c not in frame.columns]
    if missing:
        existing = [str(c) for c in frame.columns if c != "geometry"]
        msg = (
            f"{source}: no column {', '.join(repr(c) for c in missing)} (given as {option}); "
            f"the columns are {existing}"
        )
        raise DataError(msg)


def _require_options(frame: pd.DataFrame, *, source: str, **columns: str | None) -> None:
    """:func:`_require_columns` for every keyword (named like the reader's option), in order."""
    for option, column in columns.items():
        _require_columns(frame, [column], source=source, option=option)


def _ids_to_str(values: pd.Series) -> pd.Series:
    if pd.api.types.is_float_dtype(values):
        finite = values.dropna()
        if len(finite) and (finite == np.round(finite)).all():
            values = values.astype("Int64")
    out = values.astype(object).where(values.notna(), None)
    return pd.Series(
        [None if v is None else str(v).strip() for v in out], index=values.index, dtype=object
    )


def _take_frame(
    path_or_gdf: PathOrFrame,
    *,
    source_name: str | None,
    layer: str | int | None,
    encoding: str,
    lon: str | None,
    lat: str | None,
    wkt: str | None,
    crs: str | int | pyproj.CRS | None,
    coordinate_system: str | int | pyproj.CRS | None,
    layer_kind: str,
) -> tuple[gpd.GeoDataFrame, str]:
    if isinstance(path_or_gdf, gpd.GeoDataFrame):
        source = source_name or _source_of(path_or_gdf, "<GeoDataFrame>")
        gdf = _finish_crs(
            path_or_gdf.copy(), crs=crs, coordinate_system=coordinate_system, source=source
        )
    elif isinstance(path_or_gdf, (str, Path)):
        gdf = read_layer(
            path_or_gdf,
            layer=layer,
            encoding=encoding,
            lon=lon,
            lat=lat,
            wkt=wkt,
            crs=crs,
            coordinate_system=coordinate_system,
        )
        source = source_name or str(path_or_gdf)
    else:
        msg = f"{layer_kind}: expected a path or a GeoDataFrame, got {type(path_or_gdf).__name__}"
        raise TypeError(msg)
    if len(gdf) == 0:
        msg = f"{source}: the {layer_kind} layer is empty; check the file, layer= or the filter"
        raise DataError(msg)
    return gdf, source


def _build(
    gdf: gpd.GeoDataFrame,
    canonical: dict[str, pd.Series],
    used: Iterable[str | None],
    *,
    source: str,
) -> gpd.GeoDataFrame:
    geometry_name = gdf.geometry.name
    used_set = {c for c in used if c is not None}
    data: dict[str, Any] = dict(canonical)
    for col in gdf.columns:
        if col == geometry_name or col in used_set:
            continue
        name = f"{col}_original" if col in canonical or col == "geometry" else col
        data[name] = gdf[col].to_numpy()
    frame = pd.DataFrame(data, index=gdf.index)
    out = gpd.GeoDataFrame(frame, geometry=gdf.geometry.to_numpy(), crs=gdf.crs)
    out = out.reset_index(drop=True)
    out.attrs["source"] = source
    return out


def _repair(
    gdf: gpd.GeoDataFrame, *, id_column: str, layer_kind: str, source: str, polygonal: bool
) -> tuple[gpd.GeoDataFrame, list[Finding]]:
    geoms = np.asarray(gdf.geometry.to_numpy(), dtype=object)
    present = ~pd.isna(geoms)
    invalid = np.zeros(len(geoms), dtype=bool)
    invalid[present] = ~shapely.is_valid(geoms[present])
    if not invalid.any():
        return gdf, []
    fixed = shapely.make_valid(geoms[invalid], method="structure", keep_collapsed=False)
    if polygonal:
        fixed = np.array([_polygonal_part(g) for g in fixed], dtype=object)
    geoms = geoms.copy()
    geoms[invalid] = fixed
    out = gdf.copy()
    out[out.geometry.name] = geoms
    ids = out.loc[invalid, id_column].tolist()
    reasons = Counter(
        shapely.is_valid_reason(g).split("[")[0] for g in gdf.geometry.to_numpy()[invalid]
    )
    why = "; ".join(f"{k} ×{v}" for k, v in reasons.most_common(3))
    msg = (
        f"{source}: {len(ids)} invalid {layer_kind} geometries ({why}) were repaired with "
        f"shapely.make_valid ({_fmt_ids(ids)}); check them in a GIS"
    )
    layer_zh = {"streets": "街道", "communities": "社区", "services": "服务设施"}
    why_zh = "；".join(
        f"{_INVALID_REASONS_ZH.get(k.strip(), k)} ×{v}" for k, v in reasons.most_common(3)
    )
    msg_zh = (
        f"{source}：{len(ids)} 个{layer_zh.get(layer_kind, layer_kind)}的几何图形无效（{why_zh}），"
        f"已用 shapely.make_valid 修复（{_fmt_ids_zh(ids)}）；请在 GIS 中核对"
    )
    return out, [_finding("warning", layer_kind, msg, ids, message_zh=msg_zh)]


#: GEOS's reasons for an invalid geometry (``shapely.is_valid_reason``), in Chinese.
_INVALID_REASONS_ZH = {
    "Self-intersection": "自相交",
    "Ring Self-intersection": "环自相交",
    "Too few points in geometry component": "组成部分的点数过少",
    "Interior is disconnected": "内部不连通",
    "Hole lies outside shell": "洞位于外环之外",
    "Nested holes": "洞相互嵌套",
    "Nested shells": "外环相互嵌套",
    "Duplicate Rings": "重复的环",
    "Invalid Coordinate": "坐标无效",
    "Ring is not closed": "环未闭合",
}


def _polygonal_part(geom: Any) -> Any:
    if geom is None or geom.geom_type in _POLYGONAL:
        return geom
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in _POLYGONAL]
    if not parts:
        return shapely.Polygon()
    return shapely.union_all(parts)


def _single_points(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    geoms = np.asarray(gdf.geometry.to_numpy(), dtype=object)
    types = np.array([None if g is None else g.geom_type for g in geoms], dtype=object)
    multi = types == "MultiPoint"
    if not multi.any():
        return gdf
    counts = shapely.get_num_geometries(geoms[multi])
    if (counts != 1).any():
        return gdf
    out = gdf.copy()
    geoms = geoms.copy()
    geoms[multi] = shapely.get_geometry(geoms[multi], 0)
    out[out.geometry.name] = geoms
    return out


def read_streets(
    path_or_gdf: PathOrFrame,
    *,
    id_column: str,
    name_column: str | None = None,
    source_name: str | None = None,
    layer: str | int | None = None,
    encoding: str = "auto",
    wkt: str | None = None,
    crs: str | int | pyproj.CRS | None = None,
    coordinate_system: str | int | pyproj.CRS | None = None,
) -> LoadedLayer:
    """Read street (街道/乡镇) boundaries into the canonical streets schema.

    Parameters
    ----------
    path_or_gdf
        A file for :func:`read_layer` or a GeoDataFrame (not changed).
    id_column
        Column with the street code; cast to text.
    name_column
        Column with the street name; the id is used when omitted.
    source_name
        Name used in messages (default: the path, or ``"<GeoDataFrame>"``).
    layer, encoding, wkt, crs, coordinate_system
        As in :func:`read_layer`; ``crs``/``coordinate_system`` also apply to GeoDataFrames.

    Returns
    -------
    LoadedLayer
        ``street_id``, ``name``, original columns, polygon ``geometry`` in EPSG:4326; and the
        warnings (repaired geometries).

    Raises
    ------
    DataError
        Empty layer, missing column, missing or duplicate ids, null/empty or non-polygon
        geometries, bad coordinates.
    """
    gdf, source = _take_frame(
        path_or_gdf,
        source_name=source_name,
        layer=layer,
        encoding=encoding,
        lon=None,
        lat=None,
        wkt=wkt,
        crs=crs,
        coordinate_system=coordinate_system,
        layer_kind="streets",
    )
    _require_options(gdf, source=source, id_column=id_column, name_column=name_column)
    ids = _ids_to_str(gdf[id_column])
    names = ids if name_column is None else _names(gdf[name_column], ids)
    out = _build(gdf, {"street_id": ids, "name": names}, [id_column, name_column], source=source)
    _raise_errors(_check_basics(out, "street_id", "streets", source, _POLYGONAL))
    out, findings = _repair(
        out, id_column="street_id", layer_kind="streets", source=source, polygonal=True
    )
    findings += _raise_errors(validate_streets(out, source=source))
    return LoadedLayer(out, _dedupe(findings))


def _names(values: pd.Series, ids: pd.Series) -> pd.Series:
    names = values.astype(object).where(values.notna(), None)
    text = pd.Series(
        [None if v is None else str(v).strip() for v in names], index=values.index, dtype=object
    )
    return text.where(text.notna() & (text != ""), ids)


def read_communities(
    path_or_gdf: PathOrFrame,
    *,
    id_column: str,
    population_column: str,
    name_column: str | None = None,
    street_column: str | None = None,
    streets: gpd.GeoDataFrame | None = None,
    source_name: str | None = None,
    layer: str | int | None = None,
    encoding: str = "auto",
    wkt: str | None = None,
    crs: str | int | pyproj.CRS | None = None,
    coordinate_system: str | int | pyproj.CRS | None = None,
) -> LoadedLayer:
    """Read community (社区/村) boundaries with their population.

    Parameters
    ----------
    path_or_gdf
        A file for :func:`read_layer` or a GeoDataFrame (not changed).
    id_column
        Column with the community code; cast to text.
    population_column
        Column with the number of residents; cast to float. Missing or non-numeric values are
        an error; zero is a warning.
    name_column
        Column with the community name; the id is used when omitted.
    street_column
        Column with the street id of each community. When omitted, or when it disagrees with
        the geometry, ``streets`` decides (see :func:`assign_streets`).
    streets
        Canonical streets (from :func:`read_streets`): assign each community to a street.
    source_name, layer, encoding, wkt, crs, coordinate_system
        As in :func:`read_streets`.

    Returns
    -------
    LoadedLayer
        ``community_id``, ``name``, ``street_id`` (None until assigned), ``population``, the
        original columns, polygon ``geometry`` in EPSG:4326; and the warnings.

    Raises
    ------
    DataError
        As :func:`read_streets`, plus missing, non-numeric or negative population.
    """
    gdf, source = _take_frame(
        path_or_gdf,
        source_name=source_name,
        layer=layer,
        encoding=encoding,
        lon=None,
        lat=None,
        wkt=wkt,
        crs=crs,
        coordinate_system=coordinate_system,
        layer_kind="communities",
    )
    _require_options(
        gdf,
        source=source,
        id_column=id_column,
        population_column=population_column,
        name_column=name_column,
        street_column=street_column,
    )
    ids = _ids_to_str(gdf[id_column])
    names = ids if name_column is None else _names(gdf[name_column], ids)
    if street_column is None:
        street_ids = pd.Series([None] * len(gdf), index=gdf.index, dtype=object)
    else:
        street_ids = _ids_to_str(gdf[street_column])
    population = _population(gdf[population_column], ids, source, population_column)
    out = _build(
        gdf,
        {"community_id": ids, "name": names, "street_id": street_ids, "population": population},
        [id_column, name_column, street_column, population_column],
        source=source,
    )
    _raise_errors(_check_basics(out, "community_id", "communities", source, _POLYGONAL))
    out, findings = _repair(
        out, id_column="community_id", layer_kind="communities", source=source, polygonal=True
    )
    if streets is not None:
        out, assigned = assign_streets(out, streets, source=source)
        findings += _raise_errors(assigned)
    findings += _raise_errors(validate_communities(out, source=source))
    return LoadedLayer(out, _dedupe(findings))


def _population(values: pd.Series, ids: pd.Series, source: str, column: str) -> pd.Series:
    numbers = _to_float(values)
    missing = values.isna() | (values.astype("string").str.strip() == "")
    missing = missing.fillna(True).astype(bool)
    non_numeric = numbers.isna() & ~missing
    problems = []
    if missing.any():
        bad = ids[missing].tolist()
        problems.append(
            f"{source}: {_count(len(bad), 'community', 'communities')} without population "
            f"({_fmt_ids(bad)}); fill "
            f"column {column!r} (0 if nobody lives there) or pass another population_column"
        )
    if non_numeric.any():
        bad = ids[non_numeric].tolist()
        examples = values[non_numeric].head(3).tolist()
        problems.append(
            f"{source}: {len(bad)} communities have a non-numeric population {examples} "
            f"({_fmt_ids(bad)}); write plain numbers in column {column!r}"
        )
    negative = numbers < 0
    if negative.any():
        bad = ids[negative].tolist()
        problems.append(
            f"{source}: {len(bad)} communities have a negative population ({_fmt_ids(bad)}); "
            f"fix column {column!r}"
        )
    if problems:
        raise DataError("\n".join(problems))
    return numbers


def read_services(
    path_or_gdf: PathOrFrame,
    *,
    id_column: str | None = None,
    name_column: str | None = None,
    category_column: str | None = None,
    area_column: str | None = None,
    windows_column: str | None = None,
    source_name: str | None = None,
    layer: str | int | None = None,
    encoding: str = "auto",
    lon: str | None = None,
    lat: str | None = None,
    wkt: str | None = None,
    crs: str | int | pyproj.CRS | None = None,
    coordinate_system: str | int | pyproj.CRS | None = None,
) -> LoadedLayer:
    """Read service facilities (points, or polygons for grounds and parks).

    Parameters
    ----------
    path_or_gdf
        A file for :func:`read_layer` (typically a POI CSV) or a GeoDataFrame (not changed).
    id_column
        Column with a unique id; the row number (from 0) when omitted.
    name_column
        Column with the facility name; the id is used when omitted.
    category_column
        Column of canonical category names (``coverage.categories.CATEGORIES``). Other values
        become missing and are reported; rows without a category are left out of audits.
    area_column, windows_column
        Optional floor area in m² and number of service windows; cast to float.
    source_name, layer, encoding, lon, lat, wkt, crs, coordinate_system
        As in :func:`read_layer`.

    Returns
    -------
    LoadedLayer
        ``service_id``, ``name``, ``category``, ``area_m2``, ``windows``, the original columns,
        ``geometry`` (Point, Polygon or MultiPolygon) in EPSG:4326; and the warnings.

    Raises
    ------
    DataError
        Empty layer, missing column, missing or duplicate ids, null/empty geometries, line
        geometries, bad coordinates.
    """
    gdf, source = _take_frame(
        path_or_gdf,
        source_name=source_name,
        layer=layer,
        encoding=encoding,
        lon=lon,
        lat=lat,
        wkt=wkt,
        crs=crs,
        coordinate_system=coordinate_system,
        layer_kind="services",
    )
    _require_options(
        gdf,
        source=source,
        id_column=id_column,
        name_column=name_column,
        category_column=category_column,
        area_column=area_column,
        windows_column=windows_column,
    )
    if id_column is None:
        ids = pd.Series([str(i) for i in range(len(gdf))], index=gdf.index, dtype=object)
    else:
        ids = _ids_to_str(gdf[id_column])
    names = ids if name_column is None else _names(gdf[name_column], ids)
    findings: list[Finding] = []
    if category_column is None:
        categories = pd.Series([None] * len(gdf), index=gdf.index, dtype=object)
    else:
        categories, found = _categories(gdf[category_column], ids, source, category_column)
        findings += found
    numbers = {}
    for canonical, col in (("area_m2", area_column), ("windows", windows_column)):
        if col is None:
            numbers[canonical] = pd.Series(np.nan, index=gdf.index, dtype=float)
            continue
        values = _to_float(gdf[col])
        bad = (values.isna() & gdf[col].notna()) | (values < 0)
        if bad.any():
            bad_ids = ids[bad].tolist()
            findings.append(
                _finding(
                    "warning",
                    "services",
                    f"{source}: {len(bad_ids)} services have a non-numeric or negative "
                    f"{col!r} ({_fmt_ids(bad_ids)}); treated as unknown",
                    bad_ids,
                    message_zh=f"{source}：{len(bad_ids)} 个服务设施的“{col}”不是数字或为负数"
                    f"（{_fmt_ids_zh(bad_ids)}），按未知处理",
                )
            )
            values = values.where(~bad)
        numbers[canonical] = values
    out = _build(
        _single_points(gdf),
        {"service_id": ids, "name": names, "category": categories, **numbers},
        [id_column, name_column, category_column, area_column, windows_column],
        source=source,
    )
    _raise_errors(_check_basics(out, "service_id", "services", source, _SERVICE_TYPES))
    out, repaired = _repair(
        out, id_column="service_id", layer_kind="services", source=source, polygonal=True
    )
    findings += repaired
    findings += _raise_errors(validate_services(out, source=source))
    return LoadedLayer(out, _dedupe(findings))


def _canonical_categories() -> tuple[str, ...]:
    from coverage.categories import CATEGORIES

    return tuple(CATEGORIES)


def _categories(
    values: pd.Series, ids: pd.Series, source: str, column: str
) -> tuple[pd.Series, list[Finding]]:
    known = set(_canonical_categories())
    text = _names(values, pd.Series([None] * len(values), index=values.index, dtype=object))
    unknown = text.notna() & ~text.isin(known)
    findings = []
    if unknown.any():
        counts = Counter(text[unknown])
        listed = ", ".join(f"{v!r} ×{n}" for v, n in counts.most_common(_ID_LIMIT))
        bad = ids[unknown].tolist()
        findings.append(
            _finding(
                "warning",
                "services",
                f"{source}: {len(bad)} services have categories that are not canonical "
                f"({listed}; {_fmt_ids(bad)}); they get no category and are left out of the "
                f"audit. Map them to coverage.categories.CATEGORIES in column {column!r}",
                bad,
                message_zh=f"{source}：{len(bad)} 个服务设施的类别不在标准类别中（{listed}；"
                f"{_fmt_ids_zh(bad)}），它们没有类别，不参与审计。请在“{column}”列中把它们"
                "对应到 coverage.categories.CATEGORIES",
            )
        )
    return text.where(~unknown, None), findings


def read_origins(
    path_or_gdf: PathOrFrame,
    *,
    population_column: str,
    id_column: str | None = None,
    communities: gpd.GeoDataFrame | None = None,
    source_name: str | None = None,
    layer: str | int | None = None,
    encoding: str = "auto",
    lon: str | None = None,
    lat: str | None = None,
    wkt: str | None = None,
    crs: str | int | pyproj.CRS | None = None,
    coordinate_system: str | int | pyproj.CRS | None = None,
) -> LoadedLayer:
    """Read user-given population points (origins) into the canonical origins schema.

    Parameters
    ----------
    path_or_gdf
        A file for :func:`read_layer` or a GeoDataFrame of points.
    population_column
        Residents at each point; cast to float.
    id_column
        Unique id column; the row number when omitted.
    communities
        Canonical communities: each point gets the community (and its street) it lies in.
    source_name, layer, encoding, lon, lat, wkt, crs, coordinate_system
        As in :func:`read_layer`.

    Returns
    -------
    LoadedLayer
        ``origin_id``, ``community_id``, ``street_id``, ``population``, original columns,
        Point ``geometry``; and the warnings (points outside every community).

    Raises
    ------
    DataError
        As :func:`read_communities`.
    """
    gdf, source = _take_frame(
        path_or_gdf,
        source_name=source_name,
        layer=layer,
        encoding=encoding,
        lon=lon,
        lat=lat,
        wkt=wkt,
        crs=crs,
        coordinate_system=coordinate_system,
        layer_kind="origins",
    )
    _require_options(gdf, source=source, population_column=population_column, id_column=id_column)
    if id_column is None:
        ids = pd.Series([str(i) for i in range(len(gdf))], index=gdf.index, dtype=object)
    else:
        ids = _ids_to_str(gdf[id_column])
    population = _population(gdf[population_column], ids, source, population_column)
    none = pd.Series([None] * len(gdf), index=gdf.index, dtype=object)
    out = _build(
        _single_points(gdf),
        {
            "origin_id": ids,
            "community_id": none,
            "street_id": none.copy(),
            "population": population,
        },
        [id_column, population_column],
        source=source,
    )
    _raise_errors(_check_basics(out, "origin_id", "origins", source, ("Point",)))
    findings: list[Finding] = []
    if communities is not None:
        geoms = np.asarray(communities.geometry.to_numpy(), dtype=object)
        tree = shapely.STRtree(geoms)
        point_idx, poly_idx = tree.query(
            np.asarray(out.geometry.to_numpy(), dtype=object), predicate="intersects"
        )
        first = pd.Series(poly_idx).groupby(point_idx).first()
        community_ids = communities["community_id"].to_numpy()
        street_ids = communities["street_id"].to_numpy()
        out.loc[first.index, "community_id"] = community_ids[first.to_numpy()]
        out.loc[first.index, "street_id"] = street_ids[first.to_numpy()]
        outside = out["community_id"].isna()
        if outside.any():
            bad = out.loc[outside, "origin_id"].tolist()
            findings.append(
                _finding(
                    "warning",
                    "origins",
                    f"{source}: {len(bad)} population points lie outside every community "
                    f"({_fmt_ids(bad)}; {out.loc[outside, 'population'].sum():.0f} residents); "
                    "they count for no community",
                    bad,
                    message_zh=f"{source}：{len(bad)} 个人口点位于所有社区之外"
                    f"（{_fmt_ids_zh(bad)}；{out.loc[outside, 'population'].sum():.0f} 人），"
                    "不计入任何社区",
                )
            )
    return LoadedLayer(out, findings)


# --------------------------------------------------------------------------------------------
# validation


def _check_basics(
    gdf: gpd.GeoDataFrame,
    id_column: str,
    layer_kind: str,
    source: str,
    geom_types: Sequence[str],
) -> list[Finding]:
    findings: list[Finding] = []
    if len(gdf) == 0:
        return [_finding("error", layer_kind, f"{source}: the {layer_kind} layer is empty")]
    ids = gdf[id_column]
    null_ids = ids.isna() | (ids.astype("string").str.strip() == "").fillna(True)
    if null_ids.any():
        rows = [int(i) for i in np.flatnonzero(null_ids.to_numpy())]
        findings.append(
            _finding(
                "error",
                layer_kind,
                f"{source}: {len(rows)} {layer_kind} have no id (rows "
                f"{', '.join(map(str, rows[:_ID_LIMIT]))}, counted from 0); fill the id column",
                rows,
            )
        )
    dup = ids.duplicated(keep=False) & ids.notna()
    if dup.any():
        dup_ids = sorted(set(ids[dup]))
        findings.append(
            _finding(
                "error",
                layer_kind,
                f"{source}: {_count(len(dup_ids), 'id occurs', 'ids occur')} more than once "
                f"in the {layer_kind} layer "
                f"({_fmt_ids(dup_ids)}); ids must be unique: fix the id column or merge the "
                "duplicate rows (e.g. dissolve by id)",
                dup_ids,
            )
        )
    geoms = gdf.geometry
    empty = ~_present(geoms)
    label = ids.where(ids.notna(), pd.Series(range(len(ids)), index=ids.index).astype(str))
    if empty.any():
        bad = label[empty].tolist()
        findings.append(
            _finding(
                "error",
                layer_kind,
                f"{source}: {len(bad)} {layer_kind} have an empty or missing geometry "
                f"({_fmt_ids(bad)}); draw them or drop those rows",
                bad,
            )
        )
    types = geoms.geom_type.to_numpy()
    wrong = ~empty & ~np.isin(types, list(geom_types))
    if wrong.any():
        bad = label[wrong].tolist()
        found = ", ".join(sorted({str(t) for t in types[wrong]}))
        findings.append(
            _finding(
                "error",
                layer_kind,
                f"{source}: {len(bad)} {layer_kind} have {found} geometries "
                f"({_fmt_ids(bad)}); {layer_kind} must be {' or '.join(geom_types)}",
                bad,
            )
        )
    return findings


def _check_columns(
    gdf: gpd.GeoDataFrame, columns: Sequence[str], layer_kind: str, source: str
) -> list[Finding]:
    missing = [c for c in columns if c not in gdf.columns]
    if not missing:
        return []
    msg = (
        f"{source}: canonical column(s) {missing} are missing from the {layer_kind} layer; "
        f"load it with coverage.load.read_{layer_kind}"
    )
    return [_finding("error", layer_kind, msg)]


def _check_valid(
    gdf: gpd.GeoDataFrame, id_column: str, layer_kind: str, source: str
) -> list[Finding]:
    geoms = gdf.geometry
    present = _present(geoms)
    invalid = present & ~geoms.is_valid.to_numpy()
    if not invalid.any():
        return []
    bad = gdf.loc[invalid, id_column].tolist()
    msg = (
        f"{source}: {len(bad)} invalid {layer_kind} geometries ({_fmt_ids(bad)}); repair them "
        "with shapely.make_valid or load the layer with coverage.load"
    )
    return [_finding("error", layer_kind, msg, bad)]


def validate_streets(streets: gpd.GeoDataFrame, *, source: str | None = None) -> list[Finding]:
    """Check a canonical streets layer on its own.

    Parameters
    ----------
    streets
        Canonical streets.
    source
        Name used in messages (default: ``streets.attrs["source"]`` or ``"streets"``).

    Returns
    -------
    list of Finding
        Errors: missing columns, empty layer, missing/duplicate ids, empty, non-polygon or
        invalid geometries.
    """
    source = source or _source_of(streets, "streets")
    findings = _check_columns(streets, STREET_COLUMNS, "streets", source)
    if findings:
        return findings
    findings = _check_basics(streets, "street_id", "streets", source, _POLYGONAL)
    return findings + _check_valid(streets, "street_id", "streets", source)


def validate_communities(
    communities: gpd.GeoDataFrame, *, source: str | None = None
) -> list[Finding]:
    """Check a canonical communities layer on its own.

    Parameters
    ----------
    communities
        Canonical communities.
    source
        Name used in messages (default: ``communities.attrs["source"]`` or ``"communities"``).

    Returns
    -------
    list of Finding
        As :func:`validate_streets`, plus missing or negative population (error), zero
        population (warning), communities with the same boundary (error) and communities that
        overlap by more than :data:`OVERLAP_TOLERANCE` of the smaller one's area (warning
        naming each pair).
    """
    source = source or _source_of(communities, "communities")
    findings = _check_columns(communities, COMMUNITY_COLUMNS, "communities", source)
    if findings:
        return findings
    findings = _check_basics(communities, "community_id", "communities", source, _POLYGONAL)
    findings += _check_valid(communities, "community_id", "communities", source)
    population = pd.to_numeric(communities["population"], errors="coerce")
    ids = communities["community_id"]
    missing = population.isna()
    if missing.any():
        bad = ids[missing].tolist()
        findings.append(
            _finding(
                "error",
                "communities",
                f"{source}: {len(bad)} communities have no numeric population "
                f"({_fmt_ids(bad)}); fill column 'population'",
                bad,
            )
        )
    negative = population < 0
    if negative.any():
        bad = ids[negative].tolist()
        findings.append(
            _finding(
                "error",
                "communities",
                f"{source}: {len(bad)} communities have a negative population ({_fmt_ids(bad)})",
                bad,
            )
        )
    zero = population == 0
    if zero.any():
        bad = ids[zero].tolist()
        who = f"community {bad[0]} has" if len(bad) == 1 else f"{len(bad)} communities have"
        findings.append(
            _finding(
                "warning",
                "communities",
                f"{source}: {who} no residents ({_fmt_ids(bad)}); reach rules are not "
                "evaluable there",
                bad,
                message_zh=f"{source}：{len(bad)} 个社区没有居民（{_fmt_ids_zh(bad)}），"
                "其可达性规则不可评估",
            )
        )
    if not any(f.severity == "error" for f in findings):
        findings += _community_overlaps(communities, source=source)
    return findings


def _community_overlaps(communities: gpd.GeoDataFrame, *, source: str) -> list[Finding]:
    """Duplicated communities (error) and communities that overlap (warning).

    Measured in the local UTM zone. Two communities are the same polygon when their
    intersection holds all of both areas to within :data:`DUPLICATE_TOLERANCE`; they overlap
    when their intersection exceeds :data:`OVERLAP_TOLERANCE` of the smaller one's area (the
    slivers left where neighbours were digitised separately stay far below it).
    """
    geoms_frame = communities.geometry
    if communities.crs is not None:
        geoms_frame = geoms_frame.to_crs(local_metric_crs(communities))
    geoms = np.asarray(geoms_frame.to_numpy(), dtype=object)
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    if a.size == 0:
        return []
    shared = shapely.area(shapely.intersection(geoms[a], geoms[b]))
    area_a, area_b = shapely.area(geoms[a]), shapely.area(geoms[b])
    smaller = np.minimum(area_a, area_b)
    larger = np.maximum(area_a, area_b)
    same = shared >= (1.0 - DUPLICATE_TOLERANCE) * larger
    overlap = ~same & (shared > OVERLAP_TOLERANCE * smaller)
    ids = communities["community_id"].astype(str).to_numpy()
    findings: list[Finding] = []
    if same.any():
        pairs = [f"{ids[i]} = {ids[j]}" for i, j in zip(a[same], b[same], strict=True)]
        bad = sorted({*ids[a[same]], *ids[b[same]]})
        findings.append(
            _finding(
                "error",
                "communities",
                f"{source}: {_count(len(pairs), 'pair', 'pairs')} of communities "
                f"{'has' if len(pairs) == 1 else 'have'} the same boundary "
                f"({', '.join(pairs[:_ID_LIMIT])}{', …' if len(pairs) > _ID_LIMIT else ''}); "
                "their residents would be counted "
                "twice in their street. Drop the duplicated rows, or draw each community's own "
                "boundary",
                bad,
            )
        )
    if overlap.any():
        order = np.argsort(-(shared[overlap] / smaller[overlap]), kind="stable")
        i_s, j_s = a[overlap][order], b[overlap][order]
        share = (shared[overlap] / smaller[overlap])[order]
        m2 = shared[overlap][order]
        pairs = [
            f"{ids[i]} and {ids[j]} share {m2[k]:,.0f} m² ({100 * share[k]:.0f}% of the smaller)"
            for k, (i, j) in enumerate(zip(i_s, j_s, strict=True))
        ]
        bad = sorted({*ids[i_s], *ids[j_s]})
        findings.append(
            _finding(
                "warning",
                "communities",
                f"{source}: {_count(len(pairs), 'pair', 'pairs')} of communities overlap by "
                f"more than {100 * OVERLAP_TOLERANCE:g}% of the smaller one's area: "
                f"{'; '.join(pairs[:_ID_LIMIT])}{'; …' if len(pairs) > _ID_LIMIT else ''}. "
                "Residents of an overlap belong to both, so street populations count them "
                "twice; fix the boundaries so that communities do not overlap",
                bad,
                message_zh=f"{source}：{len(pairs)} 对社区的重叠面积超过较小社区面积的 "
                f"{100 * OVERLAP_TOLERANCE:g}%（{_fmt_ids_zh(bad)}）。重叠处的居民同属两个社区，"
                "街道人口会重复计算；请修正边界，使社区互不重叠",
            )
        )
    return findings


def validate_services(services: gpd.GeoDataFrame, *, source: str | None = None) -> list[Finding]:
    """Check a canonical services layer on its own.

    Parameters
    ----------
    services
        Canonical services.
    source
        Name used in messages (default: ``services.attrs["source"]`` or ``"services"``).

    Returns
    -------
    list of Finding
        Errors as :func:`validate_streets` (Point/Polygon/MultiPolygon geometries) and
        non-canonical category values; a warning for services without category.
    """
    source = source or _source_of(services, "services")
    findings = _check_columns(services, SERVICE_COLUMNS, "services", source)
    if findings:
        return findings
    findings = _check_basics(services, "service_id", "services", source, _SERVICE_TYPES)
    findings += _check_valid(services, "service_id", "services", source)
    category = services["category"]
    ids = services["service_id"]
    none = category.isna()
    if none.any():
        bad = ids[none].tolist()
        findings.append(
            _finding(
                "warning",
                "services",
                f"{source}: {len(bad)} of {len(services)} services have no category "
                f"({_fmt_ids(bad)}); they are left out of the audit",
                bad,
                message_zh=f"{source}：{len(services)} 个服务设施中有 {len(bad)} 个没有类别"
                f"（{_fmt_ids_zh(bad)}），不参与审计",
            )
        )
    known = set(_canonical_categories())
    unknown = category.notna() & ~category.isin(known)
    if unknown.any():
        bad = ids[unknown].tolist()
        values = sorted({str(v) for v in category[unknown]})
        findings.append(
            _finding(
                "error",
                "services",
                f"{source}: {len(bad)} services have non-canonical categories {values[:10]} "
                f"({_fmt_ids(bad)}); use coverage.categories.CATEGORIES or set them to None",
                bad,
            )
        )
    return findings


#: More than this share of services without a category is reported: most of the data is unused.
UNCATEGORISED_SHARE_WARNING = 0.5
#: What to check when services have no category, for messages.
CATEGORY_FIX = (
    "check [services] in the case file: category = names a column of canonical categories; "
    'classify = "osm" reads OSM tag columns (amenity, shop, leisure ..., or key=value '
    'columns such as amenity=restaurant) and the name column; classify = "amap" reads the '
    'typecode column; an OSM file as path is read with classify = "osm"'
)


def validate_service_categories(
    services: gpd.GeoDataFrame,
    *,
    rule_categories: Mapping[str, Sequence[str]] | None = None,
    check_share: bool = True,
    fix: str = CATEGORY_FIX,
    source: str | None = None,
) -> list[Finding]:
    """Report services that classify to nothing, and rules whose categories have no facility.

    Parameters
    ----------
    services
        Canonical services (``category``; ``categories``, ``;``-joined, when present).
    rule_categories
        Rule id to the categories the rule measures (``Rule.all_categories``). Without it only
        the share of uncategorised services is checked.
    check_share
        Whether to check the share of uncategorised services (a case checks it when it reads
        the services, where it can name the settings to fix).
    fix
        What the user should check, appended to each message.
    source
        Name used in messages (default: ``services.attrs["source"]`` or ``"services"``).

    Returns
    -------
    list of Finding
        Warnings: when more than :data:`UNCATEGORISED_SHARE_WARNING` of the services have no
        category (the count, the share and the fix), and for the categories of the rules that
        no service has (the categories, the rules, the fix). An audit of such data would read
        as complete while measuring nothing.
    """
    source = source or _source_of(services, "services")
    findings: list[Finding] = []
    total = len(services)
    served = service_category_sets(services)
    none = np.array([not cats for cats in served], dtype=bool)
    if check_share and total and none.sum() > UNCATEGORISED_SHARE_WARNING * total:
        ids = services["service_id"].to_numpy()[none].tolist()
        findings.append(
            _finding(
                "warning",
                "services",
                f"{source}: {int(none.sum()):,} of {total:,} services "
                f"({100 * none.sum() / total:.0f}%) have no category, so no rule counts them "
                f"and the audit measures little; {fix}",
                ids,
                message_zh=(
                    f"{source}：{total:,} 个设施中有 {int(none.sum()):,} 个"
                    f"（{100 * none.sum() / total:.0f}%）没有类别，任何规则都不计入它们；"
                    "请检查 [services] 的 classify 设置和类别列"
                ),
            )
        )
    if rule_categories:
        present = set().union(*served) if served else set()
        missing: dict[str, list[str]] = {}
        for rule_id, categories in rule_categories.items():
            for cat in categories:
                if cat not in present:
                    missing.setdefault(cat, []).append(str(rule_id))
        if missing:
            listed = ", ".join(f"{cat} ({', '.join(rules)})" for cat, rules in missing.items())
            findings.append(
                _finding(
                    "warning",
                    "services",
                    f"no facility at all in the data for: {listed}; these categories are not "
                    "evaluable (a unit still fails on the categories that were measured). If "
                    f"the area has such facilities, {fix}",
                    list(missing),
                    message_zh=(
                        "数据中完全没有以下类别的设施："
                        + "、".join(
                            f"{_category_zh(cat)}（{'、'.join(rules)}）"
                            for cat, rules in missing.items()
                        )
                        + "；这些类别无法评估（单元仍可能因已测类别而不达标）"
                    ),
                )
            )
    return findings


def service_category_sets(services: pd.DataFrame) -> list[frozenset[str]]:
    """Every category each service serves: ``category`` and the ``;``-joined ``categories``.

    Parameters
    ----------
    services
        Canonical services.

    Returns
    -------
    list of frozenset
        One set per row, in row order; empty for a service without category.
    """
    primary = services["category"].to_numpy(dtype=object)
    extra = (
        services["categories"].to_numpy(dtype=object)
        if "categories" in services
        else np.full(len(services), None, dtype=object)
    )
    out = []
    for first, more in zip(primary, extra, strict=True):
        cats = {str(first)} if isinstance(first, str) and first else set()
        if isinstance(more, str):
            cats.update(c for c in more.split(";") if c)
        out.append(frozenset(cats))
    return out


def _overlaps(communities: gpd.GeoDataFrame, streets: gpd.GeoDataFrame) -> pd.DataFrame:
    """Return (community position, street position, share of the community's area)."""
    metric = local_metric_crs(streets)
    c_geoms = np.asarray(communities.to_crs(metric).geometry.to_numpy(), dtype=object)
    s_geoms = np.asarray(streets.to_crs(metric).geometry.to_numpy(), dtype=object)
    tree = shapely.STRtree(s_geoms)
    c_idx, s_idx = tree.query(c_geoms, predicate="intersects")
    areas = shapely.area(shapely.intersection(c_geoms[c_idx], s_geoms[s_idx]))
    total = shapely.area(c_geoms)[c_idx]
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(total > 0, areas / total, 0.0)
    return pd.DataFrame({"community": c_idx, "street": s_idx, "share": share})


def assign_streets(
    communities: gpd.GeoDataFrame, streets: gpd.GeoDataFrame, *, source: str | None = None
) -> LoadedLayer:
    """Give every community the street that holds the largest part of its area.

    Overlaps are computed in the local UTM zone. A community keeps the ``street_id`` it has
    when that street holds its largest part; otherwise (no street, an unknown street id, or
    most of it in another street) it is (re)assigned, and the change is reported.

    Parameters
    ----------
    communities
        Canonical communities (``street_id`` may be None).
    streets
        Canonical streets.
    source
        Name used in messages.

    Returns
    -------
    LoadedLayer
        A new communities frame and the findings: warnings for reassigned communities, an error
        for communities outside every street that have no valid street id.
    """
    source = source or _source_of(communities, "communities")
    out = communities.copy()
    overlaps = _overlaps(out, streets)
    street_ids = streets["street_id"].to_numpy()
    known = set(street_ids)
    best = overlaps.sort_values("share", ascending=False).drop_duplicates("community")
    best_street = pd.Series(
        street_ids[best["street"].to_numpy()], index=best["community"].to_numpy(), dtype=object
    )
    given = out["street_id"].to_numpy(dtype=object)
    findings: list[Finding] = []
    absent, unknown, moved, lost = [], [], [], []
    new = given.copy()
    for pos in range(len(out)):
        g = given[pos]
        b = best_street.get(pos)
        if g is None or (isinstance(g, float) and np.isnan(g)):
            if b is None:
                lost.append(pos)
            else:
                absent.append(pos)
                new[pos] = b
        elif g not in known:
            if b is None:
                lost.append(pos)
            else:
                unknown.append(pos)
                new[pos] = b
        elif b is not None and b != g:
            moved.append(pos)
            new[pos] = b
    out["street_id"] = pd.Series(new, index=out.index, dtype=object)
    cid = out["community_id"].to_numpy()
    if absent:
        logger.info("%s: %d communities assigned to streets by overlap", source, len(absent))
    if unknown:
        bad = cid[unknown].tolist()
        findings.append(
            _finding(
                "warning",
                "communities",
                f"{source}: {len(bad)} communities name street ids that are not in the streets "
                f"layer ({_fmt_ids(bad)}); assigned to the street holding most of their area",
                bad,
                message_zh=f"{source}：{len(bad)} 个社区所填的街道编号不在街道图层中"
                f"（{_fmt_ids_zh(bad)}），已归入其面积大部分所在的街道",
            )
        )
    if moved:
        bad = cid[moved].tolist()
        findings.append(
            _finding(
                "warning",
                "communities",
                f"{source}: {len(bad)} communities lie mostly outside the street their street "
                f"column names ({_fmt_ids(bad)}); reassigned to the street holding most of "
                "their area. Check the street column and the boundaries",
                bad,
                message_zh=f"{source}：{len(bad)} 个社区的大部分面积不在所填街道内"
                f"（{_fmt_ids_zh(bad)}），已改归其面积大部分所在的街道。请核对街道列和边界",
            )
        )
    if lost:
        bad = cid[lost].tolist()
        findings.append(
            _finding(
                "error",
                "communities",
                f"{source}: {len(bad)} communities lie outside every street and have no valid "
                f"street id ({_fmt_ids(bad)}); drop them, add their streets, or check that both "
                "layers use the same coordinate system (GCJ-02 vs WGS-84)",
                bad,
            )
        )
    return LoadedLayer(out, findings)


def validate_case_layers(
    streets: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    services: gpd.GeoDataFrame,
) -> list[Finding]:
    """Check the three canonical layers of a case, each on its own and against each other.

    Parameters
    ----------
    streets, communities, services
        Canonical layers (from the ``read_*`` functions).

    Returns
    -------
    list of Finding
        The per-layer findings of :func:`validate_streets`, :func:`validate_communities` and
        :func:`validate_services`, plus: communities whose street id is not a street (error),
        communities with less than 90 % of their area in their street (warning), services
        outside every street (warning).
    """
    findings = validate_streets(streets)
    findings += validate_communities(communities)
    findings += validate_services(services)
    if any(f.severity == "error" for f in findings):
        return _dedupe(findings)
    c_source = _source_of(communities, "communities")
    street_ids = streets["street_id"].to_numpy()
    known = set(street_ids)
    cid = communities["community_id"].to_numpy()
    given = communities["street_id"]
    orphan = ~given.isin(known)
    if orphan.any():
        bad = cid[orphan.to_numpy()].tolist()
        findings.append(
            _finding(
                "error",
                "communities",
                f"{c_source}: {len(bad)} communities have a street id that is not in the "
                f"streets layer ({_fmt_ids(bad)}); fix the street column or let "
                "coverage.load.assign_streets assign them",
                bad,
            )
        )
    overlaps = _overlaps(communities, streets)
    overlaps["street_id"] = street_ids[overlaps["street"].to_numpy()]
    overlaps["given"] = given.to_numpy()[overlaps["community"].to_numpy()]
    own = overlaps[overlaps["street_id"] == overlaps["given"]].groupby("community")["share"].sum()
    share = np.zeros(len(communities))
    share[own.index.to_numpy()] = own.to_numpy()
    straddle = (share < NESTING_THRESHOLD) & ~orphan.to_numpy()
    if straddle.any():
        bad = cid[straddle].tolist()
        detail = ", ".join(
            f"{c} {100 * s:.0f} %" for c, s in zip(bad[:_ID_LIMIT], share[straddle], strict=False)
        )
        findings.append(
            _finding(
                "warning",
                "communities",
                f"{c_source}: {len(bad)} communities do not nest in their street (share of "
                f"area inside: {detail}); their boundaries and the street boundaries disagree, "
                "check both layers",
                bad,
                message_zh=f"{c_source}：{len(bad)} 个社区未完全落在所属街道内（位于街道内的面积"
                f"比例：{detail}），社区边界与街道边界不一致，请核对两个图层",
            )
        )
    s_source = _source_of(services, "services")
    s_geoms = np.asarray(streets.geometry.to_numpy(), dtype=object)
    tree = shapely.STRtree(s_geoms)
    svc_idx, _ = tree.query(
        np.asarray(services.geometry.to_numpy(), dtype=object), predicate="intersects"
    )
    inside = np.zeros(len(services), dtype=bool)
    inside[svc_idx] = True
    if (~inside).any():
        bad = services["service_id"].to_numpy()[~inside].tolist()
        findings.append(
            _finding(
                "warning",
                "services",
                f"{s_source}: {len(bad)} services lie outside every street boundary "
                f"({_fmt_ids(bad)}); they still serve residents nearby, but check their "
                "coordinates (GCJ-02 vs WGS-84, swapped lon/lat)",
                bad,
                message_zh=f"{s_source}：{len(bad)} 个服务设施位于所有街道边界之外"
                f"（{_fmt_ids_zh(bad)}）；它们仍为附近居民服务，但请核对坐标"
                "（GCJ-02 与 WGS-84 是否混用、经纬度是否颠倒）",
            )
        )
    return _dedupe(findings)


def case_findings(*groups: Iterable[Finding]) -> ValidationReport:
    """Merge finding lists into one :class:`ValidationReport` without duplicates."""
    merged: list[Finding] = []
    for group in groups:
        merged.extend(group)
    return ValidationReport(_dedupe(merged))
