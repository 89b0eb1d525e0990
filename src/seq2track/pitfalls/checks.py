"""One audit check (:class:`Check`), its grading against (warn, fail) limits, and the limits
themselves (documented in docs/pitfalls.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: thresholds (warn, fail); documented in docs/pitfalls.md
CONTEXT_OVERLAP = (0.0, 0.01)  # fraction of val/test windows
NEAR_DUP = (0.0, 0.05)  # fraction of val/test windows
KS_TARGET = (0.1, float("inf"))  # one track, train vs test chromosomes: information (warn), not a fail
KS_TARGET_CROSS = (0.05, 0.15)  # training track vs another test track: the model meets a new distribution
KS_GC = (0.1, float("inf"))  # GC differs between chromosomes (isochores): warn only
DEPTH_RATIO = (1.25, 1.5)  # max(r, 1/r) between training and test tracks
SPLIT_DEPTH = (2.0, 4.0)  # per-bp depth ratio between splits of one track
ORDER = {"pass": 0, "skip": 0, "warn": 1, "fail": 2}


@dataclass
class Check:
    """One audit line. ``value`` is the headline number; ``details`` the rest (JSON-able)."""

    name: str
    status: str  # pass | warn | fail | skip
    value: Any
    message: str
    details: dict[str, Any] = field(default_factory=dict)



def grade(value: float, limits: tuple[float, float], higher_is_worse: bool = True) -> str:
    """``pass | warn | fail`` of ``value`` against ``(warn, fail)`` limits; ``skip`` when it is not finite."""
    warn, fail = limits
    if not np.isfinite(value):
        return "skip"
    if value > fail:
        return "fail"
    if value > warn:
        return "warn"
    return "pass"
