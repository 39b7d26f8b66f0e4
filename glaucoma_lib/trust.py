"""The checks behind the numbers ("How to trust these numbers"): what each protects against, the
command that reruns it, and how many tests it has.
"""

from __future__ import annotations

import re
from pathlib import Path

from glaucoma_lib.paths import TESTS_DIR

# (check, what it protects against, pytest selection) for "How to trust these numbers".
TRUST_CHECKS = (
    ("Gradient checks", "backpropagation matches numerical derivatives, layer by layer and for "
     "the whole network", "tests/test_layers.py tests/test_network.py -k gradient"),
    ("Label alignment", "every image carries its own label (the original's listing-order bug)",
     "tests/test_data.py tests/test_split.py -k 'label or listing or mislabelled'"),
    ("Channel order", "pixels are transposed HWC->CHW, not reshaped (the original's second bug)",
     "tests/test_data.py -k 'hwc or transpose'"),
    ("Determinism", "one seed gives the same split, weights and metrics, bit for bit",
     "-k 'seed or deterministic or bitwise or identical'"),
    ("Resumable training", "a killed or interrupted run resumes to identical weights",
     "tests/test_train.py -k 'resume or checkpoint'"),
    ("Hostile inputs", "broken CSVs, images and weight files fail with a clear message, never "
     "a silent wrong answer or a loaded pickle",
     "tests/test_hostile_data.py tests/test_weights.py"),
    ("Blocked validation", "validation folds are contiguous blocks by image number, like the test "
     "split", "tests/test_split.py -k 'block or validation or folds'"),
    ("No test-set tuning", "model choices (epoch, threshold) are made on validation data only",
     "-k 'select_best or validation or test_split or tuning'"),
    ("Metrics", "AUC, ROC, calibration and confusion counts agree with scikit-learn",
     "tests/test_metrics.py"),
    ("Parameters", "wrong-type or out-of-range notebook parameters are rejected",
     "tests/test_params.py"),
    ("Report pipeline", "every notebook runs; a failing one names its cell and keeps the old "
     "report", "tests/test_report.py tests/test_records.py"),
)
_TEST_DEF = re.compile(r"^def (test_\w+)", re.MULTILINE)


def _selected_tests(selection: str, tests_dir: Path) -> list[str]:
    """Test functions a `pytest <files> -k 'a or b'` selection would pick (by name, roughly)."""
    files_part, _, keywords = selection.partition("-k")
    files = [tests_dir.parent / f for f in files_part.split()] or sorted(
        tests_dir.glob("test_*.py"))
    words = [w for w in keywords.strip(" '").split(" or ") if w]
    found = []
    for path in files:
        if not path.is_file():
            continue
        for name in _TEST_DEF.findall(path.read_text(encoding="utf-8")):
            full = f"{path.stem}::{name}".lower()
            if not words or any(w.lower() in full for w in words):
                found.append(f"{path.name}::{name}")
    return found


def trust_checks(tests_dir: Path = TESTS_DIR) -> list[dict]:
    """The checks behind the numbers, with the command to rerun each and how many tests it has."""
    return [
        {"check": name, "protects against": why,
         "run it": f"pytest {selection}".replace("pytest -k", "pytest -q -k"),
         "tests": len(_selected_tests(selection, tests_dir))}
        for name, why, selection in TRUST_CHECKS
    ]
