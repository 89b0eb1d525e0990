"""Losses against direct numpy/scipy computations; stability in fp32 and bf16."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import special, stats

from seq2track.errors import ConfigError
from seq2track.model.losses import LOSSES, get_loss


def _data(seed: int = 0, shape: tuple[int, int, int] = (5, 2, 8)) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2, shape).astype(np.float32)
    y = rng.poisson(3.0, shape).astype(np.float32)
    return torch.from_numpy(z), torch.from_numpy(y)


def test_poisson_matches_scipy() -> None:
    z, y = _data()
    loss = get_loss("poisson")
    rate = np.log1p(np.exp(z.numpy().astype(np.float64)))
    # Poisson NLL without the log(y!) constant
    expected = np.mean(-stats.poisson.logpmf(y.numpy(), rate) - special.gammaln(y.numpy() + 1))
    assert float(loss.loss(z, y)) == pytest.approx(expected, rel=1e-4)
    np.testing.assert_allclose(loss.predict(z).numpy(), rate, rtol=1e-5)


def test_mse_matches_numpy() -> None:
    z, y = _data(1)
    loss = get_loss("mse")
    assert float(loss.loss(z, y)) == pytest.approx(np.mean((z.numpy() - y.numpy()) ** 2), rel=1e-5)
    assert torch.equal(loss.predict(z), z)


@pytest.mark.parametrize("pos_weight", [None, 4.0])
def test_bce_matches_numpy(pos_weight: float | None) -> None:
    z, y = _data(2)
    loss = get_loss("bce", threshold=3.0, pos_weight=pos_weight)
    lab = (y.numpy() >= 3.0).astype(np.float64)
    p = special.expit(z.numpy().astype(np.float64))
    w = 1.0 if pos_weight is None else pos_weight
    expected = np.mean(-(w * lab * np.log(p) + (1 - lab) * np.log1p(-p)))
    assert float(loss.loss(z, y)) == pytest.approx(expected, rel=1e-4)
    np.testing.assert_allclose(loss.predict(z).numpy(), p, rtol=1e-5)


def test_bce_needs_threshold() -> None:
    with pytest.raises(ConfigError, match="bce_threshold"):
        get_loss("bce")


def test_multinomial_matches_scipy() -> None:
    z, y = _data(3)
    loss = get_loss("multinomial", count_weight=0.5)
    zn, yn = z.numpy().astype(np.float64), y.numpy().astype(np.float64)
    logp = zn - special.logsumexp(zn, axis=-1, keepdims=True)
    # multinomial NLL less the coefficient log(N! / prod y!), which does not depend on z
    n_tot = yn.sum(-1)
    coef = special.gammaln(n_tot + 1) - special.gammaln(yn + 1).sum(-1)
    nll = -stats.multinomial.logpmf(yn, n_tot, np.exp(logp)) + coef
    count = (special.logsumexp(zn, axis=-1) - np.log1p(n_tot)) ** 2
    expected = nll.mean() + 0.5 * count.mean()
    assert float(loss.loss(z, y)) == pytest.approx(expected, rel=1e-4)
    pred = loss.predict(z).numpy()
    np.testing.assert_allclose(pred.sum(-1), np.expm1(special.logsumexp(zn, axis=-1)), rtol=1e-4)
    np.testing.assert_allclose(pred / pred.sum(-1, keepdims=True), np.exp(logp), rtol=1e-4)


def _opts(name: str, threshold: float) -> dict:
    return {"threshold": threshold} if name == "bce" else {}


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_stable_at_extremes(name: str, dtype: torch.dtype) -> None:
    """Huge / tiny logits and zero / large targets give finite loss, gradients and predictions."""
    z = torch.tensor([[[-200.0, -30.0, 0.0, 30.0, 200.0, 1e4]]], dtype=dtype, requires_grad=True)
    y = torch.tensor([[[0.0, 0.0, 1.0, 50.0, 1e3, 0.0]]], dtype=torch.float32).to(dtype)
    loss = get_loss(name, **_opts(name, 1.0))
    value = loss.loss(z, y)
    value.backward()
    assert torch.isfinite(value)
    assert torch.isfinite(z.grad).all()
    assert torch.isfinite(loss.predict(z.detach())).all()


@pytest.mark.parametrize("name", LOSSES)
def test_loss_is_minimised_by_training(name: str) -> None:
    """Gradient descent on free logits brings the prediction towards the target."""
    rng = np.random.default_rng(4)
    y = torch.from_numpy(rng.poisson(4.0, (8, 1, 6)).astype(np.float32))
    z = torch.zeros_like(y, requires_grad=True)
    loss = get_loss(name, **_opts(name, 4.0))
    opt = torch.optim.Adam([z], lr=0.1)
    first = float(loss.loss(z, y).detach())
    for _ in range(300):
        opt.zero_grad()
        loss.loss(z, y).backward()
        opt.step()
    assert float(loss.loss(z, y).detach()) < first
    pred = loss.predict(z.detach())
    if name == "bce":
        target = (y >= 4.0).float()
        assert float(((pred > 0.5).float() == target).float().mean()) == 1.0
    else:
        assert stats.pearsonr(pred.flatten().numpy(), y.flatten().numpy()).statistic > 0.95


def test_get_loss_errors() -> None:
    with pytest.raises(ConfigError, match="poisson, mse, bce, multinomial"):
        get_loss("huber")
    with pytest.raises(ConfigError, match="no option"):
        get_loss("mse", count_weight=1.0)
    # the study's BCE fields are ignored by the other losses, so train.py can pass them to any loss
    assert get_loss("poisson", threshold=2.0, pos_weight=3.0).name == "poisson"
    assert get_loss("multinomial", threshold=None, count_weight=2.0).count_weight == 2.0
