"""A case: the streets, communities and services of one audit, with where they came from.

A :class:`Case` is built once, validated at that moment, and trusted by the rest of the
pipeline. Build it from a TOML file with :meth:`Case.from_config` or from GeoDataFrames with
:meth:`Case.from_frames`.

Configuration file
------------------
Every path is relative to the configuration file. Unknown keys and sections are errors, so a
typo never passes silently. A complete example::

    [case]
    name = "Chengdu centre"
    pack = "wuhan-1plus10"        # rule pack name (default "wuhan-1plus10") or a YAML file
    walk_speed_kmh = 4.0          # optional, default from the pack; 1-8 km/h
    max_snap_m = 250              # optional, default 250

    [network]
    osm = "chengdu.osm.bz2"       # optional: .osm, .osm.bz2 or .osm.pbf

    [streets]                     # required
    path = "streets.geojson"
    id = "code"                   # required
    name = "name"
    crs = "EPSG:4490"             # when the file has no CRS (or declares a wrong one)
    # coordinate_system = "gcj02" # or "bd09": Amap/Baidu lon/lat, converted to WGS-84
    # layer = "streets"; encoding = "auto"; wkt = "wkt"

    [communities]                 # required
    path = "communities.gpkg"
    layer = "communities"
    id = "code"                   # required
    name = "name"
    street = "street_code"        # optional: assigned by largest overlap when absent
    population = "pop"            # required

    [services]                    # required
    path = "pois.csv"
    encoding = "auto"             # CSV: UTF-8 (BOM or not), else GB18030; "gb18030", ...
    lon = "lng"
    lat = "lat"
    coordinate_system = "gcj02"
    id = "id"
    name = "name"
    category = "category"         # a column of canonical categories, or:
    # classify = "amap"           # categories from an Amap export's type codes and names
    # typecode = "typecode"       # its type-code column (default "typecode")
    # classify = "osm"            # categories from OSM tags and the name column (below)
    # area = "area_m2"; windows = "windows"

    [categories]
    extra = "my_categories.yaml"  # optional: your own mapping, see coverage.categories

    [residents]                   # optional, passed on as plain configuration
    buildings = "buildings.gpkg"  # footprint polygons
    levels = "building:levels"    # their levels column
    grid_m = 50                   # fallback grid when there are no buildings
    points = "pop.csv"            # population points; or a table:
    # points = { path = "pop.csv", population = "pop", lon = "x", lat = "y",
    #            coordinate_system = "gcj02" }

    [map]                         # optional: a tile server under map.html
    tiles = "http://tiles.bureau.local/{z}/{x}/{y}.png"
    attribution = "© 某某区自然资源局"  # shown on the map (plain text)
    # crs = "gcj02"               # tiles drawn in GCJ-02 (Amap/Tencent hosts are recognised)
    # subdomains = "1234"         # what replaces {s} in the URL

Each layer section also accepts ``layer``, ``encoding``, ``lon``, ``lat``, ``wkt``, ``crs``
and ``coordinate_system`` as in :func:`coverage.load.read_layer`. ``encoding = "auto"`` (the
default) detects GBK, UTF-8 and Big5 text and refuses what it cannot tell; name the encoding
(``"gbk"``, ``"big5"``) for a Shapefile without ``.cpg`` whose text is refused.

Services from OSM
-----------------
``[services] path`` may be an OSM file (``.osm``, ``.osm.bz2``, ``.osm.pbf``), often the one
of ``[network]``. It is read with the project's OSM reader
(:func:`coverage.osm_features.read_osm_services`): ids ``n123``/``w456``/``r789``, the
``name:zh`` or ``name`` tag, polygon areas, every category a POI serves. It needs
``classify = "osm"`` and takes no other key::

    [services]
    path = "chengdu.osm.bz2"
    classify = "osm"

``classify = "osm"`` on a table (a GeoPackage, Shapefile or CSV of POIs) reads, in each row:
columns named for OSM keys (``amenity``, ``shop``, ``leisure``, ``healthcare`` ...), values
written as ``key=value`` in any column (``类型`` = ``amenity=restaurant``, or several pairs
separated by ``;``; GDAL's ``other_tags`` too), and the column ``name`` names (``name =
"名称"``: its value is what the name rules see). When more than half of the services get no
category, the case carries a warning with the count and the settings to check; ``validate``
also names the categories of the pack's rules that no service has.
"""

