"""Hyper-parameter search with Ray Tune: ASHA (or FIFO) over a space of dotted study keys.

``tune_study(study, space, out, n_trials)`` runs ``n_trials`` trials, each the same training
code as ``seq2track run`` (``train.train_model``) on ONE prepared cache that is built before
the search and opened read-only (memory-mapped) by every trial. A Lightning callback reports
the validation loss after every epoch to Tune, so ASHA can stop poor trials at its rungs.
Selection sees the validation split only; the chosen config is then retrained once and
evaluated on the test split.

The space file maps dotted study keys to one distribution each::

    train.lr: {loguniform: [0.0001, 0.01]}      # log-uniform on [low, high]
    train.weight_decay: {uniform: [0.0, 0.001]} # uniform on [low, high]
    model.n_dilated: {randint: [1, 5]}          # integer in [low, high) (high excluded, as numpy/Ray)
    model.channels: {choice: [16, 32]}          # one of the values

Sampling is Optuna's (``RandomSampler`` for ``random``, ``TPESampler`` for ``optuna``) through
Ray's ``OptunaSearch``, seeded from the study seed, so a random search draws the same
configs every time. Trial ``i`` trains with seed ``trial_seed(study.seed, i)``.

Selection metric: ``val_loss``; when the space searches ``train.loss`` it is ``val_mse`` (MSE of
the predicted signal on the target scale), since losses of different likelihoods do not share
a scale. Keys that change the prepared data (``windows.*``, ``transform``, ``split.*`` ...) are
refused: the cache is built once per search.

Outputs in ``OUT``: ``trials.csv`` (one row per trial: params, best val loss, epochs run,
stopped early and by what), ``curves.csv`` (val metric per trial and epoch), ``best_study.yaml``,
``best/`` (the retrained best config: checkpoints, history, test metrics), ``summary.json``
(settings, timings including each trial's CPU seconds, best config, test metrics),
``report.html``, ``mlflow.db`` (the search run with one child run per trial; not written when the
study says ``tracking: none``), ``prepared/``
(the shared cache) and ``trials/`` (one training directory per trial), ``ray/`` (Tune's own
experiment state).

Ray, Optuna, MLflow, torch and Lightning are imported inside the functions that need them.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from . import atomic
from .config import Study, override
from .errors import ConfigError, DataError

DISTRIBUTIONS = ("loguniform", "uniform", "randint", "choice")
SCHEDULERS = ("asha", "fifo")
SEARCHES = ("random", "optuna")
METRIC = "val_loss"
#: top-level study keys that change the prepared cache, which is built once per search
DATA_KEYS = ("genome", "tracks", "windows", "transform", "normalize", "filter", "split", "seed", "peaks")
#: keys that change what the validation loss measures, so its values would not compare across trials
UNCOMPARABLE_KEYS = ("train.bce_threshold", "train.pos_weight")
TRIAL_DONE = "trial_done.json"


# --- the space ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Param:
    """One searched key: ``kind`` in DISTRIBUTIONS, ``args`` = (low, high) or the choices."""

    key: str
    kind: str
    args: tuple


def parse_space(data: Any, study: Study, source: str = "<space>") -> dict[str, Param]:
    """Validate a space mapping (``{dotted_key: {kind: args}}``) against the study schema.

    Every key must be a study key (``config.override`` decides), and every bound / choice must
    give a valid study; otherwise ``ConfigError`` naming the key and ``source``.
    """
    if not isinstance(data, dict) or not data:
        raise ConfigError(
            f"{source}: a search space must be a non-empty mapping of study keys to distributions, "
            "e.g. `train.lr: {loguniform: [0.0001, 0.01]}`"
        )
    out: dict[str, Param] = {}
    for key, spec in data.items():
        where = f"{source}: {key}"
        if str(key).split(".")[0] in DATA_KEYS:
            raise ConfigError(
                f"{where}: {key!r} changes the prepared data, which a search builds once and shares; "
                "remove it from the space (run one search per data setting)"
            )
        if key in UNCOMPARABLE_KEYS:
            raise ConfigError(
                f"{where}: {key!r} changes what the validation loss measures, so trials would not compare; "
                "fix it in the study and remove it from the space"
            )
        if not isinstance(spec, dict) or len(spec) != 1:
            raise ConfigError(
                f"{where}: give exactly one distribution as a mapping, one of "
                f"{', '.join(DISTRIBUTIONS)} (e.g. `{{choice: [32, 64]}}`)"
            )
        (kind, args), = spec.items()
        if kind not in DISTRIBUTIONS:
            raise ConfigError(f"{where}: unknown distribution {kind!r}; use one of {', '.join(DISTRIBUTIONS)}")
        if not isinstance(args, list) or not args:
            raise ConfigError(f"{where}: {kind} needs a list of values, e.g. `{{{kind}: [a, b]}}`")
        if kind == "choice":
            if any(isinstance(a, (dict, list)) for a in args):
                raise ConfigError(f"{where}: choice values must be numbers, strings, booleans or null")
            values: list[Any] = list(args)
        else:
            if len(args) != 2 or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args):
                raise ConfigError(f"{where}: {kind} needs two numbers [low, high], got {args!r}")
            lo, hi = args
            if not lo < hi:
                raise ConfigError(f"{where}: {kind} needs low < high, got [{lo}, {hi}]")
            if kind == "loguniform" and lo <= 0:
                raise ConfigError(f"{where}: loguniform needs low > 0, got {lo}")
            if kind == "randint":
                if not (float(lo).is_integer() and float(hi).is_integer()):
                    raise ConfigError(f"{where}: randint needs integer bounds, got [{lo}, {hi}]")
                lo, hi = int(lo), int(hi)
                values = [lo, hi - 1]
            else:
                lo, hi = float(lo), float(hi)
                values = [lo, hi]
            args = [lo, hi]
        for v in values:  # every end of the range (or every choice) must make a valid study
            try:
                override(study, {key: v})
            except ConfigError as exc:
                if "is not a key of the study schema" in str(exc):
                    raise ConfigError(
                        f"{where}: {key!r} is not a key of the study schema; fix the key in {source} "
                        "(dotted study keys such as train.lr, model.channels)"
                    ) from None
                raise ConfigError(f"{where}: value {v!r} makes an invalid study ({exc}); change the range") from None
        if key == "train.loss" and "bce" in values:
            raise ConfigError(
                f"{where}: bce predicts probabilities, not signal, so it cannot be compared with the other "
                "losses by validation MSE; remove bce from the choices"
            )
        out[key] = Param(key, kind, tuple(args))
    return out


def selection_metric(space: dict[str, Param]) -> str:
    """``val_loss``; or ``val_mse`` (MSE of the prediction on the target scale) when the space
    searches ``train.loss``: losses of different likelihoods are on different scales."""
    return "val_mse" if "train.loss" in space else METRIC


def load_space(path: str | Path, study: Study) -> dict[str, Param]:
    """Read and validate a space YAML file (see ``parse_space``)."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"space file {p} does not exist; write one (see configs/tune_space.yaml)")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML ({str(exc).splitlines()[0]}); check indentation and quoting") from None
    return parse_space(data, study, source=str(p))


