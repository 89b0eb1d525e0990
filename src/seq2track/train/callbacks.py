"""Training callbacks and checkpoint I/O: per-epoch history (``RUN/history.csv``), best/last
checkpoints, early stopping, atomic checkpoint writes."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

from .. import atomic
from ..config import Study
from ..rundir import RunPaths

HISTORY_FIELDS = ("epoch", "train_loss", "val_loss", "lr", "seconds", "windows_per_s", "data_wait_fraction")


def callbacks(study: Study, model_dir: Path, progress: bool, extra: list | None):
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
            write_history(model_dir.parent / RunPaths.HISTORY, self.rows)
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


def atomic_checkpoint_io():
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


def write_history(path: Path, rows: list[dict[str, float]]) -> None:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=list(HISTORY_FIELDS), lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: r.get(k, "") for k in HISTORY_FIELDS})
    atomic.write_text(path, out.getvalue())


def read_history(run_dir: str | Path) -> list[dict[str, float]]:
    """Rows of ``RUN/history.csv`` as dicts of floats (epoch as int); [] if absent."""
    p = RunPaths(run_dir).history
    if not p.exists():
        return []
    rows = []
    with open(p) as fh:
        for r in csv.DictReader(fh):
            rows.append({k: (int(v) if k == "epoch" else float(v)) for k, v in r.items() if v not in ("", None)})
    return rows