from __future__ import annotations

import logging
import tomllib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from coverage._io import file_sha256
from coverage.crs import local_metric_crs
from coverage.errors import ConfigError, DataError
from coverage.load import (
    Finding,
    ValidationReport,
    case_findings,
    read_communities,
    read_layer,
    read_origins,
    read_services,
    read_streets,
    validate_case_layers,
    validate_service_categories,
)
from coverage.settings import check_tile_crs, check_tile_url, check_walk_speed

__all__ = ["DEFAULT_MAX_SNAP_M", "DEFAULT_PACK", "Case"]

logger = logging.getLogger(__name__)

DEFAULT_PACK = "wuhan-1plus10"
DEFAULT_MAX_SNAP_M = 250.0

_READ_KEYS = ("path", "layer", "encoding", "lon", "lat", "wkt", "crs", "coordinate_system")
_SECTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # section: (required keys, optional keys)
    "case": (("name",), ("pack", "walk_speed_kmh", "max_snap_m")),
    "network": ((), ("osm",)),
    "streets": (("path", "id"), ("name", *_READ_KEYS[1:])),
    "communities": (("path", "id", "population"), ("name", "street", *_READ_KEYS[1:])),
    "services": (
        ("path",),
        ("id", "name", "category", "classify", "typecode", "area", "windows", *_READ_KEYS[1:]),
    ),
    "categories": ((), ("extra",)),
    "residents": ((), ("buildings", "levels", "grid_m", "points")),
    "map": ((), ("tiles", "attribution", "crs", "subdomains")),
}
_REQUIRED_SECTIONS = ("case", "streets", "communities", "services")
_POINTS_KEYS = ("population", "id", *_READ_KEYS)
_CLASSIFIERS = ("amap", "osm")
_SHAPEFILE_SIDECARS = (".shx", ".dbf", ".prj", ".cpg")
_OSM_SUFFIXES = (".osm", ".osm.bz2", ".osm.gz", ".osm.pbf", ".pbf", ".o5m", ".opl")


