"""Names are data: whatever a name holds, the map and the report show it verbatim and run nothing.

branca and folium compile the output of their elements as Jinja2 templates; a name that went
through them ran as code (``{{ 7*7 }}`` showed as ``49``, ``{% raw %}`` crashed the audit, and
``{{ cycler.__init__.__globals__.os.popen(...) }}`` ran a shell command). These tests put
hostile names on communities, streets, services, the case, the pack's rules and the tile
layer, and read the names back out of the files.
"""

from __future__ import annotations

import dataclasses
import html
import itertools
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from coverage.audit import AuditResult, audit_case
from coverage.load import Finding
from coverage.maps import audit_map, save_map
from coverage.report import render_report_html

DEMO = Path(__file__).parents[1] / "data" / "demo" / "case.toml"

#: Names that broke or ran in the map before, and others that a parser could trip on.
NASTY = [
    "{{ 7*191 }}{% raw %}</script><b>x",
    "{{7*7}}",
    "Joe's {{ snack }} bar",
    "Cafe {% endif %}",
    "便利店{#3",
    "{# comment #}",
    "{%- set x = 1 -%}{{ x }}",
    "</script><script>window.__pwned=1</script>",
    "<!--<script>",
    '<img src=x onerror="window.__pwned=1">',
    "\"'><svg onload=alert(1)>",
    "&amp; &lt;b&gt; &#x3c;",
    "\u202eevil\u202c 社区",
    "line\u2028sep\u2029para",
    "tab\there\rcr\x01\x1f\x7f",
    "${alert(1)}`x`",
    "\\u003c/script\\u003e",
    "]]></x>",
]

#: Fragments that hypothesis mixes with arbitrary text.
FRAGMENTS = [
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "#}",
    "<",
    ">",
    "&",
    '"',
    "'",
    "</script>",
    "<!--",
    "-->",
    "\u202e",
    "\u2028",
    "\u2029",
    "\\",
    "/",
    "raw",
    "endraw",
    "社区",
]

names = st.one_of(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        min_size=1,
        max_size=40,
    ),
    st.lists(
        st.one_of(
            st.sampled_from(FRAGMENTS),
            st.text(
                alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                max_size=5,
            ),
        ),
        min_size=1,
        max_size=12,
    ).map("".join),
).filter(lambda s: s != "")


@pytest.fixture(scope="module")
def demo() -> AuditResult:
    return audit_case(DEMO)


@pytest.fixture(scope="module")
def small(demo: AuditResult) -> AuditResult:
    """Four communities, their streets and a few services: a map in a few milliseconds."""
    communities = demo.communities.iloc[:4].copy()
    streets = demo.streets[demo.streets["street_id"].isin(communities["street_id"])].copy()
    services = demo.services[demo.services["category"].isin(["shopping", "catering"])]
    return dataclasses.replace(
        demo, communities=communities, streets=streets, services=services.iloc[:6].copy()
    )


def with_name(result: AuditResult, name: str) -> AuditResult:
    """``result`` with every community, street and service, and the case, called ``name``."""
    communities = result.communities.copy()
    communities["name"] = name
    streets = result.streets.copy()
    streets["name"] = name
    services = result.services.copy()
    services["name"] = name
    return dataclasses.replace(
        result, case_name=name, communities=communities, streets=streets, services=services
    )


# ---- reading names back out of map.html -------------------------------------------------------


def _json_after(text: str, marker: str) -> Any:
    start = text.index(marker) + len(marker)
    value, _ = json.JSONDecoder().raw_decode(text, start)
    return value


def _one(pattern: str, text: str) -> str:
    match = re.search(pattern, text, flags=re.S)
    assert match is not None, (pattern, text[:300])
    return html.unescape(match.group(1))


def map_names(text: str) -> dict[str, list[str]]:
    """Every place a name is shown in a rendered map, as the text a browser displays."""
    data = _json_after(text, "var sc_data = ")
    out: dict[str, list[str]] = {}
    for unit in ("community", "street"):
        out[f"{unit} tooltip"] = [_one(r"^<b>(.*?)</b><br>", f["t"]) for f in data[unit]]
        out[f"{unit} popup"] = [
            _one(r'<div class="sc-pop-title">(.*?)</div>', f["p"]) for f in data[unit]
        ]
    out["community popup street"] = [
        _one(
            r'<div class="sc-muted">社区 [^<]*? · 街道 (.*?)(?: · 常住人口 [0-9,]+ 人)?</div>',
            f["p"],
        )
        for f in data["community"]
    ]
    poi = _json_after(text, "var sc_poi = ")
    names = poi["name"]  # the page shows them with textContent (maps.js sc_poi_popup)
    if "v" in names:
        shown = names["v"]
    elif "t" in names:
        shown = [names["t"][i] for i in names["i"]]
    else:  # one prefix and delta-coded numbers
        width = names["w"]
        shown = [names["p"] + str(n).zfill(width) for n in itertools.accumulate(names["n"])]
    out["service name"] = shown
    info = _json_after(text, '{"info":')
    out["info panel"] = [_one(r'<div class="sc-info-title">(.*?)</div>', info)]
    return out


