"""The study's model and loss, built from its config (no files: checkpoints load in ``rundir.py``)."""

from __future__ import annotations

from ..config import Study


def make_loss(study: Study):
    """The study's ``Loss`` (``model/losses.py``)."""
    from .losses import get_loss

    t = study.train
    return get_loss(t.loss, threshold=t.bce_threshold, pos_weight=t.pos_weight)


def make_model(study: Study, n_tracks: int):
    """The study's torch model, initialised from ``study.seed``."""
    import torch

    from .architectures import build_model

    w = study.windows
    torch.manual_seed(study.seed)
    return build_model(study.model, n_tracks, w.input_length, w.n_bins, w.resolution)
