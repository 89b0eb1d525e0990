"""Evaluation of a trained run on the validation and test splits, next to the k-mer baseline.

``evaluate_run(study, prepared, run_dir)`` writes ``RUN/metrics.json``, ``RUN/predictions/
{val,test}.npz`` and ``RUN/plots/*.png`` and returns the metrics dict:

* regression (``metrics.regression_metrics``): all bins of a split at the study's resolution
  on the transformed (model) scale, per track then averaged; ``per_track``; ``window_total``;
* classification on peak bins: a bin is positive when it overlaps a peak of ``study.peaks``
  (BED / narrowPeak), else when its observed transformed value exceeds
  ``evaluate.peak_threshold`` (default: the 90th percentile of the TRAINING bins, per track);
  auROC, auPRC and ``auprc_baseline`` (the prevalence: a no-skill auPRC);
* per chromosome (validation and test chromosomes);
* the k-mer ridge baseline (``study.baseline``), fitted on training windows, same metrics;
* optional ``evaluate.reference_tracks``: a noise-free or deeper version of a track (the
  simulator's ``expected_condA.bw``): its Pearson with the observed track is the ceiling
  any model can reach, reported with the model's correlation to it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from . import atomic
from .config import Study
from .errors import DataError
from .ranks import leave_if_worker
from .rundir import RunPaths
from .metrics import REGRESSION_KEYS, classification_metrics, per_group, regression_metrics

HEADLINE = REGRESSION_KEYS


# --- labels ------------------------------------------------------------------------------
def train_thresholds(prepared, quantile: float = 0.9) -> np.ndarray:
    """``float32[T]``: the ``quantile`` of each track's transformed TRAINING bins."""
    y = prepared.targets("train")
    return np.quantile(y.transpose(1, 0, 2).reshape(y.shape[1], -1), quantile, axis=1).astype(np.float32)


def read_peaks(path: str | Path, chroms: list[str]):
    """The study's peaks (BED / narrowPeak) as ``chrom, start, end`` named as in ``chroms`` (``io.intervals``)."""
    from .io.intervals import read_bed

    return read_bed(path, chroms, what="peaks", fix="fix `peaks:` in the study (a tab-separated chrom/start/end file)")


