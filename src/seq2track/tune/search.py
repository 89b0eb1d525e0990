"""The search driver: Ray (local or a cluster), Optuna sampling, the ASHA / FIFO scheduler, and
``tune_study``, which runs the trials on one shared prepared cache, selects on validation, tests the
selected config once (its own trial's weights when that trial ran its whole budget, else one retrain)
and writes the outputs listed in the package docstring."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import atomic
from ..config import Study, load_study
from ..errors import ConfigError, DataError
from ..rundir import RunPaths
from .report import page, report_section
from .results import collect, plain, retrain_and_test, to_csv
from .space import METRIC, Param, selection_metric, suggest
from .tracking import log_mlflow
from .trial import best_study_of, run_trial

SCHEDULERS = ("asha", "fifo")
SEARCHES = ("random", "optuna")


def asha_rungs(grace_period: int, reduction_factor: float, max_t: int) -> list[int]:
    """Epochs at which ASHA compares trials: ``grace * rf**k < max_t`` (Ray's rung milestones)."""
    rungs, t = [], float(grace_period)
    while t < max_t:
        rungs.append(int(t))
        t *= reduction_factor
    return rungs


@dataclass
class TuneResult:
    """What ``tune_study`` returns; ``trials`` is ``trials.csv`` as a DataFrame.

    ``metric``: the selection metric (``val_loss``, or ``val_mse`` when ``train.loss`` is searched);
    ``best_score``: its best value over all trials and epochs.
    """

    out: Path
    trials: pd.DataFrame
    curves: pd.DataFrame
    metric: str
    best_params: dict[str, Any]
    best_study: Study
    best_score: float
    test_metrics: dict[str, Any]
    summary: dict[str, Any] = field(default_factory=dict)


def _init_ray(address: str) -> bool:
    """Start Ray in-process (``local``) or join a cluster; True when this call did (so it shuts down)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # with verbose=0: no banner, no progress tables
    import logging

    import ray

    if ray.is_initialized():
        return False
    kw: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
    if address == "local":
        ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, object_store_memory=200 * 2**20, **kw)
    else:
        try:
            ray.init(address=address, **kw)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            if "auth" in f"{exc} {exc.__cause__}".lower():  # Ray >= 2.5x: token authentication
                raise DataError(
                    f"the Ray cluster at --address {address!r} refused this driver's token: it uses token "
                    "authentication; set RAY_AUTH_MODE=token and its token (RAY_AUTH_TOKEN or ~/.ray/auth_token)"
                ) from None
            raise DataError(
                f"cannot join the Ray cluster at --address {address!r} ({exc}); start one with "
                "`ray start --head` or use --address local"
            ) from None
    return True


class _Define:
    """Optuna define-by-run space (a class, not a closure: Tune pickles its searcher)."""

    def __init__(self, space: dict[str, Param]):
        self.space = space

    def __call__(self, trial) -> dict[str, Any]:
        suggest(trial, self.space)
        return {"trial_index": trial.number}


def _searcher(search: str, space: dict[str, Param], seed: int, n_trials: int, metric: str):
    """Ray's ``OptunaSearch`` with a seeded ``RandomSampler`` (random) or ``TPESampler`` (optuna)."""
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if search == "random":
        sampler = optuna.samplers.RandomSampler(seed=seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(2, min(10, n_trials // 3)))
    return OptunaSearch(space=_Define(space), metric=metric, mode="min", sampler=sampler)


def _scheduler(scheduler: str, grace_period: int, reduction_factor: float, max_epochs: int):
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    if scheduler == "fifo":
        return FIFOScheduler()
    return ASHAScheduler(time_attr="training_iteration", max_t=max_epochs, grace_period=grace_period,
                         reduction_factor=reduction_factor)


def _check_args(scheduler: str, search: str, n_trials: int, max_epochs: int, grace_period: int,
                reduction_factor: float, cpus_per_trial: float, gpus_per_trial: float) -> None:
    if scheduler not in SCHEDULERS:
        raise ConfigError(f"--scheduler {scheduler!r} is unknown; use one of {', '.join(SCHEDULERS)}")
    if search not in SEARCHES:
        raise ConfigError(f"--search {search!r} is unknown; use one of {', '.join(SEARCHES)}")
    if n_trials < 1:
        raise ConfigError(f"--trials must be at least 1 (got {n_trials})")
    if scheduler == "asha" and not 1 <= grace_period <= max_epochs:
        raise ConfigError(f"--grace-period {grace_period} must lie in [1, max epochs = {max_epochs}]")
    if scheduler == "asha" and reduction_factor <= 1:
        raise ConfigError(f"--reduction-factor must be > 1 (got {reduction_factor})")
    if cpus_per_trial <= 0 or gpus_per_trial < 0:
        raise ConfigError("--cpus-per-trial must be > 0 and --gpus-per-trial >= 0")


def tune_study(
    study: Study,
    space: dict[str, Param],
    out: str | Path,
    n_trials: int,
    scheduler: str = "asha",
    search: str = "random",
    address: str = "local",
    cpus_per_trial: float = 1.0,
    gpus_per_trial: float = 0.0,
    grace_period: int = 1,
    reduction_factor: float = 2.0,
    max_epochs: int | None = None,
    space_source: str = "<space>",
    final: bool = True,
) -> TuneResult:
    """Search ``space`` with ``n_trials`` trials; write the outputs listed in the module doc to ``out``.

    ``address``: ``local`` starts Ray in this process (all CPUs, no dashboard, 200 MiB object
    store); ``auto``, ``HOST:PORT`` or ``ray://HOST:PORT`` joins a running cluster (its nodes must
    see ``out`` at the same path). ``final``: retrain the best config once and evaluate it on test.
    """
    t0 = time.perf_counter()
    max_epochs = int(max_epochs or study.train.max_epochs)
    _check_args(scheduler, search, n_trials, max_epochs, grace_period, reduction_factor, cpus_per_trial,
                gpus_per_trial)
    out = Path(out).resolve()
    trials_dir = out / "trials"
    if trials_dir.exists() and any(trials_dir.iterdir()):
        raise DataError(f"{out} already holds a search (trials/); choose a new --out directory")
    keys = list(space)
    metric = selection_metric(space)
    metrics = [metric] + ([METRIC] if metric != METRIC else [])

    # the cache: built once, opened read-only (memory-mapped) by every trial
    from ..data.prepare import prepare

    prepared = prepare(study, out / "prepared")
    for split in ("train", "val"):
        if len(prepared.rows(split)) == 0:
            raise DataError(f"the {split} split of {prepared.root} has no windows; check `split:` in the study")

    import ray
    from ray import tune

    started = _init_ray(address)
    try:
        resources = {k: float(v) for k, v in ray.cluster_resources().items() if k in ("CPU", "GPU")}
        try:
            ray_address = ray.get_runtime_context().gcs_address
        except Exception:  # Ray Client (ray://) connections have no GCS address
            ray_address = address
        if cpus_per_trial > resources.get("CPU", 0):
            raise ConfigError(
                f"--cpus-per-trial {cpus_per_trial:g} exceeds the cluster's {resources.get('CPU', 0):g} CPUs; lower it"
            )
        if gpus_per_trial > resources.get("GPU", 0):
            raise ConfigError(
                f"--gpus-per-trial {gpus_per_trial:g} but the cluster has {resources.get('GPU', 0):g} GPUs; "
                "use --gpus-per-trial 0"
            )
        trainable = tune.with_resources(
            tune.with_parameters(
                run_trial, study_json=study.model_dump_json(), prepared_root=str(prepared.root),
                trials_dir=str(trials_dir), keys=keys, max_epochs=max_epochs, metric=metric,
                cpus=cpus_per_trial, gpus=gpus_per_trial,
            ),
            {"cpu": cpus_per_trial, "gpu": gpus_per_trial},
        )
        tuner = tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(
                metric=metric, mode="min", num_samples=n_trials,
                search_alg=_searcher(search, space, study.seed, n_trials, metric),
                scheduler=_scheduler(scheduler, grace_period, reduction_factor, max_epochs),
                reuse_actors=True,
            ),
            run_config=tune.RunConfig(name="search", storage_path=str(out / "ray"), verbose=0,
                                      failure_config=tune.FailureConfig(max_failures=0)),
        )
        t_search = time.perf_counter()
        results = tuner.fit()
        search_s = time.perf_counter() - t_search
    finally:
        if started:
            ray.shutdown()

    trials, curves, cpu = collect(results, keys, metrics, trials_dir, max_epochs, study.seed)
    col = f"best_{metric}"
    ok = trials[np.isfinite(trials[col].to_numpy(dtype=float))]
    if ok.empty:
        errs = [str(r.error).strip().splitlines()[-1] for r in results if r.error is not None][:1]
        raise DataError(f"every trial of the search in {out} failed ({errs[0] if errs else 'no ' + metric}); "
                        f"see the trial logs under {out / 'ray'}")
    best_row = ok.loc[ok[col].idxmin()]  # selection: validation split only
    best_params = {k: plain(best_row[k]) for k in keys}
    best = best_study_of(study, best_params, max_epochs)
    best_dir = trials_dir / f"trial_{int(best_row['trial']):03d}"
    if best_row["status"] == "completed":  # it ran its whole budget: its weights are the answer
        best = load_study(RunPaths(best_dir).study)  # the trial's own study: its params and seed
    atomic.write_text(out / "trials.csv", to_csv(trials))
    atomic.write_text(out / "curves.csv", to_csv(curves))
    atomic.write_text(out / "best_study.yaml", best.to_yaml())

    test_metrics: dict[str, Any] = {}
    retrain: dict[str, Any] = {}
    if final:  # the test split is touched here, once, after selection
        test_metrics, retrain = retrain_and_test(best, prepared, out / "best",
                                                 best_dir if best_row["status"] == "completed" else None)
    summary = {
        "study": study.name, "scheduler": scheduler, "search": search, "n_trials": n_trials,
        "address": address, "ray_address": ray_address, "cpus_per_trial": cpus_per_trial, "gpus_per_trial": gpus_per_trial,
        "cluster": resources, "max_epochs": max_epochs, "grace_period": grace_period,
        "reduction_factor": reduction_factor,
        "rungs": asha_rungs(grace_period, reduction_factor, max_epochs) if scheduler == "asha" else [],
        "space": {k: {p.kind: list(p.args)} for k, p in space.items()}, "space_source": space_source,
        "metric": metric, "search_seconds": search_s, "epochs_total": int(trials["epochs_run"].sum()),
        "trial_cpu_seconds": float(sum(cpu.values())), "cpu_seconds_per_trial": cpu,
        "best_trial": int(best_row["trial"]), "best_params": best_params, "best_score": float(best_row[col]),
        "retrain": retrain, "test": test_metrics,
        "selection": "validation split only; the test split is used once, by the selected config (the best "
                     "trial's own weights when it ran its whole budget, else one retrain)",
    }
    summary["wall_seconds"] = time.perf_counter() - t0
    atomic.write_json(out / "summary.json", summary)
    if study.tracking != "none":  # the search is tracked in MLflow whatever tracker the study names
        log_mlflow(out, study, summary, trials, curves, keys, metrics)
    atomic.write_text(RunPaths(out).report, page(report_section(out)))
    return TuneResult(out=out, trials=trials, curves=curves, metric=metric, best_params=best_params,
                      best_study=best, best_score=summary["best_score"], test_metrics=test_metrics,
                      summary=summary)
