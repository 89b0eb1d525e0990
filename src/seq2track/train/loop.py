"""Training: a seeded, deterministic Lightning loop over a prepared dataset.

``train_model(study, prepared, run_dir)`` trains ``study.model`` with ``study.train``:
AdamW, an LR schedule (``plateau`` on the validation loss, or ``cosine`` per step, both with
an optional linear warm-up), gradient clipping, early stopping on the validation loss,
and the best checkpoint restored at the end. Reverse complement and jitter come from the
training loader only (``data/dataset.py``).

Checkpoints (``RUN/model/``) are written atomically: ``last.ckpt`` after every epoch (for
resume) and ``best.ckpt`` when the validation loss improves. Resume is exact: the
checkpoint holds weights, optimizer, LR scheduler, epoch, early-stopping state and the
history; the loader's shuffle and augmentation are functions of ``(seed, epoch, batch)``
and dropout is re-seeded from ``(seed, global step)`` before every step, so a run killed
and resumed ends with the same weights as one that never stopped.

Several devices or machines (``train.devices``, ``train.num_nodes``, ``train.strategy``) run
Lightning's DDP: each rank trains on its own shard of the training windows (``distributed.py``),
``train.batch_size`` is per rank, rank 0 alone writes the run directory, and the other ranks exit
after ``fit``, or, under ``run_study``, after their share of the evaluation (docs/scale.md).

``RUN/history.csv`` (one row per epoch) is always written; ``study.tracking`` adds MLflow
(default: ``sqlite:///RUN/mlflow.db``, artefacts in ``RUN/mlartifacts``), W&B (offline unless
``WANDB_MODE`` says otherwise) or TensorBoard (``RUN/tensorboard``).

Lightning, torch and the trackers are imported inside the functions (they take seconds).
"""

from __future__ import annotations

import json
import sys
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import atomic
from ..config import Study
from ..errors import ConfigError, DataError
from ..model.build import make_loss, make_model
from ..ranks import close_group
from ..rundir import RunPaths, load_weights
from .callbacks import atomic_checkpoint_io, callbacks as make_callbacks, read_history, write_history
from .distributed import (ReopenedWindows, check_launch, in_child_processes, is_worker, lightning_args, release_ranks,
                          shard_loader)
from .module import lightning_module, train_key
from .tracking import log_run_info, make_logger, quiet


@dataclass
class TrainResult:
    """What ``train_model`` returns. ``model`` holds the best weights, in eval mode."""

    model: Any
    loss: Any
    best_val_loss: float
    epochs_run: int
    stopped_early: bool
    history: list[dict[str, float]] = field(default_factory=list)
    checkpoint: Path | None = None
    windows_per_s: float = float("nan")
    data_wait_fraction: float = float("nan")

    def summary(self) -> dict[str, Any]:
        """JSON-able summary (no model)."""
        return {
            "best_val_loss": self.best_val_loss,
            "epochs": self.epochs_run,
            "stopped_early": self.stopped_early,
            "checkpoint": str(self.checkpoint) if self.checkpoint else None,
            "windows_per_s": self.windows_per_s,
            "data_wait_fraction": self.data_wait_fraction,
        }


