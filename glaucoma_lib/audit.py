"""What was checked by eye, stored once as data: the disc detector's clear misses on the G1020
test images. Notebook 06 lists them; notebook 07 counts them among the cases it shows.

The audit was of one detector version on G1020's 220 test images (an enlarged contact sheet,
every detection looked at); if glaucoma_lib/disc.py changes, look again and update this list.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from glaucoma_lib.split import image_number

# Test images whose detected circle is clearly not on the optic disc.
AUDITED_MISSES: tuple[int, ...] = (
    2563, 2568, 2687, 2711, 2714, 2738, 2787, 2891, 2898, 2941, 2949, 2981, 2991, 3029, 3065,
    3080, 3121, 3122, 3130, 3144, 3169,
)
# About this many more were doubtful (disc barely visible); they were not listed by image.
AUDITED_DOUBTFUL = 8


def is_audited_miss(image_ids: Iterable[str]) -> np.ndarray:
    """One bool per image ID: is it one of the audited clear misses?"""
    return np.array([image_number(i) in AUDITED_MISSES for i in image_ids], dtype=bool)


def audit_applies(test_ids: Iterable[str], synthetic: bool) -> bool:
    """The audit describes these test images only if every audited image is among them."""
    numbers = {image_number(i) for i in test_ids}
    return not synthetic and set(AUDITED_MISSES) <= numbers


def disc_audit_text(test_ids: list[str], synthetic: bool) -> str:
    """Notebook 06's hit-rate paragraph, from the audited list and the test images shown."""
    if not audit_applies(test_ids, synthetic):
        return ("**Hit rate, counted by eye.** The by-eye audit was made on G1020's test images; "
                "it does not describe these images.")
    n, misses = len(test_ids), len(AUDITED_MISSES)
    hits = n - misses
    return (
        f"**Hit rate, counted by eye.** On G1020 every one of the {n} test detections was looked "
        f"at on an enlarged version of this sheet: **{misses} are clear misses** (the circle is "
        f"not on the disc: images {', '.join(map(str, AUDITED_MISSES))}) and about "
        f"{AUDITED_DOUBTFUL} more are doubtful because the disc is barely visible; so "
        f"**{hits} of {n} hits ({hits / n:.0%})**, {(hits - AUDITED_DOUBTFUL) / n:.0%} counting "
        "the doubtful ones as misses. The misses are mostly images with a bright glare crescent "
        "or light leak at the rim of the field, very dark photographs, and large bright lesions."
    )
