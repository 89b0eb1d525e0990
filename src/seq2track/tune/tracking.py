"""The search as an MLflow run (``OUT/mlflow.db``), one child run per trial."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pandas as pd

from ..config import Study


def log_mlflow(out: Path, study: Study, summary: dict, trials: pd.DataFrame, curves: pd.DataFrame,
               keys: list[str], metrics: list[str]) -> str:
    """The search as an MLflow run in ``sqlite:///OUT/mlflow.db``, each trial a child run
    (tag ``mlflow.parentRunId``); returns the search run's id."""
    import logging

    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param as MParam

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.ERROR)
    client = MlflowClient(tracking_uri=f"sqlite:///{out / 'mlflow.db'}")
    name = f"{study.name}-tune"
    exp = client.get_experiment_by_name(name)
    exp_id = exp.experiment_id if exp else client.create_experiment(
        name, artifact_location=(out / "mlartifacts").as_uri())
    parent = client.create_run(exp_id, run_name=f"tune-{summary['scheduler']}-{summary['search']}")
    pid = parent.info.run_id
    now = int(time.time() * 1000)
    params = [MParam(k, str(summary[k])) for k in ("scheduler", "search", "n_trials", "max_epochs", "grace_period",
                                                   "reduction_factor", "cpus_per_trial", "gpus_per_trial",
                                                   "address", "metric")]
    params.append(MParam("space", json.dumps(summary["space"])[:6000]))
    params += [MParam(f"best.{k}", str(v)) for k, v in summary["best_params"].items()]
    ms = [Metric(f"best_{summary['metric']}", summary["best_score"], now, 0),
          Metric("search_seconds", summary["search_seconds"], now, 0),
          Metric("trial_cpu_seconds", summary["trial_cpu_seconds"], now, 0),
          Metric("epochs_total", summary["epochs_total"], now, 0)]
    ms += [Metric(f"test_{k}", v, now, 0) for k, v in summary["test"].items()]
    client.log_batch(pid, metrics=ms, params=params)
    for r in trials.to_dict("records"):
        i = int(r["trial"])
        child = client.create_run(exp_id, run_name=f"trial_{i:03d}",
                                  tags={"mlflow.parentRunId": pid, "status": r["status"]})
        cid = child.info.run_id
        cp = [MParam(k, str(r[k])) for k in keys] + [MParam("seed", str(r["seed"])), MParam("trial", str(i))]
        g = curves[curves["trial"] == i]
        cm = [Metric(m, float(v), now, int(e)) for m in metrics for e, v in zip(g["epoch"], g[m]) if math.isfinite(v)]
        cm += [Metric(f"best_{m}", float(r[f"best_{m}"]), now, 0) for m in metrics if math.isfinite(r[f"best_{m}"])]
        cm += [Metric("epochs_run", float(r["epochs_run"]), now, 0),
               Metric("stopped_early", float(bool(r["stopped_early"])), now, 0)]
        client.log_batch(cid, metrics=cm, params=cp)
        client.set_terminated(cid, "FAILED" if r["status"] == "error" else "FINISHED")
    for f in ("trials.csv", "curves.csv", "best_study.yaml", "summary.json"):
        client.log_artifact(pid, str(out / f))
    client.set_terminated(pid)
    return pid