def suggest(trial, space: dict[str, Param]) -> dict[str, Any]:
    """Draw one config from an Optuna ``trial`` (define-by-run); returns ``{key: value}``."""
    out: dict[str, Any] = {}
    for key, p in space.items():
        if p.kind == "loguniform":
            out[key] = trial.suggest_float(key, p.args[0], p.args[1], log=True)
        elif p.kind == "uniform":
            out[key] = trial.suggest_float(key, p.args[0], p.args[1])
        elif p.kind == "randint":
            out[key] = trial.suggest_int(key, p.args[0], p.args[1] - 1)
        else:
            out[key] = trial.suggest_categorical(key, list(p.args))
    return out


# --- seeds, rungs, studies ----------------------------------------------------------------
def trial_seed(study_seed: int, index: int) -> int:
    """Seed of trial ``index``: a ``SeedSequence`` of (study seed, index), as a 31-bit int."""
    return int(np.random.SeedSequence([int(study_seed), int(index)]).generate_state(1)[0] & 0x7FFFFFFF)


def asha_rungs(grace_period: int, reduction_factor: float, max_t: int) -> list[int]:
    """Epochs at which ASHA compares trials: ``grace * rf**k < max_t`` (Ray's rung milestones)."""
    rungs, t = [], float(grace_period)
    while t < max_t:
        rungs.append(int(t))
        t *= reduction_factor
    return rungs


