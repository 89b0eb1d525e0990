"""Comparisons between arms and their verdicts: a metric difference per seed, its 95% t-interval
(``metrics.interval``), the direction the literature expects, and the result of one pitfall."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import atomic

EXPECT = ("higher", "lower", "same", "not lower", "not higher")


@dataclass(frozen=True)
class Comparison:
    """``metric(pitfall) - metric(sound)`` per seed; ``expect`` is the direction of the pitfall arm."""

    name: str
    pitfall: str
    sound: str
    metric: str
    expect: str
    claim: str
    tol: float = 0.0  # for expect="same": an interval inside [-tol, tol] also counts as no change

    def __post_init__(self) -> None:
        if self.expect not in EXPECT:
            raise ValueError(f"expect must be one of {EXPECT}, not {self.expect!r}")


def summarise(records: list[dict[str, Any]], comp: Comparison) -> dict[str, Any]:
    """Per-seed differences, mean, 95% t-interval and a plain-language verdict of one comparison."""
    from ..metrics import interval

    by = {(r["arm"], r["seed"]): r for r in records}
    seeds = sorted({r["seed"] for r in records if r["arm"] == comp.pitfall} & {r["seed"] for r in records if r["arm"] == comp.sound})
    diffs = [float(by[(comp.pitfall, s)].get(comp.metric, np.nan)) - float(by[(comp.sound, s)].get(comp.metric, np.nan)) for s in seeds]
    mean, lo, hi = interval(np.array(diffs), method="t") if diffs else (np.nan, np.nan, np.nan)
    status = verdict(mean, lo, hi, comp.expect, comp.tol)
    sound_v = [float(by[(comp.sound, s)].get(comp.metric, np.nan)) for s in seeds]
    pit_v = [float(by[(comp.pitfall, s)].get(comp.metric, np.nan)) for s in seeds]
    return {
        **asdict(comp),
        "seeds": seeds,
        "sound_values": sound_v,
        "pitfall_values": pit_v,
        "diffs": diffs,
        "mean_diff": mean,
        "ci_low": lo,
        "ci_high": hi,
        "status": status,
        "verdict": plain_verdict(comp, status, mean, lo, hi, len(seeds)),
    }


def verdict(mean: float, lo: float, hi: float, expect: str, tol: float = 0.0) -> str:
    """``confirmed | opposite | unresolved`` for a direction; ``confirmed | changed`` for 'same'."""
    if not np.isfinite(mean):
        return "unresolved"
    excl_pos, excl_neg = np.isfinite(lo) and lo > 0, np.isfinite(hi) and hi < 0
    if expect == "higher":
        return "confirmed" if excl_pos else "opposite" if excl_neg else "unresolved"
    if expect == "lower":
        return "confirmed" if excl_neg else "opposite" if excl_pos else "unresolved"
    if expect == "not lower":
        return "opposite" if excl_neg else "confirmed"
    if expect == "not higher":
        return "opposite" if excl_pos else "confirmed"
    # same
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "confirmed" if abs(mean) <= tol else "unresolved"
    if max(abs(lo), abs(hi)) <= tol:
        return "confirmed"
    return "changed" if (excl_pos or excl_neg) else "confirmed"


def plain_verdict(c: Comparison, status: str, mean: float, lo: float, hi: float, n: int) -> str:
    """One sentence a reader can act on."""
    num = f"Δ{c.metric} = {mean:+.3g} (95% CI {lo:+.3g} to {hi:+.3g}, {n} seeds)"
    if status == "confirmed":
        if c.expect == "same":
            return f"{c.claim}: as expected, no detectable change; {num}."
        if c.expect.startswith("not"):
            return f"{c.claim}: as expected; {num}."
        return f"{c.claim}: shown; {num}, the interval excludes 0."
    if status == "opposite":
        return f"{c.claim}: NOT shown, the difference goes the other way; {num}."
    if status == "changed":
        return f"{c.claim}: NOT as expected, the metric changed; {num}."
    return f"{c.claim}: not resolved at this budget, the interval includes 0; {num}."


# --- result -----------------------------------------------------------------------------
@dataclass
class PitfallResult:
    """What one pitfall experiment measured; ``write`` puts it in ``OUT/pitfalls/<name>.json``."""

    name: str
    title: str
    question: str
    arms: dict[str, str]
    records: list[dict[str, Any]] = field(default_factory=list)
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    audits: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: float = float("nan")
    skipped: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Everything but the wall time, so the same seeds give a byte-identical file."""
        d = asdict(self)
        d.pop("seconds")
        d["format"] = "seq2track.pitfall/1"
        return d

    def write(self, folder: str | Path) -> Path:
        p = Path(folder) / f"{self.name}.json"
        atomic.write_json(p, self.to_json())
        return p

    @classmethod
    def read(cls, path: str | Path) -> "PitfallResult":
        d = json.loads(Path(path).read_text())
        d.pop("format", None)
        return cls(**d)

    def headline(self) -> str:
        if self.skipped:
            return f"skipped: {self.skipped}"
        st = [c["status"] for c in self.comparisons]
        return f"{st.count('confirmed')}/{len(st)} expectations confirmed"
