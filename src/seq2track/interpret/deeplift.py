"""Attributions over many windows: DeepLIFT/SHAP (tangermeme), Integrated Gradients, ISM.

The explained scalar of a window is **the summed predicted signal over the target bins of
one track**: ``predict.forward(model, x, loss, rc_perm).sum(bins)[:, track]``, the project's
one prediction (loss link applied, reverse-complement averaged before the link).

* :func:`deeplift_shap`: tangermeme's ``deep_lift_shap`` (DeepLIFT rescale rule, DeepSHAP
  over references) from ``k`` dinucleotide-shuffled references per window (tangermeme's
  ``dinucleotide_shuffle``, seeded). Returns *hypothetical* contributions ``float32[n, 4, L]``
  (what TF-MoDISco clusters); actual contributions are ``hyp * onehot`` and obey DeepLIFT's
  summation-to-delta: they sum to ``f(x) - mean_k f(ref_k)``; :attr:`Attributions.delta`
  is the measured violation per window.
* :func:`run_attribute_many` computes blocks of ``evaluate.batch_size`` windows, each block seeded
  on its own (``(seed, block)``), so a window's attribution does not depend on the rank count;
  inside ``ranks.split_across_ranks`` (``torchrun ... -m seq2track attribute``) the blocks are
  split over the ranks and rank 0 writes.
* :func:`ig_attributions` / :func:`ism_attributions`: ``ism.integrated_gradients`` and
  ``ism.ism`` on the same scalar (reused, not re-implemented).

How the model is made explainable by tangermeme (:class:`_Scalar`): tangermeme runs
``[X; R]`` (inputs, references) as one batch and each nonlinear module's rule pairs the two
halves of the batch it stored in a hook. ``rc_average`` calls the model twice, which would
overwrite the stored half of the first call; the wrapper therefore calls the model once on
``[X; RC(X); R; RC(R)]`` (halves still paired: X with R, RC(X) with RC(R)), averages the raw
outputs exactly as ``architectures.rc_average`` does and applies the loss link as a module
tangermeme has a rule for (Poisson ``nn.Softplus``, BCE ``nn.Sigmoid``, MSE identity).
Rules: tangermeme's for GELU, Softplus, Sigmoid and MaxPool1d; the exponential stem
:class:`~seq2track.model.architectures.ClampedExp` is registered with tangermeme's elementwise
rescale rule ``_nonlinear``. Not handled (delta reported, not hidden): ``base_dilated``'s
functional ``F.gelu`` and the multinomial link (softmax x total; refused).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..data.cache import onehot
from ..predict import predict_onehot
from ..ranks import leave_if_worker, split_map

METHODS = ("deepliftshap", "ig", "ism")


class Attributions(NamedTuple):
    """hyp: float32[n, 4, L] hypothetical (DeepLIFT/SHAP, ISM) or observed-base (IG) scores;
    pred: float64[n] the explained scalar; ref: float64[n] its mean over the references
    (NaN for ISM); delta: float64[n] ``sum(hyp * onehot) - (pred - ref)`` (NaN for ISM)."""

    hyp: np.ndarray
    pred: np.ndarray
    ref: np.ndarray
    delta: np.ndarray


def window_sum(model: Any, loss: Any, x: np.ndarray, track: int, rc_perm: np.ndarray | None,
               batch_size: int = 256) -> np.ndarray:
    """``float64[n]``: the explained scalar (summed target-bin prediction of ``track``, RC-averaged)
    of one-hot ``x: float32[n, 4, L]`` through the project's prediction loop."""
    y = predict_onehot(model, loss, x, rc_perm, batch_size=batch_size, rc_average=True)
    return y[:, track].sum(axis=-1, dtype=np.float64)


def _link_module(loss: Any):
    from torch import nn

    from ..errors import ConfigError

    name = getattr(loss, "name", "")
    if name == "multinomial":
        raise ConfigError("--method deepliftshap: the multinomial link (softmax x total) has no DeepLIFT rule "
                          "in tangermeme; use --method ig or ism")
    return {"poisson": nn.Softplus(), "bce": nn.Sigmoid()}.get(name, nn.Identity())