def trial_study(study: Study, params: dict[str, Any], seed: int, max_epochs: int, gpus: float = 0.0) -> Study:
    """The study one trial trains: the sampled ``params``, its seed, the epoch cap and device."""
    changes = {**params, "seed": int(seed), "train.max_epochs": int(max_epochs)}
    if gpus <= 0:
        changes["train.device"] = "cpu"  # never take a GPU that Ray did not give the trial
    return override(study, changes)


def best_study_of(study: Study, params: dict[str, Any], max_epochs: int) -> Study:
    """The selected config: the study with the best ``params``; seed unchanged so the cache is the same."""
    return override(study, {**params, "train.max_epochs": int(max_epochs)})


# --- the trial -----------------------------------------------------------------------------
def _reporter(with_mse: bool):
    """A Lightning callback that reports the epoch's validation loss (and MSE) to Ray Tune."""
    import lightning as L
    import torch
    from ray import tune

    class TuneReport(L.Callback):
        """``tune.report`` once per epoch, in ``on_train_epoch_end`` (validation has run by then).

        ``with_mse``: also the MSE of ``loss.predict(model(x))`` against the target over the
        validation windows (one extra forward pass per validation batch).
        """

        def __init__(self):
            self.sq, self.n = 0.0, 0
            self.cpu0 = time.process_time()  # CPU seconds of this trial, blind to other load

        def on_validation_epoch_start(self, trainer, pl_module):
            self.sq, self.n = 0.0, 0

        def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
            if not with_mse:
                return
            x, y = batch
            with torch.no_grad():
                pred = pl_module.loss_fn.predict(pl_module(x))
            self.sq += float(((pred - y.float()) ** 2).sum())
            self.n += int(y.numel())

        def on_train_epoch_end(self, trainer, pl_module):
            val = getattr(pl_module, "last_val_loss", None)  # the same number history.csv records
            if val is None:
                val = trainer.callback_metrics.get(METRIC, float("nan"))
            val = float(val)
            row = {METRIC: val, "epoch": int(trainer.current_epoch) + 1,
                   "cpu_seconds": time.process_time() - self.cpu0}
            if with_mse:
                row["val_mse"] = self.sq / self.n if self.n else float("nan")
            tune.report(row)

    return TuneReport()


def run_trial(config: dict[str, Any], *, study_json: str, prepared_root: str, trials_dir: str,
              keys: list[str], max_epochs: int, metric: str, cpus: float, gpus: float) -> None:
    """Ray Tune trainable: train one sampled config with ``train_model``, reporting per epoch."""
    import torch

    from .data.cache import PreparedDataset
    from .train import train_model

    torch.set_num_threads(max(1, int(cpus)))
    index = int(config["trial_index"])
    params = {k: config[k] for k in keys}
    study = Study.model_validate_json(study_json)
    seed = trial_seed(study.seed, index)
    ts = trial_study(study, params, seed, max_epochs, gpus)
    run_dir = Path(trials_dir) / f"trial_{index:03d}"
    prepared = PreparedDataset(prepared_root)
    res = train_model(ts, prepared, run_dir, resume=False, callbacks=[_reporter(metric != METRIC)],
                      log_to_tracker=False, progress_bar=False)
    atomic.write_json(run_dir / TRIAL_DONE, {**res.summary(), "seed": seed, "trial_index": index})


# --- the search ----------------------------------------------------------------------------
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


