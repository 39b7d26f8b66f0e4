"""Figures and tables with captions, as a paper has them.

A notebook shows each figure and table through `figure` or `table`, with a name and a caption of
one or two sentences, and refers to them in its text as ``[Figure](#fig-NAME)`` or
``[Table](#tab-NAME)``. Run alone, a caption reads "Figure. ..."; the report build
(`glaucoma_lib.report.supplement`) numbers them in reading order and writes "Figure S3." and
"Figure S3" in every caption and reference. Tables are written as HTML here, not by pandas'
display rules (which cut long cells and print index numbers); wide ones are transposed or split
so that none is clipped in print; long detail can go to a CSV under report/tables/.
"""

from __future__ import annotations

import html
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import HTML, Image, display
from PIL import Image as PILImage

from glaucoma_lib.nn.atomic import atomic_write
from glaucoma_lib.paths import tables_dir
from glaucoma_lib.report.plots import figure_path, save_figure

KINDS = {"fig": "Figure", "tab": "Table"}
MAX_COLUMNS = 8  # more columns than this do not fit an A4 page at the report's table font


def caption_html(kind: str, name: str, text: str) -> str:
    """The caption element the report build finds and numbers."""
    if kind not in KINDS:
        raise ValueError(f"caption kind must be one of {sorted(KINDS)}, got {kind!r}")
    if not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"caption name must be letters, digits, '_' or '-', got {name!r}")
    return (f'<p class="caption" id="{kind}-{name}"><b>{KINDS[kind]}.</b> '
            f"{html.escape(text)}</p>")


def ref(kind: str, name: str) -> str:
    """A Markdown reference that the build turns into 'Figure N' / 'Table N'."""
    return f"[{KINDS[kind]}](#{kind}-{name})"


def figure(fig: plt.Figure, name: str, caption: str) -> None:
    """Save the figure to figures/NAME.png, show that same file, and caption it below.

    The figure is drawn once: showing the Figure object made the inline backend draw it again
    (seconds for the large ones, such as the 220-image contact sheet). The PNG is shown at
    the size the inline backend would draw it (figure.dpi), with savefig.dpi's pixels.
    """
    save_figure(fig, name)
    plt.close(fig)
    path = figure_path(name)
    with PILImage.open(path) as png:
        width = round(png.width * plt.rcParams["figure.dpi"] / plt.rcParams["savefig.dpi"])
    display(Image(filename=str(path), width=width))
    display(HTML(caption_html("fig", name, caption)))


def fit_columns(frame: pd.DataFrame, max_columns: int = MAX_COLUMNS) -> list[pd.DataFrame]:
    """The table as parts that each fit the page: as is, transposed when it is wide and short,
    else split into groups of columns (the index repeats in each)."""
    if frame.shape[1] <= max_columns:
        return [frame]
    if frame.shape[0] <= max_columns:
        return [frame.T]
    return [frame.iloc[:, i:i + max_columns] for i in range(0, frame.shape[1], max_columns)]


def write_table_csv(frame: pd.DataFrame, name: str) -> Path:
    """The whole table as report/tables/NAME.csv (written atomically), for detail too long to
    print."""
    path = tables_dir() / f"{name}.csv"
    with atomic_write(path, "w", newline="") as fh:
        frame.to_csv(fh)
    return path


def table(frame: pd.DataFrame, name: str, caption: str, csv: pd.DataFrame | None = None,
          max_columns: int = MAX_COLUMNS) -> None:
    """Caption above, then the table (transposed or split if too wide). ``csv``: a longer
    version written to report/tables/NAME.csv and named in the caption."""
    if csv is not None:
        write_table_csv(csv, name)
        caption = f"{caption} All values: tables/{name}.csv beside the report."
    display(HTML(caption_html("tab", name, caption)))
    for part in fit_columns(frame, max_columns):
        display(HTML(table_html(part)))


def cell_text(value: object) -> str:
    """A cell as a reader should see it: whole numbers without decimals, others with at most
    three, a dash for a missing value, yes/no for a flag; text in full (never cut)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}" if abs(int(value)) >= 10_000 else str(int(value))
    if isinstance(value, float | np.floating):
        if float(value).is_integer() and abs(value) < 1e15:
            return cell_text(int(value))
        return f"{value:.3g}" if abs(value) >= 1000 or abs(value) < 0.001 else f"{value:.3f}"
    return str(value)


def header_text(name: object) -> str:
    """A column or index name in words: 'auc_ci_low' -> 'auc ci low'."""
    return "" if name is None else str(name).replace("_", " ")


def table_html(frame: pd.DataFrame) -> str:
    """The table as HTML without pandas' display rules: no index column when the index is just
    row numbers, headers in words, every cell by cell_text and in full."""
    shown = frame.copy()
    if not isinstance(shown.index, pd.RangeIndex):
        names = [header_text(n) for n in shown.index.names]
        shown = shown.reset_index()
        shown.columns = [*names, *shown.columns[len(names):]]
    head = "".join(f"<th>{html.escape(header_text(c))}</th>" for c in shown.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell_text(v))}</td>" for v in row)
                   + "</tr>" for row in shown.itertuples(index=False))
    return f'<table class="dataframe"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'

