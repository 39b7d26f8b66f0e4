"""What was checked by eye, stored once as data: the disc detector's clear misses on the G1020
test images, and the AIROGS sample's. Notebooks 06 and 08 state them (study/sentences/);
notebook 07 counts them among the cases it shows.

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
