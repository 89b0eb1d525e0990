"""Variant effect prediction: the model's output for the reference and the alternative allele.

Each variant gets a window of ``L`` bp centred on its allele (an indel's alternative window
is re-centred on the alternative allele, so both windows hold the same flanks and the
predicted target region stays centred on the variant). The effect over the target region:
``diff = mean(alt) - mean(ref)`` on the model's scale and ``log2fc = log2((alt + c) /
(ref + c))`` in track units (``c``: pseudocount), per track.

Variants that cannot be scored are kept with a ``status`` instead of a crash:
``ref_mismatch`` (REF differs from the genome), ``unknown_chrom``, ``edge`` (window runs off
the chromosome), ``symbolic`` (``<DEL>``, ``*``, breakends), ``too_long`` (indel length
change above ``max_indel``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..io.genome import encode
from ..predict import Predictor, predict_codes
from ..ranks import leave_if_worker, split_map

STATUSES = ("ok", "ref_mismatch", "unknown_chrom", "edge", "symbolic", "too_long")


def chrom_lookup(available: list[str], fetch: Callable[[str], np.ndarray]) -> Callable[[str], np.ndarray | None]:
    """``name -> uint8[chrom_len]`` for a VCF's chromosome names, through the alias function
    (``1`` == ``chr1``, ``MT`` == ``chrM``); None for a chromosome the genome lacks."""
    from ..io.chroms import resolve

    cache: dict[str, np.ndarray | None] = {}

    def get(name: str) -> np.ndarray | None:
        if name not in cache:
            r = resolve(name, available)
            cache[name] = None if r is None else fetch(r)
        return cache[name]

    return get


class VariantWindows(NamedTuple):
    """``ref, alt: uint8[m, L]`` windows of the scorable variants ``rows: int64[m]``; ``status: str[n]`` of all."""

    ref: np.ndarray
    alt: np.ndarray
    rows: np.ndarray
    status: np.ndarray


def allele_window(chrom: np.ndarray, p0: int, ref_len: int, allele: np.ndarray, length: int) -> np.ndarray | None:
    """``uint8[length]``: ``allele`` replacing ``chrom[p0 : p0 + ref_len]``, centred; None off the chromosome."""
    a = len(allele)
    left = length // 2 - a // 2
    right = length - left - a
    lo, hi = p0 - left, p0 + ref_len + right
    if lo < 0 or hi > len(chrom) or left < 0 or right < 0:
        return None
    return np.concatenate([chrom[lo:p0], allele, chrom[p0 + ref_len : hi]]).astype(np.uint8)


def variant_windows(
    variants: pd.DataFrame, chrom_codes: Mapping[str, np.ndarray] | Callable[[str], np.ndarray | None],
    length: int, max_indel: int | None = None,
) -> VariantWindows:
    """Reference and alternative windows for a table with ``chrom, pos (1-based), ref, alt, symbolic``.

    chrom_codes: ``chrom name -> uint8[chrom_len]`` (None / missing key: unknown chromosome);
    max_indel: largest ``|len(alt) - len(ref)|`` scored (default ``length // 4``).
    """
    get = chrom_codes.get if isinstance(chrom_codes, Mapping) else chrom_codes
    max_indel = length // 4 if max_indel is None else int(max_indel)
    status = np.empty(len(variants), dtype=object)
    refs, alts, rows = [], [], []
    for i, (c, pos, ref, alt, sym) in enumerate(
        zip(variants["chrom"], variants["pos"], variants["ref"], variants["alt"], variants["symbolic"])
    ):
        if sym:
            status[i] = "symbolic"
            continue
        seq = get(c)
        if seq is None:
            status[i] = "unknown_chrom"
            continue
        if abs(len(alt) - len(ref)) > max_indel or max(len(ref), len(alt)) > length // 2:
            status[i] = "too_long"
            continue
        p0 = int(pos) - 1
        r_codes, a_codes = encode(ref), encode(alt)
        if p0 + len(ref) > len(seq) or not np.array_equal(np.asarray(seq[p0 : p0 + len(ref)]), r_codes):
            status[i] = "ref_mismatch"
            continue
        w_ref = allele_window(seq, p0, len(ref), r_codes, length)
        w_alt = allele_window(seq, p0, len(ref), a_codes, length)
        if w_ref is None or w_alt is None:
            status[i] = "edge"
            continue
        status[i] = "ok"
        refs.append(w_ref)
        alts.append(w_alt)
        rows.append(i)
    empty = np.zeros((0, length), dtype=np.uint8)
    return VariantWindows(
        np.stack(refs) if refs else empty, np.stack(alts) if alts else empty, np.asarray(rows, dtype=np.int64), status
    )


class VariantEffects(NamedTuple):
    """Per variant and track, ``float64[m, T]``: region means of ref and alt, their difference
    (model scale) and the log2 fold change in track units."""

    ref: np.ndarray
    alt: np.ndarray
    diff: np.ndarray
    log2fc: np.ndarray


def variant_effects(
    f: Predictor, ref: np.ndarray, alt: np.ndarray, to_units: Callable[[np.ndarray], np.ndarray] | None = None,
    bins: slice | None = None, pseudocount: float = 1.0, batch_size: int = 256,
) -> VariantEffects:
    """Predict ``ref, alt: uint8[m, L]`` and compare them over the target bins (or ``bins``).

    to_units: maps predictions ``float[m, T, B]`` to track units for the fold change
    (identity when None). A fold change is NaN where ``value + pseudocount <= 0``.
    """
    y_ref = predict_codes(f, ref, batch_size)
    y_alt = predict_codes(f, alt, batch_size)
    if bins is not None:
        y_ref, y_alt = y_ref[..., bins], y_alt[..., bins]
    u_ref = (to_units(y_ref) if to_units else y_ref).mean(axis=-1, dtype=np.float64) + pseudocount
    u_alt = (to_units(y_alt) if to_units else y_alt).mean(axis=-1, dtype=np.float64) + pseudocount
    with np.errstate(divide="ignore", invalid="ignore"):
        lfc = np.where((u_ref > 0) & (u_alt > 0), np.log2(u_alt / u_ref), np.nan)
    m_ref = y_ref.mean(axis=-1, dtype=np.float64)
    m_alt = y_alt.mean(axis=-1, dtype=np.float64)
    return VariantEffects(m_ref, m_alt, m_alt - m_ref, lfc)


def effects_table(
    variants: pd.DataFrame, windows: VariantWindows, effects: VariantEffects | None, track_names: list[str],
) -> pd.DataFrame:
    """Long table, one row per variant and track: ``variant, chrom, pos, id, ref, alt, status,
    track, pred_ref, pred_alt, diff, log2fc, info`` (NaN predictions where status != ok)."""
    n, T = len(variants), len(track_names)
    cols = {k: np.full((n, T), np.nan) for k in ("pred_ref", "pred_alt", "diff", "log2fc")}
    if effects is not None and len(windows.rows):
        for k, v in zip(cols, (effects.ref, effects.alt, effects.diff, effects.log2fc)):
            cols[k][windows.rows] = v
    vid = [f"{c}:{p}:{r}>{a}" for c, p, r, a in zip(variants["chrom"], variants["pos"], variants["ref"], variants["alt"])]
    base = pd.DataFrame({
        "variant": vid, "chrom": variants["chrom"].to_numpy(), "pos": variants["pos"].to_numpy(),
        "id": variants["id"].fillna(".").to_numpy(), "ref": variants["ref"].to_numpy(),
        "alt": variants["alt"].to_numpy(), "status": windows.status,
    })
    parts = []
    for t, name in enumerate(track_names):
        d = base.copy()
        d["track"] = name
        for k, v in cols.items():
            d[k] = v[:, t]
        d["info"] = variants["info"].to_numpy() if "info" in variants else "."
        parts.append(d)
    out = pd.concat(parts, ignore_index=True)
    order = np.argsort(np.tile(np.arange(n), T), kind="stable")
    return out.iloc[order].reset_index(drop=True)


def score_against_truth(effect: np.ndarray, classes: np.ndarray, true_effect: np.ndarray) -> dict[str, float]:
    """How well predicted effects ``float[m]`` recover simulated truth.

    ``auroc_break_vs_neutral``: |effect| ranks motif-breaking above neutral variants;
    ``auroc_nonneutral``: the same for break + create; ``pearson`` / ``spearman`` of effect
    against ``true_effect`` over variants with both finite.
    """
    from scipy import stats
    from sklearn.metrics import roc_auc_score

    e = np.asarray(effect, dtype=np.float64)
    c = np.asarray(classes).astype(str)
    t = np.asarray(true_effect, dtype=np.float64)
    ok = np.isfinite(e)
    out: dict[str, float] = {f"n_{k}": int(((c == k) & ok).sum()) for k in ("break", "create", "neutral")}
    for name, pos in (("auroc_break_vs_neutral", ["break"]), ("auroc_nonneutral", ["break", "create"])):
        sel = ok & (np.isin(c, pos) | (c == "neutral"))
        y = np.isin(c[sel], pos)
        out[name] = float(roc_auc_score(y, np.abs(e[sel]))) if 0 < y.sum() < len(y) else float("nan")
    both = ok & np.isfinite(t)
    if both.sum() >= 3:
        out["pearson"] = float(stats.pearsonr(e[both], t[both])[0])
        out["spearman"] = float(stats.spearmanr(e[both], t[both])[0])
    else:
        out["pearson"] = out["spearman"] = float("nan")
    return out


# --- the edge: a trained run ---------------------------------------------------------------
def run_variants(
    run, vcf, out=None, max_indel: int | None = None, pseudocount: float = 1.0, batch_size: int | None = None,
) -> dict:
    """Score the variants of ``vcf`` with a trained ``run`` (``rundir.Run``).

    Writes ``out`` (default ``RUN/interpret/variants.tsv``, one row per variant and track) and
    ``variants.json`` beside it: counts per status and, when the VCF carries the simulator's
    ``CLASS`` / ``TRUE_EFFECT`` INFO keys, :func:`score_against_truth` of the predicted log2 fold
    change per track. Returns that summary.
    """
    from pathlib import Path

    from .. import atomic
    from ..io.vcf import info_column, read_vcf

    prep = run.prepared
    batch_size = int(batch_size or run.study.evaluate.batch_size)
    v = read_vcf(vcf)
    w = variant_windows(v, chrom_lookup(prep.chroms, prep.chrom_codes), prep.input_length, max_indel)
    eff = None
    if len(w.rows):
        f, units = run.predictor(), run.to_units()

        def part(lo: int, hi: int) -> tuple[np.ndarray, ...]:
            return tuple(variant_effects(f, w.ref[lo:hi], w.alt[lo:hi], units, pseudocount=pseudocount,
                                         batch_size=batch_size))

        got = split_map(len(w.rows), part, align=batch_size, name="variants")  # over ranks when split
        eff = None if got is None else VariantEffects(*got)
    leave_if_worker()  # inside ranks.split_across_ranks only rank 0 writes
    tracks = list(prep.track_names)
    table = effects_table(v, w, eff, tracks)
    out = Path(out) if out is not None else run.out / "variants.tsv"
    atomic.write_text(out, table.to_csv(sep="\t", index=False, float_format="%.6g"))
    counts = {s: int((w.status == s).sum()) for s in STATUSES}
    summary: dict = {"vcf": str(vcf), "n_variants": int(len(v)), "status": counts, "pseudocount": pseudocount,
                     "table": out.name}
    cls = info_column(v, "CLASS")
    true = info_column(v, "TRUE_EFFECT", float)
    if eff is not None and cls.notna().any() and true.notna().any():
        rows = w.rows
        summary["truth"] = {
            tn: score_against_truth(eff.log2fc[:, t], cls.to_numpy()[rows], true.to_numpy()[rows])
            for t, tn in enumerate(tracks)
        }
    atomic.write_json(out.with_suffix(".json"), summary)
    return summary
