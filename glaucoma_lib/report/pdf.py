"""Printing the paper's and the supplement's HTML to PDF with a headless Chromium (the system's,
or Playwright's if that is installed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
PDF_TIMEOUT_S = 180


def find_browser() -> str | None:
    """A Chromium/Chrome executable: $GLAUCOMA_BROWSER first, then the usual names on PATH, then
    the Chromium that Playwright downloaded, if Playwright is installed."""
    env = os.environ.get("GLAUCOMA_BROWSER")
    if env and shutil.which(env):
        return shutil.which(env)
    found = next((shutil.which(name) for name in BROWSERS if shutil.which(name)), None)
    return found or _playwright_chromium()


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


def export_pdf(html_path: Path, pdf_path: Path) -> tuple[Path | None, str]:
    """Print the HTML to PDF without LaTeX, with a Chromium (find_browser)."""
    browser = find_browser()
    if browser is None:
        return None, (
            "PDF skipped: no Chromium/Chrome found and playwright is not installed. "
            "Install one (Debian: `apt-get install chromium`, or set GLAUCOMA_BROWSER) and run "
            f"`make report`, or open {html_path.name} in a browser and print it to PDF."
        )
    try:
        _print_with_browser(browser, html_path, pdf_path)
        how = f"printed with {browser}"
    except (OSError, subprocess.SubprocessError) as err:
        detail = getattr(err, "stderr", b"") or b""
        return None, f"PDF export failed ({err}); the HTML is complete. {detail[-500:]!r}"
    if not pdf_path.is_file() or pdf_path.read_bytes()[:4] != b"%PDF":
        return None, "PDF export produced no valid PDF; the HTML is complete."
    return pdf_path, how


def _playwright_chromium() -> str | None:
    """The executable of Playwright's Chromium, or None where Playwright or its browser is
    missing."""
    try:
        from playwright.sync_api import sync_playwright  # optional; absent on most machines
    except ImportError:
        return None
    try:
        with sync_playwright() as p:
            path = Path(p.chromium.executable_path)
    except Exception:  # noqa: BLE001 - any failure means "not usable"
        return None
    return str(path) if path.is_file() else None