def peak_bin_labels(prepared, rows: np.ndarray, peaks) -> np.ndarray:
    """``bool[n, n_bins]``: target bins of windows ``rows`` that overlap any peak."""
    res, flank, nb = prepared.resolution, prepared.flank, prepared.n_bins
    marks: dict[str, np.ndarray] = {}
    for c, g in peaks.groupby("chrom"):
        n = prepared.chrom_sizes[c] // res
        diff = np.zeros(n + 1, dtype=np.int64)
        b0 = np.clip(g["start"].to_numpy() // res, 0, n)
        b1 = np.clip(-(-g["end"].to_numpy() // res), 0, n)  # ceil: a partial overlap counts
        np.add.at(diff, b0, 1)
        np.add.at(diff, b1, -1)
        marks[c] = np.cumsum(diff[:-1]) > 0
    w = prepared.windows.iloc[np.asarray(rows)]
    out = np.zeros((len(w), nb), dtype=bool)
    first = (w["start"].to_numpy() + flank) // res
    for i, (c, b) in enumerate(zip(w["chrom"].to_numpy(), first)):
        if c in marks:
            out[i] = marks[c][b : b + nb]
    return out


def classify(pred: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Per-track ``classification_metrics`` of ``pred, labels: [n, T, B]``; headline = mean over tracks."""
    per = {t: classification_metrics(pred[:, t], labels[:, t]) for t in range(pred.shape[1])}
    out: dict[str, Any] = {}
    for k in ("auroc", "auprc", "auprc_baseline"):
        v = np.array([m[k] for m in per.values()], dtype=np.float64)
        out[k] = float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
    out["per_track"] = per
    return out


def score(pred: np.ndarray, obs: np.ndarray, labels: np.ndarray, track_names: list[str]) -> dict[str, Any]:
    """Regression + classification metrics of one split: ``pred, obs: float32[n, T, B]``, ``labels: bool[n, T, B]``."""
    reg = regression_metrics(pred, obs, track_names)
    cls = classify(pred, labels)
    out = {k: reg[k] for k in HEADLINE}
    out.update({k: cls[k] for k in ("auroc", "auprc", "auprc_baseline")})
    out["n_windows"] = int(pred.shape[0])
    out["per_track"] = reg["per_track"]
    for t, m in cls["per_track"].items():
        out["per_track"][t].update({k: m[k] for k in ("auroc", "auprc", "auprc_baseline", "n_pos")})
    out["window_total"] = reg["window_total"]
    return out


# --- reference (ceiling) -----------------------------------------------------------------
def reference_targets(prepared, rows: np.ndarray, track: int, path: str | Path) -> np.ndarray:
    """``float32[n, B]``: a reference bigWig (same units as track ``track``) at the target bins of
    ``rows``, transformed and normalised exactly like the observed track."""
    from .data import transforms
    from .io import tracks as tracks_io
    from .io.chroms import resolve

    hdr = tracks_io.open_header(path)
    w = prepared.windows.iloc[np.asarray(rows)]
    res, nb = prepared.resolution, prepared.n_bins
    raw = prepared.raw_targets(np.asarray(rows)).copy()
    for c in np.unique(w["chrom"].to_numpy()):
        name = resolve(c, hdr.sizes)
        if name is None:
            raise DataError(f"reference track {path} has no chromosome {c}; it must cover the evaluated chromosomes")
        v = tracks_io.read_bins(path, name, prepared.chrom_sizes[c] // res, res, "zero")
        sel = np.flatnonzero(w["chrom"].to_numpy() == c)
        b0 = (w["start"].to_numpy()[sel] + prepared.flank) // res
        raw[sel, track] = v[b0[:, None] + np.arange(nb)]
    y = transforms.apply(transforms.forward(raw, prepared.transform), prepared.norm_state)
    return y[:, track]


# --- browser regions ---------------------------------------------------------------------
def browser_rows(prepared, rows: np.ndarray, n_regions: int, region_bp: int) -> list[np.ndarray]:
    """Up to ``n_regions`` runs of windows from ``rows`` whose targets tile the genome without
    overlap or gap, ~``region_bp`` long, spread evenly over the candidates (not picked by score)."""
    if n_regions <= 0 or len(rows) == 0:
        return []
    w = prepared.windows.iloc[np.asarray(rows)]
    tlen = prepared.n_bins * prepared.resolution
    per_region = max(1, region_bp // tlen)
    order = np.lexsort((w["start"].to_numpy(), w["chrom"].to_numpy()))
    chrom = w["chrom"].to_numpy()[order]
    start = w["start"].to_numpy()[order]
    srt = np.asarray(rows)[order]
    cands: list[np.ndarray] = []
    i = 0
    while i < len(srt):
        run = [i]
        j = i + 1
        while j < len(srt) and chrom[j] == chrom[i] and len(run) < per_region:
            gap = start[j] - start[run[-1]]
            if gap == tlen:
                run.append(j)
            elif gap > tlen:
                break
            j += 1
        cands.append(srt[run])
        i = j if j > i + 1 else i + 1
    longest = max(len(c) for c in cands)
    full = [c for c in cands if len(c) == longest]  # in genomic order
    pick = np.unique(np.linspace(0, len(full) - 1, num=min(n_regions, len(full))).round().astype(int))
    return [full[k] for k in pick]


# --- main --------------------------------------------------------------------------------
def _labels(study: Study, prepared, rows: np.ndarray, obs: np.ndarray, thr: np.ndarray | None, peaks) -> np.ndarray:
    if peaks is not None:
        lab = peak_bin_labels(prepared, rows, peaks)
        return np.broadcast_to(lab[:, None, :], obs.shape).copy()
    return obs > thr[None, :, None]


def fit_baseline(study: Study, prepared):
    """The k-mer ridge baseline fitted on at most ``baseline.max_train_windows`` training windows
    and ``baseline.max_train_bins`` rows (windows x target bins), a seeded random subset."""
    from .model.kmer import fit_kmer_ridge

    b = study.baseline
    rows = prepared.rows("train")
    cap = min(b.max_train_windows, max(1, b.max_train_bins // prepared.n_bins))
    if len(rows) > cap:
        rows = np.sort(np.random.default_rng([study.seed, 303]).choice(rows, cap, replace=False))
    return fit_kmer_ridge(
        prepared.codes(rows), prepared.targets(rows), prepared.flank, prepared.resolution, k_max=b.k_max,
        context=b.context, alpha=b.alpha, seed=study.seed, max_windows=len(rows),
    )


def predict_baseline(baseline, prepared, rows: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """``float32[n, T, B]`` k-mer ridge predictions, gathering sequence ``chunk`` windows at a time."""
    rows = np.asarray(rows, dtype=np.int64)
    out = np.empty((len(rows), len(prepared.track_names), prepared.n_bins), dtype=np.float32)
    for lo in range(0, len(rows), chunk):
        out[lo : lo + chunk] = baseline.predict(prepared.codes(rows[lo : lo + chunk]))
    return out


def _peak_window_metrics(prepared, rows: np.ndarray, pred: np.ndarray, names: list[str]) -> dict[str, Any]:
    """Per track: window counts (track units, summed over the target bins) at peaks and at the
    GC-matched negatives apart, auPRC of peaks vs negatives, profile JSD (``evaluate_peaks``)."""
    from .evaluate_peaks import peak_metrics

    w = prepared.all_windows
    is_peak = w.loc[w["keep"], "kind"].to_numpy()[rows] == "peak"  # kept rows, in ``windows`` order
    p, o = prepared.to_track_units(pred), prepared.raw_targets(rows)
    return {n: peak_metrics(p[:, t].sum(-1), o[:, t].sum(-1), is_peak, p[:, t], o[:, t]) for t, n in enumerate(names)}


def evaluate_run(study: Study, prepared, run_dir: str | Path, model=None, loss=None) -> dict[str, Any]:
    """Evaluate the run in ``run_dir`` (its best model unless ``model``/``loss`` are given) on
    val and test; write ``metrics.json``, predictions and plots; return the metrics."""
    from .report import plots
    from .predict import predict_windows as predict
    from .rundir import load_model

    run_dir = Path(run_dir)
    if model is None or loss is None:
        model, loss, _ = load_model(run_dir)
    # the model's predictions first: inside ranks.split_across_ranks every rank predicts its slice of
    # each split, rank 0 gathers them and goes on alone (the others leave here, having written nothing)
    preds = {split: predict(model, loss, prepared, prepared.rows(split), batch_size=study.evaluate.batch_size,
                            rc_average=study.train.rc_average_eval)
             for split in ("val", "test") if len(prepared.rows(split))}
    leave_if_worker()
    ev = study.evaluate
    names = list(prepared.track_names)
    peaks = read_peaks(study.peaks, prepared.chroms) if study.peaks else None
    if peaks is not None and len(peaks) == 0:
        raise DataError(f"peaks {study.peaks} has no peak on the study's chromosomes; check its chromosome names")
    if peaks is not None:
        thr = None
        label_source = f"bins overlapping a peak of {study.peaks}"
    elif ev.peak_threshold is not None:
        thr = np.full(len(names), ev.peak_threshold, dtype=np.float32)
        label_source = f"observed transformed signal > {ev.peak_threshold:g} (evaluate.peak_threshold)"
    else:
        thr = train_thresholds(prepared, 0.9)
        label_source = "observed transformed signal > the 90th percentile of training bins (" + ", ".join(
            f"{n}: {t:.3g}" for n, t in zip(names, thr)) + ")"
    baseline = fit_baseline(study, prepared) if study.baseline.kmer_ridge else None

    out: dict[str, Any] = {"baseline": {}, "per_chrom": {}}
    cache: dict[str, dict[str, np.ndarray]] = {}
    for split in ("val", "test"):
        rows = prepared.rows(split)
        if len(rows) == 0:
            continue
        obs = prepared.targets(rows)
        pred = preds[split]
        lab = _labels(study, prepared, rows, obs, thr, peaks)
        out[split] = score(pred, obs, lab, names)
        if "kind" in prepared.all_windows and getattr(loss, "name", "") != "bce":  # peak-centred windows
            out[split]["peak_windows"] = _peak_window_metrics(prepared, rows, pred, names)
        d = {"rows": rows, "pred": pred, "obs": obs, "labels": lab}
        if baseline is not None:
            bpred = predict_baseline(baseline, prepared, rows)
            out["baseline"][split] = score(bpred, obs, lab, names)
            d["baseline"] = bpred
        for tname, ref_path in ev.reference_tracks.items():
            if tname not in names:
                raise DataError(
                    f"evaluate.reference_tracks names track {tname!r}, which is not a track of the study ({names})"
                )
            t = names.index(tname)
            ref = reference_targets(prepared, rows, t, ref_path)
            d[f"reference_{tname}"] = ref
            r_obs = regression_metrics(ref[:, None], obs[:, t : t + 1])
            r_cnn = regression_metrics(pred[:, t : t + 1], ref[:, None])
            entry = {
                "path": str(ref_path),
                "ceiling_pearson": r_obs["pearson"],
                "ceiling_window_total_pearson": r_obs["window_total"]["pearson"],
                "model_vs_reference_pearson": r_cnn["pearson"],
                "model_vs_reference_window_total_pearson": r_cnn["window_total"]["pearson"],
            }
            if baseline is not None:
                r_b = regression_metrics(d["baseline"][:, t : t + 1], ref[:, None])
                entry["baseline_vs_reference_pearson"] = r_b["pearson"]
            out[split].setdefault("reference", {})[tname] = entry
        cache[split] = d
        chroms = prepared.windows["chrom"].to_numpy()[rows]
        for c, m in per_group(pred, obs, chroms, names).items():
            out["per_chrom"][str(c)] = {"split": split, **{k: m[k] for k in HEADLINE},
                                        "window_total_pearson": m["window_total"]["pearson"],
                                        "n_windows": int((chroms == c).sum())}
            if baseline is not None:
                sel = chroms == c
                out["per_chrom"][str(c)]["baseline_pearson"] = regression_metrics(
                    d["baseline"][sel], obs[sel])["pearson"]
    out["labels"] = {"source": label_source, "thresholds": None if thr is None else [float(t) for t in thr]}
    if baseline is not None:
        out["baseline"]["info"] = {"model": "k-mer ridge", "k_max": study.baseline.k_max,
                                   "context": study.baseline.context, "alpha": study.baseline.alpha,
                                   **baseline.info}
    done = RunPaths(run_dir).train_result
    if done.exists():
        info = json.loads(done.read_text())
        out["train"] = {k: info.get(k) for k in ("windows_per_s", "data_wait_fraction", "epochs", "best_val_loss",
                                                 "stopped_early")}
    out["run_dir"] = str(Path(run_dir).resolve())  # where it was written: `compare` reads paths relative to it
    out["resolution"] = prepared.resolution
    out["transform"] = prepared.transform
    out["track_names"] = names

    # predictions
    for split, d in cache.items():
        chrom = prepared.windows["chrom"].to_numpy()[d["rows"]].astype(str)
        start = prepared.windows["start"].to_numpy()[d["rows"]]
        extra = {k: v for k, v in d.items() if k not in ("rows", "pred", "obs", "labels")}
        with atomic.atomic_path(RunPaths(run_dir).prediction(split)) as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, rows=d["rows"], pred=d["pred"], obs=d["obs"], labels=d["labels"],
                                    chrom=chrom, start=start, **extra)
    # plots (test split)
    if "test" in cache:
        _plots(study, prepared, run_dir, cache["test"], out, plots)
    atomic.write_json(RunPaths(run_dir).metrics, out)
    return json.loads(RunPaths(run_dir).metrics.read_text())


def _plots(study: Study, prepared, run_dir: Path, d: dict[str, np.ndarray], out: dict, plots) -> None:
    unit = f"{prepared.transform} signal" if prepared.transform != "none" else "signal"
    t = 0  # the first track; one panel set per report keeps it readable
    preds = {"CNN": d["pred"][:, t]}
    if "baseline" in d:
        preds["k-mer ridge"] = d["baseline"][:, t]
    _write_bytes(RunPaths(run_dir).plot("scatter.png"), plots.scatter(d["obs"][:, t], preds, unit))
    curves = {name: (p, d["labels"][:, t]) for name, p in preds.items()}
    prev = float(d["labels"][:, t].mean())
    _write_bytes(RunPaths(run_dir).plot("roc_pr.png"), plots.roc_pr(curves, prev))
    regions = []
    rows = d["rows"]
    pos = {int(r): i for i, r in enumerate(rows)}
    res, nb, flank = prepared.resolution, prepared.n_bins, prepared.flank
    for reg in browser_rows(prepared, rows, study.evaluate.n_browser_regions, study.evaluate.browser_region_bp):
        idx = np.array([pos[int(r)] for r in reg])
        w = prepared.windows.iloc[reg]
        x = ((w["start"].to_numpy() + flank)[:, None] + res * np.arange(nb) + res / 2).ravel()
        c = str(w["chrom"].iloc[0])
        regions.append({
            "title": f"{c}:{int(x[0] - res / 2):,}-{int(x[-1] + res / 2):,} ({prepared.track_names[t]}, test)",
            "x": x,
            "obs": d["obs"][idx, t].ravel(),
            "preds": {name: p[idx].ravel() for name, p in preds.items()},
        })
    if regions:
        _write_bytes(RunPaths(run_dir).plot("browser.png"), plots.browser(regions, unit))


def _write_bytes(path: Path, data: bytes) -> None:
    with atomic.atomic_path(path) as tmp:
        tmp.write_bytes(data)
