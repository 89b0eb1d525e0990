"""Nested dicts (metrics, studies, manifests) flattened to dotted keys: one function for all."""

from __future__ import annotations

import math
from typing import Any


def flatten(obj: Any, prefix: str = "", lists: bool = True) -> dict[str, Any]:
    """Nested dicts -> ``{"a.b": leaf}``; with ``lists`` list items by index (``"a.0"``), else
    lists are leaves."""
    out: dict[str, Any] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}{k}.", lists))
    elif lists and isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out.update(flatten(v, f"{prefix}{i}.", lists))
    else:
        out[prefix[:-1] if prefix else ""] = obj
    return out


def finite_numbers(d: dict[str, Any]) -> dict[str, float]:
    """The finite numeric leaves of a nested dict (not bools, not inside lists), as floats."""
    import numbers

    return {k: float(v) for k, v in flatten(d, lists=False).items()
            if isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)}