def _scalar_module(model: Any, loss: Any, track: int, rc_perm: np.ndarray | None):
    """``x: Tensor[2b, 4, L] -> Tensor[2b, 1]``: the explained scalar, one model call per batch."""
    import torch
    from torch import nn

    from ..model.architectures import reverse_complement

    class _Scalar(nn.Module):
        def __init__(self):
            super().__init__()
            self.model, self.link, self.track = model, _link_module(loss), int(track)
            perm = None if rc_perm is None else torch.as_tensor(np.asarray(rc_perm), dtype=torch.long)
            self.register_buffer("perm", perm, persistent=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            a, b = x.chunk(2)  # tangermeme's layout: inputs, then their references
            z = self.model(torch.cat([a, reverse_complement(a), b, reverse_complement(b)]))
            za, zar, zb, zbr = z.chunk(4)
            zar, zbr = zar.flip(dims=(-1,)), zbr.flip(dims=(-1,))
            if self.perm is not None:
                zar, zbr = zar.index_select(1, self.perm), zbr.index_select(1, self.perm)
            avg = torch.cat([(za + zar) / 2, (zb + zbr) / 2])[:, self.track]  # [2b, B]
            return self.link(avg).sum(dim=-1, keepdim=True)

    return _Scalar()


def deeplift_shap(model: Any, loss: Any, codes: np.ndarray, track: int = 0, rc_perm: np.ndarray | None = None,
                  n_shuffles: int = 10, seed: int = 0, batch_size: int = 64) -> Attributions:
    """DeepLIFT/SHAP (tangermeme) of the explained scalar for N-free ``codes: uint8[n, L]``.

    References: ``n_shuffles`` dinucleotide shuffles per window (tangermeme's, ``random_state =
    seed``); ``batch_size`` counts window-reference pairs.
    """
    import warnings

    import torch
    from tangermeme.deep_lift_shap import _nonlinear, deep_lift_shap as _dls

    from ..errors import DataError
    from ..model.architectures import ClampedExp

    codes = np.atleast_2d(np.asarray(codes, dtype=np.uint8))
    if (codes == 4).any():
        raise DataError(f"window {int(np.flatnonzero((codes == 4).any(axis=1))[0])} holds N bases; "
                        "DeepLIFT/SHAP needs N-free windows")
    x = onehot(codes)
    module = _scalar_module(model, loss, track, rc_perm)
    det, warn_only = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    if det:  # training leaves deterministic mode on; tangermeme's max-pool rule uses max_unpool, which
        torch.use_deterministic_algorithms(True, warn_only=True)  # has no flagged-deterministic kernel
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)  # the delta is measured below instead
        try:
            res = _dls(module, torch.from_numpy(x), batch_size=max(2, int(batch_size)), n_shuffles=int(n_shuffles),
                       hypothetical=True, return_references=True, additional_nonlinear_ops={ClampedExp: _nonlinear},
                       device="cpu", random_state=int(seed))
        finally:
            torch.use_deterministic_algorithms(det, warn_only=warn_only)
    hyp = res.attributions.float().numpy()
    refs = res.references.float().numpy()  # [n, k, 4, L]
    n, k, _, L = refs.shape
    pred = window_sum(model, loss, x, track, rc_perm)
    ref = window_sum(model, loss, refs.reshape(n * k, 4, L), track, rc_perm).reshape(n, k).mean(axis=1)
    total = (hyp.astype(np.float64) * x).sum(axis=(1, 2))
    return Attributions(hyp, pred, ref, total - (pred - ref))


def ig_attributions(model: Any, loss: Any, codes: np.ndarray, rng: np.random.Generator, track: int = 0,
                    rc_perm: np.ndarray | None = None, n_baselines: int = 4, n_steps: int = 32) -> Attributions:
    """Integrated Gradients (``ism.integrated_gradients``, captum) of the explained scalar, at the
    observed base. Completeness is not re-measured here (``ref``/``delta`` NaN; tested in test_ism)."""
    from ..predict import torch_forward
    from .ism import integrated_gradients

    codes = np.atleast_2d(np.asarray(codes, dtype=np.uint8))
    x = onehot(codes)
    n_bins = predict_onehot(model, loss, x[:1], rc_perm, rc_average=True).shape[-1]
    a = integrated_gradients(torch_forward(model, loss, rc_perm), codes, rng, track=track, n_baselines=n_baselines,
                             n_steps=n_steps)  # explains the mean over bins: x n_bins = the sum
    proj = (a.sum(axis=1, keepdims=True) * x * n_bins).astype(np.float32)
    nan = np.full(len(codes), np.nan)
    return Attributions(proj, window_sum(model, loss, x, track, rc_perm), nan, nan)