@dataclass(frozen=True, eq=False)
class Case:
    """One audit's inputs, in the canonical schema (EPSG:4326).

    Parameters
    ----------
    name
        A label for reports.
    streets, communities, services
        Canonical layers (see ``docs/architecture.md``).
    osm_path
        The OSM extract for the walking network, if any.
    origins
        User-given population points (canonical origins), if any.
    residents
        Options for deriving residential origins (``buildings``, ``levels``, ``grid_m``), with
        paths made absolute.
    pack
        Rule pack name.
    walk_speed_kmh
        Walking speed; None means the pack's default.
    max_snap_m
        Largest distance from a point to the walking network that still counts as reachable.
    findings
        Non-fatal problems met while loading.
    map_options
        The ``[map]`` table, checked: ``tiles``, ``attribution``, ``crs``, ``subdomains``
        (the map's tile server, see :func:`coverage.maps.audit_map`).
    sources
        Input file path -> SHA-256 of its contents, for provenance.
    config_path
        The configuration file, if built from one.
    """

    name: str
    streets: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame
    services: gpd.GeoDataFrame
    osm_path: Path | None = None
    origins: gpd.GeoDataFrame | None = None
    residents: dict[str, Any] = field(default_factory=dict)
    pack: str = DEFAULT_PACK
    walk_speed_kmh: float | None = None
    max_snap_m: float = DEFAULT_MAX_SNAP_M
    findings: list[Finding] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    config_path: Path | None = None
    map_options: dict[str, str] = field(default_factory=dict)

    # ----------------------------------------------------------------------------------------
    @classmethod
    def from_frames(
        cls,
        *,
        streets: gpd.GeoDataFrame,
        communities: gpd.GeoDataFrame,
        services: gpd.GeoDataFrame,
        name: str = "case",
        osm_path: str | Path | None = None,
        origins: gpd.GeoDataFrame | None = None,
        residents: Mapping[str, Any] | None = None,
        pack: str = DEFAULT_PACK,
        walk_speed_kmh: float | None = None,
        max_snap_m: float = DEFAULT_MAX_SNAP_M,
        columns: Mapping[str, Mapping[str, str]] | None = None,
        coordinate_system: str | None = None,
    ) -> Case:
        """Build a case from GeoDataFrames in memory.

        Parameters
        ----------
        streets, communities, services
            GeoDataFrames with a CRS, either canonical already or described by ``columns``.
            They are not changed.
        name, osm_path, residents, pack, walk_speed_kmh, max_snap_m
            As the attributes of :class:`Case`.
        origins
            Canonical population points (``origin_id``, ``population``), optional.
        columns
            Per layer, the source column of each canonical field, using the configuration
            file's keys: ``{"streets": {"id": "code", "name": "名称"}, "communities": {"id":
            ..., "population": ..., "street": ...}, "services": {"id": ..., "category": ...}}``.
            Missing entries default to the canonical column names.
        coordinate_system
            ``"gcj02"`` or ``"bd09"`` if all three layers carry these offsets.

        Returns
        -------
        Case

        Raises
        ------
        DataError
            If a layer is unusable (see :mod:`coverage.load`).
        ConfigError
            If ``columns`` has unknown layers or keys.
        """
        if walk_speed_kmh is not None:
            walk_speed_kmh = check_walk_speed(walk_speed_kmh, where="walk_speed_kmh")
        columns = dict(columns or {})
        allowed = {
            "streets": ("id", "name"),
            "communities": ("id", "name", "street", "population"),
            "services": ("id", "name", "category", "area", "windows"),
        }
        for layer, mapping in columns.items():
            if layer not in allowed:
                msg = f"columns: unknown layer {layer!r}; valid: {', '.join(allowed)}"
                raise ConfigError(msg)
            _check_keys(mapping, allowed[layer], (), where=f"columns[{layer!r}]")
        s_cols = columns.get("streets", {})
        c_cols = columns.get("communities", {})
        v_cols = columns.get("services", {})
        s_frame, s_findings = read_streets(
            streets,
            id_column=s_cols.get("id", "street_id"),
            name_column=s_cols.get("name", _if_present(streets, "name")),
            source_name=_frame_name(streets, "streets"),
            coordinate_system=coordinate_system,
        )
        c_frame, c_findings = read_communities(
            communities,
            id_column=c_cols.get("id", "community_id"),
            population_column=c_cols.get("population", "population"),
            name_column=c_cols.get("name", _if_present(communities, "name")),
            street_column=c_cols.get("street", _if_present(communities, "street_id")),
            streets=s_frame,
            source_name=_frame_name(communities, "communities"),
            coordinate_system=coordinate_system,
        )
        v_frame, v_findings = read_services(
            services,
            id_column=v_cols.get("id", _if_present(services, "service_id")),
            name_column=v_cols.get("name", _if_present(services, "name")),
            category_column=v_cols.get("category", _if_present(services, "category")),
            area_column=v_cols.get("area", _if_present(services, "area_m2")),
            windows_column=v_cols.get("windows", _if_present(services, "windows")),
            source_name=_frame_name(services, "services"),
            coordinate_system=coordinate_system,
        )
        findings: list[Finding] = [*s_findings, *c_findings, *v_findings]
        _raise_case_errors(_population_findings(c_frame, _frame_name(communities, "communities")))
        o_frame = None
        if origins is not None:
            o_frame, o_findings = read_origins(
                origins,
                population_column="population",
                id_column=_if_present(origins, "origin_id"),
                communities=c_frame,
                source_name=_frame_name(origins, "origins"),
                coordinate_system=coordinate_system,
            )
            findings += o_findings
        findings += _raise_case_errors(validate_case_layers(s_frame, c_frame, v_frame))
        return cls(
            name=name,
            streets=s_frame,
            communities=c_frame,
            services=v_frame,
            osm_path=None if osm_path is None else Path(osm_path),
            origins=o_frame,
            residents=dict(residents or {}),
            pack=pack,
            walk_speed_kmh=walk_speed_kmh,
            max_snap_m=float(max_snap_m),
            findings=list(case_findings(findings)),
            sources={},
            config_path=None,
        )

    # ----------------------------------------------------------------------------------------
    @classmethod
    def from_config(cls, path: str | Path) -> Case:
        """Build a case from a TOML configuration file (format in the module docstring).

        Parameters
        ----------
        path
            The ``.toml`` file. Relative paths inside it are relative to its folder.

        Returns
        -------
        Case

        Raises
        ------
        ConfigError
            Unreadable TOML, unknown or missing keys, wrong value types, missing files.
        DataError
            If a layer is unusable (see :mod:`coverage.load`).
        """
        config_path = Path(path).resolve()
        if not config_path.is_file():
            msg = f"configuration file not found: {config_path}"
            raise ConfigError(msg)
        try:
            config = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            msg = f"{config_path}: not valid UTF-8 TOML ({exc})"
            raise ConfigError(msg) from exc
        _check_config(config, config_path)
        base = config_path.parent
        sources: dict[str, str] = {str(config_path): file_sha256(config_path)}

        def resolve(section: str, key: str, value: Any) -> Path:
            if not isinstance(value, str):
                msg = f"{config_path}: [{section}] {key} must be a path string, got {value!r}"
                raise ConfigError(msg)
            resolved = (base / value).resolve()
            if not resolved.exists():
                msg = (
                    f"{config_path}: [{section}] {key} = {value!r}: file not found "
                    f"(looked for {resolved})"
                )
                raise ConfigError(msg)
            _record(sources, resolved)
            return resolved

        case = config["case"]
        walk_speed = case.get("walk_speed_kmh")
        if walk_speed is not None:  # before the layers are read: a wrong speed fails at once
            _number(case, "walk_speed_kmh", "case", config_path)  # a number at all
            walk_speed = check_walk_speed(walk_speed, where=f"{config_path}: [case] walk_speed_kmh")
        pack = _pack(case, base, config_path, sources)
        extra = None
        if "extra" in config.get("categories", {}):
            extra = resolve("categories", "extra", config["categories"]["extra"])

        s_conf = config["streets"]
        streets, s_findings = read_streets(
            resolve("streets", "path", s_conf["path"]),
            id_column=_str(s_conf, "id", "streets", config_path),
            name_column=_opt_str(s_conf, "name", "streets", config_path),
            **_read_options(s_conf, "streets", config_path),
        )
        c_conf = config["communities"]
        c_path = resolve("communities", "path", c_conf["path"])
        communities, c_findings = read_communities(
            c_path,
            id_column=_str(c_conf, "id", "communities", config_path),
            population_column=_str(c_conf, "population", "communities", config_path),
            name_column=_opt_str(c_conf, "name", "communities", config_path),
            street_column=_opt_str(c_conf, "street", "communities", config_path),
            streets=streets,
            **_read_options(c_conf, "communities", config_path),
        )
        _raise_case_errors(_population_findings(communities, str(c_path)))
        v_conf = config["services"]
        services, v_findings = _read_services_config(
            resolve("services", "path", v_conf["path"]), v_conf, config_path, extra
        )
        findings: list[Finding] = [*s_findings, *c_findings, *v_findings]

        residents: dict[str, Any] = dict(config.get("residents", {}))
        origins = None
        if "buildings" in residents:
            residents["buildings"] = resolve("residents", "buildings", residents["buildings"])
        if "grid_m" in residents:
            residents["grid_m"] = _number(residents, "grid_m", "residents", config_path)
        if "levels" in residents:
            _str(residents, "levels", "residents", config_path)
        if "points" in residents:
            points = residents["points"]
            points_conf = {"path": points} if isinstance(points, str) else points
            if not isinstance(points_conf, dict):
                msg = f"{config_path}: [residents] points must be a path or a table"
                raise ConfigError(msg)
            _check_keys(points_conf, _POINTS_KEYS, ("path",), where="[residents] points")
            points_path = resolve("residents", "points", points_conf["path"])
            origins, o_findings = read_origins(
                points_path,
                population_column=points_conf.get("population", "population"),
                id_column=points_conf.get("id"),
                communities=communities,
                **_read_options(points_conf, "residents.points", config_path),
            )
            findings += o_findings
            residents["points"] = points_path

        osm_path = None
        if "osm" in config.get("network", {}):
            osm_path = resolve("network", "osm", config["network"]["osm"])
        findings += _raise_case_errors(validate_case_layers(streets, communities, services))
        return cls(
            name=_str(case, "name", "case", config_path),
            streets=streets,
            communities=communities,
            services=services,
            osm_path=osm_path,
            origins=origins,
            residents=residents,
            pack=pack,
            walk_speed_kmh=walk_speed,
            max_snap_m=_number(case, "max_snap_m", "case", config_path)
            if "max_snap_m" in case
            else DEFAULT_MAX_SNAP_M,
            findings=list(case_findings(findings)),
            sources=sources,
            config_path=config_path,
            map_options=_map_options(config.get("map", {}), config_path),
        )

    # ----------------------------------------------------------------------------------------
    def validate(self) -> ValidationReport:
        """Return the load-time findings, a fresh check of the three layers, and the
        categories of the case's rule pack that no service has.

        Returns
        -------
        ValidationReport
            Findings without duplicates; ``.errors`` is empty for a case built by the
            constructors unless the frames were changed afterwards.
        """
        return case_findings(
            self.findings,
            validate_case_layers(self.streets, self.communities, self.services),
            self._pack_findings(),
        )

    def _pack_findings(self) -> list[Finding]:
        """Categories of the pack's rules that no service has (see ``validate``)."""
        from coverage.errors import CoverageError
        from coverage.rules import load_pack  # right of this module: imported lazily

        try:
            pack = load_pack(self.pack)
        except CoverageError:
            return []  # an unusable pack is reported where it is loaded
        rules = {rule.id: rule.all_categories for rule in pack.rules}
        return validate_service_categories(self.services, rule_categories=rules, check_share=False)

    def describe(self) -> str:
        """Return a short plain-text summary: counts, population, categories, CRS, files.

        Returns
        -------
        str
        """
        population = float(self.communities["population"].sum())
        categories = Counter(self.services["category"].dropna())
        no_category = int(self.services["category"].isna().sum())
        metric = local_metric_crs(self.streets)
        lines = [
            f"case {self.name!r} (rule pack {self.pack!r})",
            f"  streets:     {len(self.streets)}",
            f"  communities: {len(self.communities)}, population {population:,.0f}",
            f"  services:    {len(self.services)}"
            + (f" ({no_category} without category)" if no_category else ""),
        ]
        for category, count in sorted(categories.items()):
            lines.append(f"    {category}: {count}")
        if self.origins is not None:
            lines.append(
                f"  origins:     {len(self.origins)} points, population "
                f"{float(self.origins['population'].sum()):,.0f}"
            )
        speed = "pack default" if self.walk_speed_kmh is None else f"{self.walk_speed_kmh} km/h"
        lines += [
            f"  walk speed:  {speed}; max snap distance {self.max_snap_m:g} m",
            f"  CRS:         {self.streets.crs.to_string()} (metric work in "
            f"{metric.to_string()}, {metric.name})",
            f"  network:     {self.osm_path if self.osm_path is not None else 'not set'}",
        ]
        if self.config_path is not None:
            lines.append(f"  config:      {self.config_path}")
        if self.sources:
            lines.append("  files:")
            lines += [f"    {p}  sha256:{digest[:12]}" for p, digest in self.sources.items()]
        report = ValidationReport(self.findings)
        lines.append(
            f"  findings:    {len(report.errors)} error(s), {len(report.warnings)} warning(s)"
        )
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# helpers


