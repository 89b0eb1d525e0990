"""One trial: its seed, the study it trains (``trial_study``), and the Ray Tune trainable
(``run_trial``) that trains it with ``train.train_model``, reporting the validation loss to Tune
after every epoch; and the study of the selected config (``best_study_of``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import atomic
from ..config import Study, override
from .space import METRIC

TRIAL_DONE = "trial_done.json"


def trial_seed(study_seed: int, index: int) -> int:
    """Seed of trial ``index``: a ``SeedSequence`` of (study seed, index), as a 31-bit int."""
    return int(np.random.SeedSequence([int(study_seed), int(index)]).generate_state(1)[0] & 0x7FFFFFFF)


def trial_study(study: Study, params: dict[str, Any], seed: int, max_epochs: int, gpus: float = 0.0) -> Study:
    """The study one trial trains: the sampled ``params``, its seed, the epoch cap and device."""
    # one rank per trial: Ray gives each trial its own CPUs/GPU, and a trial cannot re-launch itself (ddp)
    changes = {**params, "seed": int(seed), "train.max_epochs": int(max_epochs), "train.devices": 1,
               "train.num_nodes": 1, "train.strategy": "auto"}
    if gpus <= 0:
        changes["train.device"] = "cpu"  # never take a GPU that Ray did not give the trial
    return override(study, changes)


def best_study_of(study: Study, params: dict[str, Any], max_epochs: int) -> Study:
    """The selected config: the study with the best ``params``; seed unchanged so the cache is the same."""
    return override(study, {**params, "train.max_epochs": int(max_epochs)})


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

    from ..data.cache import PreparedDataset
    from ..train import train_model

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
