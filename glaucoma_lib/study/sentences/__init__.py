"""Every sentence the notebooks print, in one place: the words are generated from the run
records, tables and configurations that the science modules return (they return tables and
dicts only), so the text cannot drift from the numbers it states.

One module per part of the study, in notebook order: the split and the reproduction (02, 05),
the improved model and its evaluation (06, 07), the positive control (08) and where the signal
is (09). Their functions are listed here, so a notebook asks `sentences.<name>`. The paper's
prose is not here: people write it, in report/paper.md.
"""

from glaucoma_lib.study.sentences.control import airogs_audit_text, control_findings
from glaucoma_lib.study.sentences.improved import (
    VARIANTS_COMPARED_ABOUT,
    baseline_note,
    confidence_text,
    disc_audit_text,
    evaluation_findings,
    explanation_text,
    forking_paths_text,
    ideas_text,
    leakage_text,
    method_note,
    sweep_text,
    validation_source,
)
from glaucoma_lib.study.sentences.reproduction import (
    final_accuracy_text,
    neighbour_evidence_text,
    reproduction_findings,
    split_balance_text,
)
from glaucoma_lib.study.sentences.signal import vcdr_sentence, where_sentences

__all__ = [
    "VARIANTS_COMPARED_ABOUT", "airogs_audit_text", "baseline_note", "confidence_text",
    "control_findings", "disc_audit_text", "evaluation_findings", "explanation_text",
    "final_accuracy_text", "forking_paths_text", "ideas_text", "leakage_text", "method_note",
    "neighbour_evidence_text", "reproduction_findings", "split_balance_text", "sweep_text",
    "validation_source", "vcdr_sentence", "where_sentences",
]