def _if_present(gdf: gpd.GeoDataFrame, column: str) -> str | None:
    return column if column in gdf.columns else None


def _frame_name(gdf: gpd.GeoDataFrame, layer: str) -> str:
    source = gdf.attrs.get("source")
    return str(source) if source else f"<{layer} GeoDataFrame>"


def _raise_case_errors(findings: list[Finding]) -> list[Finding]:
    errors = [f for f in findings if f.severity == "error"]
    if errors:
        raise DataError("\n".join(f.message for f in errors))
    return findings


def _population_findings(communities: gpd.GeoDataFrame, source: str) -> list[Finding]:
    """An error for infinite populations, which the origins cannot be spread from."""
    population = pd.to_numeric(communities["population"], errors="coerce").to_numpy(dtype=float)
    infinite = np.isinf(population)
    if not infinite.any():
        return []
    ids = communities["community_id"].astype(str).to_numpy()[infinite]
    shown = ", ".join(ids[:10]) + (f", … ({len(ids)} in all)" if len(ids) > 10 else "")
    return [
        Finding(
            "error",
            "communities",
            f"{source}: {len(ids)} communities have an infinite population (ids {shown}); "
            "fill the population column with the number of residents",
            tuple(ids),
        )
    ]


def _record(sources: dict[str, str], path: Path) -> None:
    files = [path] if path.is_file() else []
    if path.suffix.lower() == ".shp":
        files += [p for s in _SHAPEFILE_SIDECARS if (p := path.with_suffix(s)).exists()]
    for file in files:
        sources[str(file)] = file_sha256(file)


