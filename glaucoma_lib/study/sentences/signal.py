"""The words of notebook 09: where the signal is, on each data set, as the tables say."""

from __future__ import annotations

import pandas as pd

from glaucoma_lib.study.signal import beats


def _auc(table: pd.DataFrame, data_set: str, row: str) -> str:
    r = table[(table["data set"] == data_set) & (table["model and input"] == row)].iloc[0]
    return f"{r['AUC']:.3f} ({r['low']:.3f}–{r['high']:.3f})"


def _at_chance(table: pd.DataFrame, data_set: str, row: str) -> bool:
    r = table[(table["data set"] == data_set) & (table["model and input"] == row)].iloc[0]
    return bool(r["low"] <= 0.5 <= r["high"])


def where_sentences(table: pd.DataFrame, model: str) -> list[str]:
    """For one model ("texture" or "CNN"), per data set: does its disc crop beat the off-disc
    crop and the image statistics by more than the intervals?"""
    lines = []
    disc, off = f"{model}, disc crop", f"{model}, off-disc crop"
    stats = "image statistics (no disc)"
    for name in dict.fromkeys(table["data set"]):
        rows = set(table.loc[table["data set"] == name, "model and input"])
        if disc not in rows:
            continue
        head = f"On {name} the {model} model on the disc crop scores {_auc(table, name, disc)}"
        if _at_chance(table, name, disc):
            lines.append(head + ": its interval contains 0.5, so it finds nothing there to "
                                "place.")
            continue
        controls = [r for r in (off, stats) if r in rows]
        if controls and beats(table, name, disc, controls):
            lines.append(head + ", above the same model on an off-disc crop "
                         + (f"({_auc(table, name, off)}) " if off in rows else "")
                         + f"and above image statistics that cannot see the disc "
                           f"({_auc(table, name, stats)}) by more than the intervals: it looks "
                           "at the disc.")
        else:
            lines.append(head + ", but not above "
                         + " and ".join(f"{r.split(', ')[-1]} ({_auc(table, name, r)})"
                                        for r in controls if not beats(table, name, disc, [r]))
                         + " by more than the intervals: its score cannot be credited to the "
                           "disc.")
    return lines


def vcdr_sentence(rows: pd.DataFrame) -> str:
    """What the graders' own vertical cup-to-disc ratio says about G1020's labels."""
    if rows.empty:
        return "G1020's outline annotations are not present in this build."
    every = rows[(rows["images"] == "all") & (rows["handling"] == "no cup outline scored 0")]
    r = every.iloc[0]
    verdict = ("its interval contains 0.5: the disc shape G1020's graders outlined carries "
               "almost none of its label" if r["low"] <= 0.5 <= r["high"] else
               "its interval lies above 0.5: part of the label is in the outlined disc shape")
    return (f"The vertical cup-to-disc ratio measured on G1020's own outlines scores "
            f"{r['AUC']:.3f} ({r['low']:.3f}–{r['high']:.3f}) against its labels on the "
            f"{r['annotated']} annotated images; {verdict}.")
