"""The paper: its Markdown source (report/paper.md, written and edited by people) filled with the
build's named results, its conditions checked, then printed as one self-contained HTML page.

What the source may contain besides Markdown:
- ``{{name}}`` or ``{{name:.1%}}``: a value of the build (glaucoma_lib.report.values), by name;
- ``<!-- check: condition -->`` after a sentence: the build stops, naming the sentence, when
  its results no longer satisfy the condition (glaucoma_lib.report.claims);
- ``[@key]`` / ``[@a; @b]``: citations of report/references.md, numbered in order of use;
- ``::: figure NAME`` / ``::: table NAME`` blocks (caption inside, ``:::`` ends them):
  figures/NAME.png and the build's table NAME, numbered; ``@fig:NAME`` / ``@tab:NAME`` refer
  to them;
- ``##`` and ``###`` headings, numbered and listed in a table of contents.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import mistune
import pandas as pd

from glaucoma_lib.report import captions
from glaucoma_lib.report.claims import Missing, evaluate, lookup, show
from glaucoma_lib.report.swap import ReportError

MAX_ABSTRACT_WORDS = 250
UNNUMBERED = {"Abstract", "References", "Contents"}
FORBIDDEN_CELLS = re.compile(r"^(nan|none|true|false|null)$|\.\.\.|…", re.I)

_CHECK = re.compile(r"<!--\s*check:(.*?)-->", re.S)
_VALUE = re.compile(r"\{\{\s*([\w.]+)\s*(?::\s*([^}\s]+))?\s*\}\}")
_CITE = re.compile(r"\[(@[\w-]+(?:\s*;\s*@[\w-]+)*)\]")
_BLOCK = re.compile(r"^::: (figure|table) ([\w-]+)(?: (\w+))?\n(.*?)\n:::$", re.S | re.M)
_XREF = re.compile(r"@(fig|tab):([\w-]+)")
_REFERENCE = re.compile(r"^\[([\w-]+)\]:\s*(.+)$", re.M)
_SENTENCE_END = re.compile(r"(?:[.!?:]\)?|\n\n)\s+(?=\S)")


class ClaimError(ReportError):
    """A sentence of the paper is no longer supported by the build's results."""


@dataclass
class Rendered:
    """The paper as HTML, and what the build should tell its reader about it."""

    html: str
    warnings: list[str] = field(default_factory=list)


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _sentence_before(text: str, pos: int) -> str:
    """The sentence a condition follows: from the previous sentence end up to the marker."""
    start = 0
    for m in _SENTENCE_END.finditer(text, 0, max(pos - 2, 0)):
        start = m.end()
    for m in _CHECK.finditer(text, 0, pos):  # the condition of the sentence before ends it
        start = max(start, m.end())
    sentence = text[start:pos]
    return " ".join(sentence.split())


def check_claims(source: str, values: dict, strict: bool) -> tuple[str, list[str]]:
    """The source with its conditions removed, after checking each. Strict: a false condition
    or a missing value is a ClaimError naming every such sentence; else the sentence is marked
    in the text and a warning returned."""
    unsupported: list[str] = []

    def one(m: re.Match) -> str:
        where = _line_of(source, m.start())
        try:
            why = "" if evaluate(m[1], values) else "its results do not satisfy"
        except Missing as missing:
            why = f"this build did not record {missing}, needed by"
        except (SyntaxError, TypeError, ValueError) as err:
            raise ReportError(f"paper.md line {where}: the condition `{m[1].strip()}` cannot be "
                              f"read ({err})") from err
        if not why:
            return ""
        unsupported.append(f"paper.md line {where}: \"{_sentence_before(source, m.start())}\" "
                           f"({why} `{m[1].strip()}`)")
        return ' <mark class="unsupported">[not supported by this build]</mark>'

    checked = _CHECK.sub(one, source)
    if strict and unsupported:
        raise ClaimError("the build's results no longer support these sentences:\n  "
                         + "\n  ".join(unsupported))
    return checked, unsupported


