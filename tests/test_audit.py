"""The by-eye disc audit is data: stored once, counted, and only applied to its own images."""

from glaucoma_lib.study import audit, sentences

MISSES = [f"image_{n}.jpg" for n in audit.AUDITED_MISSES]


def _test_ids(n_other: int = 199) -> list[str]:
    return MISSES + [f"image_{4000 + i}.jpg" for i in range(n_other)]


def test_audited_misses_are_recognised_by_image_number():
    flags = audit.is_audited_miss(["image_2563.jpg", "image_2564.jpg", "image_3169.jpg"])
    assert flags.tolist() == [True, False, True]
    assert len(set(audit.AUDITED_MISSES)) == len(audit.AUDITED_MISSES) == 21


def test_hit_rate_text_is_counted_from_the_list():
    text = sentences.disc_audit_text(_test_ids(), synthetic=False)
    assert "**21 are clear misses**" in text and "**199 of 220 hits (90%)**" in text
    assert "images 2563, 2568, 2687" in text and "87% counting the doubtful" in text


def test_audit_does_not_apply_to_other_images():
    assert not audit.audit_applies(_test_ids(), synthetic=True)
    assert not audit.audit_applies(MISSES[1:], synthetic=False)
    assert "does not describe" in sentences.disc_audit_text(["image_1.jpg"], False)


def test_airogs_audit_misses_are_part_of_its_sample():
    assert len(audit.AIROGS_AUDIT_SAMPLE) == 60 == len(set(audit.AIROGS_AUDIT_SAMPLE))
    assert set(audit.AIROGS_AUDITED_MISSES) <= set(audit.AIROGS_AUDIT_SAMPLE)
    text = sentences.airogs_audit_text([0.99, 0.5] + [0.1] * 8)
    assert "50 of 60 (83%)" in text and "1 of the 10 misses shown" in text
    assert "confidence" not in sentences.airogs_audit_text([])
