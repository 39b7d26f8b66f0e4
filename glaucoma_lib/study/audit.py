"""What was checked by eye, stored once as data: the disc detector's clear misses on the G1020
test images. Notebook 06 lists them; notebook 07 counts them among the cases it shows.

The audit was of one detector version on G1020's 220 test images (an enlarged contact sheet,
every detection looked at); if glaucoma_lib/disc.py changes, look again and update this list.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from glaucoma_lib.data.split import image_number

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


# EyePACS-AIROGS-light: 60 images drawn at random (numpy default_rng(0).choice over the sorted
# file names), every detection looked at on an enlarged contact sheet (notebook 08 draws it).
AIROGS_AUDIT_SAMPLE: tuple[str, ...] = tuple(
    f"EyePACS-TRAIN-{name}.jpg" for name in (
        "NRG-2887 NRG-2889 NRG-2890 NRG-2896 NRG-2900 NRG-2907 NRG-2910 NRG-2913 NRG-2940 "
        "NRG-2946 NRG-2953 NRG-2977 NRG-3008 NRG-3017 NRG-3078 NRG-3083 NRG-3089 NRG-3101 "
        "NRG-3111 NRG-3176 NRG-3182 NRG-3183 NRG-3192 NRG-3203 NRG-3237 NRG-3242 NRG-3244 "
        "RG-2889 RG-2894 RG-2897 RG-2898 RG-2901 RG-2928 RG-2941 RG-2950 RG-2956 RG-2966 "
        "RG-2988 RG-2991 RG-3004 RG-3007 RG-3023 RG-3028 RG-3035 RG-3063 RG-3076 RG-3081 "
        "RG-3091 RG-3094 RG-3115 RG-3121 RG-3124 RG-3135 RG-3145 RG-3173 RG-3193 RG-3236 "
        "RG-3245 RG-3252 RG-3263").split())
# Those whose crop box is clearly not on the optic disc: mostly the bright rim at the left or
# right edge of the field, twice the top or bottom edge, once peripapillary atrophy.
AIROGS_AUDITED_MISSES: tuple[str, ...] = tuple(
    f"EyePACS-TRAIN-{name}.jpg" for name in (
        "NRG-2896 NRG-2946 NRG-3192 NRG-3203 RG-2941 RG-2988 RG-3035 RG-3076 RG-3115 "
        "RG-3145").split())


def airogs_audit_text(confidence_of_misses: list[float]) -> str:
    """Notebook 08's hit-rate paragraph for the by-eye audit of the AIROGS sample, with what the
    detector's confidence says about the misses among the images shown."""
    n, misses = len(AIROGS_AUDIT_SAMPLE), len(AIROGS_AUDITED_MISSES)
    text = (f"**Disc detection on {n} randomly drawn AIROGS images, counted by eye:** "
            f"{n - misses} of {n} ({(n - misses) / n:.0%}) put the crop on the optic disc; the "
            f"{misses} misses mostly sit on the bright rim at the edge of the field.")
    if confidence_of_misses:
        high = sum(c >= 0.9 for c in confidence_of_misses)
        text += (f" {high} of the {len(confidence_of_misses)} misses shown have a detector "
                 "confidence of 0.9 or more" + (", so confidence does not flag them all."
                                                 if high else "."))
    return text + " The texture models use every crop, misses included."