def fill_values(source: str, values: dict, strict: bool) -> str:
    """Every ``{{name}}`` replaced by the build's value, printed by claims.show."""

    def one(m: re.Match) -> str:
        try:
            return html.escape(show(lookup(values, m[1]), m[2] or ""))
        except Missing:
            if strict:
                raise ReportError(f"paper.md line {_line_of(source, m.start())}: this build did "
                                  f"not record the value {m[1]!r}") from None
            return "[not measured in this build]"

    return _VALUE.sub(one, source)


def read_references(path: Path) -> dict[str, str]:
    """report/references.md: one ``[key]: reference`` line each."""
    refs = dict(_REFERENCE.findall(path.read_text(encoding="utf-8")))
    if not refs:
        raise ReportError(f"{path}: no references found ('[key]: text' lines)")
    return refs


def cite(source: str, references: dict[str, str]) -> tuple[str, list[str]]:
    """Citations numbered in order of first use; every citation must be listed and every listed
    reference cited."""
    order: list[str] = []

    def one(m: re.Match) -> str:
        keys = [k.strip().lstrip("@") for k in m[1].split(";")]
        for key in keys:
            if key not in references:
                raise ReportError(f"paper.md cites [@{key}], which report/references.md does "
                                  "not list")
            if key not in order:
                order.append(key)
        links = ", ".join(f'<a href="#ref-{k}">{order.index(k) + 1}</a>' for k in keys)
        return f"[{links}]"

    source = _CITE.sub(one, source)
    uncited = sorted(set(references) - set(order))
    if uncited:
        raise ReportError(f"report/references.md lists {', '.join(uncited)}, which paper.md "
                          "never cites")
    return source, order


def table_html(table: dict) -> str:
    """A paper table from the build's values (cells already formatted), printed as every table
    is (captions.table_html), after refusing any cell a reader should not see."""
    columns, rows = table["columns"], table["rows"]
    for row in rows:
        if len(row) != len(columns):
            raise ReportError(f"table row {row!r} has {len(row)} cells for {len(columns)} "
                              "columns")
        bad = [c for c in row if FORBIDDEN_CELLS.search(str(c))]
        if bad:
            raise ReportError(f"table cell {bad[0]!r} is not something a reader should see")
    return captions.table_html(pd.DataFrame(rows, columns=columns))


def _inline(markdown: mistune.Markdown, text: str) -> str:
    """Markdown of one paragraph as inline HTML (no <p>)."""
    return markdown(text).strip().removeprefix("<p>").removesuffix("</p>")


