"""The one prediction loop: a model's predictions on the target scale, batched, RC-averaged.

Every operation that asks a model for predictions goes through here: evaluation
(:func:`predict_windows`), export to bigWig (``export.py`` calls :func:`predict_onehot`),
interpretation (:func:`torch_predictor`, :func:`predict_codes`, :func:`region_mean`,
:func:`torch_forward` for gradients), the pitfall lab and tuning.

* :func:`forward` is the model call itself: ``loss.predict(z)`` of the raw output ``z``,
  optionally averaged with the reverse complement's re-oriented output (stranded tracks
  swapped by ``rc_perm``) *before* the link.
* :func:`predict_onehot` runs it over one-hot ``float32[n, 4, L]`` in batches, in
  inference mode; the other functions feed it from a prepared cache, from sequence codes or
  through a numpy *predictor* ``f(x: float32[n, 4, L]) -> float32[n, T, B]``, the interface the
  interpretation code takes so that it runs on any model, toy models in tests included.

torch is imported inside the functions that need it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .data.cache import onehot
from .ranks import split_map

#: a predictor: one-hot ``float32[n, 4, L]`` -> predictions ``float32[n, T, B]``
Predictor = Callable[[np.ndarray], np.ndarray]


def forward(model: Any, x: Any, loss: Any = None, rc_perm: Any = None, rc_average: bool = True) -> Any:
    """``Tensor[n, T, B]``: ``loss.predict`` of the model's output for one-hot ``x: Tensor[n, 4, L]``.

    rc_average: average the raw outputs of ``x`` and of its reverse complement (bins flipped
    back, tracks re-ordered by ``rc_perm: int[T]``, None = unstranded) before the link;
    ``loss=None`` returns the raw output. Differentiable: no inference mode here.
    """
    import torch

    from .model.architectures import rc_average as rc_avg

    if rc_average:
        perm = None if rc_perm is None else torch.as_tensor(np.asarray(rc_perm), dtype=torch.long, device=x.device)
        z = rc_avg(model, x, perm)
    else:
        z = model(x)
    return loss.predict(z) if loss is not None else z


def predict_onehot(model: Any, loss: Any, x: np.ndarray, rc_perm: np.ndarray | None, batch_size: int = 256,
                   rc_average: bool | None = None) -> np.ndarray:
    """float32[n, T, B] predictions (target scale) for one-hot ``x: float32[n, 4, L]``, in batches.

    ``rc_perm: int64[T]``: RC-average with stranded tracks swapped by ``rc_perm``; with
    ``rc_perm=None`` the forward strand only, unless ``rc_average=True`` (unstranded RC average).
    """
    import torch

    rc = (rc_perm is not None) if rc_average is None else bool(rc_average)
    model.eval()
    first = next(iter(model.parameters()), None)  # a parameter-free (imported) module runs on the CPU
    device = first.device if first is not None else torch.device("cpu")
    outs = []
    with torch.inference_mode():
        for lo in range(0, len(x), batch_size):
            xb = torch.from_numpy(np.ascontiguousarray(x[lo : lo + batch_size], dtype=np.float32)).to(device)
            outs.append(forward(model, xb, loss, rc_perm, rc).float().cpu().numpy())
    return np.concatenate(outs) if outs else np.zeros((0, 0, 0), np.float32)


def predict_windows(model: Any, loss: Any, prepared: Any, rows: np.ndarray, batch_size: int = 256,
                    rc_average: bool = True) -> np.ndarray:
    """Predictions ``float32[n, T, B]`` on the target scale for window ``rows`` of a prepared cache.

    The one-hot input is gathered a few batches at a time from the memory-mapped cache, so a
    whole split never sits in memory as one-hot. Inside ``ranks.split_across_ranks`` the rows are
    split over the ranks (slices on batch edges: the same batches as one process); rank 0 gets
    all predictions in the order of ``rows``, the other ranks ``None``.
    """
    rows = np.asarray(rows, dtype=np.int64)
    perm = prepared.rc_perm if rc_average else None

    def part(lo: int, hi: int) -> np.ndarray:
        sub = rows[lo:hi]
        out = np.empty((len(sub), len(prepared.track_names), prepared.n_bins), dtype=np.float32)
        chunk = 8 * batch_size
        for a in range(0, len(sub), chunk):
            out[a : a + chunk] = predict_onehot(model, loss, prepared.onehot(sub[a : a + chunk]), perm, batch_size)
        return out

    return split_map(len(rows), part, align=batch_size, name="predict_windows")


def torch_predictor(model: Any, loss: Any = None, track_perm: np.ndarray | None = None,
                    rc_average: bool = True) -> Predictor:
    """A numpy :data:`Predictor` around a torch model: :func:`predict_onehot` of one batch.

    rc_average: average ``x`` and its reverse complement (tracks re-ordered by
    ``track_perm: int[T]``) before the link, as :func:`predict_windows` does.
    """

    def f(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        return predict_onehot(model, loss, x, track_perm, batch_size=max(len(x), 1), rc_average=rc_average)

    return f


def torch_forward(model: Any, loss: Any = None, track_perm: np.ndarray | None = None, rc_average: bool = True):
    """A differentiable ``g(x: Tensor[n, 4, L]) -> Tensor[n, T, B]`` (link applied, RC-averaged), for gradients."""
    model.eval()

    def g(x):
        return forward(model, x, loss, track_perm, rc_average)

    return g


def predict_codes(f: Predictor, codes: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Predictions ``float32[n, T, B]`` of predictor ``f`` for sequence codes ``uint8[n, L]``, in batches."""
    codes = np.asarray(codes, dtype=np.uint8)
    out: list[np.ndarray] = []
    for lo in range(0, len(codes), batch_size):
        y = np.asarray(f(onehot(codes[lo : lo + batch_size])), dtype=np.float32)
        if y.ndim != 3:
            raise ValueError(f"a predictor must return float32[n, T, B]; got shape {y.shape}")
        out.append(y)
    if not out:
        raise ValueError("no sequences to predict")
    return np.concatenate(out)


def region_mean(
    f: Predictor, codes: np.ndarray, bins: slice | None = None, batch_size: int = 256,
    to_units: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Mean prediction over the target bins (or ``bins``): ``float64[n, T]``.

    to_units: maps predictions ``float[n, T, B]`` to track units before the mean (e.g.
    ``Run.to_units()``); the model scale when None.
    """
    y = predict_codes(f, codes, batch_size)
    if bins is not None:
        y = y[..., bins]
    if to_units is not None:
        y = to_units(y)
    return y.mean(axis=-1, dtype=np.float64)


__all__ = ["Predictor", "forward", "predict_codes", "predict_onehot", "predict_windows", "region_mean",
           "torch_forward", "torch_predictor"]
