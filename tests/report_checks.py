"""Checks of a built report, shared by the test of the committed report and the end-to-end
build: nothing clipped, no build-machine paths, numbered captions, paper order, page budget."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

MAX_MAIN_PAGES = 25  # the main body, up to and including References
ABSOLUTE_PATH = re.compile(r"(?<![\w.~-])(/(?:work|home|root|tmp|usr|opt|mnt|var|Users)/[\w.-]+"
                           r"|[A-Za-z]:\\[\w.-]+)")
PAPER_ORDER = ("Abstract", "1. Introduction", "2. Data", "3. Methods", "4. Results",
               "5. Discussion and limitations", "References", "Appendices")


class _Headers(HTMLParser):
    """The text of every <th> inside a <thead>, per table."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[str]] = []
        self._in_head = self._in_th = False

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "thead":
            self._in_head = True
        elif tag == "th" and self._in_head:
            self._in_th = True
            self.tables[-1].append("")

    def handle_endtag(self, tag):
        if tag == "thead":
            self._in_head = False
        elif tag == "th":
            self._in_th = False

    def handle_data(self, data):
        if self._in_th and self.tables:
            self.tables[-1][-1] += data


def table_headers(page: str) -> list[list[str]]:
    parser = _Headers()
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
    return out.split("\f")


def missing_headers(page: str, pdf_text: str) -> list[str]:
    """Header words of HTML tables that the PDF's text lacks (a clipped or cut table)."""
    words = set(pdf_text.split())
    missing = []
    for headers in table_headers(page):
        for header in headers:
            missing += [w for w in header.split() if w not in words]
    return missing


def check_report(html_path: Path, pdf_path: Path | None) -> None:
    """Every check a built report must pass."""
    page = html_path.read_text(encoding="utf-8")
    visible = re.sub(r"<(style|script)\b.*?</\1>", "", page, flags=re.S)
    visible = re.sub(r'src="data:[^"]*"', "", visible)
    assert not ABSOLUTE_PATH.findall(visible), ABSOLUTE_PATH.findall(visible)[:5]
    positions = [visible.find(f">{heading}<") for heading in PAPER_ORDER]
    assert -1 not in positions and positions == sorted(positions), dict(
        zip(PAPER_ORDER, positions, strict=True))
    images = len(re.findall(r'<img [^>]*src="data:image/png', page))
    captions = re.findall(r'<b>Figure (\d+)\.</b>', page)
    assert images == len(captions), f"{images} figures but {len(captions)} figure captions"
    assert [int(n) for n in captions] == list(range(1, len(captions) + 1))
    tables = len(re.findall(r"<table", visible))
    assert tables and re.search(r"<b>Table 1\.</b>", page)
    assert "@page { size: A4" in page and "overflow: visible !important" in page  # no scroll bars
    if pdf_path is None:
        return
    pages = pdf_pages(pdf_path)
    text = "\n".join(pages)
    assert not ABSOLUTE_PATH.findall(text), ABSOLUTE_PATH.findall(text)[:5]
    missing = missing_headers(visible, text)
    assert not missing, f"table headers missing from the PDF (clipped?): {missing[:20]}"
    appendix_page = next(i for i, p in enumerate(pages, 1)
                         if re.search(r"^\s*Appendices\s*$", p, flags=re.M))
    assert appendix_page - 1 <= MAX_MAIN_PAGES, f"main body has {appendix_page - 1} pages"
    assert b"/Outlines" in pdf_path.read_bytes()  # bookmarks from the headings
