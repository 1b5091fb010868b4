"""Vendor the JavaScript/CSS the offline maps inline into ``coverage/assets/``.

Run at vendoring time only (never when a map is viewed)::

    .venv/bin/python scripts/vendor_assets.py

For every package below it runs ``npm pack <name>@<version>`` (the npm registry is the only
source), unpacks the tarball, copies the minified dist files and the licence, and writes
``coverage/assets/manifest.json`` with versions, file sizes and SHA-256 digests. Leaflet's CSS
refers to a few small PNGs (the layer-control icon, the default marker); they are inlined as
``data:`` URIs so that the inlined CSS makes no request at all. ``sourceMappingURL`` comments
are removed (the .map files are not shipped).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

ASSETS = Path(__file__).resolve().parents[1] / "coverage" / "assets"

#: name -> (npm version, {source path in the package: target file name}, licence file)
PACKAGES: dict[str, tuple[str, dict[str, str], str]] = {
    "leaflet": (
        "1.9.4",
        {"dist/leaflet.js": "leaflet.js", "dist/leaflet.css": "leaflet.css"},
        "LICENSE",
    ),
    "leaflet.markercluster": (
        "1.5.3",
        {
            "dist/leaflet.markercluster.js": "leaflet.markercluster.js",
            "dist/MarkerCluster.css": "MarkerCluster.css",
        },
        "MIT-LICENCE.txt",
    ),
}

_SOURCE_MAP = re.compile(r"\n?/[/*]# sourceMappingURL=[^\n]*")
_CSS_URL = re.compile(r"url\((['\"]?)(images/[^)'\"]+)\1\)")


def _inline_images(css: str, package_dir: Path, css_path: str) -> str:
    base = (package_dir / css_path).parent

    def repl(match: re.Match[str]) -> str:
        image = base / match.group(2)
        data = base64.b64encode(image.read_bytes()).decode("ascii")
        mime = "image/svg+xml" if image.suffix == ".svg" else f"image/{image.suffix[1:]}"
        return f'url("data:{mime};base64,{data}")'

    return _CSS_URL.sub(repl, css)


def vendor(package: str, version: str, files: dict[str, str], licence: str, work: Path) -> dict:
    """Fetch one package with ``npm pack`` and copy its files into ``coverage/assets/``."""
    out = subprocess.run(
        ["npm", "pack", f"{package}@{version}", "--silent", "--pack-destination", str(work)],
        check=True,
        capture_output=True,
        text=True,
    )
    tarball = work / out.stdout.strip().splitlines()[-1]
    unpacked = work / package
    with tarfile.open(tarball) as tar:
        tar.extractall(unpacked, filter="data")
    root = unpacked / "package"
    target = ASSETS / package
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    entries = {}
    for source, name in files.items():
        text = (root / source).read_text(encoding="utf-8")
        text = _SOURCE_MAP.sub("", text)
        if name.endswith(".css"):
            text = _inline_images(text, root, source)
        (target / name).write_text(text, encoding="utf-8")
    shutil.copyfile(root / licence, target / "LICENSE")
    for path in sorted(target.iterdir()):
        data = path.read_bytes()
        entries[path.name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    meta = json.loads((root / "package.json").read_text(encoding="utf-8"))
    return {
        "version": meta["version"],
        "license": meta.get("license", ""),
        "source": f"npm pack {package}@{version}",
        "files": entries,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.parse_args()
    ASSETS.mkdir(parents=True, exist_ok=True)
    manifest = {}
    with tempfile.TemporaryDirectory() as tmp:
        for package, (version, files, licence) in PACKAGES.items():
            manifest[package] = vendor(package, version, files, licence, Path(tmp))
    (ASSETS / "manifest.json").write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    total = sum(f["bytes"] for p in manifest.values() for f in p["files"].values())
    for package, entry in manifest.items():
        size = sum(f["bytes"] for f in entry["files"].values())
        print(f"{package} {entry['version']} ({entry['license']}): {size:,} bytes")
    print(f"total {total:,} bytes in {ASSETS}")


if __name__ == "__main__":
    main()
