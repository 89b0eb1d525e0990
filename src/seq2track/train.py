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

``RUN/history.csv`` (one row per epoch) is always written; ``study.tracking`` adds MLflow
(default: ``sqlite:///RUN/mlflow.db``, artefacts in ``RUN/mlartifacts``), W&B (offline unless
``WANDB_MODE`` says otherwise) or TensorBoard (``RUN/tensorboard``).

Lightning, torch and the trackers are imported inside the functions (they take seconds).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import atomic
from .config import Study
from .errors import ConfigError, DataError
from .nested import flatten

MODEL_DIR = "model"
DONE = "train_result.json"
HISTORY = "history.csv"
HISTORY_FIELDS = ("epoch", "train_loss", "val_loss", "lr", "seconds", "windows_per_s", "data_wait_fraction")


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


# --- pieces ------------------------------------------------------------------------------
def train_key(study: Study) -> str:
    """Hash of everything that shapes the trained weights except ``train.max_epochs`` and
    ``tracking`` (a run may be resumed with more epochs, or logged elsewhere)."""
    import hashlib

    d = json.loads(study.model_dump_json())
    d["train"].pop("max_epochs", None)
    d.pop("tracking", None)
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def make_loss(study: Study):
    """The study's ``Loss`` (``model/losses.py``)."""
    from .model.losses import get_loss

    t = study.train
    return get_loss(t.loss, threshold=t.bce_threshold, pos_weight=t.pos_weight)


def make_model(study: Study, n_tracks: int):
    """The study's torch model, initialised from ``study.seed``."""
    import torch

    from .model.architectures import build_model

    w = study.windows
    torch.manual_seed(study.seed)
    return build_model(study.model, n_tracks, w.input_length, w.n_bins, w.resolution)


