"""Sequence-to-track architectures: one-hot ``x: float32[B, 4, L]`` -> ``z: float32[B, T, n_bins]``.

Outputs are unconstrained; the loss (``model/losses.py``) decides the link. Every model
predicts the centred ``target_length = n_bins * resolution`` bp of its input window.

``build_model(cfg, n_tracks, input_length, n_bins, resolution)`` picks the architecture named by ``cfg.arch``:

====================  ======================================================  ================
arch                  shape                                                   train windows/s*
====================  ======================================================  ================
``dilated_cnn``       stem conv, conv+maxpool(2) blocks down to the bin        ~190
                      resolution, dilated residual tower over the bins
``conv``              stem conv + a few conv+maxpool blocks (no dilation)     ~300
``base_dilated``      BPNet-style dilated residual tower at base resolution,  ~42
                      average-pooled to bins (for GPUs)
``grelu.<Model>``     gReLU's ``DilatedConvModel`` / ``ConvModel`` (extra:     not measured
                      ``model/grelu.py``)
``kmer_ridge``        not a torch model: see ``model/kmer.py``
====================  ======================================================  ================

\\* forward + backward + AdamW step, batch 64, 2,048 bp input, 8 bins of 32 bp, 1 track,
64 channels, 6 dilated layers, ``torch.set_num_threads(2)``, torch 2.13 CPU, on the
project's 2-core machine while it was otherwise idle (numbers drop several-fold when other
jobs share the cores).

Torch is imported at module import: import this module only where a model is needed.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ..config import ModelConfig
from ..errors import ConfigError

#: architectures ``build_model`` knows (``kmer_ridge`` lives in ``model/kmer.py``).
ARCHITECTURES = ("dilated_cnn", "conv", "base_dilated", "grelu.DilatedConvModel", "grelu.ConvModel", "kmer_ridge")


# --- helpers -----------------------------------------------------------------------------
def _pool_sizes(factor: int, max_size: int) -> list[int]:
    """Split a total pooling ``factor`` into pool widths <= ``max_size`` whose product is ``factor``.

    Powers of two give ``[2, 2, ...]`` (max_size 2) or ``[4, 4, 2]`` (max_size 4); other factors
    fall back to their prime factors (a prime above ``max_size`` is used as it is).
    """
    primes: list[int] = []
    f, p = factor, 2
    while f > 1:
        while f % p == 0:
            primes.append(p)
            f //= p
        p += 1
    sizes: list[int] = []
    for q in sorted(primes, reverse=True):  # greedy packing of primes into widths <= max_size
        for i, s in enumerate(sizes):
            if s * q <= max_size:
                sizes[i] = s * q
                break
        else:
            sizes.append(q)
    return sorted(sizes, reverse=True)


def _check_shapes(input_length: int, n_bins: int, resolution: int) -> int:
    """Validate the window geometry; return the flank in bins."""
    target = n_bins * resolution
    if n_bins <= 0 or resolution <= 0 or target > input_length or (input_length - target) % (2 * resolution):
        raise ConfigError(
            f"windows: input_length {input_length}, n_bins {n_bins} x resolution {resolution}: the target must be "
            "centred in the input with a flank that is a whole number of bins; fix `windows:` in the study"
        )
    return (input_length - target) // (2 * resolution)


def _opt(cfg: ModelConfig, key: str, default: Any) -> Any:
    return cfg.options.get(key, default)


def _check_options(cfg: ModelConfig, allowed: set[str]) -> None:
    extra = sorted(set(cfg.options) - allowed)
    if extra:
        raise ConfigError(
            f"model.options {extra} are not options of arch {cfg.arch!r}; allowed: {sorted(allowed) or 'none'}"
        )


class _DilatedResidual(nn.Module):
    """Basenji-style residual block: GELU, dilated conv, BN, GELU, 1x1 conv, BN, dropout, add."""

    def __init__(self, channels: int, kernel_size: int, dilation: int, dropout: float):
        super().__init__()
        self.body = nn.Sequential(
            nn.GELU(),
            nn.Conv1d(channels, channels, kernel_size, padding="same", dilation=dilation, bias=False),
            nn.BatchNorm1d(channels),
            nn.GELU(),
            nn.Conv1d(channels, channels, 1, bias=False),
            nn.BatchNorm1d(channels),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ClampedExp(nn.Module):
    """``exp(min(x, 10))``: the exponential first-layer activation of Koo & Ploenzke (2021), clamped so
    that one extreme filter response cannot overflow float16 / bfloat16."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(torch.clamp(x, max=10.0))


