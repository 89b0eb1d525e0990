"""Audit checks of the signal: sequencing depth between tracks and splits, and distribution
shift (GC content, target distribution) between training and test."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..io.chroms import canonical
from .checks import DEPTH_RATIO, KS_GC, KS_TARGET, KS_TARGET_CROSS, ORDER, SPLIT_DEPTH, Check, grade


def _track_totals(ds, chroms: list[str]) -> np.ndarray:
    """float64[T]: summed raw bins over ``chroms`` (canonical names) per track."""
    cmap = {canonical(c): c for c in ds.chroms}
    tot = np.zeros(len(ds.track_names))
    for c in chroms:
        if c in cmap:
            for t in range(len(ds.track_names)):
                tot[t] += float(np.asarray(ds.chrom_bins(cmap[c], t), np.float64).sum())
    return tot


def check_depth(ds, eval_ds=None) -> Check:
    """Signal per bp per track and split; the ratio between training and test tracks (same loci)."""
    st = ds.meta["stats"]["splits"]
    details: dict[str, Any] = {
        "per_split_mean": {s: st[s]["mean_raw"] for s in st},
        "per_split_depth": {s: st[s]["depth"] for s in st},
        "tracks": ds.track_names,
    }
    status, msgs = "pass", []
    tr = np.asarray(st["train"]["mean_raw"], np.float64)
    for s in ("val", "test"):
        r = np.asarray(st[s]["mean_raw"], np.float64) / np.where(tr > 0, tr, np.nan)
        worst = float(np.nanmax(np.maximum(r, 1 / r))) if np.isfinite(r).any() else float("nan")
        details[f"{s}_over_train"] = r.tolist()
        g = grade(worst, SPLIT_DEPTH)
        if g in ("warn", "fail"):
            status = max(status, "warn", key=ORDER.get)
            msgs.append(f"{s} has {worst:.2f}x the training split's signal per bp")
    common = sorted({canonical(c) for c in ds.chroms})
    if len(ds.track_names) > 1:
        tot = _track_totals(ds, common)
        details["track_totals"] = tot.tolist()
        r = tot.max() / max(tot.min(), 1e-12)
        details["between_tracks"] = float(r)
        if r > DEPTH_RATIO[1] and ds.norm_state.get("kind") == "none":
            msgs.append(f"tracks differ {r:.2f}x in depth and are not normalised (normalize: mean_scale)")
            status = max(status, "warn", key=ORDER.get)
    value = 1.0
    if eval_ds is not None:
        common = sorted({canonical(c) for c in ds.chroms} & {canonical(c) for c in eval_ds.chroms})
        t_tr, t_ev = _track_totals(ds, common), _track_totals(eval_ds, common)
        n = min(len(t_tr), len(t_ev))
        ratio = t_ev[:n] / np.where(t_tr[:n] > 0, t_tr[:n], np.nan)
        value = float(np.nanmax(np.maximum(ratio, 1 / ratio)))
        details["test_over_train_track"] = ratio.tolist()
        normalised = ds.norm_state.get("kind") == "mean_scale" and eval_ds.norm_state.get("kind") == "mean_scale"
        g = grade(value, DEPTH_RATIO)
        if g == "fail" and not normalised:
            status = "fail"
            msgs.append(f"the test track has {ratio[0]:.2f}x the training track's total signal on the same loci and "
                        "neither is depth-normalised: MSE and calibration are biased (normalize: mean_scale, or "
                        "downsample with `pileup --fraction`)")
        elif g in ("warn", "fail"):
            status = max(status, "warn", key=ORDER.get)
            msgs.append(f"test/train track depth ratio {ratio[0]:.2f}" + (" (both mean-scaled)" if normalised else ""))
        else:
            msgs.append(f"test/train track depth ratio {ratio[0]:.2f}")
    if not msgs:
        msgs.append("signal per bp is similar across splits" + (" and tracks" if len(ds.track_names) > 1 else ""))
    return Check("depth", status, value, "; ".join(msgs), details)


def _gc(ds, rows: np.ndarray) -> np.ndarray:
    """float64[n] GC fraction of the windows' input sequence (N excluded)."""
    w = ds.windows.iloc[rows]
    out = np.zeros(len(w))
    L = ds.input_length
    for c in w["chrom"].unique():
        m = (w["chrom"] == c).to_numpy()
        codes = np.asarray(ds.chrom_codes(c))
        gc = np.concatenate([[0], np.cumsum((codes == 1) | (codes == 2), dtype=np.int64)])
        nn = np.concatenate([[0], np.cumsum(codes < 4, dtype=np.int64)])
        s = w.loc[m, "start"].to_numpy(np.int64)
        out[m] = (gc[s + L] - gc[s]) / np.maximum(nn[s + L] - nn[s], 1)
    return out


def check_shift(ds, eval_ds=None) -> list[Check]:
    """KS statistic of window GC and of window mean (model-scale) target: train windows vs test windows."""
    from scipy.stats import ks_2samp

    tr = ds.rows("train")
    q_ds = eval_ds if eval_ds is not None else ds
    te = q_ds.rows("test")
    out = []
    if len(tr) < 2 or len(te) < 2:
        return [Check("gc_shift", "skip", float("nan"), "too few windows"),
                Check("target_shift", "skip", float("nan"), "too few windows")]
    g_tr, g_te = _gc(ds, tr), _gc(q_ds, te)
    ks = float(ks_2samp(g_tr, g_te).statistic)
    st = grade(ks, KS_GC)
    out.append(Check("gc_shift", st, ks,
                     f"GC content, train vs test windows: KS {ks:.3f} (median {np.median(g_tr):.3f} vs {np.median(g_te):.3f})",
                     {"ks": ks}))
    y_tr = ds.targets(tr).astype(np.float64).mean(axis=(1, 2))
    y_te = q_ds.targets(te).astype(np.float64).mean(axis=(1, 2))
    ks = float(ks_2samp(y_tr, y_te).statistic)
    cross = eval_ds is not None and [str(t.path) for t in ds.study.tracks] != [str(t.path) for t in eval_ds.study.tracks]
    st = grade(ks, KS_TARGET_CROSS if cross else KS_TARGET)
    msg = (f"window mean target (model scale), train vs {'eval ' if eval_ds is not None else ''}test: KS {ks:.3f} "
           f"(median {np.median(y_tr):.3g} vs {np.median(y_te):.3g})")
    if st == "fail":
        msg += ": the test distribution differs from training; expect lower metrics than within-distribution"
    out.append(Check("target_shift", st, ks, msg, {"ks": ks, "cross_track": cross,
                                                   "limits": KS_TARGET_CROSS if cross else KS_TARGET}))
    return out
