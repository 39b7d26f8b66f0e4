"""Checks of values read from files (weight-file configs, checkpoints, model headers): a stored
value of the wrong type or range becomes a ValueError naming the field, which loaders report
as a WeightsError naming the file."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def require_int(field: str, value: Any, lo: int, hi: int) -> int:
    """An integer (not a bool, not a float) in [lo, hi]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not lo <= value <= hi:
        raise ValueError(f"{field} must be an integer in [{lo}, {hi}], got {_shown(value)}")
    return int(value)


def require_number(field: str, value: Any, lo: float = -math.inf, hi: float = math.inf,
                   open_low: bool = False, open_high: bool = False) -> float:
    """A finite real number (not a bool) in the range; open ends exclude the bound itself."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (lo < value if open_low else lo <= value) and (
        value < hi if open_high else value <= hi)
    if not ok:
        low, high = "(" if open_low else "[", ")" if open_high else "]"
        raise ValueError(f"{field} must be a finite number in {low}{lo}, {hi}{high}, "
                         f"got {_shown(value)}")
    return float(value)


def require_bool(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{field} must be true or false, got {_shown(value)}")
    return value


def require_dict(field: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"{field} must be a JSON object, got {_shown(value)}")
    return value


def require_numbers(field: str, value: Any, length: int | None = None) -> np.ndarray:
    """A list of finite numbers (of ``length`` if given) as float64."""
    if not isinstance(value, list) or (length is not None and len(value) != length):
        want = "a list" if length is None else f"a list of {length}"
        got = f"{len(value)} values" if isinstance(value, list) else _shown(value)
        raise ValueError(f"{field} must be {want} numbers, got {got}")
    for i, v in enumerate(value):
        require_number(f"{field}[{i}]", v)
    return np.asarray(value, np.float64)


def require_fields(field: str, value: Any, known: Iterable[str],
                   ints: dict[str, tuple[int, int]], numbers: dict[str, tuple[float, float]],
                   bools: Iterable[str]) -> dict:
    """A stored dict of settings (a model's configuration): no field outside ``known``, each
    integer, number and boolean present within its range; a copy is returned."""
    d = dict(require_dict(field, value))
    unknown = sorted(set(d) - set(known))
    if unknown:
        raise ValueError(f"{field} has unknown fields {unknown}")
    for name, (lo, hi) in ints.items():
        if name in d:
            require_int(f"{field}.{name}", d[name], lo, hi)
    for name, (lo, hi) in numbers.items():
        if name in d:
            require_number(f"{field}.{name}", d[name], lo, hi)
    for name in bools:
        if name in d:
            require_bool(f"{field}.{name}", d[name])
    return d