STEM_ACTIVATIONS = ("gelu", "exp")


def _conv_bn_act(c_in: int, c_out: int, k: int, act: str = "gelu") -> list[nn.Module]:
    return [nn.Conv1d(c_in, c_out, k, padding="same", bias=False), nn.BatchNorm1d(c_out),
            ClampedExp() if act == "exp" else nn.GELU()]


# --- architectures -----------------------------------------------------------------------
class DilatedCNN(nn.Module):
    """Default: Basenji/BPNet-like trunk that pools early, then a dilated tower over the bins.

    ``x: float32[B, 4, L] -> z: float32[B, T, n_bins]``. Stem conv (``first_kernel``) at base
    resolution, then conv(``kernel_size`` + 2)+BN+GELU+maxpool blocks (pool 2 for power-of-two
    resolutions) until one position is one ``resolution``-bp bin (2,048 bp / 32 = 64 positions),
    then ``n_dilated`` residual blocks with dilation 2^i (capped at half the length), then crop
    the centre ``n_bins`` positions and a GELU + 1x1 conv head to ``n_tracks``.

    Measured (defaults: 64 channels, 6 dilated layers, 2,048 bp, 32-bp bins, batch 64,
    2 threads, torch 2.13 CPU, idle 2-core machine): **~190 windows/s** training
    (forward+backward+AdamW), ~1,050 windows/s inference; 186k parameters.
    options: ``pool_kernel`` (kernel of the conv in each pooling block, default
    kernel_size + 2 = 5; 3 trains ~10% faster); ``stem_activation`` (``gelu`` or ``exp``: the
    exponential activation of Koo & Ploenzke 2021 after the first conv, which lets a filter
    become a sharp motif detector; measured: on oracle-labelled sequences with planted REST
    repressor and CTCF activator sites, ``exp`` learned REST's negative effect within 3 epochs
    of 8,000 sequences (-0.92 vs the true -0.90) while GELU and ReLU had not after 6).
    """

    def __init__(self, cfg: ModelConfig, n_tracks: int, input_length: int, n_bins: int, resolution: int):
        super().__init__()
        _check_options(cfg, {"pool_kernel", "stem_activation"})
        c = cfg.channels
        self.flank_bins = _check_shapes(input_length, n_bins, resolution)
        self.n_bins = n_bins
        pool_k = int(_opt(cfg, "pool_kernel", cfg.kernel_size + 2))
        act = str(_opt(cfg, "stem_activation", "gelu"))
        if act not in STEM_ACTIVATIONS:
            raise ConfigError(f"model.options.stem_activation must be one of {STEM_ACTIVATIONS}, got {act!r}")
        layers: list[nn.Module] = _conv_bn_act(4, c, cfg.first_kernel, act)
        for i, p in enumerate(_pool_sizes(resolution, 2)):
            if i > 0:  # the stem already convolved at base resolution
                layers += _conv_bn_act(c, c, pool_k)
            layers.append(nn.MaxPool1d(p))
        self.trunk = nn.Sequential(*layers)
        n_pos = input_length // resolution
        self.tower = nn.Sequential(
            *[
                _DilatedResidual(c, cfg.kernel_size, min(2**i, max(1, n_pos // 2)), cfg.dropout)
                for i in range(cfg.n_dilated)
            ]
        )
        self.head = nn.Sequential(nn.GELU(), nn.Conv1d(c, n_tracks, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.tower(self.trunk(x))
        h = h[..., self.flank_bins : self.flank_bins + self.n_bins]
        return self.head(h)


class PlainConv(nn.Module):
    """Plain conv baseline: stem conv + a few conv+maxpool blocks, no dilation, no residuals.

    ``x: float32[B, 4, L] -> z: float32[B, T, n_bins]``. Pool widths up to 4 (32-bp bins:
    pools 4, 4, 2 -> stem + 2 conv blocks), then crop the centre bins and a 1x1 conv head.
    Receptive field is small (~100 bp): the point of the baseline.

    Measured (64 channels, 2,048 bp, 32-bp bins, batch 64, 2 threads, torch 2.13 CPU, idle
    2-core machine): **~300 windows/s** training; 45k parameters.
    options: ``max_pool`` (largest pool width, default 4).
    """

    def __init__(self, cfg: ModelConfig, n_tracks: int, input_length: int, n_bins: int, resolution: int):
        super().__init__()
        _check_options(cfg, {"max_pool"})
        c = cfg.channels
        self.flank_bins = _check_shapes(input_length, n_bins, resolution)
        self.n_bins = n_bins
        layers: list[nn.Module] = _conv_bn_act(4, c, cfg.first_kernel)
        for i, p in enumerate(_pool_sizes(resolution, int(_opt(cfg, "max_pool", 4)))):
            if i > 0:
                layers += _conv_bn_act(c, c, cfg.kernel_size + 2)
            layers.append(nn.MaxPool1d(p))
        layers.append(nn.Dropout(cfg.dropout))
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Conv1d(c, n_tracks, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.trunk(x)[..., self.flank_bins : self.flank_bins + self.n_bins]
        return self.head(h)


class BaseDilated(nn.Module):
    """BPNet-style dilated residual tower at base resolution, average-pooled to bins (for GPUs).

    ``x: float32[B, 4, L] -> z: float32[B, T, n_bins]``. Stem conv (``first_kernel``) + GELU,
    ``n_dilated`` residual layers ``x + GELU(conv(x, dilation 2^(i+1)))`` over every base, crop
    the centre ``target_length`` bp, average-pool to ``resolution`` and a 1x1 conv head.

    Measured (64 channels, 6 dilated layers, 2,048 bp, batch 64, 2 threads, torch 2.13 CPU,
    idle 2-core machine): **~42 windows/s** training, ~230 inference: ~4.5x slower than
    ``dilated_cnn`` on CPU (more layers, as in BPNet's 9, cost more); use a GPU.
    """

    def __init__(self, cfg: ModelConfig, n_tracks: int, input_length: int, n_bins: int, resolution: int):
        super().__init__()
        _check_options(cfg, set())
        c = cfg.channels
        flank_bins = _check_shapes(input_length, n_bins, resolution)
        self.start = flank_bins * resolution
        self.target = n_bins * resolution
        self.resolution = resolution
        self.stem = nn.Sequential(nn.Conv1d(4, c, cfg.first_kernel, padding="same"), nn.GELU())
        self.convs = nn.ModuleList(
            nn.Conv1d(c, c, cfg.kernel_size, padding="same", dilation=min(2 ** (i + 1), input_length // 2))
            for i in range(cfg.n_dilated)
        )
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Conv1d(c, n_tracks, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        for conv in self.convs:
            h = h + F.gelu(conv(h))
        h = h[..., self.start : self.start + self.target]
        h = F.avg_pool1d(self.dropout(h), self.resolution)
        return self.head(h)


class CropPool(nn.Module):
    """Wrap a model whose output is ``[B, T, L_out]`` centred on the input (e.g. gReLU's with
    ``final_pool_func=None``): crop the centre ``target_length`` bp and average to ``n_bins``.

    ``pool_factor``: bp per output position of the inner model (its own pooling).
    """

    def __init__(self, inner: nn.Module, pool_factor: int, n_bins: int, resolution: int, name: str):
        super().__init__()
        if resolution % pool_factor:
            raise ConfigError(
                f"{name} pools by {pool_factor} bp, which does not divide windows.resolution ({resolution}); "
                "change the model's pool_size/n_conv in model.options or the resolution"
            )
        self.inner = inner
        self.name = name
        self.n_bins = n_bins
        self.need = n_bins * resolution // pool_factor  # inner positions covering the target
        self.per_bin = resolution // pool_factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.inner(x)
        if z.dim() != 3 or z.shape[-1] < self.need:
            raise ConfigError(
                f"{self.name} returned shape {tuple(z.shape)}, which does not cover the {self.need} centre "
                "positions of the target; lower crop_len (or pooling) in model.options"
            )
        start = (z.shape[-1] - self.need) // 2
        z = z[..., start : start + self.need]
        return F.avg_pool1d(z, self.per_bin) if self.per_bin > 1 else z


def _build_grelu(cfg: ModelConfig, n_tracks: int, input_length: int, n_bins: int, resolution: int) -> nn.Module:
    from .grelu import build_grelu  # gReLU's models live in model/grelu.py

    return build_grelu(cfg, n_tracks, input_length, n_bins, resolution)


def build_model(cfg: ModelConfig, n_tracks: int, input_length: int, n_bins: int, resolution: int) -> nn.Module:
    """The torch model named by ``cfg.arch``: ``x: float32[B, 4, input_length] -> z: float32[B, n_tracks, n_bins]``."""
    arch = cfg.arch
    if arch == "kmer_ridge":
        raise ConfigError(
            "arch kmer_ridge is not a torch model: fit it with seq2track.model.kmer.fit_kmer_ridge "
            "(or pick a neural arch such as dilated_cnn)"
        )
    if arch == "imported":
        raise ConfigError(
            "arch imported is a model brought in by `seq2track import-model`: it is loaded from its run "
            "directory (RUN/model/imported.json), not built or trained; re-import it, or pick a neural arch to train"
        )
    if n_tracks <= 0:
        raise ConfigError(f"a model needs at least one track (got n_tracks={n_tracks}); check `tracks:`")
    _check_shapes(input_length, n_bins, resolution)
    classes = {"dilated_cnn": DilatedCNN, "conv": PlainConv, "base_dilated": BaseDilated}
    if arch in classes:
        return classes[arch](cfg, n_tracks, input_length, n_bins, resolution)
    if arch in ("grelu.DilatedConvModel", "grelu.ConvModel"):
        return _build_grelu(cfg, n_tracks, input_length, n_bins, resolution)
    raise ConfigError(f"model.arch {arch!r} is unknown; available: {', '.join(ARCHITECTURES)}")


# --- reverse complement --------------------------------------------------------------------
def reverse_complement(x: torch.Tensor) -> torch.Tensor:
    """Reverse complement of one-hot ``x: [B, 4, L]`` in A,C,G,T order (flip bases and positions)."""
    return x.flip(dims=(-2, -1))


def rc_average(model: nn.Module, x: torch.Tensor, track_perm: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of ``model(x)`` and the re-oriented ``model(RC(x))``: ``z: [B, T, n_bins]``.

    The RC output is flipped along bins and, for stranded tracks, its tracks are permuted by
    ``track_perm: LongTensor[T]`` (``track_perm[t]`` = index of the opposite-strand partner
    of track ``t``; unstranded tracks map to themselves). Averages the raw outputs ``z``.
    """
    z = model(x)
    z_rc = model(reverse_complement(x)).flip(dims=(-1,))
    if track_perm is not None:
        z_rc = z_rc.index_select(1, track_perm.to(z_rc.device))
    return (z + z_rc) / 2
