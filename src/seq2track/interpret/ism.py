"""Attributions for single windows: in-silico mutagenesis, Integrated Gradients, sequence logos.

* :func:`ism`: every single-base substitution in a span of the window, scored as the change
  of the mean prediction over the target bins: ``float64[n, T, 4, S]`` (0 at the reference
  base). :func:`ism_importance` turns it into one score per position (minus the mean of the
  three substitution effects: how much the reference base matters).
* :func:`integrated_gradients`: captum's Integrated Gradients of the mean prediction of one
  track over the target bins, from dinucleotide-shuffled baselines (averaged over several),
  ``float32[n, 4, L]``; summed over bases it is each position's contribution
  (completeness: contributions sum to ``f(x) - f(baseline)``).
* :func:`plot_logos`: logomaker logos of per-position scores drawn at the observed base,
  with known motif sites (e.g. the simulator's planted instances) shaded.

``ism`` takes a numpy predictor like the rest of ``interpret``; Integrated Gradients needs
gradients and takes a torch function (:func:`torch_forward`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..data.cache import onehot
from ..predict import Predictor, region_mean, torch_forward
from .marginalize import shuffle_backgrounds


def centre_span(length: int, span: int) -> tuple[int, int]:
    """``(start, end)`` of the central ``span`` bp of a ``length``-bp window."""
    span = min(int(span), length)
    start = (length - span) // 2
    return start, start + span


def ism(
    f: Predictor, codes: np.ndarray, span: tuple[int, int] | None = None, bins: slice | None = None,
    batch_size: int = 256,
) -> np.ndarray:
    """In-silico mutagenesis of ``codes: uint8[n, L]`` over positions ``span = (start, end)``.

    Returns ``float64[n, T, 4, S]``: change of the target-region mean when the base at
    ``start + j`` is replaced by base ``b`` (0 where ``b`` is the reference base).
    """
    codes = np.atleast_2d(np.asarray(codes, dtype=np.uint8))
    n, L = codes.shape
    s0, s1 = span if span is not None else (0, L)
    S = s1 - s0
    pos = np.repeat(np.arange(s0, s1), 4)
    base = np.tile(np.arange(4, dtype=np.uint8), S)
    out = None
    for i in range(n):
        ref = region_mean(f, codes[i : i + 1], bins, batch_size)  # [1, T]
        is_ref = codes[i, pos] == base
        mut = np.repeat(codes[i : i + 1], int((~is_ref).sum()), axis=0)
        mpos, mbase = pos[~is_ref], base[~is_ref]
        mut[np.arange(len(mut)), mpos] = mbase
        y = region_mean(f, mut, bins, batch_size) - ref  # [m, T]
        if out is None:
            out = np.zeros((n, y.shape[1], 4, S))
        out[i][:, mbase, mpos - s0] = y.T
    return out


def ism_importance(scores: np.ndarray) -> np.ndarray:
    """Per-position importance ``float64[..., S]`` from ISM ``float[..., 4, S]``: minus the mean of the
    three substitution effects (positive: the reference base raises the prediction)."""
    return -scores.sum(axis=-2) / 3.0


def integrated_gradients(
    g: Callable, codes: np.ndarray, rng: np.random.Generator, track: int = 0, bins: slice | None = None,
    n_baselines: int = 4, n_steps: int = 32, batch_size: int = 128,
) -> np.ndarray:
    """Integrated Gradients (captum) of the mean over target bins of track ``track``.

    g: differentiable ``Tensor[n, 4, L] -> Tensor[n, T, B]`` (see :func:`torch_forward`);
    codes: uint8[n, L]. Baselines are ``n_baselines`` dinucleotide shuffles of each sequence;
    the attributions (``float32[n, 4, L]``) are their average.
    """
    import torch
    from captum.attr import IntegratedGradients

    codes = np.atleast_2d(np.asarray(codes, dtype=np.uint8))
    sl = bins if bins is not None else slice(None)

    def scalar(x):
        return g(x)[:, track, sl].mean(dim=-1)

    ig = IntegratedGradients(scalar)
    x = torch.from_numpy(onehot(codes))
    acc = torch.zeros_like(x)
    for _ in range(n_baselines):
        base = torch.from_numpy(onehot(shuffle_backgrounds(codes, rng)))
        acc += ig.attribute(x, baselines=base, n_steps=n_steps, internal_batch_size=batch_size).detach()
    return (acc / n_baselines).numpy().astype(np.float32)


def observed(scores: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """``float32[4, S]``: per-position ``scores: float[S]`` placed at the observed base of ``codes: uint8[S]``."""
    return (onehot(np.asarray(codes, dtype=np.uint8)[None])[0] * np.asarray(scores, dtype=np.float32)[None, :])


def site_enrichment(scores: np.ndarray, sites: Sequence[tuple[int, int]]) -> float:
    """Mean |score| inside ``sites`` (``[start, end)`` in span coordinates) over the mean outside; NaN if none."""
    s = np.abs(np.asarray(scores, dtype=np.float64))
    inside = np.zeros(len(s), dtype=bool)
    for a, b in sites:
        inside[max(a, 0) : max(min(b, len(s)), 0)] = True
    if not inside.any() or inside.all():
        return float("nan")
    out = s[~inside].mean()
    return float(s[inside].mean() / out) if out > 0 else float("inf")


def plot_logos(
    panels: Sequence[tuple[str, np.ndarray]], path: str | Path, x0: int = 0,
    sites: Sequence[tuple[int, int, str]] = (), title: str = "",
) -> Path:
    """Draw one logomaker logo per panel (``(label, float[4, S])``) and save a PNG (atomically).

    x0: coordinate of the first column (e.g. the genomic start of the span);
    sites: ``(start, end, label)`` in the same coordinates, shaded on every panel.
    """
    import logomaker
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from .. import atomic

    S = panels[0][1].shape[1]
    width = min(max(8.0, S / 25), 40.0)
    fig, axes = plt.subplots(len(panels), 1, figsize=(width, 1.9 * len(panels)), squeeze=False)
    idx = np.arange(x0, x0 + S)
    for ax, (label, mat) in zip(axes[:, 0], panels):
        df = pd.DataFrame(np.asarray(mat, dtype=np.float64).T, columns=list("ACGT"), index=idx)
        logomaker.Logo(df, ax=ax, color_scheme="classic", baseline_width=0.3)
        for a, b, name in sites:
            if b > x0 and a < x0 + S:
                ax.axvspan(a - 0.5, b - 0.5, color="gold", alpha=0.3, zorder=-1)
                ax.text((a + b) / 2, ax.get_ylim()[1], name, ha="center", va="top", fontsize=7)
        ax.set_ylabel(label, fontsize=8)
        ax.set_xlim(x0 - 0.5, x0 + S - 0.5)
    if title:
        axes[0, 0].set_title(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    return path


# --- the edge: a trained run ---------------------------------------------------------------
def parse_region(text: str) -> tuple[str, int, int]:
    """``chr:start-end`` (0-based, half-open like BED; commas allowed) -> ``(chrom, start, end)``."""
    import re

    from ..errors import ConfigError

    m = re.match(r"^\s*([^:\s]+):([\d,]+)-([\d,]+)\s*$", text)
    if not m:
        raise ConfigError(f"region {text!r} is not chrom:start-end (e.g. chr1:10000-10256)")
    c, s, e = m.group(1), int(m.group(2).replace(",", "")), int(m.group(3).replace(",", ""))
    if e <= s:
        raise ConfigError(f"region {text!r}: end must be greater than start")
    return c, s, e


def top_windows(pred_mean: np.ndarray, starts: np.ndarray, chroms: np.ndarray, k: int, length: int) -> np.ndarray:
    """Indices of the ``k`` highest ``pred_mean`` windows, no two of them overlapping."""
    order = np.argsort(-pred_mean, kind="stable")
    picked: list[int] = []
    for i in order:
        if all(chroms[i] != chroms[j] or abs(int(starts[i]) - int(starts[j])) >= length for j in picked):
            picked.append(int(i))
            if len(picked) == k:
                break
    return np.asarray(picked, dtype=np.int64)


def run_attribute(
    run, region: str | None = None, top: int | None = None, span: int = 400, track: int | str = 0,
    n_baselines: int = 4, ig_steps: int = 32, seed: int | None = None, batch_size: int = 256,
) -> dict:
    """ISM and Integrated Gradients for chosen windows of a trained ``run``; logos with known sites.

    region: one window of the input length centred on ``chr:start-end``; top: the ``top``
    non-overlapping test windows with the highest mean prediction of ``track``. Writes
    ``RUN/interpret/attributions/`` (one PNG per window, ``attributions.tsv`` and ``.npz``).
    On simulated data the planted motif instances of ``truth.json`` are shaded and the
    attribution enrichment inside them (mean |score| inside / outside) is reported.
    """
    import pandas as pd

    from .. import atomic
    from ..errors import ConfigError, DataError
    from ..io.chroms import resolve

    prep = run.prepared
    L = prep.input_length
    tracks = list(prep.track_names)
    if isinstance(track, str) and track in tracks:
        t: int | None = tracks.index(track)
    else:
        t = int(track) if str(track).isdigit() else None
    if t is None or not 0 <= t < len(tracks):
        raise ConfigError(f"track {track!r} is not a track of this run; tracks: {', '.join(tracks)}")
    if (region is None) == (top is None):
        raise ConfigError("give exactly one of --region chr:start-end or --top N")
    seed = int(run.study.seed if seed is None else seed)
    f = run.predictor()
    chosen: list[tuple[str, int]] = []  # (chrom, window start)
    if region is not None:
        c, s, e = parse_region(region)
        rc = resolve(c, prep.chroms)
        if rc is None:
            raise DataError(f"chromosome {c} is not in this run's genome (it has: {', '.join(prep.chroms)})")
        w0 = (s + e) // 2 - L // 2
        if w0 < 0 or w0 + L > prep.chrom_sizes[rc]:
            raise DataError(f"region {region}: the {L}-bp window around it runs off {rc}; pick a region further inside")
        chosen.append((rc, w0))
    else:
        rows = prep.rows("test")
        mean = region_mean(f, prep.codes(rows), batch_size=batch_size)[:, t]
        w = prep.windows.iloc[rows]
        pick = top_windows(mean, w["start"].to_numpy(), w["chrom"].to_numpy(), int(top), L)
        chosen = [(str(w["chrom"].iloc[i]), int(w["start"].iloc[i])) for i in pick]
    codes = np.stack([np.asarray(prep.chrom_codes(c)[s : s + L]) for c, s in chosen])
    s0, s1 = centre_span(L, span)
    ism_scores = ism(f, codes, (s0, s1), batch_size=batch_size)
    g = torch_forward(run.model, run.loss, prep.rc_perm)
    ig = integrated_gradients(g, codes, np.random.default_rng([seed, 5]), track=t, n_baselines=n_baselines,
                              n_steps=ig_steps)
    pred = region_mean(f, codes, batch_size=batch_size)[:, t]
    truth = run.truth()
    inst = pd.DataFrame(truth["instances"]) if truth and truth.get("instances") else None
    out = run.out / "attributions"
    rows_out = []
    for i, (c, ws) in enumerate(chosen):
        imp = ism_importance(ism_scores[i, t])  # [S]
        ig_pos = ig[i].sum(axis=0)[s0:s1]  # [S]
        x0 = ws + s0
        sites: list[tuple[int, int, str]] = []
        if inst is not None:
            sel = inst[(inst["chrom"] == c) & (inst["end"] > x0) & (inst["start"] < ws + s1)]
            sites = [(int(a), int(b), str(m)) for a, b, m in zip(sel["start"], sel["end"], sel["motif"])]
        label = f"{c}_{ws}_{ws + L}"
        plot_logos([("ISM", observed(imp, codes[i, s0:s1])), ("IG", observed(ig_pos, codes[i, s0:s1]))],
                   out / f"{label}.png", x0=x0, sites=sites,
                   title=f"{c}:{x0}-{ws + s1} ({tracks[t]}, predicted {pred[i]:.3g})")
        local = [(a - x0, b - x0) for a, b, _ in sites]
        rows_out.append({"window": label, "chrom": c, "start": ws, "end": ws + L, "span_start": x0,
                         "span_end": ws + s1, "track": tracks[t], "prediction": float(pred[i]),
                         "n_sites": len(sites), "sites": ",".join(m for _, _, m in sites),
                         "ism_site_enrichment": site_enrichment(imp, local),
                         "ig_site_enrichment": site_enrichment(ig_pos, local), "png": f"{label}.png"})
    table = pd.DataFrame(rows_out)
    atomic.write_text(out / "attributions.tsv", table.to_csv(sep="\t", index=False, float_format="%.6g"))
    with atomic.atomic_path(out / "attributions.npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, chrom=np.array([c for c, _ in chosen]), start=np.array([s for _, s in chosen]),
                                span=np.array([s0, s1]), ism=ism_scores.astype(np.float32), ig=ig)
    return {"windows": table.to_dict(orient="records"), "track": tracks[t], "span": [s0, s1]}