# --- public API --------------------------------------------------------------------------
def train_model(
    study: Study,
    prepared,
    run_dir: str | Path,
    resume: bool = True,
    max_epochs: int | None = None,
    callbacks: list | None = None,
    log_to_tracker: bool = True,
    progress_bar: bool | None = None,
    keep_ranks: bool = False,
) -> TrainResult:
    """Train ``study.model`` on ``prepared`` (a ``PreparedDataset``); checkpoints in ``RUN/model``.

    resume: continue from ``RUN/model/last.ckpt`` when present (a finished run is loaded, not
    retrained); ``max_epochs`` overrides ``study.train.max_epochs``; ``callbacks``: extra
    Lightning callbacks (e.g. Ray Tune's reporter); ``progress_bar``: None = when stderr is a
    terminal. Returns a ``TrainResult`` with the best weights loaded, in eval mode.

    ``keep_ranks`` (``run_study``): after a multi-rank ``fit`` the process group stays up and a
    worker rank returns too (best weights loaded, no files written), so that all ranks can then
    split the evaluation (``ranks.split_across_ranks``); the caller shuts the group
    (``distributed.release_ranks``). Otherwise a worker rank exits after ``fit``.
    """
    import lightning as L
    import torch

    quiet()
    run_dir = Path(run_dir)
    paths = RunPaths(run_dir)
    model_dir = paths.model
    worker = is_worker()  # a rank other than 0: trains, writes nothing, exits after fit
    if not worker:
        model_dir.mkdir(parents=True, exist_ok=True)
        if not paths.study.exists():
            paths.write_study(study)
    cfg = study.train
    epochs = int(max_epochs if max_epochs is not None else cfg.max_epochs)
    last = paths.last_ckpt
    done = paths.train_result
    loss = make_loss(study)
    n_tracks = len(prepared.track_names)

    if resume and done.exists():
        info = json.loads(done.read_text())
        if info.get("study_hash") == study.hash() and info.get("max_epochs") == epochs:
            if worker:  # srun / torchrun started every rank: rank 0 loads the finished run
                close_group()
                raise SystemExit(0)
            model = load_weights(make_model(study, n_tracks), Path(info["checkpoint"]))
            return TrainResult(
                model=model, loss=loss, best_val_loss=info["best_val_loss"], epochs_run=info["epochs"],
                stopped_early=info["stopped_early"], history=read_history(run_dir),
                checkpoint=Path(info["checkpoint"]), windows_per_s=info["windows_per_s"],
                data_wait_fraction=info["data_wait_fraction"],
            )
    if not worker:
        if not resume:
            for p in (last, paths.best_ckpt, done):
                p.unlink(missing_ok=True)
        done.unlink(missing_ok=True)

    for split in ("train", "val"):
        if len(prepared.rows(split)) == 0:
            raise DataError(f"the {split} split of {prepared.root} has no windows; check `split:` in the study")

    L.seed_everything(study.seed, workers=True, verbose=False)
    torch.use_deterministic_algorithms(True, warn_only=True)
    model = make_model(study, n_tracks)
    if progress_bar is None:
        progress_bar = bool(getattr(sys.stderr, "isatty", lambda: False)())
    cbs, hist, ckpt = make_callbacks(study, model_dir, progress_bar, callbacks)
    logger = make_logger(study, run_dir, log_to_tracker and not worker)
    accelerator = {"auto": "auto", "cpu": "cpu", "gpu": "gpu"}[cfg.device]
    precision = {"32": "32-true"}.get(cfg.precision, cfg.precision)
    launch = lightning_args(study)
    trainer = L.Trainer(
        max_epochs=epochs,
        accelerator=accelerator,
        **launch,
        use_distributed_sampler=False,  # ShardSampler gives each rank its own windows
        precision=precision,
        deterministic=True if accelerator == "cpu" or not torch.cuda.is_available() else "warn",
        logger=logger,
        callbacks=cbs,
        gradient_clip_val=cfg.grad_clip,
        gradient_clip_algorithm="norm",
        num_sanity_val_steps=0,
        enable_progress_bar=progress_bar,
        enable_model_summary=False,
        default_root_dir=str(model_dir),
        log_every_n_steps=50,
        plugins=[atomic_checkpoint_io()],
    )
    world = int(trainer.num_devices) * int(trainer.num_nodes)
    check_launch(launch["strategy"], world)
    # every rank validates the whole val split (the same loss on each: checkpoints and early stopping
    # agree without a collective); the training windows are sharded (train/distributed.py)
    spawned = in_child_processes(trainer)  # ddp_spawn (or Lightning's ddp_fork in a notebook)
    train_ds = prepared.torch_dataset("train", augment=cfg.augment, seed=study.seed)
    val_ds = prepared.torch_dataset("val", augment=None, seed=study.seed)
    if spawned:
        train_ds, val_ds = ReopenedWindows(train_ds), ReopenedWindows(val_ds)
    train_dl = shard_loader(train_ds, cfg.batch_size, shuffle=True, seed=study.seed, world=world,
                            num_workers=cfg.num_workers)
    steps = batches_per_epoch(study, len(train_dl), world)
    trainer.limit_train_batches = steps if steps < len(train_dl) else 1.0
    module = lightning_module(study, model, loss, steps, epochs)
    val_dl = shard_loader(val_ds, max(cfg.batch_size, 128), shuffle=False, seed=study.seed, world=1,
                          num_workers=cfg.num_workers, name="val")
    ckpt_path = str(last) if (resume and last.exists()) else None
    if ckpt_path is not None:
        key = torch.load(last, map_location="cpu", weights_only=False).get("s2t_train_key")
        if key != train_key(study):
            raise ConfigError(
                f"{last} was written by a different study (model, data or training settings changed); "
                "resume it with the same study, or start over with resume=False / `--force`"
            )
    if logger and ckpt_path is None:
        log_run_info(logger, study, run_dir, None, None)
    with nullcontext() if keep_ranks else release_ranks():
        trainer.fit(module, train_dataloaders=train_dl, val_dataloaders=val_dl, ckpt_path=ckpt_path)
    if worker:  # rank 0 owns the run directory; a kept worker takes the best weights rank 0 saved
        if not keep_ranks or trainer.interrupted:
            close_group()
            raise SystemExit(0)
        best = Path(ckpt.best_model_path) if ckpt.best_model_path else last
        return TrainResult(model=load_weights(model, best), loss=loss, best_val_loss=float("nan"), epochs_run=0,
                           stopped_early=False, checkpoint=best)
    if trainer.interrupted:  # Ctrl-C: last.ckpt holds the last finished epoch; do not mark the run done
        raise KeyboardInterrupt(f"training interrupted; resume with the same command (continues from {last})")

    # under ddp_spawn the ranks ran in child processes: read what rank 0 of them wrote
    best = Path(ckpt.best_model_path) if ckpt.best_model_path else last
    model = load_weights(model, best)
    rows = read_history(run_dir) if spawned else hist.rows
    write_history(paths.history, rows)
    if ckpt.best_model_score is not None and not spawned:
        best_val = float(ckpt.best_model_score)
    else:
        vals = [r["val_loss"] for r in rows if np.isfinite(r.get("val_loss", np.nan))]
        best_val = float(min(vals)) if vals else float("nan")
    wps = _weighted(rows, "windows_per_s")
    wait = _weighted(rows, "data_wait_fraction")
    stopped = (bool(trainer.should_stop) or spawned) and len(rows) < epochs
    result = TrainResult(
        model=model, loss=loss, best_val_loss=best_val, epochs_run=len(rows), stopped_early=stopped,
        history=rows, checkpoint=best, windows_per_s=wps, data_wait_fraction=wait,
    )
    info = {**result.summary(), "study_hash": study.hash(), "max_epochs": epochs, "world_size": world}
    log_run_info(logger, study, run_dir, best, info)
    atomic.write_json(done, info)
    return result


def batches_per_epoch(study: Study, n_batches: int, world: int = 1) -> int:
    """Training batches per epoch and rank: the loader's ``n_batches`` cut by ``train.epoch_windows``
    (windows over all ``world`` ranks, ``batch_size`` each per step) and ``train.limit_train_batches``."""
    cfg = study.train
    steps = n_batches
    if cfg.epoch_windows:
        steps = min(steps, -(-cfg.epoch_windows // (cfg.batch_size * max(1, world))))
    if cfg.limit_train_batches:
        steps = min(steps, cfg.limit_train_batches)
    return max(1, steps)


def _weighted(rows: list[dict[str, float]], key: str) -> float:
    v = np.array([r.get(key, np.nan) for r in rows], dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else float("nan")


