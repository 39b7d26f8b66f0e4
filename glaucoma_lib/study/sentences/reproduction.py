"""The words of notebooks 02 and 05: the split, and what the reproduction of the original shows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from glaucoma_lib.study.original import ORIGINAL_REPORTED, span

# ------------------------------------------------------------------------- notebook 02: the split


def split_balance_text(summary: pd.DataFrame) -> str:
    """The split_summary table in words: the test images' range and each side's glaucoma share."""
    test, train = summary.loc["test"], summary.loc["train"]
    return (f"The test set is {test['first']} … {test['last']} with {test['glaucoma']} glaucoma "
            f"images of {test['images']} ({test['glaucoma_share']:.1%}); the training set has "
            f"{train['glaucoma']} of {train['images']} ({train['glaucoma_share']:.1%}).")


def neighbour_evidence_text(similarity: pd.DataFrame,
                            same_patient: tuple[int, int] | None = None) -> str:
    """What neighbour_similarity's numbers show about neighbouring image numbers, and, where the
    release names patients, how many neighbouring pairs are the same patient
    (patients.neighbour_same_patient: (same, pairs)).

    Label agreement alone cannot tell the same patient from, say, the same clinic period; the
    pixel correlation is the test for near-duplicates, judged against twice its standard error.
    """
    grouped = similarity.groupby("pair")
    mean, sem = grouped[["same_label", "correlation"]].mean(), grouped["correlation"].sem()
    near, rand = mean.loc["neighbours"], mean.loc["random"]
    difference = near["correlation"] - rand["correlation"]
    alike = difference > 2 * float(np.hypot(sem["neighbours"], sem["random"]))
    text = (
        f"Neighbours in image number share a label {near['same_label']:.0%} of the time, random "
        f"pairs {rand['same_label']:.0%}: labels cluster by image number. Their "
        f"pixel correlation is {near['correlation']:.3f} against {rand['correlation']:.3f} for "
        "random pairs: "
        + ("neighbours do look more alike, so some may be repeat photographs of the same eye."
           if alike else
           "at this resolution neighbours look no more alike than random pairs (the difference "
           "is within two standard errors), which argues against near-duplicate photographs.")
    )
    if same_patient is None:
        return text + (
            " Neither number identifies patients, and this release names none: that "
            "neighbouring numbers are the same patient is a possibility these data are "
            "consistent with, not a finding. Validation is carved as contiguous blocks because "
            "that is safe either way.")
    same, pairs = same_patient
    return text + (
        f" The release's patient identifiers settle what the pictures cannot: {same} of the "
        f"{pairs} neighbouring pairs ({same / pairs:.0%}) are the same patient"
        + (", photographed differently enough (fellow eye, another visit) that the pixel "
           "correlation does not see it." if same and not alike else ".")
        + " Validation is therefore carved as contiguous blocks, which keep a patient's run of "
        "neighbouring numbers on one side of a split except where a block boundary falls "
        "inside it.")


# ------------------------------------------------------------------ notebook 05: the reproduction


def _whole_pct(value: float) -> str:
    return f"{value:.0%}"


def final_accuracy_text(record: dict[str, Any]) -> str:
    """The final test accuracy as the run scored itself and against the true labels."""
    scored, true = record["metrics"]["as_scored"], record["metrics"]["true_labels"]
    return (
        f"Final test accuracy on all {scored['n']} test images, labels as this run paired them: "
        f"{scored['accuracy']:.2%} (always healthy: {scored['always_healthy_accuracy']:.2%})\n"
        f"Against the true labels: {true['accuracy']:.2%} "
        f"(always healthy: {true['always_healthy_accuracy']:.2%}); "
        f"sensitivity {true['sensitivity']:.2%}, specificity {true['specificity']:.2%} "
        f"at probability threshold {true['threshold']}"
    )


def _compared(value: float, reference: float) -> str:
    return "below" if value < reference else "equal to" if value == reference else "above"


def _answers_healthy(summary: dict[str, Any]) -> bool:
    """True when a run called every test eye healthy (no glaucoma found, no false alarm)."""
    return summary["sensitivity"] == 0 and summary["specificity"] == 1


def _pairing_sentence(record: dict[str, Any]) -> str:
    """How the faithful run's labels were paired: other images' labels vs the wrong class."""
    train, test = (record["metrics"]["pairing"][k] for k in ("train", "test"))
    listing = ("a sorted directory listing (the raw os.listdir order on the original's machine "
               "is unknown; notebook 02 counts both)"
               if record["config"]["pairing"] == "listing_order" else "file name")
    return (
        f"Pairing images with labels by {listing}, the faithful reproduction gave "
        f"{train['n_other_image_label']} of its {train['n_images']} training images another "
        f"image's label; {train['n_wrong_class']} of them "
        f"({train['n_wrong_class'] / train['n_images']:.0%}) got the wrong class (test images: "
        f"{test['n_other_image_label']} and {test['n_wrong_class']} of {test['n_images']}). It "
        "also fed the network pixels reshaped instead of transposed."
    )


def _original_final_sentence(o: dict[str, Any]) -> str:
    """The faithful run's final accuracy computed the original's way, and what it equals."""
    a = o["original_final_accuracy"]
    return (
        f"Scored the way the original scored its final accuracy (accuracy(x, t, batch_size="
        f"{a['batch_size']}) counts whole batches only, int({a['divided_by']}/{a['batch_size']})"
        f" × {a['batch_size']} = {a['scored']} images, and divides the count by "
        f"{a['divided_by']}), it reaches {a['correct']}/{a['divided_by']} = {a['accuracy']:.2%}; "
        f"answering 'healthy' for every eye scores {a['always_healthy_correct']}/"
        f"{a['divided_by']} = {a['always_healthy_accuracy']:.2%} that way (the healthy eyes among "
        f"the first {a['scored']} test labels as paired). The original reported "
        f"{ORIGINAL_REPORTED['final_test_acc']:.2%}."
    )


def _every_number_is_the_floor(record: dict[str, Any]) -> bool:
    """Whether each accuracy the original reported equals what answering 'healthy' for every eye
    scores in the faithful run, under the original's own evaluation bugs."""
    o, h, rep = record["metrics"], record["history"], ORIGINAL_REPORTED
    floor, final = o["always_healthy_per_epoch"], o.get("original_final_accuracy")
    return (final is not None and _answers_healthy(o["as_scored"])
            and {round(a, 4) for a in h["train_acc"]}
            == {round(floor.get("train_evaluated", -1), 4), rep["train_acc_per_epoch"]}
            and {round(a, 4) for a in h["test_acc"]}
            == {round(floor["test_evaluated"], 4), rep["test_acc_per_epoch"]}
            and round(final["always_healthy_accuracy"], 4) == rep["final_test_acc"])