def _image(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def blocks(source: str, values: dict, figures: Path, strict: bool
           ) -> tuple[str, dict[str, int]]:
    """Figure and table blocks as HTML, numbered in order; then every @fig:/@tab: reference."""
    numbers: dict[str, int] = {}
    counters = {"figure": 0, "table": 0}
    inline = mistune.create_markdown(escape=False)

    def one(m: re.Match) -> str:
        kind, name, width, caption = m[1], m[2], m[3] or "full", m[4].strip()
        key = f"{kind[:3]}:{name}"
        if key in numbers:
            raise ReportError(f"paper.md shows the {kind} {name!r} twice")
        counters[kind] += 1
        numbers[key] = counters[kind]
        label = f"<b>{kind.title()} {numbers[key]}.</b> "
        text = _inline(inline, caption)
        anchor = f'id="{kind[:3]}-{name}"'
        if kind == "figure":
            path = figures / f"{name}.png"
            if not path.is_file():
                if strict:
                    raise ReportError(f"paper.md shows figure {name!r}, but the build drew no "
                                      f"{path.name}")
                body = '<p class="missing">[figure not drawn in this build]</p>'
            else:
                body = f'<img src="{_image(path)}" alt="{html.escape(name)}">'
            return (f'\n<figure {anchor} class="{width}">{body}<figcaption>{label}{text}'
                    "</figcaption></figure>\n")
        try:
            body = table_html(lookup(values, f"tables.{name}"))
        except Missing:
            if strict:
                raise ReportError(f"paper.md shows table {name!r}, which this build did not "
                                  "make") from None
            body = '<p class="missing">[table not made in this build]</p>'
        return f'\n<div {anchor} class="table"><p class="caption">{label}{text}</p>{body}</div>\n'

    source = _BLOCK.sub(one, source)

    def ref(m: re.Match) -> str:
        key = f"{m[1]}:{m[2]}"
        if key not in numbers:
            raise ReportError(f"paper.md refers to @{key}, which it never shows")
        word = "Figure" if m[1] == "fig" else "Table"
        return f'<a href="#{m[1]}-{m[2]}">{word} {numbers[key]}</a>'

    return _XREF.sub(ref, source), numbers


def number_headings(body: str) -> tuple[str, str]:
    """Sections numbered (1, 1.1) and anchored; returns the body and its table of contents."""
    counters = [0, 0]
    toc = []

    def one(m: re.Match) -> str:
        level, text = int(m[1]), m[2].strip()  # text is HTML already
        if text in UNNUMBERED:
            anchor, label = text.lower(), text
        elif level == 2:
            counters[0], counters[1] = counters[0] + 1, 0
            anchor, label = f"sec-{counters[0]}", f"{counters[0]} {text}"
        else:
            counters[1] += 1
            anchor, label = f"sec-{counters[0]}-{counters[1]}", \
                f"{counters[0]}.{counters[1]} {text}"
        toc.append(f'<li class="toc{level}"><a href="#{anchor}">{label}</a></li>')
        return f'<h{level} id="{anchor}">{label}</h{level}>'

    body = re.sub(r"^<h([23])>(.*?)</h\1>$", one, body, flags=re.M)
    return body, ('<nav class="toc"><h2 id="contents">Contents</h2><ul>' + "".join(toc)
                  + "</ul></nav>")


def check_abstract(source: str) -> None:
    """At most MAX_ABSTRACT_WORDS words between "## Abstract" and the next heading."""
    m = re.search(r"^## Abstract\n(.*?)(?=^## )", source, re.S | re.M)
    if not m:
        raise ReportError("paper.md has no '## Abstract' section")
    text = _VALUE.sub("0.000 (0.000–0.000)", _CHECK.sub(" ", m[1]))  # a value prints as 2 words
    words = len(re.sub(r"<[^>]+>", " ", text).split())
    if words > MAX_ABSTRACT_WORDS:
        raise ReportError(f"the abstract has {words} words (at most {MAX_ABSTRACT_WORDS})")


def render(source_path: Path, references_path: Path, values: dict, figures: Path, css: str,
           strict: bool, banner: str = "") -> Rendered:
    """The paper as one self-contained HTML page (images inline, no script, no web font)."""
    source = source_path.read_text(encoding="utf-8")
    check_abstract(source)
    source, warnings = check_claims(source, values, strict)
    source = re.sub(r"<!--(?!toc-->).*?-->\n?", "", source, flags=re.S)  # notes to the editor
    source = fill_values(source, values, strict)
    references = read_references(references_path)
    source, order = cite(source, references)
    source, _ = blocks(source, values, figures, strict)
    title_match = re.match(r"# (.+)\n", source)
    if not title_match:
        raise ReportError("paper.md must start with a '# Title' line")
    title = title_match[1].strip()
    markdown = mistune.create_markdown(escape=False, plugins=["table"])
    reference_list = "".join(f'<li id="ref-{k}">{_inline(markdown, references[k])}</li>'
                             for k in order)
    references_html = f'<h2>References</h2>\n<ol class="references">{reference_list}</ol>'
    body, toc = number_headings(markdown(source[title_match.end():]) + references_html)
    body = body.replace("<!--toc-->", toc, 1)
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{css}</style></head><body><main>"
            f"{banner}<h1>{html.escape(title)}</h1>{body}</main></body></html>\n")
    return Rendered(page, warnings)