def _quiet() -> None:
    """Silence Lightning's chatter that is not actionable here (device banners, worker hints)."""
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # read when mlflow is first imported
    for name in ("lightning.pytorch", "lightning.fabric", "lightning", "pytorch_lightning",
                 "lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda",
                 "alembic", "mlflow"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*number of training batches.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*treespec.*")
    warnings.filterwarnings("ignore", message=".*Checkpoint directory.*exists and is not empty.*")
    warnings.filterwarnings("ignore", message=".*is an invalid version.*")
    warnings.filterwarnings("ignore", message=".*`isinstance\\(treespec, LeafSpec\\)`.*")


def _lightning_module(study: Study, model, loss, steps_per_epoch: int, max_epochs: int):
    """A LightningModule around ``model`` (built lazily so lightning is imported only here)."""
    import lightning as L
    import torch

    cfg = study.train
    seed = int(study.seed)

    class SeqModule(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = model
            self.loss_fn = loss
            self.sched = None
            self.warm_steps = 0
            self._val_sum = 0.0
            self._val_n = 0
            self.last_val_loss = float("nan")

        def forward(self, x):
            return self.model(x)

        # -- steps --------------------------------------------------------------------
        def on_train_batch_start(self, batch, batch_idx):
            # dropout draws from torch's global generator: re-seed it from (seed, step) so the
            # noise of step k is the same whether or not the run was resumed in between
            torch.manual_seed((seed * 1_000_003 + int(self.global_step)) % (2**63 - 1))
            if self.warm_steps and self.global_step < self.warm_steps and cfg.schedule != "cosine":
                scale = (self.global_step + 1) / self.warm_steps
                for g in self.optimizers().param_groups:
                    g["lr"] = cfg.lr * scale

        def training_step(self, batch, batch_idx):
            x, y = batch
            value = self.loss_fn.loss(self.model(x), y)
            if not torch.isfinite(value):
                raise DataError(
                    f"training loss became {value.item()} at epoch {self.current_epoch}, step {self.global_step}: "
                    f"lower train.lr (now {cfg.lr}) or check the targets (transform: {study.transform}, "
                    f"loss: {cfg.loss}; poisson needs non-negative targets)"
                )
            return value

        def on_train_batch_end(self, outputs, batch, batch_idx):
            if cfg.schedule == "cosine" and self.sched is not None:
                self.sched.step()

        def on_validation_epoch_start(self):
            self._val_sum, self._val_n = 0.0, 0

        def validation_step(self, batch, batch_idx):
            x, y = batch
            value = self.loss_fn.loss(self.model(x), y)
            self._val_sum += float(value.detach()) * len(x)
            self._val_n += len(x)
            return value

        def on_validation_epoch_end(self):
            val = self._val_sum / max(self._val_n, 1)
            self.last_val_loss = val
            self.log("val_loss", val, prog_bar=True)
            if self.trainer.sanity_checking:
                return
            # step the plateau scheduler here, before the epoch's checkpoints are written,
            # so that last.ckpt holds the scheduler state of the finished epoch
            if cfg.schedule == "plateau" and self.sched is not None and not self.trainer.sanity_checking:
                if self.global_step >= self.warm_steps:
                    self.sched.step(val)

        # -- optimiser & schedule -----------------------------------------------------
        def configure_optimizers(self):
            opt = torch.optim.AdamW(self.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
            self.warm_steps = cfg.warmup_epochs * steps_per_epoch
            if cfg.schedule == "plateau":
                self.sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
                    opt, mode="min", factor=0.5, patience=max(0, cfg.patience // 2), min_lr=cfg.lr / 100
                )
            elif cfg.schedule == "cosine":
                total = max(1, max_epochs * steps_per_epoch)
                warm = self.warm_steps

                def factor(step: int) -> float:
                    if warm and step < warm:
                        return (step + 1) / warm
                    prog = (step - warm) / max(1, total - warm)
                    return 0.01 + 0.99 * 0.5 * (1.0 + float(np.cos(np.pi * min(1.0, prog))))  # floor: 1% of lr

                self.sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
            if self.warm_steps and cfg.schedule != "cosine":  # linear warm-up, set per step
                for g in opt.param_groups:
                    g["lr"] = cfg.lr / self.warm_steps
            return opt

        def on_save_checkpoint(self, checkpoint):
            checkpoint["s2t_scheduler"] = None if self.sched is None else self.sched.state_dict()
            checkpoint["s2t_train_key"] = train_key(study)

        def on_load_checkpoint(self, checkpoint):
            self._pending_sched = checkpoint.get("s2t_scheduler")

        def on_train_start(self):
            state = getattr(self, "_pending_sched", None)
            if state is not None and self.sched is not None:
                self.sched.load_state_dict(state)
            self._pending_sched = None

    return SeqModule()


def _callbacks(study: Study, model_dir: Path, progress: bool, extra: list | None):
    import lightning as L
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

    class History(L.Callback):
        """Per-epoch train/val loss, LR, time, throughput and data wait; kept in the checkpoint."""

        def __init__(self):
            self.rows: list[dict[str, float]] = []
            self._reset()

        def _reset(self):
            self.loss_sum = 0.0
            self.n = 0
            self.step_s = 0.0
            self.wait_s = 0.0
            self.t_mark: float | None = None
            self.t_epoch = time.perf_counter()

        def on_train_epoch_start(self, trainer, pl_module):
            self._reset()
            self.t_mark = time.perf_counter()

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            now = time.perf_counter()
            if self.t_mark is not None:
                self.wait_s += now - self.t_mark
            self.t_step = now

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            now = time.perf_counter()
            self.step_s += now - self.t_step
            self.t_mark = now
            loss = outputs["loss"] if isinstance(outputs, dict) else outputs
            nb = len(batch[0])
            self.loss_sum += float(loss.detach()) * nb
            self.n += nb

        def on_validation_epoch_start(self, trainer, pl_module):
            self.t_mark = None  # validation time is not data wait

        def on_validation_end(self, trainer, pl_module):
            # after the module's on_validation_epoch_end (val loss known), before ModelCheckpoint
            # (Lightning runs checkpoint callbacks last), so the row is inside last.ckpt
            if trainer.sanity_checking or self.n == 0:
                return
            busy = self.step_s + self.wait_s
            opt = trainer.optimizers[0]
            self.rows.append(
                {
                    "epoch": int(trainer.current_epoch),
                    "train_loss": self.loss_sum / self.n,
                    "val_loss": float(pl_module.last_val_loss),
                    "lr": float(opt.param_groups[0]["lr"]),
                    "seconds": time.perf_counter() - self.t_epoch,
                    "windows_per_s": self.n / busy if busy > 0 else float("nan"),
                    "data_wait_fraction": self.wait_s / busy if busy > 0 else float("nan"),
                }
            )
            _write_history(model_dir.parent / HISTORY, self.rows)
            for lg in trainer.loggers:
                lg.log_metrics({k: v for k, v in self.rows[-1].items() if k != "epoch"}, step=int(trainer.current_epoch))

        def state_dict(self):
            return {"rows": self.rows}

        def load_state_dict(self, state_dict):
            self.rows = list(state_dict.get("rows", []))

    cfg = study.train
    ckpt = ModelCheckpoint(
        dirpath=str(model_dir), filename="best", monitor="val_loss", mode="min", save_top_k=1,
        save_last=True, enable_version_counter=False, auto_insert_metric_name=False,
    )
    hist = History()
    cbs: list = [hist, ckpt]
    if cfg.patience > 0:
        cbs.append(EarlyStopping(monitor="val_loss", mode="min", patience=cfg.patience, min_delta=0.0))
    if progress:
        from lightning.pytorch.callbacks import TQDMProgressBar

        cbs.append(TQDMProgressBar(refresh_rate=10))
    cbs.extend(extra or [])
    return cbs, hist, ckpt


def _atomic_checkpoint_io():
    from lightning.pytorch.plugins.io import TorchCheckpointIO

    class AtomicCheckpointIO(TorchCheckpointIO):
        """Write each checkpoint under a temporary name, fsync, rename (``seq2track.atomic``)."""

        def save_checkpoint(self, checkpoint, path, storage_options=None):
            import torch

            with atomic.atomic_path(path) as tmp:
                buf = io.BytesIO()
                torch.save(checkpoint, buf)
                tmp.write_bytes(buf.getvalue())

    return AtomicCheckpointIO()


def _write_history(path: Path, rows: list[dict[str, float]]) -> None:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=list(HISTORY_FIELDS), lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: r.get(k, "") for k in HISTORY_FIELDS})
    atomic.write_text(path, out.getvalue())


def read_history(run_dir: str | Path) -> list[dict[str, float]]:
    """Rows of ``RUN/history.csv`` as dicts of floats (epoch as int); [] if absent."""
    p = Path(run_dir) / HISTORY
    if not p.exists():
        return []
    rows = []
    with open(p) as fh:
        for r in csv.DictReader(fh):
            rows.append({k: (int(v) if k == "epoch" else float(v)) for k, v in r.items() if v not in ("", None)})
    return rows


def _logger(study: Study, run_dir: Path, enabled: bool):
    """The Lightning logger for ``study.tracking``; the MLflow / W&B run id persists in RUN/model."""
    if not enabled or study.tracking == "none":
        return False
    id_file = run_dir / MODEL_DIR / "tracker.json"
    prev = json.loads(id_file.read_text()) if id_file.exists() else {}
    if study.tracking == "mlflow":
        from lightning.pytorch.loggers import MLFlowLogger

        lg = MLFlowLogger(
            experiment_name=study.name,
            run_name=run_dir.name,
            tracking_uri=f"sqlite:///{(run_dir / 'mlflow.db').resolve()}",
            artifact_location=(run_dir / "mlartifacts").resolve().as_uri(),
            run_id=prev.get("mlflow_run_id"),
        )
        atomic.write_json(id_file, {"tracking": "mlflow", "mlflow_run_id": lg.run_id})
        return lg
    if study.tracking == "wandb":
        os.environ.setdefault("WANDB_MODE", "offline")
        os.environ.setdefault("WANDB_SILENT", "true")
        try:
            from lightning.pytorch.loggers import WandbLogger
            import wandb  # noqa: F401
        except ImportError:
            raise ConfigError("tracking: wandb needs the track extra: pip install 'seq2track[track]'") from None
        run_id = prev.get("wandb_run_id")
        if run_id is None:
            run_id = f"{study.name}-{study.hash()[:8]}".replace(" ", "_")
        lg = WandbLogger(project=study.name, name=run_dir.name, save_dir=str(run_dir), id=run_id, resume="allow")
        atomic.write_json(id_file, {"tracking": "wandb", "wandb_run_id": run_id})
        return lg
    if study.tracking == "tensorboard":
        try:
            from lightning.pytorch.loggers import TensorBoardLogger
        except ImportError:  # pragma: no cover
            raise ConfigError("tracking: tensorboard needs `pip install tensorboard`") from None
        return TensorBoardLogger(save_dir=str(run_dir), name="tensorboard", version=0, default_hp_metric=False)
    raise ConfigError(f"tracking {study.tracking!r} is unknown; use mlflow, wandb, tensorboard or none")


def _log_run_info(logger, study: Study, run_dir: Path, checkpoint: Path | None, final: dict | None) -> None:
    """Params, the study YAML as an artefact, and (at the end) the checkpoint path and summary."""
    if not logger:
        return
    if final is None:
        logger.log_hyperparams({k: v if isinstance(v, (int, float, str, bool)) or v is None else json.dumps(v)
                                for k, v in flatten(json.loads(study.model_dump_json()), lists=False).items()})
        return
    name = type(logger).__name__
    if name == "MLFlowLogger":
        client = logger.experiment
        client.log_artifact(logger.run_id, str(run_dir / "study.yaml"))
        client.set_tag(logger.run_id, "checkpoint", str(checkpoint))
        for k, v in final.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v):
                client.log_metric(logger.run_id, f"final_{k}", float(v))
    elif name == "WandbLogger":
        run = logger.experiment
        run.summary.update({k: v for k, v in final.items() if isinstance(v, (int, float, str))})
        run.save(str(run_dir / "study.yaml"), base_path=str(run_dir), policy="now")
    logger.finalize("success")


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
) -> TrainResult:
    """Train ``study.model`` on ``prepared`` (a ``PreparedDataset``); checkpoints in ``RUN/model``.

    resume: continue from ``RUN/model/last.ckpt`` when present (a finished run is loaded, not
    retrained); ``max_epochs`` overrides ``study.train.max_epochs``; ``callbacks``: extra
    Lightning callbacks (e.g. Ray Tune's reporter); ``progress_bar``: None = when stderr is a
    terminal. Returns a ``TrainResult`` with the best weights loaded, in eval mode.
    """
    import lightning as L
    import torch

    _quiet()
    run_dir = Path(run_dir)
    model_dir = run_dir / MODEL_DIR
    model_dir.mkdir(parents=True, exist_ok=True)
    if not (run_dir / "study.yaml").exists():
        atomic.write_text(run_dir / "study.yaml", study.to_yaml())
    cfg = study.train
    epochs = int(max_epochs if max_epochs is not None else cfg.max_epochs)
    last = model_dir / "last.ckpt"
    done = model_dir / DONE
    loss = make_loss(study)
    n_tracks = len(prepared.track_names)

    if resume and done.exists():
        info = json.loads(done.read_text())
        if info.get("study_hash") == study.hash() and info.get("max_epochs") == epochs:
            model = _load_weights(make_model(study, n_tracks), Path(info["checkpoint"]))
            return TrainResult(
                model=model, loss=loss, best_val_loss=info["best_val_loss"], epochs_run=info["epochs"],
                stopped_early=info["stopped_early"], history=read_history(run_dir),
                checkpoint=Path(info["checkpoint"]), windows_per_s=info["windows_per_s"],
                data_wait_fraction=info["data_wait_fraction"],
            )
    if not resume:
        for p in (last, model_dir / "best.ckpt", done):
            p.unlink(missing_ok=True)
    done.unlink(missing_ok=True)

    for split in ("train", "val"):
        if len(prepared.rows(split)) == 0:
            raise DataError(f"the {split} split of {prepared.root} has no windows; check `split:` in the study")

    L.seed_everything(study.seed, workers=True, verbose=False)
    torch.use_deterministic_algorithms(True, warn_only=True)
    model = make_model(study, n_tracks)
    train_dl = prepared.torch_dataset("train", augment=cfg.augment, seed=study.seed).loader(
        cfg.batch_size, shuffle=True, num_workers=cfg.num_workers
    )
    steps = batches_per_epoch(study, len(train_dl))
    module = _lightning_module(study, model, loss, steps, epochs)
    val_dl = prepared.torch_dataset("val", augment=None, seed=study.seed).loader(
        max(cfg.batch_size, 128), shuffle=False, num_workers=cfg.num_workers
    )
    if progress_bar is None:
        progress_bar = bool(getattr(sys.stderr, "isatty", lambda: False)())
    cbs, hist, ckpt = _callbacks(study, model_dir, progress_bar, callbacks)
    logger = _logger(study, run_dir, log_to_tracker)
    accelerator = {"auto": "auto", "cpu": "cpu", "gpu": "gpu"}[cfg.device]
    precision = {"32": "32-true"}.get(cfg.precision, cfg.precision)
    trainer = L.Trainer(
        max_epochs=epochs,
        accelerator=accelerator,
        devices=1,
        precision=precision,
        deterministic=True if accelerator == "cpu" or not torch.cuda.is_available() else "warn",
        logger=logger,
        callbacks=cbs,
        gradient_clip_val=cfg.grad_clip,
        gradient_clip_algorithm="norm",
        limit_train_batches=steps if steps < len(train_dl) else 1.0,
        num_sanity_val_steps=0,
        enable_progress_bar=progress_bar,
        enable_model_summary=False,
        default_root_dir=str(model_dir),
        log_every_n_steps=50,
        plugins=[_atomic_checkpoint_io()],
    )
    ckpt_path = str(last) if (resume and last.exists()) else None
    if ckpt_path is not None:
        key = torch.load(last, map_location="cpu", weights_only=False).get("s2t_train_key")
        if key != train_key(study):
            raise ConfigError(
                f"{last} was written by a different study (model, data or training settings changed); "
                "resume it with the same study, or start over with resume=False / `--force`"
            )
    if logger and ckpt_path is None:
        _log_run_info(logger, study, run_dir, None, None)
    trainer.fit(module, train_dataloaders=train_dl, val_dataloaders=val_dl, ckpt_path=ckpt_path)
    if trainer.interrupted:  # Ctrl-C: last.ckpt holds the last finished epoch; do not mark the run done
        raise KeyboardInterrupt(f"training interrupted; resume with the same command (continues from {last})")

    best = Path(ckpt.best_model_path) if ckpt.best_model_path else last
    model = _load_weights(model, best)
    rows = hist.rows
    _write_history(run_dir / HISTORY, rows)
    best_val = float(ckpt.best_model_score) if ckpt.best_model_score is not None else float("nan")
    wps = _weighted(rows, "windows_per_s")
    wait = _weighted(rows, "data_wait_fraction")
    stopped = bool(trainer.should_stop) and len(rows) < epochs
    result = TrainResult(
        model=model, loss=loss, best_val_loss=best_val, epochs_run=len(rows), stopped_early=stopped,
        history=rows, checkpoint=best, windows_per_s=wps, data_wait_fraction=wait,
    )
    info = {**result.summary(), "study_hash": study.hash(), "max_epochs": epochs}
    _log_run_info(logger, study, run_dir, best, info)
    atomic.write_json(done, info)
    return result


