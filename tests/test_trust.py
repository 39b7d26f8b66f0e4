"""The trust table names its tests one by one, and every named test exists."""

from glaucoma_lib.study import trust


def test_every_named_test_exists():
    assert trust.missing_tests() == []


def test_counts_are_the_named_tests_not_keyword_matches():
    rows = {row["check"]: row for row in trust.trust_checks()}
    for name, _, tests in trust.TRUST_CHECKS:
        assert rows[name]["tests"] == len(tests) == len(set(tests))
        assert " -k " not in rows[name]["run it"]
    assert ("tests/test_no_test_tuning.py::"
            "test_poisoned_test_split_changes_no_choice_and_no_weight_byte"
            in rows["No test-set tuning"]["run it"])


def test_a_missing_test_is_reported(tmp_path):
    (tmp_path / "test_split.py").write_text("def test_folds_partition_the_indices():\n    pass\n")
    missing = trust.missing_tests(tmp_path)
    assert "test_split.py::test_folds_partition_the_indices" not in missing
    assert "test_split.py::test_directory_listing_orders" in missing
