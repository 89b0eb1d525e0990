"""The LightningModule around a seq2track model (``_lightning.SeqModule``: steps, loss checks, optimiser,
LR schedule, resume state) and the train key that guards resume."""

from __future__ import annotations

import json

from ..config import Study


def train_key(study: Study) -> str:
    """Hash of everything that shapes the trained weights except ``train.max_epochs``, the launch
    keys (``config.LAUNCH_KEYS``) and ``tracking`` (a run may be resumed with more epochs, on
    another number of devices, or logged elsewhere)."""
    import hashlib

    from ..config import LAUNCH_KEYS

    d = json.loads(study.model_dump_json())
    d["train"].pop("max_epochs", None)
    for k in LAUNCH_KEYS:  # a checkpoint resumes on another device count (docs/scale.md)
        d["train"].pop(k, None)
    d.pop("tracking", None)
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def lightning_module(study: Study, model, loss, steps_per_epoch: int, max_epochs: int):
    """A LightningModule around ``model`` (``_lightning.SeqModule``; lightning is imported only here)."""
    from ._lightning import SeqModule

    return SeqModule(study, model, loss, steps_per_epoch, max_epochs)
