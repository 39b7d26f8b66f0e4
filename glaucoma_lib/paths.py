"""Every folder the project reads or writes, defined once.

Outputs that tests redirect (models, figures) honour an environment variable, so a test run never
writes into the checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = PROJECT_ROOT / ".cache"  # decoded images and disc crops (git-ignored)
DATA_DIR = PROJECT_ROOT / "data"  # where data sets may live (git-ignored), split CSVs
SPLITS_DIR = DATA_DIR / "splits"
SYNTHETIC_DIR = DATA_DIR / "synthetic"
REPORT_DIR = PROJECT_ROOT / "report"
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
TESTS_DIR = PROJECT_ROOT / "tests"
WEIGHTS_DIR = PROJECT_ROOT / "glaucoma_lib" / "weights"  # committed models, shipped in the package


def models_dir() -> Path:
    """Run folders (weights + run record): $GLAUCOMA_MODELS_DIR or git-ignored <project>/models."""
    env = os.environ.get("GLAUCOMA_MODELS_DIR")
    return Path(env) if env else PROJECT_ROOT / "models"


def figures_dir() -> Path:
    """$GLAUCOMA_FIGURES_DIR (the report build points it at its build folder) or figures/."""
    env = os.environ.get("GLAUCOMA_FIGURES_DIR")
    return Path(env) if env else PROJECT_ROOT / "figures"


def tables_dir() -> Path:
    """$GLAUCOMA_TABLES_DIR (the report build points it at its build folder) or report/tables/:
    detail too long to print, as CSV beside the report."""
    env = os.environ.get("GLAUCOMA_TABLES_DIR")
    return Path(env) if env else REPORT_DIR / "tables"


def weights_dir() -> Path:
    """Where notebooks write the committed models: $GLAUCOMA_WEIGHTS_DIR (the report build points
    it at its build folder, and only its swap puts them into glaucoma_lib/weights/, with the
    report) or glaucoma_lib/weights/ itself."""
    env = os.environ.get("GLAUCOMA_WEIGHTS_DIR")
    return Path(env) if env else WEIGHTS_DIR


def weights_file(name: str) -> Path:
    """A committed model as the running build sees it: the copy this build wrote, else the one
    in glaucoma_lib/weights/."""
    written = weights_dir() / name
    return written if written.is_file() else WEIGHTS_DIR / name


def splits_dir(synthetic: bool) -> Path:
    """Where the split label files go; synthetic ones never overwrite G1020's."""
    return SPLITS_DIR / "synthetic" if synthetic else SPLITS_DIR


def shown(path: str | os.PathLike) -> str:
    """A path as text for messages and reports: relative to the project when inside it, so no
    build machine's folders are printed."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)
