"""Motif discovery from attributions: TF-MoDISco (modisco-lite) patterns matched to JASPAR with
TOMTOM (memelite), positive and negative patterns kept apart (a repressor is a negative pattern).

Input: the arrays ``seq2track attribute --method deepliftshap`` writes (``ohe.npz``, ``hyp.npz``:
``float32[n, 4, L]``). :func:`discover` runs ``modiscolite.tfmodisco.TFMoDISco`` on them;
:func:`match` compares each pattern's trimmed probability matrix with every JASPAR matrix by
TOMTOM and turns the p-values into q-values (Benjamini-Hochberg over the database, as TOMTOM
reports them); :func:`run_motifs` writes ``patterns.tsv`` / ``patterns.json`` into the folder.
"""

from __future__ import annotations

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


def _trim(ppm: np.ndarray, contrib: np.ndarray, frac: float = 0.3) -> np.ndarray:
    """``float[4, w]``: the pattern's columns where |contribution| >= ``frac`` of its peak (modisco's trimming)."""
    score = np.abs(contrib).sum(0)
    keep = np.flatnonzero(score >= frac * score.max()) if score.max() > 0 else np.arange(score.size)
    return ppm[:, keep.min():keep.max() + 1]


def discover(ohe: np.ndarray, hyp: np.ndarray, max_seqlets: int = 2000, window: int = 21, flank: int = 10,
             n_leiden_runs: int = 8, min_metacluster_size: int = 20) -> list[dict[str, Any]]:
    """Patterns of ``ohe, hyp: float32[n, 4, L]``: each ``{sign, index, n_seqlets, ppm: float[4, w], contrib}``."""
    from modiscolite.tfmodisco import TFMoDISco

    one_hot, h = np.transpose(ohe, (0, 2, 1)), np.transpose(hyp, (0, 2, 1))  # modisco-lite: [n, L, 4]
    pos, neg = TFMoDISco(one_hot=one_hot, hypothetical_contribs=h, sliding_window_size=window, flank_size=flank,
                         max_seqlets_per_metacluster=max_seqlets, n_leiden_runs=n_leiden_runs,
                         min_metacluster_size=min_metacluster_size, verbose=False)
    out = []
    for sign, pats in (("positive", pos), ("negative", neg)):
        for i, p in enumerate(pats or []):
            ppm, contrib = np.asarray(p.sequence).T, np.asarray(p.contrib_scores).T  # [4, w]
            out.append({"sign": sign, "index": i, "n_seqlets": len(p.seqlets), "ppm": _trim(ppm, contrib),
                        "contrib": float(contrib.sum())})
    return out


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


def match(patterns: list[dict[str, Any]], db: list[tuple[str, str, np.ndarray]], q_max: float = 0.05) -> list[dict]:
    """Each pattern with its best TOMTOM match: ``match_id, match_name, p_value, q_value, significant``."""
    from memelite import tomtom
    from scipy.stats import false_discovery_control

    if not patterns:
        return []
    targets = [m[2].astype(np.float64) for m in db]
    p, *_ = tomtom([pt["ppm"].astype(np.float64) for pt in patterns], targets)
    p = np.clip(np.nan_to_num(np.asarray(p, dtype=np.float64), nan=1.0), 0, 1)
    out = []
    for i, pt in enumerate(patterns):
        q = false_discovery_control(p[i])
        j = int(np.argmin(p[i]))
        out.append({**{k: v for k, v in pt.items() if k != "ppm"}, "width": int(pt["ppm"].shape[1]),
                    "match_id": db[j][0], "match_name": db[j][1], "p_value": float(p[i, j]),
                    "q_value": float(q[j]), "significant": bool(q[j] < q_max)})
    return out


def run_motifs(attr_dir: str | Path, release: str = "JASPAR2024", tax_group: str | None = None,
               max_seqlets: int = 2000, q_max: float = 0.05) -> list[dict[str, Any]]:
    """modisco-lite + TOMTOM on ``attr_dir``'s attributions -> ``attr_dir/patterns.{tsv,json}``."""
    attr_dir = Path(attr_dir)
    ohe, hyp = _load(attr_dir)
    pats = discover(ohe, hyp, max_seqlets=max_seqlets)
    rows = match(pats, jaspar_matrices(release, tax_group), q_max)
    atomic.write_json(attr_dir / "patterns.json", {"release": release, "tax_group": tax_group, "q_max": q_max,
                                                   "n_windows": int(ohe.shape[0]), "patterns": rows})
    cols = ["sign", "index", "n_seqlets", "width", "match_id", "match_name", "p_value", "q_value", "significant"]
    text = "\t".join(cols) + "\n" + "".join("\t".join(str(r[c]) for c in cols) + "\n" for r in rows)
    atomic.write_text(attr_dir / "patterns.tsv", text)
    return rows