def assert_verbatim(text: str, name: str, result: AuditResult, lang: str = "zh") -> None:
    shown = map_names(text)
    for place, values in shown.items():
        assert values, place
        for value in values:
            assert value == name, place
    title = _one(r"<title>(.*)</title>", text)
    assert title == f"{name} — {result.pack.label(lang)}"


# ---- the map ----------------------------------------------------------------------------------


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(name=names)
@example(name="x" * 20_000)
@example(name=("{{ 7*191 }}社区<script>\u202e" * 800)[:20_000])
@example(name=NASTY[0])
@example(name=NASTY[1])
@example(name=NASTY[2])
@example(name=NASTY[3])
@example(name=NASTY[4])
@example(name=NASTY[7])
@example(name=NASTY[8])
@example(name=NASTY[12])
@example(name=NASTY[13])
@example(name=NASTY[14])
def test_any_name_reaches_the_map_verbatim(small: AuditResult, name: str) -> None:
    text = audit_map(with_name(small, name)).get_root().render()
    assert_verbatim(text, name, small)


@pytest.mark.parametrize("name", NASTY)
def test_nasty_names_are_verbatim_and_never_close_the_script(
    small: AuditResult, name: str, tmp_path: Path
) -> None:
    path = save_map(with_name(small, name), tmp_path / "map.html")
    text = path.read_bytes().decode("utf-8")  # no newline translation: CR stays CR
    assert_verbatim(text, name, small)
    # the page has exactly the scripts the code writes: no name opened or closed one
    clean = save_map(with_name(small, "plain"), tmp_path / "plain.html")
    plain = clean.read_bytes().decode("utf-8")
    for tag in ("<script", "</script", "<!--", "<title", "<img", "<svg"):
        assert text.count(tag) == plain.count(tag), tag


