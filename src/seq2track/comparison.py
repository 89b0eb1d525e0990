"""Comparing two runs: every ``metrics.json`` value side by side, and the weights of the
checkpoints they share.

``compare(run_a, run_b, tol)`` flattens both ``metrics.json`` files into dotted keys and lines
them up with their difference; it also compares the weights of every ``best.ckpt`` the two
runs share. Timing values (seconds, windows/s) are shown but not compared.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import DataError
from .nested import flatten
from .rundir import RunPaths

METRICS = RunPaths.METRICS

#: last key parts whose values are wall-clock measurements: shown by ``compare``, never compared
TIMING_KEYS = frozenset(
    {"seconds", "elapsed", "duration", "wall_s", "time_s", "windows_per_s", "data_wait_fraction",
     "created", "timestamp", "throughput"}
)
#: any key part that makes the whole sub-tree timing (e.g. ``stage_timings.train``)
TIMING_PARENTS = frozenset({"timings", "stage_timings", "timing"})


def is_timing(key: str) -> bool:
    """True for keys holding wall-clock measurements (never equal between two runs)."""
    parts = [p for p in key.split(".") if not p.isdigit()]
    if not parts:
        return False
    return parts[-1] in TIMING_KEYS or parts[-1].endswith("_seconds") or any(p in TIMING_PARENTS for p in parts)


@dataclass
class Row:
    """One line of a comparison; ``diff`` is b - a for numbers, None otherwise."""

    key: str
    a: Any
    b: Any
    diff: float | None
    status: str  # "same", "differs", "timing", "only_a", "only_b"


@dataclass
class Comparison:
    """The result of ``compare``: rows and whether any compared value differs beyond ``tol``."""

    rows: list[Row]
    tol: float

    @property
    def n_differ(self) -> int:
        return sum(r.status in ("differs", "only_a", "only_b") for r in self.rows)

    @property
    def ok(self) -> bool:
        return self.n_differ == 0

    def text(self, all_rows: bool = True) -> str:
        """A fixed-width table: key, run A, run B, B - A, status."""
        rows = self.rows if all_rows else [r for r in self.rows if r.status != "same"]
        kw = max([len("key")] + [len(r.key) for r in rows])
        lines = [f"{'key':<{kw}}  {'A':>22}  {'B':>22}  {'B - A':>12}  status"]
        for r in rows:
            d = "" if r.diff is None else f"{r.diff:.3g}"
            lines.append(f"{r.key:<{kw}}  {_fmt(r.a):>22}  {_fmt(r.b):>22}  {d:>12}  {r.status}")
        lines.append(
            f"{len(self.rows)} values: {self.n_differ} differ beyond tol={self.tol:g}, "
            f"{sum(r.status == 'timing' for r in self.rows)} timings not compared"
        )
        return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.10g}"
    s = str(v)
    return s if len(s) <= 22 else s[:19] + "..."


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v)
    return None


def compare_values(a: dict[str, Any], b: dict[str, Any], tol: float = 0.0) -> Comparison:
    """Line up two flat dicts. Numbers differ when ``|b - a| > tol`` (NaN equals NaN)."""
    rows = []
    for key in list(a) + [k for k in b if k not in a]:
        va, vb = a.get(key), b.get(key)
        if key not in b:
            rows.append(Row(key, va, None, None, "only_a"))
            continue
        if key not in a:
            rows.append(Row(key, None, vb, None, "only_b"))
            continue
        na, nb = _num(va), _num(vb)
        diff = None
        if na is not None and nb is not None:
            both_nan = math.isnan(na) and math.isnan(nb)
            diff = 0.0 if both_nan else nb - na
            same = both_nan or (math.isfinite(diff) and abs(diff) <= tol) or na == nb
        else:
            same = va == vb
        status = "timing" if is_timing(key) else ("same" if same else "differs")
        rows.append(Row(key, va, vb, diff, status))
    return Comparison(rows, tol)


def _metrics(run_dir: Path) -> dict[str, Any]:
    p = run_dir / METRICS
    if not p.exists():
        raise DataError(f"{run_dir} has no {METRICS}; it is not a finished run (run `seq2track run` first)")
    try:
        data = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"{p} is not valid JSON ({exc}); re-run the study") from None
    flat = flatten(data)
    # paths inside the run, or beside it (the demo's simulated inputs in OUT/sim next to OUT/run),
    # differ only by where the run directory lies; ``run_dir`` in metrics.json is where it was
    # written (e.g. /work/demo inside a container whose /work is bind-mounted elsewhere here)
    dirs = {run_dir, run_dir.resolve()}
    if isinstance(flat.get("run_dir"), str):
        dirs.add(Path(flat["run_dir"]))
    roots = [(str(p), "RUN") for p in dirs]
    roots += [(str(p.parent), "RUN/..") for p in dirs if p.parent != p.parent.parent]
    roots.sort(key=lambda r: len(r[0]), reverse=True)
    for k, v in flat.items():
        if isinstance(v, str):
            for r, name in roots:
                v = v.replace(r, name)
            flat[k] = v
    return flat


def weight_differences(run_a: str | Path, run_b: str | Path) -> dict[str, float]:
    """``{relative checkpoint path: max |w_b - w_a|}`` over every ``best.ckpt`` both runs hold.

    A checkpoint whose tensors do not line up (other names or shapes) gives ``inf``.
    """
    run_a, run_b = Path(run_a), Path(run_b)
    rels = sorted(
        p.relative_to(run_a).as_posix()
        for p in run_a.rglob("best.ckpt")
        if (run_b / p.relative_to(run_a)).exists()
    )
    if not rels:
        return {}
    import torch

    out: dict[str, float] = {}
    for rel in rels:
        sa = torch.load(run_a / rel, map_location="cpu", weights_only=False)["state_dict"]
        sb = torch.load(run_b / rel, map_location="cpu", weights_only=False)["state_dict"]
        if sa.keys() != sb.keys() or any(sa[k].shape != sb[k].shape for k in sa):
            out[rel] = float("inf")
            continue
        worst = 0.0
        for k in sa:
            if sa[k].numel():
                worst = max(worst, float((sa[k].double() - sb[k].double()).abs().max()))
        out[rel] = worst
    return out


def compare(run_a: str | Path, run_b: str | Path, tol: float = 0.0, weights: bool = True) -> Comparison:
    """Every ``metrics.json`` value of two runs side by side, plus the shared checkpoints' weights.

    Weight rows are ``weights.<checkpoint>.max_abs_diff`` (0 for identical weights).
    """
    run_a, run_b = Path(run_a), Path(run_b)
    comp = compare_values(_metrics(run_a), _metrics(run_b), tol)
    if weights:
        for rel, d in weight_differences(run_a, run_b).items():
            same = d <= tol
            comp.rows.append(Row(f"weights.{rel}.max_abs_diff", "", "", d, "same" if same else "differs"))
    return comp