def _fixed_sentences(f: dict[str, Any]) -> list[str]:
    """What the fixed run shows, including whether it too answers 'healthy' for every eye."""
    t = f["true_labels"]
    lines = [
        f"The fixed pipeline reaches {t['accuracy']:.2%} accuracy (always healthy: "
        f"{t['always_healthy_accuracy']:.2%}), ROC AUC {t['auc']:.3f} (95% CI "
        f"{t['auc_ci_low']:.3f}–{t['auc_ci_high']:.3f}), sensitivity {t['sensitivity']:.0%} and "
        f"specificity {t['specificity']:.0%} at threshold 0.5."
    ]
    if _answers_healthy(t):
        lines.append("The fixed run, too, answers 'healthy' for every eye: the bugs explain the "
                     "numbers the original reported, not why its network learned nothing; with "
                     "them fixed, this network with the original settings still learns no rule "
                     "that finds a glaucoma eye.")
    if t["auc_ci_low"] > 0.5:
        lines.append("Its AUC interval lies above 0.5: once the bugs are fixed the network ranks "
                     "glaucoma above healthy eyes better than chance.")
    else:
        lines.append("Its AUC interval still includes 0.5: even with the bugs fixed, this small "
                     "network with the original settings cannot be shown to beat chance.")
    if t["accuracy"] <= t["always_healthy_accuracy"]:
        lines.append("Its accuracy does not beat always answering 'healthy': accuracy alone is "
                     "the wrong yardstick for a screening test on this class balance.")
    return lines


def reproduction_findings(original: dict[str, Any], fixed: dict[str, Any],
                          synthetic: bool) -> list[str]:
    """What the evidence shows, one sentence group per paragraph, from the two run records."""
    o = original["metrics"]
    o_hist = original["history"]
    floor = o["always_healthy_per_epoch"]
    flat_is_floor = (set(o_hist["train_acc"]) == {floor.get("train_evaluated")}
                     and set(o_hist["test_acc"]) == {floor["test_evaluated"]})
    n_eval = original["config"]["evaluate_sample_num_per_epoch"]
    as_built_floor = o["as_scored"]["always_healthy_accuracy"]
    lines = [
        _pairing_sentence(original),
        f"Measured on the first {n_eval} images of each split, its accuracy per epoch was "
        f"{span(o_hist['train_acc'], _whole_pct)} (train) and "
        f"{span(o_hist['test_acc'], _whole_pct)} (test); always answering 'healthy' on those same "
        f"images scores "
        f"{floor.get('train_evaluated', 0):.0%} and {floor['test_evaluated']:.0%}."
        + (" The flat curves are exactly the class balance of those images: the score of a "
           "network that answers 'healthy' for every eye." if flat_is_floor else ""),
        _original_final_sentence(o),
        f"On all {o['as_scored']['n']} test images it reaches {o['as_scored']['accuracy']:.2%} "
        f"against its own labels, {_compared(o['as_scored']['accuracy'], as_built_floor)}"
        f" the {as_built_floor:.2%} of always answering 'healthy' (a baseline the original "
        "never computed).",
    ]
    if _every_number_is_the_floor(original):
        lines.append(
            f"Every accuracy the original reported ({ORIGINAL_REPORTED['train_acc_per_epoch']:.0%}"
            f" train and {ORIGINAL_REPORTED['test_acc_per_epoch']:.0%} test in every epoch, "
            f"{ORIGINAL_REPORTED['final_test_acc']:.2%} final) is what answering 'healthy' for "
            "every eye scores under its own bugs.")
    lines.append(
        f"Against the true labels its ROC AUC is {o['true_labels']['auc']:.3f} (95% CI "
        f"{o['true_labels']['auc_ci_low']:.3f}–{o['true_labels']['auc_ci_high']:.3f}) with "
        f"sensitivity {o['true_labels']['sensitivity']:.0%}.")
    lines += _fixed_sentences(fixed["metrics"])
    if synthetic:
        lines.insert(0, "SYNTHETIC DATA — these sentences describe made-up images, not G1020.")
    return lines
