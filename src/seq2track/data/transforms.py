"""Target transforms.

* Elementwise transforms (``none | log1p | arcsinh | sqrt``) need no fitting.
* Normalisers (``none | zscore | mean_scale``) follow the contract
  ``fit(train_values) -> state`` and ``apply(values, state)``; the state is a plain dict that
  goes into the cache metadata and the manifest. They are fitted on the training split
  only; fitting on all windows is possible only through the pitfall lab, on purpose.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DataError

ELEMENTWISE = ("none", "log1p", "arcsinh", "sqrt")
NORMALIZERS = ("none", "zscore", "mean_scale")


def forward(x: np.ndarray, kind: str) -> np.ndarray:
    """Elementwise transform of raw bin means (any shape), float32."""
    x = np.asarray(x, dtype=np.float32)
    if kind == "none":
        return x
    if kind == "log1p":
        return np.log1p(x)
    if kind == "arcsinh":
        return np.arcsinh(x)
    if kind == "sqrt":
        return np.sqrt(x)
    raise ValueError(f"unknown transform {kind!r}; choose one of {ELEMENTWISE}")


def inverse(y: np.ndarray, kind: str) -> np.ndarray:
    """Inverse of :func:`forward` (back to the track's units)."""
    y = np.asarray(y, dtype=np.float32)
    if kind == "none":
        return y
    if kind == "log1p":
        return np.expm1(y)
    if kind == "arcsinh":
        return np.sinh(y)
    if kind == "sqrt":
        return np.square(np.maximum(y, 0))
    raise ValueError(f"unknown transform {kind!r}; choose one of {ELEMENTWISE}")


def check_domain(min_value: float, kind: str, track: str, path: str) -> None:
    """A negative-valued track cannot go through log1p/sqrt: error naming the track and the fix."""
    if kind in ("log1p", "sqrt") and min_value < 0:
        raise DataError(
            f"track {track} ({path}) has negative values (min {min_value:g}) and `transform: {kind}` "
            "is undefined there; use `transform: arcsinh` (defined for negative values) or `none`"
        )


def fit(train_values: np.ndarray, kind: str) -> dict[str, Any]:
    """Fit a per-track normaliser. train_values: float32[n, n_tracks, n_bins] (transformed)."""
    if kind == "none":
        return {"kind": "none"}
    v = np.asarray(train_values, dtype=np.float64)
    if v.size == 0:
        raise DataError("cannot fit the normaliser: the training split has no windows")
    axes = (0, 2)
    if kind == "zscore":
        mean = v.mean(axis=axes)
        std = v.std(axis=axes)
        std = np.where(std > 0, std, 1.0)
        return {"kind": "zscore", "mean": mean.tolist(), "std": std.tolist()}
    if kind == "mean_scale":
        mean = v.mean(axis=axes)
        mean = np.where(mean > 0, mean, 1.0)
        return {"kind": "mean_scale", "mean": mean.tolist()}
    raise ValueError(f"unknown normaliser {kind!r}; choose one of {NORMALIZERS}")


def apply(values: np.ndarray, state: dict[str, Any]) -> np.ndarray:
    """Apply a fitted normaliser to float32[n, n_tracks, n_bins]."""
    v = np.asarray(values, dtype=np.float32)
    k = state["kind"]
    if k == "none":
        return v
    mean = np.asarray(state["mean"], dtype=np.float32)[None, :, None]
    if k == "zscore":
        return (v - mean) / np.asarray(state["std"], dtype=np.float32)[None, :, None]
    if k == "mean_scale":
        return v / mean
    raise ValueError(f"unknown normaliser {k!r}")


def invert(values: np.ndarray, state: dict[str, Any]) -> np.ndarray:
    """Undo :func:`apply`."""
    v = np.asarray(values, dtype=np.float32)
    k = state["kind"]
    if k == "none":
        return v
    mean = np.asarray(state["mean"], dtype=np.float32)[None, :, None]
    if k == "zscore":
        return v * np.asarray(state["std"], dtype=np.float32)[None, :, None] + mean
    return v * mean
