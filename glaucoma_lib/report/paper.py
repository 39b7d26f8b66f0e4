"""The paper of one build: report/paper.md filled with the values notebook 11 gathered
(tables/paper_values.json in the build folder), its conditions checked, written as paper.html.

A standard or full build on all three real data sets is strict: a sentence its results no longer
support stops the build (manuscript.ClaimError names it). Any other build (synthetic data, quick,
a data set missing) still writes the paper, under a banner that says why its sentences are not
checked, with each unsupported sentence marked.
"""

from __future__ import annotations

import json
from pathlib import Path

from glaucoma_lib.paths import REPORT_DIR
from glaucoma_lib.report.claims import from_json
from glaucoma_lib.report.manuscript import Rendered, render

PAPER_SOURCE = REPORT_DIR / "paper.md"
REFERENCES = REPORT_DIR / "references.md"
CSS_FILE = Path(__file__).with_name("paper.css")
VALUES_FILE = "paper_values.json"  # written by notebook 11 into the build's tables folder
DATA_SETS = {"airogs": "EyePACS-AIROGS-light", "hygd": "HYGD"}


def read_values(tables: Path) -> dict | None:
    """The build's named values, or None when notebook 11 did not run in this build."""
    path = tables / VALUES_FILE
    if not path.is_file():
        return None
    return from_json(json.loads(path.read_text(encoding="utf-8"))["values"])


def unchecked_because(values: dict | None, synthetic: bool, quick: bool) -> list[str]:
    """Why this build's paper cannot be held to its sentences (empty: it can)."""
    if values is None:
        return ["it did not run notebook 11, which gathers the paper's values"]
    reasons = []
    if synthetic:
        reasons.append("it ran on the embedded synthetic images, not on G1020")
    if quick:
        reasons.append("it is a quick build (a pipeline check with a few images and epochs)")
    reasons += [f"{name} was not given" for key, name in DATA_SETS.items()
                if key not in values.get("data", {})]
    return reasons


def banner(reasons: list[str], synthetic: bool) -> str:
    """The red box above the title of a paper whose sentences were not held to its numbers."""
    if not reasons:
        return ""
    loud = "SYNTHETIC DATA — NOT A CLINICAL RESULT." if synthetic else "NOT THE STUDY'S RESULTS."
    return (f'<div class="banner"><b>{loud}</b> This paper was filled in by a '
            f"build whose numbers do not stand for the study: {'; '.join(reasons)}. Sentences "
            "that its numbers do not support are marked. Build it with "
            "<code>make report DATA=… AIROGS=… HYGD=…</code> for the real paper.</div>")


def write_paper(build: Path, quick: bool, synthetic: bool, source: Path = PAPER_SOURCE,
                references: Path = REFERENCES) -> tuple[Path, Rendered]:
    """build/paper.html from the source and the build's values and figures."""
    values = read_values(build / "tables")
    reasons = unchecked_because(values, synthetic, quick)
    rendered = render(source, references, values or {}, build / "figures",
                      CSS_FILE.read_text(encoding="utf-8"), strict=not reasons,
                      banner=banner(reasons, synthetic))
    target = build / "paper.html"
    target.write_text(rendered.html, encoding="utf-8")
    return target, rendered