def _check_keys(
    table: Mapping[str, Any], allowed: tuple[str, ...], required: tuple[str, ...], *, where: str
) -> None:
    unknown = [k for k in table if k not in allowed]
    if unknown:
        msg = (
            f"{where}: unknown key(s) {', '.join(repr(k) for k in unknown)}; valid keys are "
            f"{', '.join(allowed)}"
        )
        raise ConfigError(msg)
    missing = [k for k in required if k not in table]
    if missing:
        msg = f"{where}: missing required key(s) {', '.join(repr(k) for k in missing)}"
        raise ConfigError(msg)


def _check_config(config: Mapping[str, Any], config_path: Path) -> None:
    unknown = [s for s in config if s not in _SECTIONS]
    if unknown:
        msg = (
            f"{config_path}: unknown section(s) {', '.join(f'[{s}]' for s in unknown)}; valid "
            f"sections are {', '.join(f'[{s}]' for s in _SECTIONS)}"
        )
        raise ConfigError(msg)
    missing = [s for s in _REQUIRED_SECTIONS if s not in config]
    if missing:
        msg = (
            f"{config_path}: missing section(s) {', '.join(f'[{s}]' for s in missing)}; see "
            "coverage.case for a complete example"
        )
        raise ConfigError(msg)
    for section, table in config.items():
        if not isinstance(table, dict):
            msg = f"{config_path}: [{section}] must be a table, got {table!r}"
            raise ConfigError(msg)
        required, optional = _SECTIONS[section]
        _check_keys(table, (*required, *optional), required, where=f"{config_path}: [{section}]")
    services = config["services"]
    if "category" in services and "classify" in services:
        msg = (
            f"{config_path}: [services] has both 'category' and 'classify'; use 'category' for a "
            "column of canonical categories or 'classify' to derive them, not both"
        )
        raise ConfigError(msg)
    if "category" not in services and "classify" not in services:
        msg = (
            f"{config_path}: [services] needs 'category' (a column of canonical categories) or "
            f"'classify' ({' or '.join(repr(c) for c in _CLASSIFIERS)})"
        )
        raise ConfigError(msg)
    if "classify" in services and services["classify"] not in _CLASSIFIERS:
        msg = (
            f"{config_path}: [services] classify = {services['classify']!r}; valid values are "
            f"{', '.join(repr(c) for c in _CLASSIFIERS)}"
        )
        raise ConfigError(msg)
    if "typecode" in services and services.get("classify") != "amap":
        msg = f"{config_path}: [services] 'typecode' applies only with classify = 'amap'"
        raise ConfigError(msg)


