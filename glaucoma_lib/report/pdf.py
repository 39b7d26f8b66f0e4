"""Printing the report's HTML to PDF with a headless Chromium (or Playwright's, if installed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
PDF_TIMEOUT_S = 180


def find_browser() -> str | None:
    """A Chromium/Chrome executable: $GLAUCOMA_BROWSER first, then the usual names on PATH."""
    env = os.environ.get("GLAUCOMA_BROWSER")
    if env and shutil.which(env):
        return shutil.which(env)
    return next((shutil.which(name) for name in BROWSERS if shutil.which(name)), None)


def _print_with_browser(browser: str, html_path: Path, pdf_path: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="glaucoma-chromium-") as profile:
        cmd = [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--no-pdf-header-footer",
            "--generate-pdf-document-outline",  # bookmarks from the headings
            f"--print-to-pdf={pdf_path}", html_path.resolve().as_uri(),
        ]
        subprocess.run(cmd, check=True, capture_output=True, timeout=PDF_TIMEOUT_S)


def _print_with_playwright(html_path: Path, pdf_path: Path) -> None:
    nb_path = html_path.with_suffix(".ipynb")
    subprocess.run(
        [sys.executable, "-m", "nbconvert", "--to", "webpdf", "--no-input",
         "--output", pdf_path.stem, "--output-dir", str(pdf_path.parent), str(nb_path)],
        check=True, capture_output=True, timeout=PDF_TIMEOUT_S,
    )


def export_pdf(html_path: Path, pdf_path: Path) -> tuple[Path | None, str]:
    """Print the HTML to PDF without LaTeX: a Chromium on the system, else nbconvert's webpdf."""
    browser = find_browser()
    try:
        if browser:
            _print_with_browser(browser, html_path, pdf_path)
            how = f"printed with {browser}"
        elif _playwright_available():
            _print_with_playwright(html_path, pdf_path)
            how = "printed with nbconvert webpdf (playwright)"
        else:
            return None, (
                "PDF skipped: no Chromium/Chrome found and playwright is not installed. "
                "Install one (Debian: `apt-get install chromium`, or set GLAUCOMA_BROWSER) and run "
                f"`make report`, or open {html_path.name} in a browser and print it to PDF."
            )
    except (OSError, subprocess.SubprocessError) as err:
        detail = getattr(err, "stderr", b"") or b""
        return None, f"PDF export failed ({err}); the HTML is complete. {detail[-500:]!r}"
    if not pdf_path.is_file() or pdf_path.read_bytes()[:4] != b"%PDF":
        return None, "PDF export produced no valid PDF; the HTML is complete."
    return pdf_path, how


def _playwright_available() -> bool:
    try:
        from playwright.sync_api import sync_playwright  # optional; absent on most machines
    except ImportError:
        return False
    try:
        with sync_playwright() as p:
            return Path(p.chromium.executable_path).exists()
    except Exception:  # noqa: BLE001 - any failure means "not usable"
        return False
