"""The checks behind the numbers ("How to trust these numbers"): what each protects against, the
tests that guard it, named one by one, and the command that reruns exactly those tests.

Tests are listed by name, never selected by keyword: a keyword also matches unrelated tests (a
file name, a fixture), so a count by keyword says nothing. tests/test_trust.py checks that every
named test exists.
"""

from __future__ import annotations

import re
from pathlib import Path

from glaucoma_lib.paths import TESTS_DIR

# (check, what it protects against, tests as "file::test") for "How to trust these numbers".
TRUST_CHECKS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Gradient checks", "backpropagation matches numerical derivatives, layer by layer and for "
     "the whole network", (
         "test_layers.py::test_convolution_gradients",
         "test_layers.py::test_max_pooling_ties_route_gradient_once",
         "test_network.py::test_whole_network_gradient_check",
         "test_network.py::test_gradient_check_refuses_float32_or_dropout",
         "test_network.py::test_input_gradient_matches_numerical",
         "test_network.py::test_feature_map_gradient_matches_numerical")),
    ("Label alignment", "every image carries its own label (the original's listing-order bug)", (
        "test_data.py::test_labels_follow_file_names_despite_shuffled_rows_and_files",
        "test_data.py::test_listing_order_pairs_lexicographic_images_with_numeric_labels",
        "test_data.py::test_g1020_loads_800_220_with_labels_matching_by_name",
        "test_split.py::test_count_mislabelled_pairs_by_position",
        "test_split.py::test_directory_listing_orders",
        "test_split.py::test_split_summary_and_mislabel_table",
        "test_records.py::test_pairing_counts_separate_other_labels_from_wrong_classes")),
    ("Channel order", "pixels are transposed HWC->CHW, not reshaped (the original's second bug)", (
        "test_data.py::test_hwc_to_chw_is_a_transpose_and_hwc_reshape_scrambles",
        "test_layers.py::test_flatten_is_channels_first",
        "test_plots.py::test_to_display_image_transposes_chw_and_scales")),
    ("The original's final score", "its final accuracy is replicated exactly: whole batches of "
     "50 scored, the count divided by all test images", (
         "test_metrics.py::test_truncated_batch_accuracy_replicates_the_originals_final_score",
         "test_records.py::test_save_run_and_comparison_table")),
    ("Determinism", "one seed gives the same split, weights and metrics, bit for bit", (
        "test_train.py::test_same_seed_same_weights_and_history_bitwise",
        "test_network.py::test_he_initialisation_is_seeded",
        "test_layers.py::test_dropout_is_seeded_and_scales_at_test_time",
        "test_augment.py::test_same_seed_same_result_different_seed_differs",
        "test_disc_model.py::test_fit_is_deterministic",
        "test_features.py::test_shape_names_and_determinism",
        "test_metrics.py::test_bootstrap_ci_brackets_estimate_and_is_deterministic",
        "test_synthetic.py::test_generation_is_deterministic",
        "test_records.py::test_two_quick_builds_give_identical_metrics")),
    ("Resumable training", "a killed or interrupted run resumes to identical weights", (
        "test_train.py::test_killed_run_resumes_to_identical_weights",
        "test_train.py::test_ctrl_c_checkpoints_and_resumes_exactly",
        "test_train.py::test_checkpoint_of_another_setup_is_refused",
        "test_train.py::test_damaged_checkpoints_are_refused_before_anything_is_restored",
        "test_optim.py::test_state_round_trip_continues_identically")),
    ("Hostile inputs", "broken CSVs, images and weight files fail with a clear message, never "
     "a silent wrong answer or a loaded pickle", (
         "test_hostile_data.py::test_bad_label_files",
         "test_hostile_data.py::test_unreadable_images",
         "test_hostile_data.py::test_random_bytes_as_image_only_raise_data_error",
         "test_hostile_data.py::test_structured_csv_fuzz_only_raises_data_error",
         "test_weights.py::test_pickles_are_never_loaded",
         "test_weights.py::test_fuzz_random_bytes_only_raise_weights_error",
         "test_weights.py::test_every_field_is_checked_and_named")),
    ("Predict never destroys an input", "a --csv that is an input, or resolves to one, is "
     "refused before anything runs; the CSV is whole or absent, one row and status per input", (
         "test_cli.py::test_csv_that_is_an_input_is_refused_before_anything_runs",
         "test_cli.py::test_unwritable_csv_targets_fail_before_scoring_in_one_line",
         "test_cli.py::test_read_only_folder_is_one_line",
         "test_cli.py::test_broken_pipe_ends_quietly_and_still_writes_the_csv",
         "test_cli.py::test_ctrl_c_is_one_line_and_leaves_no_csv",
         "test_cli.py::test_names_that_are_not_utf8_or_hold_tabs_keep_csv_and_lines",
         "test_predict.py::test_folder_is_walked_and_bad_files_are_reported_not_fatal")),
    ("Images as a viewer shows them", "EXIF orientation applied everywhere, large JPEGs decoded "
     "reduced, oversized images refused from the header", (
         "test_predict.py::test_exif_orientation_is_applied_in_predict_loader_and_localiser",
         "test_predict.py::test_large_jpeg_is_decoded_reduced_and_positions_stay_native",
         "test_predict.py::test_declared_size_above_the_limit_is_refused_from_the_header",
         "test_hostile_data.py::test_decompression_bombs_are_refused_from_the_header")),
    ("No fundus, no verdict", "blank, uniform, noise and red frames and dimmed photographs get "
     "no label; real photographs do; the floors come from the training images only", (
         "test_predict.py::test_frames_without_a_fundus_get_no_verdict",
         "test_predict.py::test_coloured_frames_and_a_dimmed_fundus_get_no_verdict",
         "test_predict.py::test_real_g1020_images_keep_their_verdict",
         "test_fundus.py::test_no_fundus_floors_are_recomputed_from_the_training_images_only")),
    ("Weight files checked from their headers", "sizes, shapes, dtypes and every configuration "
     "field checked before anything is read or allocated", (
         "test_weights.py::test_entries_are_checked_from_their_headers",
         "test_weights.py::test_huge_architecture_is_refused_before_allocating",
         "test_weights.py::test_fuzz_each_field_refused_in_one_line_or_usable",
         "test_weights.py::test_parameter_count_is_limited_from_the_shapes_alone",
         "test_cli.py::test_weights_that_are_not_files_or_hold_bad_values")),
    ("Blocked validation", "validation folds are contiguous blocks by image number, like the test "
     "split", (
         "test_split.py::test_original_split_takes_the_last_images_by_number",
         "test_split.py::test_validation_block_is_the_last_contiguous_block",
         "test_split.py::test_folds_partition_the_indices",
         "test_split.py::test_blocked_folds_are_contiguous_and_random_folds_are_not")),
    ("No test-set tuning", "model choices (configuration, seed, epoch, threshold) and the saved "
     "weights are unchanged when every test image and label is replaced by noise", (
         "test_no_test_tuning.py::test_poisoned_test_split_changes_no_choice_and_no_weight_byte",
         "test_train.py::test_select_best_restores_the_best_epoch")),
    ("Metrics", "AUC, ROC, calibration and confusion counts agree with scikit-learn", (
        "test_metrics.py::test_roc_auc_matches_sklearn_with_ties",
        "test_metrics.py::test_roc_curve_matches_sklearn",
        "test_metrics.py::test_confusion_and_sensitivity_specificity",
        "test_metrics.py::test_brier_score_matches_sklearn",
        "test_metrics.py::test_reliability_curve_matches_sklearn")),
    ("Parameters", "wrong-type or out-of-range notebook parameters are rejected", (
        "test_params.py::test_good_parameters_pass",
        "test_params.py::test_bad_parameter_is_named",
        "test_params.py::test_choices_and_every_problem_listed")),
    ("Report pipeline", "every notebook runs; a failing one names its cell and keeps the old "
     "report", (
         "test_report.py::test_failing_notebook_names_cell_and_keeps_old_report",
         "test_report.py::test_stub_build_combines_hides_code_and_swaps_in",
         "test_report.py::test_quick_report_end_to_end",
         "test_swap.py::test_two_swaps_at_once_never_interleave",
         "test_report.py::test_synthetic_build_leaves_the_committed_report_untouched",
         "test_records.py::test_record_has_provenance")),
)
_TEST_DEF = re.compile(r"^def (test_\w+)", re.MULTILINE)


def defined_tests(tests_dir: Path = TESTS_DIR) -> set[str]:
    """Every test function in tests_dir as "file::test" (parametrised cases count once)."""
    return {f"{path.name}::{name}" for path in sorted(tests_dir.glob("test_*.py"))
            for name in _TEST_DEF.findall(path.read_text(encoding="utf-8"))}


def missing_tests(tests_dir: Path = TESTS_DIR) -> list[str]:
    """Tests a trust row names that do not exist: each must be empty for the table to be true."""
    defined = defined_tests(tests_dir)
    return [test for _, _, tests in TRUST_CHECKS for test in tests if test not in defined]


def trust_checks(tests_dir: Path = TESTS_DIR) -> list[dict]:
    """The checks behind the numbers, with the command that reruns exactly their tests."""
    defined = defined_tests(tests_dir)
    return [
        {"check": name, "protects against": why,
         "run it": "pytest -q " + " ".join(f"tests/{test}" for test in tests),
         "tests": sum(test in defined for test in tests)}
        for name, why, tests in TRUST_CHECKS
    ]
