"""Training only: a seeded, deterministic Lightning loop over a prepared dataset.

* ``loop.py``: :func:`train_model` (resume, early stopping, best weights restored) and
  :class:`TrainResult`;
* ``module.py``: the LightningModule (steps, optimiser, LR schedule);
* ``callbacks.py``: per-epoch history (``RUN/history.csv``), checkpoints, atomic checkpoint writes;
* ``_lightning.py``: the Lightning classes themselves, at module level (``ddp_spawn`` pickles them);
* ``distributed.py``: several ranks through Lightning's DDP (``train.devices / num_nodes /
  strategy``): the sharded sampler, worker ranks, waiting for rank 0's cache (docs/scale.md);
* ``tracking.py``: MLflow / W&B / TensorBoard loggers.

Predictions come from ``seq2track.predict``; a trained run is opened with ``seq2track.rundir.Run``.
Lightning and torch are imported inside the functions (they take seconds).
"""

from __future__ import annotations

from .callbacks import HISTORY_FIELDS, read_history
from .loop import TrainResult, batches_per_epoch, train_key, train_model

__all__ = ["HISTORY_FIELDS", "TrainResult", "batches_per_epoch", "read_history", "train_key", "train_model"]
