"""Losses: each pairs a link (raw model output ``z`` -> prediction) with a likelihood.

``z, y: float32[B, T, n_bins]``. ``Loss.loss(z, y)`` is a scalar (mean over windows, tracks
and, except for the multinomial, bins); ``Loss.predict(z)`` is the prediction in the
target's units. All losses compute in float32 whatever ``z``'s dtype (bf16 autocast safe).

Which to use (``train.loss``):

- ``poisson`` (default): counts or any non-negative, transformed signal (arcsinh / log1p
  coverage). Softplus link keeps the rate positive without exp overflow; the Poisson NLL
  weighs errors by the mean, as count noise does.
- ``mse``: signal that can be negative (z-scored, log-ratios) or when a Gaussian error is a
  fair guess; identity link. Sensitive to the few very high bins of a raw coverage track.
- ``bce``: peak calling framed as classification; a bin is positive when ``y >= threshold``.
  ``pos_weight`` > 1 up-weights rare positives (None = unweighted: calibrated probabilities).
  ``predict`` returns probabilities.
- ``multinomial`` (BPNet): splits a window's signal into its shape over bins (multinomial NLL)
  and its total (MSE of log(1 + total)), so a model can learn shape where depth varies.
  ``z`` are per-bin log-intensities: shape = softmax(z), log(1 + total) = logsumexp(z).
  ``count_weight`` balances the two terms (BPNet uses ~ mean total / 2 on raw counts).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from ..errors import ConfigError

LOSSES = ("poisson", "mse", "bce", "multinomial")
_BCE_OPTS = ("threshold", "pos_weight")  # study-level options only BCE uses


class Loss:
    """A likelihood and its link. Subclasses implement ``loss`` and ``predict``."""

    name = "loss"

    def loss(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def predict(self, z: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def __call__(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.loss(z, y)

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({opts})"


class PoissonLoss(Loss):
    """Poisson NLL with a softplus link: rate = softplus(z); for counts / non-negative signal."""

    name = "poisson"

    def __init__(self, eps: float = 1e-6):
        self.eps = eps

    def predict(self, z: torch.Tensor) -> torch.Tensor:
        return F.softplus(z.float())

    def loss(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        rate = self.predict(z)
        return F.poisson_nll_loss(rate, y.float(), log_input=False, full=False, eps=self.eps)


class MSELoss(Loss):
    """Mean squared error with the identity link; for signal that may be negative."""

    name = "mse"

    def predict(self, z: torch.Tensor) -> torch.Tensor:
        return z.float()

    def loss(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(z.float(), y.float())


class BCELoss(Loss):
    """Binary cross-entropy on logits; positives are bins with ``y >= threshold``.

    ``pos_weight``: weight of positive bins (e.g. n_neg / n_pos); None = unweighted.
    """

    name = "bce"

    def __init__(self, threshold: float | None = None, pos_weight: float | None = None):
        if threshold is None:
            raise ConfigError(
                "loss bce needs a threshold: set train.bce_threshold (transformed-signal value that makes a bin positive)"
            )
        if pos_weight is not None and pos_weight <= 0:
            raise ConfigError(f"train.pos_weight must be > 0 or null (got {pos_weight})")
        self.threshold = float(threshold)
        self.pos_weight = None if pos_weight is None else float(pos_weight)

    def labels(self, y: torch.Tensor) -> torch.Tensor:
        """``y >= threshold`` as float labels (NaN counts as negative)."""
        return (y >= self.threshold).float()

    def predict(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(z.float())

    def loss(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        z = z.float()
        pw = None if self.pos_weight is None else torch.tensor(self.pos_weight, device=z.device)
        return F.binary_cross_entropy_with_logits(z, self.labels(y), pos_weight=pw)


class MultinomialLoss(Loss):
    """BPNet loss: multinomial NLL of the profile over bins + ``count_weight`` * MSE of log(1 + total).

    Profile term: ``-sum_bins y * log_softmax(z)`` per window and track (the multinomial
    coefficient depends on ``y`` only and is dropped), averaged over windows and tracks.
    """

    name = "multinomial"

    def __init__(self, count_weight: float = 1.0):
        if count_weight < 0:
            raise ConfigError(f"multinomial count_weight must be >= 0 (got {count_weight})")
        self.count_weight = float(count_weight)

    def predict(self, z: torch.Tensor) -> torch.Tensor:
        z = z.float()
        log_total = torch.logsumexp(z, dim=-1, keepdim=True)  # predicted log(1 + total)
        total = torch.expm1(log_total.clamp(min=0.0, max=80.0))
        return torch.softmax(z, dim=-1) * total

    def loss(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        z, y = z.float(), y.float().clamp(min=0.0)
        profile_nll = -(y * torch.log_softmax(z, dim=-1)).sum(-1).mean()
        log_total = torch.logsumexp(z, dim=-1)
        count_mse = F.mse_loss(log_total, torch.log1p(y.sum(-1)))
        return profile_nll + self.count_weight * count_mse


def get_loss(name: str, **opts: object) -> Loss:
    """The loss called ``name`` (poisson | mse | bce | multinomial) with its options.

    ``bce``: ``threshold`` (required), ``pos_weight``; ``multinomial``: ``count_weight``;
    ``poisson``: ``eps``. The BCE options ``threshold`` / ``pos_weight`` (the study's
    ``train.bce_threshold`` / ``train.pos_weight``) are ignored by the other losses, so
    ``get_loss(cfg.loss, threshold=cfg.bce_threshold, pos_weight=cfg.pos_weight)`` works for
    every loss; any other unknown option is a ``ConfigError``.
    """
    classes: dict[str, type[Loss]] = {
        "poisson": PoissonLoss, "mse": MSELoss, "bce": BCELoss, "multinomial": MultinomialLoss,
    }
    if name not in classes:
        raise ConfigError(f"train.loss {name!r} is unknown; available: {', '.join(LOSSES)}")
    import inspect

    params = set(inspect.signature(classes[name].__init__).parameters) - {"self"}
    bad = sorted(k for k, v in opts.items() if k not in params and v is not None and k not in _BCE_OPTS)
    if bad:
        raise ConfigError(f"loss {name} takes no option(s) {bad}; it takes {sorted(params) or 'none'}")
    return classes[name](**{k: v for k, v in opts.items() if k in params})
