"""After the search: Ray's results as the trials and curves tables, and the one retrain of the
selected config evaluated on the test split."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config import Study
from ..nested import finite_numbers
from .trial import TRIAL_DONE, trial_seed


def collect(results, keys: list[str], metrics: list[str], trials_dir: Path, max_epochs: int, study_seed: int):
    """Ray results -> (trials table, curves table, CPU seconds per trial), ordered by trial index.

    ``metrics``: reported metrics, the selection metric first; ``best_<m>`` is the minimum over
    epochs and ``best_epoch`` the epoch of the selection metric's minimum.
    """
    rows, curves, cpu = [], [], {}
    for r in results:
        cfg = r.config or {}
        if "trial_index" not in cfg:
            continue
        i = int(cfg["trial_index"])
        df = r.metrics_dataframe
        series = {m: ([] if df is None or m not in df else [float(v) for v in df[m]]) for m in metrics}
        n_ep = len(series[metrics[0]])
        for e in range(n_ep):
            curves.append({"trial": i, "epoch": e + 1, **{m: series[m][e] for m in metrics}})
        best = {}
        for m in metrics:
            finite = [v for v in series[m] if math.isfinite(v)]
            best[f"best_{m}"] = min(finite) if finite else float("nan")
        sel = series[metrics[0]]
        best_epoch = sel.index(best[f"best_{metrics[0]}"]) + 1 if math.isfinite(best[f"best_{metrics[0]}"]) else 0
        done = (trials_dir / f"trial_{i:03d}" / TRIAL_DONE).exists()
        if r.error is not None:
            status, by = "error", ""
        elif n_ep >= max_epochs:
            status, by = "completed", ""
        elif done:  # train_model returned before max_epochs: its own early stopping (patience)
            status, by = "completed", "patience"
        else:  # cut at a rung by the scheduler
            status, by = "stopped", "scheduler"
        if df is not None and "cpu_seconds" in df and len(df):
            cpu[i] = float(df["cpu_seconds"].iloc[-1])
        rows.append({"trial": i, "seed": trial_seed(study_seed, i), **{k: cfg.get(k) for k in keys}, **best,
                     "best_epoch": best_epoch, "epochs_run": n_ep, "stopped_early": n_ep < max_epochs,
                     "stopped_by": by, "status": status})
    cols = ["trial", "seed", *keys, *[f"best_{m}" for m in metrics], "best_epoch", "epochs_run",
            "stopped_early", "stopped_by", "status"]
    trials = pd.DataFrame(rows, columns=cols).sort_values("trial").reset_index(drop=True)
    curves_df = pd.DataFrame(curves, columns=["trial", "epoch", *metrics]).sort_values(["trial", "epoch"])
    return trials, curves_df.reset_index(drop=True), dict(sorted(cpu.items()))


def to_csv(df: pd.DataFrame) -> str:
    """A table as CSV text: no index, ``\\n`` line ends."""
    return df.to_csv(index=False, lineterminator="\n")


def plain(v: Any) -> Any:
    """numpy scalars -> Python scalars (for YAML / JSON / override)."""
    return v.item() if isinstance(v, np.generic) else v


def _trial_outcome(paths) -> dict[str, Any]:
    """Best val loss, epochs run and early stop of a finished trial.

    From ``train_result.json`` when ``train_model`` returned; else from ``history.csv``: ASHA
    stops a trial at ``max_t`` right after its last report, which can come before
    ``train_model`` writes its result (the last epoch's checkpoint is saved by then).
    """
    if paths.train_result.exists():
        info = json.loads(paths.train_result.read_text())
        return {"best_val_loss": info["best_val_loss"], "epochs_run": info["epochs"],
                "stopped_early": info["stopped_early"]}
    from ..train.callbacks import read_history

    hist = read_history(paths.root)
    return {"best_val_loss": min(r["val_loss"] for r in hist), "epochs_run": len(hist), "stopped_early": False}


def retrain_and_test(best: Study, prepared, run_dir: Path, trial_dir: Path | None = None
                     ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Evaluate the selected config on the test split, training it at most once.

    trial_dir: the selected trial's own run directory when that trial ran its whole budget
    (not cut by the scheduler): its best weights are evaluated as they are, nothing is
    retrained (``retrain["reused_trial"]`` says so). Otherwise the config is trained once, with
    ``best``'s seed, into ``run_dir``. Metrics, predictions and plots go to ``run_dir``.
    """
    from ..evaluate import evaluate_run
    from ..rundir import RunPaths, load_model
    from ..train import train_model

    paths = RunPaths(trial_dir) if trial_dir is not None else None
    if paths is not None and paths.best_ckpt.exists():
        model, loss, trained = load_model(trial_dir)
        retrain = {"reused_trial": str(trial_dir), **_trial_outcome(paths)}
        RunPaths(run_dir).write_study(trained)
        metrics = evaluate_run(trained, prepared, run_dir, model=model, loss=loss)
    else:
        res = train_model(best, prepared, run_dir, resume=True, log_to_tracker=False, progress_bar=False)
        retrain = {"best_val_loss": res.best_val_loss, "epochs_run": res.epochs_run, "stopped_early": res.stopped_early}
        metrics = evaluate_run(best, prepared, run_dir, model=res.model, loss=res.loss)  # full set: best/metrics.json
    test = metrics.get("test", {})
    return {k: v for k, v in finite_numbers(test).items() if "." not in k}, retrain