def ism_attributions(model: Any, loss: Any, codes: np.ndarray, track: int = 0,
                     rc_perm: np.ndarray | None = None) -> Attributions:
    """In-silico mutagenesis (``ism.ism``) of every position on the explained scalar, mean-centred per
    position (the hypothetical form of ISM). No summation promise: ``ref``/``delta`` NaN."""
    from ..predict import torch_predictor
    from .ism import ism

    codes = np.atleast_2d(np.asarray(codes, dtype=np.uint8))
    f = torch_predictor(model, loss, rc_perm, rc_average=True)
    x = onehot(codes)
    n_bins = int(f(x[:1]).shape[-1])
    s = ism(f, codes)[:, track] * n_bins  # [n, 4, L]: change of the mean x n_bins = change of the sum
    hyp = (s - s.mean(axis=1, keepdims=True)).astype(np.float32)
    nan = np.full(len(codes), np.nan)
    return Attributions(hyp, window_sum(model, loss, x, track, rc_perm), nan, nan)


# --- windows -------------------------------------------------------------------------------
def select_windows(prepared: Any, regions: str, n: int, rng: np.random.Generator) -> list[tuple[str, int]]:
    """``(chrom, start)`` of up to ``n`` N-free, non-overlapping windows of the input length.

    regions: ``test`` / ``all`` (prepared windows of the test split / of every split, random
    order) or a BED path (windows centred on each interval's centre, random order).
    """
    from ..errors import ConfigError, DataError
    from ..io.intervals import read_bed

    L = prepared.input_length
    if regions in ("test", "all"):
        w = prepared.windows.iloc[prepared.rows("test" if regions == "test" else None)]
        if len(w) == 0:
            raise DataError(f"the {regions} windows of {prepared.root} are empty; check `split:` in the study")
        order = rng.permutation(len(w))
        cand = [(str(w["chrom"].iloc[i]), int(w["start"].iloc[i])) for i in order]
    else:
        path = Path(regions)
        if not path.exists():
            raise ConfigError(f"--regions {regions!r} is not test, all or an existing BED file")
        bed = read_bed(path, list(prepared.chroms), what="regions", fix="give a BED with chrom, start, end")
        mid = ((bed["start"] + bed["end"]) // 2).to_numpy()
        cand = [(str(bed["chrom"].iloc[i]), int(mid[i]) - L // 2) for i in rng.permutation(len(bed))]
    out: list[tuple[str, int]] = []
    taken: dict[str, list[int]] = {}
    for c, s in cand:
        if s < 0 or s + L > prepared.chrom_sizes[c] or any(abs(s - t) < L for t in taken.get(c, [])):
            continue
        if (np.asarray(prepared.chrom_codes(c)[s : s + L]) == 4).any():
            continue
        taken.setdefault(c, []).append(s)
        out.append((c, s))
        if len(out) == n:
            break
    if not out:
        raise DataError(f"no N-free {L}-bp window among the {regions} regions")
    return out


def write_attribution_bigwig(path: str | Path, sizes: dict[str, int], chroms: list[str],
                             windows: list[tuple[str, int]], per_base: np.ndarray) -> Path:
    """Per-base scores ``per_base: float32[n, L]`` of non-overlapping ``windows`` as a bigWig
    (pyBigWig, atomically); bases outside every window are absent."""
    import pyBigWig

    from ..atomic import atomic_path

    order = sorted(range(len(windows)), key=lambda i: (chroms.index(windows[i][0]), windows[i][1]))
    path = Path(path)
    with atomic_path(path) as tmp:
        bw = pyBigWig.open(str(tmp), "w")
        try:
            bw.addHeader([(c, int(sizes[c])) for c in chroms], maxZooms=10)
            for i in order:
                c, s = windows[i]
                bw.addEntries(c, int(s), values=per_base[i].astype(np.float64).tolist(), span=1, step=1)
        finally:
            bw.close()
    return path


def run_attribute_many(run: Any, method: str = "deepliftshap", regions: str = "test", n: int = 1000,
                       track: int | str = 0, n_shuffles: int = 10, seed: int | None = None,
                       out: str | Path | None = None, bigwig: bool = True, shuffle_inputs: bool = False) -> dict:
    """Attributions of ``n`` windows of a trained ``run`` -> ``out`` (default
    ``RUN/interpret/attributions/<method>/``): ``ohe.npz`` and ``hyp.npz`` (``arr_0: float32[n, 4, L]``,
    modisco-lite's ``-s``/``-a`` inputs), ``windows.tsv`` (chrom, start, end, pred, ref, delta),
    ``attribution.bw`` (actual contributions per base) and ``summary.json``. Returns the summary.

    ``shuffle_inputs``: each window is dinucleotide-shuffled first (``marginalize.dinucleotide_shuffle``,
    seeded) -- the negative control of motif discovery; no bigWig then (the bases are not the genome's)."""
    import pandas as pd

    from .. import atomic
    from ..errors import ConfigError

    if method not in METHODS:
        raise ConfigError(f"--method {method!r} is not one of {', '.join(METHODS)}")
    prep = run.prepared
    tracks = list(prep.track_names)
    t = tracks.index(track) if track in tracks else (int(track) if str(track).isdigit() else -1)
    if not 0 <= t < len(tracks):
        raise ConfigError(f"--track {track!r} is not a track of this run; tracks: {', '.join(tracks)}")
    seed = int(run.study.seed if seed is None else seed)
    rng = np.random.default_rng([seed, 18])
    windows = select_windows(prep, regions, int(n), rng)
    L = prep.input_length
    codes = np.stack([np.asarray(prep.chrom_codes(c)[s : s + L]) for c, s in windows])
    if shuffle_inputs:
        from .marginalize import shuffle_backgrounds

        codes = shuffle_backgrounds(codes, np.random.default_rng([seed, 18, 1]))
        bigwig = False

    block = int(run.study.evaluate.batch_size)

    def part(lo: int, hi: int) -> tuple[np.ndarray, ...]:
        """Windows lo..hi in blocks of ``block``, block ``j`` seeded by ``(seed, j)``: the same numbers
        whichever rank computes it (``ranks.split_map`` cuts on block edges)."""
        out = []
        for j0 in range(lo, hi, block):
            c, j = codes[j0 : min(j0 + block, hi)], j0 // block
            if method == "deepliftshap":
                bseed = int(np.random.default_rng([seed, 18, 2, j]).integers(2**31 - 1))
                a = deeplift_shap(run.model, run.loss, c, t, prep.rc_perm, n_shuffles=n_shuffles, seed=bseed)
            elif method == "ig":
                a = ig_attributions(run.model, run.loss, c, np.random.default_rng([seed, 18, 3, j]), t, prep.rc_perm,
                                    n_baselines=n_shuffles)
            else:
                a = ism_attributions(run.model, run.loss, c, t, prep.rc_perm)
            out.append(a)
        return tuple(np.concatenate([getattr(a, f) for a in out]) for f in Attributions._fields)

    got = split_map(len(codes), part, align=block, name=f"attribute {method}")
    leave_if_worker()  # inside ranks.split_across_ranks only rank 0 goes on to write
    a = Attributions(*got)
    x = onehot(codes)
    d = Path(out) if out is not None else run.out / "attributions" / method
    for name, arr in (("ohe", x), ("hyp", a.hyp)):
        with atomic.atomic_path(d / f"{name}.npz") as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, arr_0=arr.astype(np.float32))
    tab = pd.DataFrame({"chrom": [c for c, _ in windows], "start": [s for _, s in windows],
                        "end": [s + L for _, s in windows], "pred": a.pred, "ref": a.ref, "delta": a.delta})
    atomic.write_text(d / "windows.tsv", tab.to_csv(sep="\t", index=False, float_format="%.6g"))
    files = ["ohe.npz", "hyp.npz", "windows.tsv"]
    if bigwig:
        write_attribution_bigwig(d / "attribution.bw", prep.chrom_sizes, list(prep.chroms), windows,
                                 (a.hyp * x).sum(axis=1))
        files.append("attribution.bw")
    fin = np.isfinite(a.delta)
    summary = {
        "method": method, "regions": str(regions), "n": len(windows), "input_length": L, "track": tracks[t],
        "scalar": f"sum over the {prep.n_bins} target bins of {tracks[t]}'s prediction (target scale), RC-averaged",
        "n_references": int(n_shuffles) if method != "ism" else 0, "seed": seed,
        "shuffled_inputs": bool(shuffle_inputs),
        "max_abs_delta": float(np.abs(a.delta[fin]).max()) if fin.any() else None,
        "max_abs_pred_minus_ref": float(np.abs(a.pred - a.ref)[fin].max()) if fin.any() else None,
        "files": files + ["summary.json"],
    }
    atomic.write_json(d / "summary.json", summary)
    return {**summary, "dir": str(d)}


__all__ = ["Attributions", "METHODS", "deeplift_shap", "ig_attributions", "ism_attributions",
           "run_attribute_many", "select_windows", "window_sum", "write_attribution_bigwig"]