def batches_per_epoch(study: Study, n_batches: int) -> int:
    """Training batches per epoch: the loader's ``n_batches`` cut by ``train.epoch_windows`` and
    ``train.limit_train_batches``."""
    cfg = study.train
    steps = n_batches
    if cfg.epoch_windows:
        steps = min(steps, -(-cfg.epoch_windows // cfg.batch_size))
    if cfg.limit_train_batches:
        steps = min(steps, cfg.limit_train_batches)
    return max(1, steps)


def _weighted(rows: list[dict[str, float]], key: str) -> float:
    v = np.array([r.get(key, np.nan) for r in rows], dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else float("nan")


def _load_weights(model, path: Path):
    """Load the ``model.`` weights of a Lightning checkpoint into ``model``; eval mode."""
    import torch

    if not Path(path).exists():
        raise DataError(f"checkpoint {path} is missing; re-run `seq2track train` for this run directory")
    state = torch.load(path, map_location="cpu", weights_only=False)["state_dict"]
    model.load_state_dict({k[len("model."):]: v for k, v in state.items() if k.startswith("model.")})
    model.eval()
    return model


def predict(model, loss, prepared, rows: np.ndarray, batch_size: int = 256, rc_average: bool = True) -> np.ndarray:
    """Predictions ``float32[n, T, B]`` on the target scale (``loss.predict(z)``) for window ``rows``.

    ``rc_average``: average the raw outputs of each window and its reverse complement
    (stranded tracks swapped by ``prepared.rc_perm``) before the link. The one-hot input is
    gathered a few batches at a time and handed to ``export.predict_array`` (one batch loop).
    """
    from .export import predict_array

    rows = np.asarray(rows, dtype=np.int64)
    out = np.empty((len(rows), len(prepared.track_names), prepared.n_bins), dtype=np.float32)
    chunk = 8 * batch_size
    perm = prepared.rc_perm if rc_average else None
    for lo in range(0, len(rows), chunk):
        out[lo : lo + chunk] = predict_array(model, loss, prepared.onehot(rows[lo : lo + chunk]), perm, batch_size)
    return out


def load_model(run_dir: str | Path):
    """``(model, loss, study)`` of a trained run directory (best weights, eval mode)."""
    from .config import load_study

    run_dir = Path(run_dir)
    sp = run_dir / "study.yaml"
    if not sp.exists():
        raise DataError(f"{run_dir} is not a seq2track run directory (no study.yaml); run `seq2track run` first")
    study = load_study(sp)
    done = run_dir / MODEL_DIR / DONE
    ckpt = None
    if done.exists():
        ckpt = Path(json.loads(done.read_text())["checkpoint"])
    for cand in (ckpt, run_dir / MODEL_DIR / "best.ckpt", run_dir / MODEL_DIR / "last.ckpt"):
        if cand is not None and cand.exists():
            ckpt = cand
            break
    else:
        raise DataError(f"{run_dir / MODEL_DIR} holds no checkpoint; run `seq2track train STUDY --out {run_dir}`")
    n_tracks = len(study.tracks)
    model = _load_weights(make_model(study, n_tracks), ckpt)
    return model, make_loss(study), study