def test_a_template_in_a_name_runs_no_command(small: AuditResult, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    name = "{{ cycler.__init__.__globals__.os.popen('touch " + str(marker) + "').read() }}"
    text = audit_map(with_name(small, name)).get_root().render()
    assert not marker.exists()
    assert_verbatim(text, name, small)


def test_template_syntax_in_a_name_is_not_evaluated(small: AuditResult) -> None:
    name = "{{ 7*191 }}{% raw %}</script><b>x"  # crashed the audit; {{ 7*191 }} alone gave 1337
    text = audit_map(with_name(small, name)).get_root().render()
    assert "{{ 7*191 }}{% raw %}&lt;/script&gt;&lt;b&gt;x" in text  # escaped HTML, in JSON
    shown = [value for values in map_names(text).values() for value in values]
    assert shown and all(value == name for value in shown)
    assert not any("1337" in value for value in shown)


@pytest.mark.parametrize(
    "tiles_url",
    [
        "http://tiles.local/{z}/{x}/{y}.png?v={{ 7*7 }}",
        "http://tiles.local/{z}/{x}/{y}.png?{% raw %}",
        "http://tiles.local/{z}/{x}/{y}.png?</script><script>window.__pwned=1</script>",
    ],
)
def test_a_tile_url_is_not_a_template(small: AuditResult, tiles_url: str) -> None:
    text = audit_map(small, tiles_url=tiles_url).get_root().render()
    match = re.search(r"L\.tileLayer\(", text)
    assert match is not None
    url, end = json.JSONDecoder().raw_decode(text, match.end())
    assert url == tiles_url
    options, _ = json.JSONDecoder().raw_decode(text, end + 2)
    assert "© OpenStreetMap contributors" in options["attribution"]
    assert text.count("</script") == audit_map(small).get_root().render().count("</script")


def test_the_map_still_works_in_jupyter(small: AuditResult) -> None:
    fmap = audit_map(with_name(small, "{{7*7}} <b>"))
    page = fmap._repr_html_()
    assert page.startswith("<div")
    assert "srcdoc=" in page
    inner = html.unescape(re.search(r'srcdoc="(.*?)"', page, flags=re.S).group(1))  # type: ignore[union-attr]
    assert_verbatim(inner, "{{7*7}} <b>", small)


def test_hostile_rule_texts_from_a_pack(demo: AuditResult, tmp_path: Path) -> None:
    """Rule titles and sources of a user's pack reach legends, popups and the layer control."""
    pack = tmp_path / "evil.yaml"
    evil = "{{ 7*7 }}<script>window.__pwned=1</script>{% raw %}"
    pack.write_text(
        "id: evil\nversion: 1\n"
        f"title: {{zh: {json.dumps(evil)}, en: {json.dumps(evil)}}}\nreference: {json.dumps(evil)}\n"
        "walk_speed_kmh: 4.0\nwalk_speed_note: n\nmin_population_share: 0.9\n"
        "min_population_share_note: n\nrules:\n"
        "  - id: L1\n    kind: count\n    unit: street\n"
        f"    title: {{zh: {json.dumps(evil)}, en: {json.dumps(evil)}}}\n"
        f"    category: exercise_point\n    min_count: 1\n    source: {json.dumps(evil)}\n",
        encoding="utf-8",
    )
    result = audit_case(DEMO, pack=str(pack))
    text = audit_map(result, lang="en").get_root().render()
    legends = _json_after(text, '"legends":')
    assert any(html.escape(evil) in legend for legend in legends)
    views = _json_after(text, "var sc_config = ")["views"]
    assert views[0]["tip"] == f"L1 {evil}"  # data in JSON; maps.js escapes it before display
    plain = audit_map(demo, lang="en").get_root().render()
    for tag in ("</script", "<!--"):  # what could end or confuse the script element
        assert text.count(tag) == plain.count(tag), tag
    page = render_report_html(result, lang="en")
    assert evil in ReportText.of(page).text
    assert ReportText.of(page).bad == []


# ---- the report -------------------------------------------------------------------------------


class ReportText(HTMLParser):
    """The text of a page and every tag or attribute a name could have smuggled in."""

    ALLOWED: ClassVar[set[str]] = {
        "html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "div", "b",
        "span", "table", "thead", "tbody", "tr", "th", "td", "a", "svg", "rect", "text",
        "section", "blockquote", "details", "summary", "ul", "li", "small", "br", "code",
        "footer",
    }  # fmt: skip

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.bad: list[str] = []

    @classmethod
    def of(cls, page: str) -> ReportText:
        parser = cls()
        parser.feed(page)
        parser.close()
        return parser

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.ALLOWED:
            self.bad.append(tag)
        self.bad += [name for name, _ in attrs if name.startswith("on") or name == "src"]

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def handle_comment(self, data: str) -> None:
        self.bad.append(f"<!--{data}-->")


@pytest.mark.parametrize("name", [*NASTY, "x" * 20_000])
def test_report_shows_names_as_text(demo: AuditResult, name: str) -> None:
    result = with_name(demo, name)
    result = dataclasses.replace(
        result,
        findings=[
            *result.findings,
            Finding("warning", name, f"{name}: 2 rows", (name, "<b>id</b>")),
        ],
        provenance={
            **result.provenance,
            "inputs_sha256": {f"/data/{name[:50]}/x.geojson": "ab" * 32},
        },
    )
    page = render_report_html(result, lang="en")
    parsed = ReportText.of(page)
    assert parsed.bad == []
    shown = parsed.text
    assert name in shown
    assert f"{name}: 2 rows" in shown
    assert f"{name}, <b>id</b>" in shown
    title = re.search(r"<title>(.*?)</title>", page, flags=re.S)
    assert title is not None and html.unescape(title.group(1)).startswith(name)


# ---- batch folder names -----------------------------------------------------------------------


def test_batch_folder_names_stay_inside_and_fit_the_file_system(tmp_path: Path) -> None:
    from coverage.batch import _folder_names

    parents = ["..", ".", "{{7*7}}", "<script>", "\u202eevil", "a\tb\rc", "社" * 85, "x" * 255]
    paths = [tmp_path / p / "case.toml" for p in parents] + [Path("/case.toml")]
    names = _folder_names(paths)
    assert len(set(names)) == len(names)
    out = tmp_path / "batch"
    for name in names:
        assert name not in (".", "..") and "/" not in name and "\\" not in name
        assert re.fullmatch(r"[\w.\-]+", name), name
        assert len(name.encode()) <= 255
        folder = out / name
        folder.mkdir(parents=True)  # a name longer than 255 bytes fails here
        assert folder.resolve().parent == out.resolve()
