"""Reject bad papermill parameters at the top of a notebook, before an hour of training starts.

Usage, in the cell right after the "parameters" cell::

    check_params(
        image_size=(image_size, int, 16, 512),
        lr=(lr, float, 0, 1),
        data_dir=(data_dir, (str, None)),
        optimizer=(optimizer, str, {"SGD", "Adam"}),
    )

Each keyword maps to ``(value, types)``, ``(value, types, low, high)`` (inclusive; either bound
may be None) or ``(value, types, choices)``. ``None`` inside ``types`` allows None. An int is
accepted where a float is expected (``-p lr 1``); a bool is never accepted as a number.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any


class ParameterError(ValueError):
    """A notebook parameter has the wrong type or lies outside its allowed range."""


def _type_names(types: tuple) -> str:
    return " or ".join("None" if t is type(None) else t.__name__ for t in types)


def _normalise_types(types: Any) -> tuple:
    raw = types if isinstance(types, tuple) else (types,)
    return tuple(type(None) if t is None else t for t in raw)


def _type_ok(value: Any, types: tuple) -> bool:
    if isinstance(value, bool):
        return bool in types
    if isinstance(value, int) and float in types:
        return True
    return isinstance(value, types)


def _problem(name: str, spec: tuple) -> str | None:
    """One sentence describing what is wrong with one parameter, or None if it is fine."""
    if not isinstance(spec, tuple) or len(spec) not in (2, 3, 4):
        raise TypeError(f"check_params: {name} needs (value, types[, low, high | choices])")
    value, types = spec[0], _normalise_types(spec[1])
    if not _type_ok(value, types):
        return f"{name}={value!r} has type {type(value).__name__}; expected {_type_names(types)}"
    if value is None:
        return None
    if len(spec) == 3:
        choices: Collection = spec[2]
        if value not in choices:
            allowed = ", ".join(repr(c) for c in sorted(choices, key=repr))
            return f"{name}={value!r} is not one of {allowed}"
    if len(spec) == 4:
        low, high = spec[2], spec[3]
        if (low is not None and value < low) or (high is not None and value > high):
            return f"{name}={value!r} is out of range: must be between {low} and {high}"
    return None


def check_params(**declared: tuple) -> None:
    """Raise ParameterError listing every bad parameter (not only the first) and what it expects."""
    problems = [p for name, spec in declared.items() if (p := _problem(name, spec))]
    if problems:
        listing = "\n  - ".join(problems)
        raise ParameterError(
            f"bad notebook parameter(s):\n  - {listing}\n"
            "Fix the -p/--parameters values passed to papermill (or the report builder)."
        )