def _map_options(table: Mapping[str, Any], config_path: Path) -> dict[str, str]:
    """The ``[map]`` table, checked: a tile URL template, its attribution, crs, sub-domains."""
    out: dict[str, str] = {}
    if "tiles" in table:
        out["tiles"] = check_tile_url(table["tiles"], where=f"{config_path}: [map] tiles")
    for key in ("attribution", "subdomains"):
        if key in table:
            out[key] = _str(table, key, "map", config_path)
    if "crs" in table:
        out["crs"] = check_tile_crs(table["crs"], where=f"{config_path}: [map] crs")
    if out and "tiles" not in out:
        msg = (
            f"{config_path}: [map] {', '.join(sorted(out))} without 'tiles'; add "
            'tiles = "http://.../{z}/{x}/{y}.png" or remove the [map] section'
        )
        raise ConfigError(msg)
    return out


def _str(table: Mapping[str, Any], key: str, section: str, config_path: Path) -> str:
    value = table[key]
    if not isinstance(value, str) or not value:
        msg = f"{config_path}: [{section}] {key} must be a non-empty string, got {value!r}"
        raise ConfigError(msg)
    return value


def _opt_str(table: Mapping[str, Any], key: str, section: str, config_path: Path) -> str | None:
    return _str(table, key, section, config_path) if key in table else None


