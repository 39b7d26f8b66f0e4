"""Checks of a built paper and supplement, shared by the test of the committed build and the
end-to-end build: a paper a journal would print (sections in order, numbered captions, tables
without index numbers, cut cells or raw values, nothing from the web, at most 12 pages before
the References, figures beside their captions, no orphan heading or blank page) and a
supplement with nothing clipped."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

MAX_PAPER_PAGES = 12  # A4 pages before the References
MAX_LINE_EM = 45  # the paper's text column on screen (about 90 characters)
ABSOLUTE_PATH = re.compile(r"(?<![\w.~-])(/(?:work|home|root|tmp|usr|opt|mnt|var|Users)/[\w.-]+"
                           r"|[A-Za-z]:\\[\w.-]+)")
PAPER_ORDER = ("Abstract", "1 Introduction", "2 Data", "3 Methods", "4 Results", "5 Discussion",
               "6 Conclusion", "References")
RAW_CELL = re.compile(r"^(nan|none|true|false|null)$|\.\.\.|…|\d\.\d{4,}", re.I)
NOT_IN_THE_PAPER = re.compile(r"\bnotebook\b|checksum|CPU-s|\bseconds\b|\.ipynb|\.npz|"
                              r"glaucoma_lib|make report", re.I)


class _Tables(HTMLParser):
    """Header and body cells of every table."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict[str, list[str]]] = []
        self._part = self._cell = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append({"head": [], "body": []})
        elif tag in ("thead", "tbody"):
            self._part = "head" if tag == "thead" else "body"
        elif tag in ("th", "td") and self.tables:
            self._cell = self._part or "body"
            self.tables[-1][self._cell].append("")

    def handle_endtag(self, tag):
        if tag in ("th", "td"):
            self._cell = None

    def handle_data(self, data):
        if self._cell and self.tables:
            self.tables[-1][self._cell][-1] += data


def tables(page: str) -> list[dict[str, list[str]]]:
    parser = _Tables()
    parser.feed(page)
    return parser.tables


def pdf_pages(pdf: Path) -> list[str]:
    """The text of each page, as poppler's pdftotext reads it (text outside the page is
    dropped, so a clipped column is missing)."""
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext not installed (Debian: apt-get install poppler-utils); .ci/run "
                    "installs it")
    out = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True,
                         capture_output=True, text=True).stdout
    return out.split("\f")[:-1] if out.endswith("\f") else out.split("\f")


def image_pages(pdf: Path) -> list[int]:
    """The page of each image in the PDF (poppler's pdfimages)."""
    out = subprocess.run(["pdfimages", "-list", str(pdf)], check=True, capture_output=True,
                         text=True).stdout.splitlines()[2:]
    return [int(line.split()[0]) for line in out if line.split()[2] == "image"]


def pdf_fonts(pdf: Path) -> str:
    return subprocess.run(["pdffonts", str(pdf)], check=True, capture_output=True,
                          text=True).stdout


def missing_headers(page: str, pdf_text: str) -> list[str]:
    """Header words of HTML tables that the PDF's text lacks (a clipped or cut table)."""
    words = set(pdf_text.split())
    return [w for t in tables(page) for header in t["head"] for w in header.split()
            if w not in words]


def _visible(page: str) -> str:
    visible = re.sub(r"<(style|script)\b.*?</\1>", "", page, flags=re.S)
    return re.sub(r'src="data:[^"]*"', "", visible)


def loads_nothing_from_the_web(page: str) -> bool:
    return "<script" not in page and not re.search(r'(src|href)="(https?:)?//', page) \
        and "@import" not in page and not re.search(r"url\((https?:)?//", page)


