"""gReLU's models (``arch: grelu.DilatedConvModel`` / ``grelu.ConvModel``) as seq2track architectures.

gReLU 1.1.0's ``DilatedConvModel`` and ``ConvModel`` map one-hot ``x: float32[B, 4, L]`` to
``float32[B, n_tasks, L / pool_factor]`` when built with ``final_pool_func=None``, after
cropping ``crop_len`` positions at each end (``Crop`` in its ``ConvTower``, applied after the
tower's pooling; ``DilatedConvModel`` never pools, ``ConvModel`` pools by ``pool_size`` in
each of its ``n_conv - 1`` blocks after the stem when ``pool_func`` is set: ``pool_factor = pool_size ** (n_conv - 1)``). Their own training recipe (gReLU's
tutorial 3) sets ``crop_len = (seq_len - label_len) // 2`` so that the output covers exactly
the label.

:func:`grelu_model_params` builds the same ``model_params`` dict that
``grelu.lightning.LightningModel(model_params, ...)`` takes, for a study's geometry: the
output covers exactly the target (``n_bins * resolution`` bp, centred). :func:`build_grelu`
builds that gReLU model and wraps it in :class:`GreluBins`, which averages each bin's
``resolution / pool_factor`` positions, so seq2track gets ``z: float32[B, n_tracks, n_bins]``.
``GreluBins.inner`` *is* gReLU's model: its ``state_dict()`` loads into
``LightningModel(model_params).model`` unchanged, and the reverse.

``grelu`` is imported inside the functions (an opt-in extra: ``pip install 'seq2track[grelu]'``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ..config import ModelConfig
from ..errors import ConfigError

#: the gReLU model classes seq2track builds (``arch: grelu.<name>``)
GRELU_MODELS = ("DilatedConvModel", "ConvModel")


def _models(arch: str = "grelu.*") -> Any:
    try:
        import grelu.model.models as gm
    except ImportError:
        raise ConfigError(f"arch {arch} needs the grelu extra: pip install 'seq2track[grelu]'") from None
    return gm


def _base_kwargs(cfg: ModelConfig, name: str) -> dict[str, Any]:
    """seq2track's sizes in gReLU's argument names (``model.options`` override any of them)."""
    if name == "DilatedConvModel":
        kw: dict[str, Any] = dict(channels=cfg.channels, stem_kernel_size=cfg.first_kernel,
                                  kernel_size=cfg.kernel_size, n_conv=cfg.n_dilated)
    else:  # ConvModel
        kw = dict(stem_channels=cfg.channels, stem_kernel_size=cfg.first_kernel, channel_init=cfg.channels,
                  kernel_size=cfg.kernel_size, n_conv=cfg.n_dilated, dropout=cfg.dropout)
    kw.update(cfg.options)
    for fixed in ("n_tasks", "crop_len", "final_pool_func", "model_type"):
        if fixed in cfg.options:
            raise ConfigError(
                f"model.options.{fixed} is set by seq2track from tracks/windows for {cfg.arch}; remove it from model.options"
            )
    return kw


def pool_factor(cfg: ModelConfig) -> int:
    """bp per output position of the gReLU model ``cfg.arch`` (its tower's ``pool_factor``)."""
    name = _name(cfg)
    kw = _base_kwargs(cfg, name)
    try:
        m = getattr(_models(cfg.arch), name)(n_tasks=1, crop_len=0, final_pool_func=None, **kw)
    except TypeError as exc:
        raise ConfigError(f"model.options do not fit grelu {name}: {exc}; see grelu.model.models.{name}") from None
    return int(m.embedding.conv_tower.pool_factor)


def _name(cfg: ModelConfig) -> str:
    name = cfg.arch.split(".", 1)[1] if cfg.arch.startswith("grelu.") else ""
    if name not in GRELU_MODELS:
        raise ConfigError(f"model.arch {cfg.arch!r}: seq2track builds grelu.{' / grelu.'.join(GRELU_MODELS)}")
    return name


def grelu_model_params(cfg: ModelConfig, n_tracks: int, input_length: int, n_bins: int, resolution: int) -> dict:
    """gReLU ``model_params`` (``model_type`` + keyword arguments) whose output covers the target.

    ``crop_len`` = the flank ``(input_length - n_bins * resolution) / 2`` in output positions;
    ``final_pool_func=None`` keeps positions. A ``ConfigError`` names the fix when the model's
    pooling does not divide the resolution or the flank.
    """
    name = _name(cfg)
    pf = pool_factor(cfg)
    flank = (input_length - n_bins * resolution) // 2
    if resolution % pf or flank % pf:
        raise ConfigError(
            f"{cfg.arch} pools by {pf} bp, which does not divide windows.resolution ({resolution}) and the flank "
            f"({flank} bp); change pool_size/n_conv in model.options or the windows"
        )
    return {"model_type": name, "n_tasks": n_tracks, "crop_len": flank // pf, "final_pool_func": None,
            **_base_kwargs(cfg, name)}


class GreluBins(nn.Module):
    """gReLU model ``inner: [B, 4, L] -> [B, T, n_bins * per_bin]`` -> ``[B, T, n_bins]`` (mean per bin)."""

    def __init__(self, inner: nn.Module, n_bins: int, per_bin: int, name: str):
        super().__init__()
        self.inner = inner
        self.n_bins = n_bins
        self.per_bin = per_bin
        self.name = name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.inner(x)
        if z.dim() != 3 or z.shape[-1] != self.n_bins * self.per_bin:
            raise ConfigError(
                f"{self.name} returned shape {tuple(z.shape)} for input {tuple(x.shape)}, expected "
                f"[B, T, {self.n_bins * self.per_bin}]; the input length differs from the study's windows.input_length"
            )
        return F.avg_pool1d(z, self.per_bin) if self.per_bin > 1 else z


def build_grelu(cfg: ModelConfig, n_tracks: int, input_length: int, n_bins: int, resolution: int) -> GreluBins:
    """``x: float32[B, 4, input_length] -> z: float32[B, n_tracks, n_bins]`` through gReLU's ``cfg.arch``."""
    params = grelu_model_params(cfg, n_tracks, input_length, n_bins, resolution)
    pf = pool_factor(cfg)
    kw = {k: v for k, v in params.items() if k != "model_type"}
    inner = getattr(_models(), params["model_type"])(**kw)
    return GreluBins(inner, n_bins, resolution // pf, cfg.arch)


__all__ = ["GRELU_MODELS", "GreluBins", "build_grelu", "grelu_model_params", "pool_factor"]