def _number(table: Mapping[str, Any], key: str, section: str, config_path: Path) -> float:
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        msg = f"{config_path}: [{section}] {key} must be a positive number, got {value!r}"
        raise ConfigError(msg)
    return float(value)


def _pack(case: Mapping[str, Any], base: Path, config_path: Path, sources: dict[str, str]) -> str:
    """The case's rule pack: a shipped pack's name, or a YAML file relative to the case file."""
    name = _opt_str(case, "pack", "case", config_path)
    if name is None:
        return DEFAULT_PACK
    looks_like_file = Path(name).suffix.lower() in (".yaml", ".yml") or any(
        sep in name for sep in ("/", "\\")
    )
    if not looks_like_file and not (base / name).is_file():
        return name  # a shipped pack's name; load_pack says if it does not exist
    resolved = (base / name).resolve()
    if not resolved.is_file():
        msg = (
            f"{config_path}: [case] pack = {name!r}: rule pack file not found (looked for "
            f"{resolved}; a pack path is relative to the case file)"
        )
        raise ConfigError(msg)
    _record(sources, resolved)
    return str(resolved)


def _read_options(table: Mapping[str, Any], section: str, config_path: Path) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for key in ("layer", "encoding", "lon", "lat", "wkt", "crs", "coordinate_system"):
        if key not in table:
            continue
        value = table[key]
        if key in ("layer", "crs") and isinstance(value, int) and not isinstance(value, bool):
            options[key] = value
        else:
            options[key] = _str(table, key, section, config_path)
    return options


def _read_services_config(
    path: Path, conf: Mapping[str, Any], config_path: Path, extra: Path | None
) -> tuple[gpd.GeoDataFrame, list[Finding]]:
    options = _read_options(conf, "services", config_path)
    id_column = _opt_str(conf, "id", "services", config_path)
    name_column = _opt_str(conf, "name", "services", config_path)
    area_column = _opt_str(conf, "area", "services", config_path)
    windows_column = _opt_str(conf, "windows", "services", config_path)
    classify = conf.get("classify")
    if _is_osm_file(path):
        return _read_osm_services_config(path, conf, config_path, extra)
    if classify is None:
        category_column = _str(conf, "category", "services", config_path)
        services, findings = read_services(
            path,
            id_column=id_column,
            name_column=name_column,
            category_column=category_column,
            area_column=area_column,
            windows_column=windows_column,
            **options,
        )
        fix = (
            f"check [services] category = {category_column!r}: the values of that column of "
            f"{path.name} must be canonical categories (coverage.categories.CATEGORIES), or "
            'derive them with classify = "osm" (OSM tags) or classify = "amap" (Amap type codes)'
        )
        return services, findings + validate_service_categories(services, fix=fix)
    raw = read_layer(path, **options)
    category_map = _load_category_map(extra)
    if classify == "amap":
        typecode = _opt_str(conf, "typecode", "services", config_path) or "typecode"
        for key, column in (("typecode", typecode), ("name", name_column)):
            if column is not None and column not in raw.columns:
                msg = (
                    f"{config_path}: [services] {key} = {column!r} is not a column of {path}; "
                    f"the columns are {[c for c in raw.columns if c != 'geometry']}"
                )
                raise ConfigError(msg)
        codes = raw[typecode].to_numpy(dtype=object)
        names = (
            raw[name_column].to_numpy(dtype=object)
            if name_column
            else np.full(len(raw), None, dtype=object)
        )
        every = [
            category_map.classify_amap_all(_text(code), _text(name))
            for code, name in zip(codes, names, strict=True)
        ]
    else:
        if name_column is not None and name_column not in raw.columns:
            msg = (
                f"{config_path}: [services] name = {name_column!r} is not a column of {path}; "
                f"the columns are {[c for c in raw.columns if c != 'geometry']}"
            )
            raise ConfigError(msg)
        skip = {raw.geometry.name, id_column, area_column, windows_column}
        tag_columns = [c for c in raw.columns if c not in skip]
        records = raw[tag_columns].to_dict("records")
        every = [
            category_map.classify_osm_tags_all(_tags_from_columns(record, name_column=name_column))
            for record in records
        ]
    # the first category is the primary one; all of them (a supermarket is also shopping, a
    # park also an exercise point) go to "categories", as read_osm_services writes them
    derived = [cats[0] if cats else None for cats in every]
    unclassified = sum(d is None for d in derived)
    if unclassified:
        logger.info("%s: %d of %d rows match no category", path, unclassified, len(raw))
    frame = raw.copy()
    frame["category_derived"] = pd.Series(derived, index=frame.index, dtype=object)
    frame["categories"] = [";".join(cats) for cats in every]
    frame.attrs["source"] = str(path)
    services, findings = read_services(
        frame,
        id_column=id_column,
        name_column=name_column,
        category_column="category_derived",
        area_column=area_column,
        windows_column=windows_column,
        source_name=str(path),
    )
    if classify == "amap":
        fix = (
            f'check [services] classify = "amap": it reads the Amap type codes of column '
            f"{typecode!r} (such as 141204) and the names of column {name_column!r} of "
            f"{path.name}"
        )
    else:
        fix = (
            f'check [services] classify = "osm": it reads columns named for OSM keys (amenity, '
            "shop, leisure, healthcare ...), values written as key=value (类型 = "
            f"amenity=restaurant) and the names of column {name_column!r} (name = ...); "
            f"{path.name} has the columns {[c for c in raw.columns if c != raw.geometry.name]}"
        )
    findings += validate_service_categories(services, fix=fix)
    if classify == "amap" and "coordinate_system" not in conf:
        findings.append(
            Finding(
                "warning",
                "services",
                f"{config_path}: [services] classify = 'amap' but no coordinate_system: Amap "
                "(Gaode) exports are in GCJ-02, several hundred metres off WGS-84 in China "
                f"(about 360 m in central Chengdu), and {path} was read as WGS-84. Add "
                'coordinate_system = "gcj02" under [services], or coordinate_system = "wgs84" '
                "if the export was converted",
                message_zh=f"{config_path}：[services] classify = 'amap'，但没有 "
                "coordinate_system：高德导出的数据为 GCJ-02 坐标，在国内与 WGS-84 相差数百米"
                f"（成都市中心约 360 米），而 {path} 被当作 WGS-84 读入。请在 [services] 下加上 "
                'coordinate_system = "gcj02"；若导出时已转换，则写 coordinate_system = "wgs84"',
            )
        )
    return services, findings