def check_paper(html_path: Path, pdf_path: Path | None) -> None:
    """Every check the paper must pass."""
    page = html_path.read_text(encoding="utf-8")
    visible = _visible(page)
    text = re.sub(r"<[^>]+>", " ", visible)
    assert not ABSOLUTE_PATH.findall(visible), ABSOLUTE_PATH.findall(visible)[:5]
    assert not NOT_IN_THE_PAPER.findall(text), NOT_IN_THE_PAPER.findall(text)[:5]
    assert "<pre" not in visible and "<code" not in visible  # no monospace blocks
    assert "not supported by this build" not in page and 'class="banner"' not in page
    positions = [visible.find(f">{heading}<") for heading in PAPER_ORDER]
    assert -1 not in positions and positions == sorted(positions), dict(
        zip(PAPER_ORDER, positions, strict=True))
    assert '<nav class="toc">' in page and loads_nothing_from_the_web(page)
    column = re.search(r"main \{[^}]*max-width: ([\d.]+)em", page)
    assert column and float(column[1]) <= MAX_LINE_EM
    images = len(re.findall(r'<img [^>]*src="data:image/png', page))
    figures = re.findall(r"<b>Figure (\d+)\.</b>", page)
    assert images == len(figures) >= 1
    assert [int(n) for n in figures] == list(range(1, len(figures) + 1))
    numbered = re.findall(r"<b>Table (\d+)\.</b>", page)
    assert [int(n) for n in numbered] == list(range(1, len(numbered) + 1))
    found = tables(page)
    assert len(found) == len(numbered) >= 3
    for table in found:
        assert all(h.strip() and "_" not in h for h in table["head"]), table["head"]
        raw = [c for c in table["body"] if RAW_CELL.search(c.strip())]
        assert not raw, raw
    if pdf_path is None:
        return
    pages = pdf_pages(pdf_path)
    text = "\n".join(pages)
    assert not ABSOLUTE_PATH.findall(text), ABSOLUTE_PATH.findall(text)[:5]
    assert "..." not in text and "…" not in text
    assert not missing_headers(visible, text), missing_headers(visible, text)[:20]
    references = next(i for i, p in enumerate(pages, 1)
                      if re.search(r"^\s*References\s*$", p, flags=re.M))
    assert references - 1 <= MAX_PAPER_PAGES, f"{references - 1} pages before the References"
    assert all(p.strip() for p in pages), "a blank page"
    for i, p in enumerate(pages, 1):  # no heading left alone at the foot of a page
        last = [line.strip() for line in p.splitlines() if line.strip()][-1]
        assert not re.match(r"^\d+(\.\d+)? [A-Z]", last) or i == len(pages), (i, last)
    caption_pages = [i for i, p in enumerate(pages, 1) for _ in re.findall(r"Figure \d+\. ", p)]
    assert caption_pages == image_pages(pdf_path), "a figure split from its caption"
    assert re.search(r"IPA|CJK|Noto Sans JP|Noto Serif JP", pdf_fonts(pdf_path)), \
        "no CJK font embedded: the Japanese reference title prints as boxes"
    assert b"/Outlines" in pdf_path.read_bytes()  # bookmarks from the headings


def check_supplement(html_path: Path, pdf_path: Path | None) -> None:
    """The supplement: no build-machine paths, nothing from the web, numbered captions, no
    table cut, nothing clipped in print."""
    page = html_path.read_text(encoding="utf-8")
    visible = _visible(page)
    assert not ABSOLUTE_PATH.findall(visible), ABSOLUTE_PATH.findall(visible)[:5]
    assert loads_nothing_from_the_web(page)
    figures = re.findall(r"<b>Figure S(\d+)\.</b>", page)
    assert len(re.findall(r'<img [^>]*src="data:image/png', page)) >= len(figures) >= 1
    assert [int(n) for n in figures] == list(range(1, len(figures) + 1))
    for table in tables(page):
        cut = [c for c in table["body"] + table["head"] if c.strip().endswith(("...", "…"))]
        assert not cut, cut
    assert re.search(r"\.jp-RenderedMarkdown \{ max-width: ([\d.]+)em", page)
    if pdf_path is None:
        return
    pages = pdf_pages(pdf_path)
    text = "\n".join(pages)
    assert not ABSOLUTE_PATH.findall(text), ABSOLUTE_PATH.findall(text)[:5]
    assert not missing_headers(visible, text), missing_headers(visible, text)[:20]
    headings = {re.sub(r"<[^>]+>", "", h).strip()
                for h in re.findall(r"<h[1-4][^>]*>(.*?)</h[1-4]>", visible, flags=re.S)}
    for i, p in enumerate(pages[1:], 2):  # page 1 ends with the contents, links to headings
        lines = [line.strip() for line in p.splitlines() if line.strip()]
        assert not lines or lines[-1] not in headings, f"heading alone at the foot of page {i}"
