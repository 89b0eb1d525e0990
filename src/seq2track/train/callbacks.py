"""Training callbacks and checkpoint I/O: per-epoch history (``RUN/history.csv``), best/last
checkpoints, early stopping, atomic checkpoint writes."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from .. import atomic
from ..config import Study
from ..rundir import RunPaths

HISTORY_FIELDS = ("epoch", "train_loss", "val_loss", "lr", "seconds", "windows_per_s", "data_wait_fraction")


def callbacks(study: Study, model_dir: Path, progress: bool, extra: list | None):
    """``(callbacks, history, checkpoint)``: the History and ModelCheckpoint callbacks, early stopping,
    the progress bar and ``extra``."""
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

    from ._lightning import History

    cfg = study.train
    ckpt = ModelCheckpoint(
        dirpath=str(model_dir), filename="best", monitor="val_loss", mode="min", save_top_k=1,
        save_last=True, enable_version_counter=False, auto_insert_metric_name=False,
    )
    hist = History(model_dir)
    cbs: list = [hist, ckpt]
    if cfg.patience > 0:
        cbs.append(EarlyStopping(monitor="val_loss", mode="min", patience=cfg.patience, min_delta=0.0))
    if progress:
        from lightning.pytorch.callbacks import TQDMProgressBar

        cbs.append(TQDMProgressBar(refresh_rate=10))
    cbs.extend(extra or [])
    return cbs, hist, ckpt


def atomic_checkpoint_io():
    """The checkpoint writer: temporary name, fsync, rename (``_lightning.AtomicCheckpointIO``)."""
    from ._lightning import AtomicCheckpointIO

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
