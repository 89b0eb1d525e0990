"""Architectures: shapes, crop geometry, RC helpers, gReLU wrapper, config errors."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from seq2track.config import ModelConfig
from seq2track.errors import ConfigError
from seq2track.model.architectures import (
    CropPool,
    _pool_sizes,
    build_model,
    rc_average,
    reverse_complement,
)

HAS_GRELU = importlib.util.find_spec("grelu") is not None


def _onehot(codes: np.ndarray) -> torch.Tensor:
    """uint8[B, L] codes (N=4) -> float32[B, 4, L] one-hot (N = zeros)."""
    eye = np.vstack([np.eye(4, dtype=np.float32), np.zeros((1, 4), np.float32)])
    return torch.from_numpy(eye[codes].transpose(0, 2, 1).copy())


def _small(arch: str, **kw) -> ModelConfig:
    return ModelConfig(arch=arch, channels=8, n_dilated=3, dropout=0.0, **kw)


@pytest.mark.parametrize("arch", ["dilated_cnn", "conv", "base_dilated"])
@pytest.mark.parametrize("geom", [(512, 4, 32, 3), (384, 6, 16, 2), (300, 5, 20, 1)])
def test_output_shape(arch: str, geom: tuple[int, int, int, int]) -> None:
    L, n_bins, res, n_tracks = geom
    torch.manual_seed(0)
    model = build_model(_small(arch), n_tracks, L, n_bins, res)
    z = model(torch.zeros(2, 4, L))
    assert z.shape == (2, n_tracks, n_bins)
    z.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("arch", ["dilated_cnn", "conv", "base_dilated"])
def test_output_depends_on_centre_not_only_edges(arch: str) -> None:
    """Changing sequence far outside the receptive field of the centred bins leaves them unchanged
    for the conv baseline; changing the target region itself changes them for every arch."""
    rng = np.random.default_rng(0)
    L, n_bins, res = 1024, 4, 32
    torch.manual_seed(0)
    model = build_model(_small(arch), 1, L, n_bins, res).eval()
    codes = rng.integers(0, 4, (1, L)).astype(np.uint8)
    x = _onehot(codes)
    centre = codes.copy()
    mid = L // 2
    centre[0, mid - 32 : mid + 32] = (centre[0, mid - 32 : mid + 32] + 1) % 4
    with torch.no_grad():
        assert not torch.allclose(model(x), model(_onehot(centre)))
        if arch == "conv":  # small receptive field: the first 100 bp cannot matter
            edge = codes.copy()
            edge[0, :100] = (edge[0, :100] + 2) % 4
            assert torch.allclose(model(x), model(_onehot(edge)))


def test_pool_sizes() -> None:
    assert _pool_sizes(32, 2) == [2, 2, 2, 2, 2]
    assert _pool_sizes(32, 4) == [4, 4, 2]
    assert _pool_sizes(20, 4) == [5, 4]
    assert _pool_sizes(1, 4) == []
    for f in (6, 12, 50, 64, 96, 128):
        assert int(np.prod(_pool_sizes(f, 4))) == f


def test_reverse_complement_onehot() -> None:
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 5, (3, 57)).astype(np.uint8)
    comp = np.array([3, 2, 1, 0, 4], dtype=np.uint8)[codes][:, ::-1]
    assert torch.equal(reverse_complement(_onehot(codes)), _onehot(comp.copy()))
    x = _onehot(codes)
    assert torch.equal(reverse_complement(reverse_complement(x)), x)


def test_rc_average_is_rc_invariant() -> None:
    torch.manual_seed(0)
    model = build_model(_small("dilated_cnn"), 2, 512, 4, 32).eval()
    x = _onehot(np.random.default_rng(2).integers(0, 4, (2, 512)).astype(np.uint8))
    perm = torch.tensor([1, 0])  # a stranded pair: + <-> -
    with torch.no_grad():
        a = rc_average(model, x, perm)
        b = rc_average(model, reverse_complement(x), perm)
        # RC of the input mirrors the averaged output along bins and swaps the strands
        torch.testing.assert_close(b, a.flip(-1)[:, perm], rtol=1e-5, atol=1e-5)
        manual = (model(x) + model(reverse_complement(x)).flip(-1)[:, perm]) / 2
        torch.testing.assert_close(a, manual)
        a0 = rc_average(model, x, None)
        torch.testing.assert_close(rc_average(model, reverse_complement(x), None), a0.flip(-1), rtol=1e-5, atol=1e-5)


def test_unknown_arch_lists_available() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="dilated_cnn.*conv.*base_dilated"):  # at study validation
        ModelConfig(arch="transformer")
    with pytest.raises(ConfigError, match="dilated_cnn.*conv.*base_dilated"):  # and again at build time
        build_model(ModelConfig.model_construct(arch="transformer"), 1, 512, 4, 32)


def test_kmer_ridge_is_not_torch() -> None:
    with pytest.raises(ConfigError, match="model.kmer"):
        build_model(ModelConfig(arch="kmer_ridge"), 1, 512, 4, 32)


def test_bad_geometry_and_options() -> None:
    with pytest.raises(ConfigError, match="windows"):
        build_model(_small("dilated_cnn"), 1, 500, 4, 32)  # flank is not whole bins
    with pytest.raises(ConfigError, match="not options"):
        build_model(_small("conv", options={"pool_kernel": 3}), 1, 512, 4, 32)


def test_exponential_stem_activation() -> None:
    """``stem_activation: exp`` puts a clamped exponential after the first conv: positive, finite on
    extreme inputs, same output shape; an unknown name is a config error naming the choices."""
    from seq2track.model.architectures import ClampedExp

    torch.manual_seed(0)
    m = build_model(_small("dilated_cnn", options={"stem_activation": "exp"}), 2, 512, 4, 32)
    assert isinstance(m.trunk[2], ClampedExp)
    x = _onehot(np.random.default_rng(0).integers(0, 4, size=(3, 512)).astype(np.uint8))
    assert m(x).shape == (3, 2, 4)
    y = ClampedExp()(torch.tensor([-50.0, 0.0, 1.0, 1e6]))
    assert torch.isfinite(y).all() and (y > 0).all() and float(y[1]) == 1.0 and float(y[3]) == pytest.approx(np.exp(10))
    assert not isinstance(build_model(_small("dilated_cnn"), 1, 512, 4, 32).trunk[2], ClampedExp)  # default GELU
    with pytest.raises(ConfigError, match="stem_activation"):
        build_model(_small("dilated_cnn", options={"stem_activation": "tanh"}), 1, 512, 4, 32)


@pytest.mark.skipif(HAS_GRELU, reason="grelu is installed: the missing-extra message cannot be produced")
@pytest.mark.parametrize("arch", ["grelu.DilatedConvModel", "grelu.ConvModel"])
def test_grelu_missing_extra(arch: str) -> None:
    with pytest.raises(ConfigError, match=r"needs the grelu extra: pip install 'seq2track\[grelu\]'"):
        build_model(ModelConfig(arch=arch), 1, 512, 4, 32)


@pytest.mark.skipif(not HAS_GRELU, reason="grelu extra not installed")
@pytest.mark.parametrize("arch", ["grelu.DilatedConvModel", "grelu.ConvModel"])
def test_grelu_models_shape(arch: str) -> None:
    model = build_model(ModelConfig(arch=arch, channels=8, n_dilated=3), 2, 1024, 4, 32)
    assert model(torch.zeros(2, 4, 1024)).shape == (2, 2, 4)


class _PerBase(torch.nn.Module):
    """A toy model shaped like gReLU's with ``final_pool_func=None``: per-position output
    (the position index, same for every task), cropped by ``crop`` positions each side."""

    def __init__(self, crop: int, pool: int):
        super().__init__()
        self.crop, self.pool = crop, pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[-1] // self.pool
        pos = torch.arange(n, dtype=torch.float32)[self.crop : n - self.crop]
        return pos.expand(x.shape[0], 2, -1)


def test_crop_pool_takes_centre_bins() -> None:
    L, n_bins, res = 512, 4, 32
    # per-base output cropped by 10 each side: 492 positions; centre 128 bp = positions 192..319
    wrapped = CropPool(_PerBase(crop=10, pool=1), 1, n_bins, res, "toy")
    z = wrapped(torch.zeros(1, 4, L))
    expected = torch.tensor([192 + 32 * b + 15.5 for b in range(n_bins)])
    assert z.shape == (1, 2, n_bins)
    torch.testing.assert_close(z[0, 0], expected)
    # a model that pools by 8 itself: 64 positions, centre 16 positions 24..39, 4 per bin
    z8 = CropPool(_PerBase(crop=0, pool=8), 8, n_bins, res, "toy")(torch.zeros(1, 4, L))
    torch.testing.assert_close(z8[0, 1], torch.tensor([24 + 4 * b + 1.5 for b in range(n_bins)]))
    with pytest.raises(ConfigError, match="crop_len"):
        CropPool(_PerBase(crop=200, pool=1), 1, n_bins, res, "toy")(torch.zeros(1, 4, L))
    with pytest.raises(ConfigError, match="does not divide"):
        CropPool(_PerBase(crop=0, pool=3), 3, n_bins, res, "toy")