def _is_osm_file(path: Path) -> bool:
    return path.name.lower().endswith(_OSM_SUFFIXES)


def _read_osm_services_config(
    path: Path, conf: Mapping[str, Any], config_path: Path, extra: Path | None
) -> tuple[gpd.GeoDataFrame, list[Finding]]:
    """The services of an OSM file, read with the reader of :func:`read_osm_services`."""
    if conf.get("classify") != "osm":
        msg = (
            f"{config_path}: [services] path = {path.name!r} is an OSM file: its services are "
            'classified from their tags; write classify = "osm" instead of category = ...'
        )
        raise ConfigError(msg)
    extra_keys = sorted(set(conf) - {"path", "classify"})
    if extra_keys:
        msg = (
            f"{config_path}: [services] {', '.join(extra_keys)} do(es) not apply to an OSM file "
            f"({path.name}): ids, names, areas and categories come from its objects and tags. "
            "Remove them"
        )
        raise ConfigError(msg)
    from coverage.osm_features import read_osm_services  # the network's reader; lazily

    frame = read_osm_services(path, category_map=_load_category_map(extra))
    if len(frame) == 0:
        msg = (
            f"{path}: no object of this OSM file maps to a service category (amenity, shop, "
            "leisure, healthcare ... tags); check that it is the extract of the case's area"
        )
        raise DataError(msg)
    frame.attrs["source"] = str(path)
    return read_services(
        frame,
        id_column="service_id",
        name_column="name",
        category_column="category",
        area_column="area_m2",
        windows_column="windows",
        source_name=str(path),
    )


def _tags_from_columns(record: Mapping[str, Any], *, name_column: str | None) -> dict[str, str]:
    from coverage.categories import tags_from_columns  # imported lazily like the map

    return tags_from_columns(record, name_column=name_column)


def _load_category_map(extra: Path | None) -> Any:
    from coverage.categories import load_category_map  # written in parallel; imported lazily

    loader: Callable[..., Any] = load_category_map
    return loader(extra=extra)


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    text = str(value).strip()
    return text or None
