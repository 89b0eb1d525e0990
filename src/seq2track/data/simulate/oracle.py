"""The simulator as a predictor: the exact expected signal of any sequence (the "oracle").

Interpretation asks a model "what if this sequence were different?". On simulated data that
question has an exact answer: re-run the simulator's signal model on the edited sequence
(scan for motif instances, GC- and repressor-modulated background, footprints, the
cooperative pair) and take its expected coverage. Running an interpretation experiment
through :func:`oracle_predictor` instead of a trained model gives the *true* effect of the
very same insertions, on the model's scale (bin means, transform, normaliser), so a model's
motif effects, controls and interactions can be checked number for number.

Not sequence-determined, hence left out: the gene-body domains (random, taken as 0 here),
and the Poisson sampling of fragments (the oracle is the expectation).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import DataError
from .. import transforms
from .motifs import CONDS, load_motifs, scan_all
from .signal import GC_HALF, REPRESS_HALF, Params, centre_rate, expected_coverage, make_kernels

#: one-hot ``float32[n, 4, L]`` -> ``float32[n, T, B]``, as ``interpret.Predictor``
Predictor = Callable[[np.ndarray], np.ndarray]


def track_conditions(truth: dict[str, Any], track_paths: Sequence[str | Path]) -> list[tuple[str, float]]:
    """``(condition, depth scale)`` of each track file of a simulation (by file name).

    ``condA_deep`` -> (condA, 1), ``condA_shallow`` -> (condA, shallow fraction), ``condB`` ->
    (condB, 1). Raises DataError naming the file when a track is not one of the simulation's
    coverage tracks (e.g. a reference ``expected_*`` track or a file from elsewhere).
    """
    by_name = {v: k for k, v in truth.get("files", {}).items()}
    out = []
    for p in track_paths:
        key = by_name.get(Path(p).name)
        if key == "condA_deep" or key == "condB":
            out.append((key.split("_")[0], float(truth["depths"][key].get("scale", 1.0))))
        elif key == "condA_shallow":
            out.append(("condA", float(truth["depths"][key]["fraction"])))
        else:
            raise DataError(f"track {p} is not a coverage track of this simulation (known: condA_deep.bw, "
                            "condA_shallow.bw, condB.bw); the simulator's oracle cannot stand in for it")
    return out


def oracle_predictor(
    truth: dict[str, Any], conditions: Sequence[tuple[str, float]], input_length: int, target_length: int,
    resolution: int, transform: str, norm_state: dict[str, Any] | None = None, domain: float = 0.0,
) -> Predictor:
    """The simulator's expected signal as a predictor ``f(x: float32[n, 4, L]) -> float32[n, T, B]``.

    truth: ``truth.json`` of the simulation; conditions: ``(condition, depth scale)`` per
    output track (:func:`track_conditions`); the window geometry, ``transform`` and
    ``norm_state`` (``transforms.fit``) of the study, so outputs are on the model's scale.
    ``domain``: the gene-body domain level assumed along the sequence (0 = outside gene bodies).
    The target region must sit >= ``REPRESS_HALF + fragment half-length`` bp inside the input,
    or the expectation at its edges would miss fragments, GC windows and repressor boxes from
    outside the input.
    """
    p = truth["params"]
    ker = make_kernels(median=float(p.get("fragment_length_median", 165)))
    params = Params(depth=float(p["depth"]), gc_beta=float(p["gc_beta"]), gc_ref=float(p["gc_ref"]),
                    domain_amp=float(p["domain_amp"]))
    motifs = load_motifs(np.asarray(p["background_composition"], dtype=np.float64))
    flank = (input_length - target_length) // 2
    need = max(GC_HALF, REPRESS_HALF) + ker.half + 1
    if flank < need:
        raise DataError(f"the simulator's oracle needs >= {need} bp of input on each side of the target region "
                        f"(repressor box or GC window + longest fragment); the study has {flank} (input_length {input_length}, "
                        f"target_length {target_length}); use a longer input_length")
    if target_length % resolution:
        raise DataError(f"target_length {target_length} is not a multiple of resolution {resolution}")
    for cond, _ in conditions:
        if cond not in CONDS:
            raise DataError(f"unknown simulated condition {cond!r}; expected one of {CONDS}")
    state = norm_state or {"kind": "none"}
    margin = ker.half + 1  # positions closer than this to a chromosome end carry no rate
    n_bins = target_length // resolution

    def one(codes: np.ndarray) -> np.ndarray:
        inst = scan_all(codes, motifs)
        dom = np.full(len(codes), float(domain))
        rows = []
        for cond, scale in conditions:
            rate = centre_rate(codes, dom, inst, motifs, cond, params, ker, offset=margin,
                               chrom_len=len(codes) + 2 * margin)
            e = expected_coverage(rate, ker)[flank : flank + target_length] * scale
            rows.append(e.reshape(n_bins, resolution).mean(axis=1))
        return np.stack(rows)

    def f(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim != 3 or x.shape[1] != 4 or x.shape[2] != input_length:
            raise ValueError(f"the oracle expects one-hot float32[n, 4, {input_length}], got {x.shape}")
        codes = np.where(x.max(axis=1) > 0, x.argmax(axis=1), 4).astype(np.uint8)
        raw = np.stack([one(c) for c in codes]).astype(np.float32) if len(codes) else np.zeros(
            (0, len(conditions), n_bins), np.float32)
        return transforms.apply(transforms.forward(raw, transform), state)

    return f


def load_truth(path: str | Path) -> dict[str, Any]:
    """Read a simulation's ``truth.json`` (DataError naming the file when it is not one)."""
    path = Path(path)
    try:
        t = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read the simulation truth {path}: {e}") from e
    if not str(t.get("format", "")).startswith("seq2track.simulate"):
        raise DataError(f"{path} is not a seq2track simulation truth file (format {t.get('format')!r})")
    return t


TRUTH = "truth.json"


def find_truth(beside: str | Path) -> dict[str, Any] | None:
    """The simulation's ``truth.json`` in the folder of file ``beside`` (its genome or a track), or None
    when there is none or it is not the simulator's: the one way seq2track recognises simulated data."""
    p = Path(beside).parent / TRUTH
    if not p.exists():
        return None
    try:
        return load_truth(p)
    except DataError:
        return None
