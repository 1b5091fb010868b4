"""What the command line writes and prints: the self-contained map by default, and messages
with brackets printed intact (rich markup never swallows ``[communities]``)."""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner, Result

from coverage import cli
from coverage.batch import BatchResult
from coverage.case import Case
from coverage.cli import app
from coverage.errors import CoverageError

DEMO = Path(__file__).parents[1] / "data" / "demo" / "case.toml"
WIDE = {"COLUMNS": "400"}  # no wrapping inside the checked sentences

runner = CliRunner()


def invoke(*args: str | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args], env=WIDE)


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.refs += [v for k, v in attrs if k in ("src", "href") and v is not None]


def external_refs(page: str) -> list[str]:
    """Every src/href of the page's elements that points to another host."""
    parser = _Refs()
    parser.feed(page)
    return [r for r in parser.refs if re.match(r"^(https?:)?//", r.strip(), re.IGNORECASE)]


# ---- the map works offline by default ---------------------------------------------------------


def test_audit_writes_a_self_contained_map_by_default(tmp_path: Path) -> None:
    result = invoke("audit", DEMO, "--out", tmp_path / "out", "-q", "--lang", "en")
    assert result.exit_code == 0, result.output
    page = (tmp_path / "out" / "map.html").read_text(encoding="utf-8")
    assert external_refs(page) == []
    assert "L.markerClusterGroup=" in page  # Leaflet and its plugin are inlined
    assert "tile.openstreetmap.org" not in page


def test_online_is_an_option_and_offline_still_accepted(tmp_path: Path) -> None:
    result = invoke("audit", DEMO, "--out", tmp_path / "on", "-q", "--online", "--lang", "en")
    assert result.exit_code == 0, result.output
    page = (tmp_path / "on" / "map.html").read_text(encoding="utf-8")
    assert "https://cdn.jsdelivr.net/npm/leaflet@" in " ".join(external_refs(page))
    assert "tile.openstreetmap.org" in page
    result = invoke("audit", DEMO, "--out", tmp_path / "off", "-q", "--offline", "--no-map")
    assert result.exit_code == 0, result.output


# ---- brackets print intact --------------------------------------------------------------------


@pytest.fixture
def sectionless(tmp_path: Path) -> tuple[Path, str]:
    """A case file with only [case]: its error names the missing sections in brackets."""
    path = tmp_path / "[draft] case.toml"
    path.write_text('[case]\nname = "x"\n', encoding="utf-8")
    with pytest.raises(CoverageError) as info:
        Case.from_config(path)
    message = str(info.value)
    assert "missing section(s) [" in message
    return path, message


def test_audit_error_prints_brackets_intact(sectionless: tuple[Path, str], tmp_path: Path) -> None:
    path, message = sectionless
    result = invoke("audit", path, "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert "[streets], [communities], [services]" in message
    assert message in result.output


def test_batch_table_prints_brackets_intact(
    sectionless: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, message = sectionless

    def fake_batch(configs: list[Path], out: Path, **_: object) -> BatchResult:
        result = BatchResult(
            out_dir=out,
            cases=[
                {"case": "[draft]-case", "status": "failed", "error": message},
                {"case": "ok-case", "status": "ok", "error": None, "rules": {}, "seconds": 1.0},
            ],
        )
        result.summary_csv = out / "batch_summary.csv"
        result.summary_json = out / "batch_summary.json"
        return result

    monkeypatch.setattr("coverage.batch.batch_audit", fake_batch)
    result = invoke("batch", path, "--out", tmp_path / "[out]")
    assert result.exit_code == 1
    text = result.output
    assert "missing section(s) [streets], [communities], [services]" in text
    assert "[draft]-case" in text
    assert f"{tmp_path / '[out]'}" in text


def test_progress_prints_brackets_intact(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, width=200, color_system=None)
    monkeypatch.setattr(cli, "console", console)
    with cli._progress(enabled=True) as step:
        step("reading case /data/[communities]/case.toml")
    assert "reading case /data/[communities]/case.toml" in stream.getvalue()


def test_rules_table_prints_pack_texts_intact(tmp_path: Path) -> None:
    pack = tmp_path / "brackets.yaml"
    pack.write_text(
        "id: brackets\nversion: 1\ntitle: {zh: '[草案] 规则', en: '[draft] rules'}\n"
        "reference: 'see [1]'\nwalk_speed_kmh: 4.0\nwalk_speed_note: n\n"
        "min_population_share: 0.9\nmin_population_share_note: n\nrules:\n"
        "  - id: L1\n    kind: count\n    unit: street\n"
        "    title: {zh: '[bold]健身[/bold]', en: '[bold]fitness[/bold]'}\n"
        "    category: exercise_point\n    min_count: 1\n    source: '[section 3] of [communities]'\n",
        encoding="utf-8",
    )
    result = invoke("rules", pack)
    assert result.exit_code == 0, result.output
    assert "[draft] rules" in result.output
    assert "[bold]fitness[/bold]" in result.output
    assert "[section 3] of [communities]" in result.output