def _collect(results, keys: list[str], metrics: list[str], trials_dir: Path, max_epochs: int, study_seed: int):
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


def _csv(df: pd.DataFrame) -> str:
    return df.to_csv(index=False, lineterminator="\n")


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
    from .data.prepare import prepare

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

    trials, curves, cpu = _collect(results, keys, metrics, trials_dir, max_epochs, study.seed)
    col = f"best_{metric}"
    ok = trials[np.isfinite(trials[col].to_numpy(dtype=float))]
    if ok.empty:
        errs = [str(r.error).strip().splitlines()[-1] for r in results if r.error is not None][:1]
        raise DataError(f"every trial of the search in {out} failed ({errs[0] if errs else 'no ' + metric}); "
                        f"see the trial logs under {out / 'ray'}")
    best_row = ok.loc[ok[col].idxmin()]  # selection: validation split only
    best_params = {k: _plain(best_row[k]) for k in keys}
    best = best_study_of(study, best_params, max_epochs)
    atomic.write_text(out / "trials.csv", _csv(trials))
    atomic.write_text(out / "curves.csv", _csv(curves))
    atomic.write_text(out / "best_study.yaml", best.to_yaml())

    test_metrics: dict[str, Any] = {}
    retrain: dict[str, Any] = {}
    if final:  # the test split is touched here, once, after selection
        test_metrics, retrain = _retrain_and_test(best, prepared, out / "best")
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
        "selection": "validation split only; the test split is used once, by the retrained best config",
    }
    summary["wall_seconds"] = time.perf_counter() - t0
    atomic.write_json(out / "summary.json", summary)
    if study.tracking != "none":  # the search is tracked in MLflow whatever tracker the study names
        _log_mlflow(out, study, summary, trials, curves, keys, metrics)
    atomic.write_text(out / "report.html", _page(report_section(out)))
    return TuneResult(out=out, trials=trials, curves=curves, metric=metric, best_params=best_params,
                      best_study=best, best_score=summary["best_score"], test_metrics=test_metrics,
                      summary=summary)


def _plain(v: Any) -> Any:
    """numpy scalars -> Python scalars (for YAML / JSON / override)."""
    return v.item() if isinstance(v, np.generic) else v


