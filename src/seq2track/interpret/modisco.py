"""Motif discovery from attributions: TF-MoDISco (modisco-lite) patterns matched to JASPAR with
TOMTOM (memelite), positive and negative patterns kept apart (a repressor is a negative pattern).

Input: the arrays ``seq2track attribute --method deepliftshap`` writes (``ohe.npz``, ``hyp.npz``:
``float32[n, 4, L]``). :func:`discover` runs ``modiscolite.tfmodisco.TFMoDISco`` on them;
:func:`trim_bounds` cuts each pattern to its core (30% of the peak contribution, then edges
below 0.3 bit dropped) and patterns with few seqlets or a low-information core are marked
``skipped``; :func:`match` compares every other core with every JASPAR matrix by TOMTOM and
turns the p-values into q-values (Benjamini-Hochberg over the database, as TOMTOM reports
them); :func:`run_motifs` writes ``patterns.tsv`` / ``patterns.json`` (untrimmed matrices kept
for the report's logos, ``report/motifs.py``) into the folder.

A control (``attribute --shuffle-inputs``) is judged at the real run's seqlet threshold:
modisco-lite fits its threshold to each data set's own scores and lets at least 3% of the
windows pass, so on a control it always returns the strongest seqlets there are.
:func:`seqlet_threshold` records the real run's (the weakest |window sum| that made a seqlet);
``run_motifs(..., threshold_from=REAL)`` hands modisco-lite the fraction of the control's
windows at or above it (:func:`passing_fraction`) as both its floor and its cap, so the control's
seqlets are the windows that would have been seqlets in the real run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .. import atomic
from ..errors import DataError


def _load(attr_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    def one(name: str) -> np.ndarray:
        p = attr_dir / name
        if not p.exists():
            raise DataError(f"{p} is missing; run `seq2track attribute RUN --method deepliftshap --out {attr_dir}` first")
        with np.load(p) as z:
            return np.asarray(z[z.files[0]], dtype=np.float32)

    ohe, hyp = one("ohe.npz"), one("hyp.npz")
    if ohe.shape != hyp.shape or ohe.ndim != 3 or ohe.shape[1] != 4:
        raise DataError(f"{attr_dir}: ohe.npz {ohe.shape} and hyp.npz {hyp.shape} must both be [n, 4, L]")
    return ohe, hyp


def column_ic(ppm: np.ndarray, pseudocount: float = 1e-3) -> np.ndarray:
    """``float[w]``: information content (bits, uniform background) of each column of ``ppm: float[4, w]``."""
    p = (np.asarray(ppm, dtype=np.float64) + pseudocount)
    p = p / p.sum(0, keepdims=True)
    return (p * np.log2(p / 0.25)).sum(0)


def trim_bounds(ppm: np.ndarray, contrib: np.ndarray, frac: float = 0.3, min_ic: float = 0.3) -> tuple[int, int]:
    """``(start, end)`` of a pattern's core: the span of columns whose |contribution| is at least
    ``frac`` of its peak (modisco's trim), then narrowed from both edges to the first and last
    column of at least ``min_ic`` bits (interior columns are kept, so gapped motifs stay whole).
    ``ppm, contrib: float[4, w]``; ``(0, 0)`` when no column of the core reaches ``min_ic``."""
    score = np.abs(contrib).sum(0)
    keep = np.flatnonzero(score >= frac * score.max()) if score.max() > 0 else np.arange(score.size)
    a, b = int(keep.min()), int(keep.max()) + 1
    inform = np.flatnonzero(column_ic(ppm[:, a:b]) >= min_ic)
    if inform.size == 0:
        return 0, 0
    return a + int(inform.min()), a + int(inform.max()) + 1


def _skip_reason(n_seqlets: int, ic: np.ndarray, min_seqlets: int, min_total_ic: float,
                 min_mean_ic: float) -> str | None:
    """Why a pattern with ``n_seqlets`` and core column ICs ``ic: float[w]`` is not matched (None: it is)."""
    if n_seqlets < min_seqlets:
        return f"{n_seqlets} seqlets < {min_seqlets}"
    if ic.size == 0:
        return "no column of its core reaches the IC threshold"
    if ic.sum() < min_total_ic:
        return f"core information {ic.sum():.1f} bits < {min_total_ic:g}"
    if ic.mean() < min_mean_ic:
        return f"core mean information {ic.mean():.2f} bits/column < {min_mean_ic:g}"
    return None


#: modisco-lite's defaults for the share of windows that pass its seqlet threshold
MIN_PASSING, MAX_PASSING = 0.03, 0.2


def window_scores(ohe: np.ndarray, hyp: np.ndarray, window: int = 21) -> np.ndarray:
    """``float64[n, L - window + 1]``: the actual contribution (``ohe * hyp`` summed over bases) summed
    over every ``window`` bases, the score modisco-lite thresholds. ``ohe, hyp: float32[n, 4, L]``."""
    c = np.multiply(ohe, hyp).sum(axis=1)
    cs = np.hstack([np.zeros((len(c), 1)), np.cumsum(c, axis=-1)])
    return cs[:, window:] - cs[:, :-window]


def seqlet_threshold(ohe: np.ndarray, hyp: np.ndarray, window: int = 21, flank: int = 10,
                     target_fdr: float = 0.2) -> float:
    """The weakest |window score| that became a seqlet when modisco-lite ran on ``ohe, hyp``
    (its own threshold: a Laplace null at ``target_fdr``, then 3-20% of windows passing); inf when
    no window passed."""
    from modiscolite.extract_seqlets import extract_seqlets

    scores = window_scores(ohe, hyp, window)
    seqlets, _ = extract_seqlets(attribution_scores=np.multiply(ohe, hyp).sum(axis=1), window_size=window,
                                 flank=flank, suppress=int(0.5 * window) + flank, target_fdr=target_fdr,
                                 min_passing_windows_frac=MIN_PASSING, max_passing_windows_frac=MAX_PASSING,
                                 weak_threshold_for_counting_sign=0.8)
    at = [abs(scores[s.example_idx, s.start + flank]) for s in seqlets]
    return float(min(at)) if at else float("inf")


def passing_fraction(ohe: np.ndarray, hyp: np.ndarray, threshold: float, window: int = 21) -> float:
    """The share of ``ohe, hyp``'s windows whose |window score| reaches ``threshold``."""
    return float(np.mean(np.abs(window_scores(ohe, hyp, window)) >= threshold))


def discover(ohe: np.ndarray, hyp: np.ndarray, max_seqlets: int = 2000, window: int = 21, flank: int = 10,
             n_leiden_runs: int = 8, min_metacluster_size: int = 20, trim_frac: float = 0.3, min_ic: float = 0.3,
             min_seqlets: int = 20, min_total_ic: float = 6.0, min_mean_ic: float = 0.5,
             passing_frac: float | None = None) -> list[dict[str, Any]]:
    """Patterns of ``ohe, hyp: float32[n, 4, L]``, each ``{sign, index, n_seqlets, contrib, ppm: float[4, w]
    (the trimmed core, what TOMTOM sees), ppm_full, cwm_full: float[4, W] (untrimmed probability and
    contribution matrices, for the logo), trim: [start, end) in the full matrix, ic_total, ic_mean (of the
    core, bits), skipped: why it is not matched or None}``.

    A pattern is not matched (``skipped``) with fewer than ``min_seqlets`` seqlets, or a core holding
    less than ``min_total_ic`` bits or less than ``min_mean_ic`` bits per column: wide low-information
    patterns otherwise draw TOMTOM matches to unrelated low-complexity matrices.
    ``passing_frac`` pins the share of windows that pass modisco-lite's seqlet threshold (floor and
    cap; default its 3-20%): :func:`passing_fraction` of a threshold carried from another run.
    """
    from modiscolite.tfmodisco import TFMoDISco

    one_hot, h = np.transpose(ohe, (0, 2, 1)), np.transpose(hyp, (0, 2, 1))  # modisco-lite: [n, L, 4]
    pos, neg = TFMoDISco(one_hot=one_hot, hypothetical_contribs=h, sliding_window_size=window, flank_size=flank,
                         max_seqlets_per_metacluster=max_seqlets, n_leiden_runs=n_leiden_runs,
                         min_metacluster_size=min_metacluster_size, verbose=False,
                         min_passing_windows_frac=MIN_PASSING if passing_frac is None else passing_frac,
                         max_passing_windows_frac=MAX_PASSING if passing_frac is None else passing_frac)
    out = []
    for sign, pats in (("positive", pos), ("negative", neg)):
        for i, p in enumerate(pats or []):
            ppm, contrib = np.asarray(p.sequence).T, np.asarray(p.contrib_scores).T  # [4, w]
            a, b = trim_bounds(ppm, contrib, trim_frac, min_ic)
            ic = column_ic(ppm[:, a:b]) if b > a else np.zeros(0)
            n_seq = len(p.seqlets)
            out.append({"sign": sign, "index": i, "n_seqlets": n_seq, "contrib": float(contrib.sum()),
                        "ppm": ppm[:, a:b], "ppm_full": ppm, "cwm_full": contrib, "trim": [a, b],
                        "ic_total": float(ic.sum()), "ic_mean": float(ic.mean()) if ic.size else 0.0,
                        "skipped": _skip_reason(n_seq, ic, min_seqlets, min_total_ic, min_mean_ic)})
    return out


def _carried_threshold(real: Path) -> float:
    """The seqlet threshold the real run's ``patterns.json`` recorded."""
    f = real / "patterns.json"
    if not f.exists():
        raise DataError(f"{f} is missing; run `seq2track motifs {real}` on the real attributions first, "
                        "then judge the control against it")
    t = (json.loads(f.read_text()).get("seqlets") or {}).get("threshold")
    if t is None:
        raise DataError(f"{f} records no seqlet threshold (written by an older seq2track); "
                        f"re-run `seq2track motifs {real}`")
    return float(t)


def jaspar_matrices(release: str = "JASPAR2024", tax_group: str | None = None) -> list[tuple[str, str, np.ndarray]]:
    """``(matrix_id, name, prob float[4, w])`` of pyjaspar's CORE collection (``tax_group`` e.g. ``fungi``)."""
    import warnings

    from pyjaspar import jaspardb

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ms = jaspardb(release=release).fetch_motifs(collection="CORE", tax_group=[tax_group] if tax_group else None)
    from .motifs import Motif

    return [(m.matrix_id, m.name, Motif.from_counts(m.matrix_id, m.name, np.array([m.counts[b] for b in "ACGT"]),
                                                    source=f"pyjaspar {release}").prob) for m in ms]


def match(patterns: list[dict[str, Any]], db: list[tuple[str, str, np.ndarray]], q_max: float = 0.05,
          n_top: int = 5) -> list[dict]:
    """Each pattern with its best TOMTOM match: ``match_id, match_name, p_value, q_value, significant``
    and ``matches`` (the ``n_top`` best: ``[id, name, q]``); matrices become lists (JSON-ready).
    A ``skipped`` pattern is not compared (its match fields are None, ``significant`` False)."""
    from memelite import tomtom
    from scipy.stats import false_discovery_control

    if not patterns:
        return []
    todo = [i for i, pt in enumerate(patterns) if not pt.get("skipped")]
    p = np.ones((len(patterns), len(db)))
    if todo:
        targets = [m[2].astype(np.float64) for m in db]
        pv, *_ = tomtom([patterns[i]["ppm"].astype(np.float64) for i in todo], targets)
        p[todo] = np.clip(np.nan_to_num(np.asarray(pv, dtype=np.float64), nan=1.0), 0, 1)
    out = []
    for i, pt in enumerate(patterns):
        row = {k: v for k, v in pt.items() if k not in ("ppm", "ppm_full", "cwm_full")}
        row["width"] = int(pt["ppm"].shape[1])
        for k in ("ppm_full", "cwm_full"):
            if k in pt:
                row[k] = np.round(np.asarray(pt[k], dtype=np.float64), 5).tolist()
        if i not in todo:
            out.append({**row, "match_id": None, "match_name": None, "p_value": None, "q_value": None,
                        "significant": False, "matches": []})
            continue
        q = false_discovery_control(p[i])
        order = np.argsort(p[i], kind="stable")
        j = int(order[0])
        out.append({**row, "match_id": db[j][0], "match_name": db[j][1], "p_value": float(p[i, j]),
                    "q_value": float(q[j]), "significant": bool(q[j] < q_max),
                    "matches": [[db[k][0], db[k][1], float(q[k])] for k in order[:n_top]]})
    return out


def run_motifs(attr_dir: str | Path, release: str = "JASPAR2024", tax_group: str | None = None,
               max_seqlets: int = 2000, q_max: float = 0.05, min_seqlets: int = 20, min_total_ic: float = 6.0,
               min_mean_ic: float = 0.5, min_ic: float = 0.3,
               threshold_from: str | Path | None = None) -> list[dict[str, Any]]:
    """modisco-lite + TOMTOM on ``attr_dir``'s attributions -> ``attr_dir/patterns.{tsv,json}``.

    ``threshold_from``: the folder of the real run a control is judged against (its
    ``patterns.json`` holds the seqlet threshold); the control's seqlets are then its windows at or
    above that threshold, not modisco-lite's own pick of its strongest 3%."""
    attr_dir = Path(attr_dir)
    ohe, hyp = _load(attr_dir)
    if threshold_from is None:
        threshold, carried, frac = seqlet_threshold(ohe, hyp), None, None
    else:
        threshold, carried = _carried_threshold(Path(threshold_from)), str(Path(threshold_from))
        frac = passing_fraction(ohe, hyp, threshold)
    pats = discover(ohe, hyp, max_seqlets=max_seqlets, min_ic=min_ic, min_seqlets=min_seqlets,
                    min_total_ic=min_total_ic, min_mean_ic=min_mean_ic, passing_frac=frac)
    rows = match(pats, jaspar_matrices(release, tax_group), q_max)
    atomic.write_json(attr_dir / "patterns.json", {
        "release": release, "tax_group": tax_group, "q_max": q_max, "n_windows": int(ohe.shape[0]),
        "filters": {"trim_frac": 0.3, "min_ic": min_ic, "min_seqlets": min_seqlets, "min_total_ic": min_total_ic,
                    "min_mean_ic": min_mean_ic},
        "seqlets": {"threshold": threshold, "threshold_from": carried,
                    "passing_frac": passing_fraction(ohe, hyp, threshold) if frac is None else frac},
        "patterns": rows})
    cols = ["sign", "index", "n_seqlets", "width", "ic_total", "match_id", "match_name", "p_value", "q_value",
            "significant", "skipped"]

    def cell(v: Any) -> str:
        return "" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)

    text = "\t".join(cols) + "\n" + "".join("\t".join(cell(r[c]) for c in cols) + "\n" for r in rows)
    atomic.write_text(attr_dir / "patterns.tsv", text)
    return rows
