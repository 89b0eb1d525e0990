"""What the near-duplicate windows cost: a trained run's test Pearson with and without them.

The audit flags val/test windows whose sequence is near-identical to training sequence
elsewhere (repeats, segmental duplications). Whether that inflates the reported test figure
is a measurement, not a rule: with ``audit --model RUN`` the run's own test predictions
(``RUN/predictions/test.npz``, matched to the audit's windows by chromosome and start) give
the test Pearson on all windows, on the flagged ones and on the rest, and the *inflation* =
Pearson(all) - Pearson(rest): what the flagged windows add to the figure a user would report.
A paired bootstrap over windows (seeded) gives its 95% interval.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..metrics import pearson

#: an inflation of the test Pearson above this, with an interval excluding 0, makes the check fail
MAX_INFLATION = 0.01


def duplicate_cost(predictions: dict[str, np.ndarray], flagged: set[tuple[str, int]], n_boot: int = 200,
                   seed: int = 0) -> dict[str, Any] | None:
    """Test Pearson on all / flagged / other windows and the inflation with its bootstrap interval.

    ``predictions``: ``pred, obs: float32[n, T, B]``, ``chrom: str[n]``, ``start: int[n]`` (a run's
    ``predictions/test.npz``); ``flagged``: ``(chrom, start)`` of the near-duplicate windows.
    None when no test window is flagged or every one is.
    """
    pred, obs = predictions["pred"], predictions["obs"]
    keys = zip(predictions["chrom"].tolist(), predictions["start"].tolist())
    f = np.fromiter(((str(c), int(s)) in flagged for c, s in keys), dtype=bool, count=len(pred))
    if not f.any() or f.all():
        return None
    full, rest = pearson(pred, obs), pearson(pred[~f], obs[~f])
    rng = np.random.default_rng(seed)
    boot = np.empty(n_boot)
    for i in range(n_boot):
        j = rng.integers(0, len(pred), len(pred))
        k = j[~f[j]]
        boot[i] = pearson(pred[j], obs[j]) - pearson(pred[k], obs[k])
    lo, hi = np.nanpercentile(boot, [2.5, 97.5])
    return {"n_test": int(len(pred)), "n_flagged": int(f.sum()), "pearson_all": full,
            "pearson_flagged": pearson(pred[f], obs[f]), "pearson_rest": rest, "inflation": full - rest,
            "ci_low": float(lo), "ci_high": float(hi), "n_boot": n_boot}


def run_predictions(model_dir: str | Path) -> dict[str, np.ndarray] | None:
    """``RUN/predictions/test.npz`` as arrays, or None when the run has not been evaluated."""
    from ..rundir import RunPaths

    p = RunPaths(model_dir).prediction("test")
    if not p.exists():
        return None
    with np.load(p) as z:
        return {k: z[k] for k in ("pred", "obs", "chrom", "start")}