def _retrain_and_test(best: Study, prepared, run_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Retrain the selected config once (with the study seed) and evaluate it on the test split."""
    from .evaluate import evaluate_run
    from .train import train_model

    res = train_model(best, prepared, run_dir, resume=True, log_to_tracker=False, progress_bar=False)
    retrain = {"best_val_loss": res.best_val_loss, "epochs_run": res.epochs_run, "stopped_early": res.stopped_early}
    metrics = evaluate_run(best, prepared, run_dir, model=res.model, loss=res.loss)  # full set: best/metrics.json
    test = metrics.get("test", {})
    return {k: v for k, v in _scalars(test).items() if "." not in k}, retrain


def _scalars(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The finite numeric leaves of a nested metrics dict, flattened with dots."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_scalars(v, key + "."))
        elif isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v):
            out[key] = float(v)
    return out


# --- tracking ------------------------------------------------------------------------------
def _log_mlflow(out: Path, study: Study, summary: dict, trials: pd.DataFrame, curves: pd.DataFrame,
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


# --- report --------------------------------------------------------------------------------
def importance(trials: pd.DataFrame, keys: list[str], score: str, seed: int = 0) -> dict[str, float]:
    """fANOVA importance of each key for the column ``score`` (Optuna); {} with < 3 finished trials."""
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    ok = trials[np.isfinite(trials[score].to_numpy(dtype=float))]
    if len(ok) < 3 or not keys:
        return {}
    dists: dict[str, Any] = {}
    for k in keys:
        vals = ok[k].tolist()
        if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in vals):
            lo, hi = float(min(vals)), float(max(vals))
            dists[k] = FloatDistribution(lo, hi if hi > lo else lo + 1.0)
        else:
            dists[k] = CategoricalDistribution(sorted({str(v) for v in vals}))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    st = optuna.create_study(direction="minimize")
    for _, r in ok.iterrows():
        params = {k: (str(r[k]) if isinstance(dists[k], CategoricalDistribution) else float(r[k])) for k in keys}
        st.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=float(r[score])))
    try:
        imp = optuna.importance.get_param_importances(st, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=seed))
    except (RuntimeError, ValueError):
        return {}
    return {k: float(v) for k, v in imp.items()}


def _fig_b64(fig) -> str:
    import base64
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode()


def report_section(out: str | Path) -> str:
    """An HTML fragment for a search directory: val curves, ASHA rungs, trials, parameter importance."""
    import html

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    summary = json.loads((out / "summary.json").read_text())
    trials = pd.read_csv(out / "trials.csv")
    curves = pd.read_csv(out / "curves.csv")
    keys, metric, best = list(summary["space"]), summary["metric"], summary["best_trial"]
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for t, g in curves.groupby("trial"):
        ax.plot(g["epoch"], g[metric], marker="o", ms=3, lw=2.2 if t == best else 1,
                alpha=1 if t == best else 0.55, label=f"trial {t} (best)" if t == best else None)
    for r in summary["rungs"]:
        ax.axvline(r, color="grey", ls=":", lw=1)
    if (curves[metric] > 0).all():  # a Poisson NLL without its constant can be negative
        ax.set_yscale("log")
    ax.set_xlabel("epoch (dotted: ASHA rungs)" if summary["rungs"] else "epoch")
    ax.set_ylabel(f"validation {metric.removeprefix('val_')}")
    ax.set_title(f"{summary['scheduler'].upper()}, {summary['search']} search, {summary['n_trials']} trials")
    ax.legend(frameon=False)
    img = _fig_b64(fig)
    plt.close(fig)
    rung_rows = "".join(f"<tr><td>{r}</td><td>{int((trials['epochs_run'] >= r).sum())}</td></tr>"
                        for r in summary["rungs"])
    imp = importance(trials, keys, f"best_{metric}")
    caveat = (" Trials cut by ASHA enter with their score at the rung where they stopped, so this favours "
              "what matters early in training." if summary["rungs"] else "")
    imp_html = ("<p>Parameter importance (Optuna fANOVA on the best validation score): "
                + ", ".join(f"{html.escape(k)} {v:.2f}" for k, v in imp.items()) + f".{caveat}</p>") if imp else ""
    test = summary.get("test") or {}
    test_html = html.escape(", ".join(f"{k} {v:.4g}" for k, v in test.items())) or "not run (--no-final)"
    why = (" Selection is on validation MSE of the predicted signal, because <code>train.loss</code> is "
           "searched and losses of different likelihoods are not on one scale." if metric != METRIC else "")
    show = trials[["trial", *keys, f"best_{metric}", "epochs_run", "stopped_by", "status"]].fillna({"stopped_by": ""})
    return (
        "<section id='tune'><h2>Hyper-parameter search</h2>"
        f"<p>{summary['n_trials']} trials, scheduler {summary['scheduler']}, search {summary['search']}: "
        f"{summary['search_seconds']:.1f} s, {summary['epochs_total']} epochs trained in all. "
        f"Best: trial {best}, {metric} {summary['best_score']:.4g}, "
        f"{html.escape(json.dumps(summary['best_params']))}.{why}</p>"
        "<p><b>Selection used the validation split only.</b> The test split was used once, after "
        f"selection, by the best config retrained with the study seed: {test_html}.</p>"
        f"<img alt='validation {metric} per trial and epoch' src='data:image/png;base64,{img}'/>"
        + (f"<table><tr><th>ASHA rung (epoch)</th><th>trials that reached it</th></tr>{rung_rows}</table>"
           if rung_rows else "")
        + imp_html + show.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0)
        + "</section>"
    )


def _page(section: str) -> str:
    return ("<!doctype html><html><head><meta charset='utf-8'><title>seq2track tune</title>"
            "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}td,th{padding:0 .6em}</style>"
            f"</head><body>{section}</body></html>\n")
