"""Motif marginalisation: insert a motif into shuffled backgrounds and measure the change.

The backgrounds are real sequences (test-split windows) with their dinucleotide
composition kept and their motifs destroyed by an Altschul-Erickson shuffle. Inserting a
motif at the centre, in both orientations, and averaging the change of the predicted
signal over the target region across backgrounds estimates the motif's marginal effect
as the model sees it (tangermeme's ``marginalize``). Reported with a 95% t-interval over
backgrounds, beside two controls:

* ``sampled``: a site drawn from the frequencies for each background (not the consensus);
* ``shuffled``: the consensus of the motif with its columns permuted (a fresh permutation
  per background): same base composition, no motif. Its CI should include 0 unless the
  model (or the biology) responds to base composition, e.g. GC content;
* ``specific``: consensus minus shuffled, paired per background: the effect of the motif's
  arrangement beyond its composition.

Plus a position sweep (effect against the offset of the insertion from the centre) and a
spacing experiment for two motifs (joint effect and the interaction
``f(AB) - f(A) - f(B) + f(background)`` against the centre-to-centre distance).

All functions take a predictor ``f(x: float32[n, 4, L]) -> float32[n, T, B]`` and
backgrounds ``uint8[n, L]``; randomness comes from a ``numpy.random.Generator``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ..io.genome import reverse_complement as revcomp
from ..metrics import MeanCI, mean_ci
from ..predict import Predictor, predict_codes, region_mean
from .motifs import Motif



# --- backgrounds -------------------------------------------------------------------------
def dinucleotide_shuffle(codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random sequence with exactly the dinucleotide counts of ``codes: uint8[L]``.

    Altschul & Erickson (1985) via a random Eulerian path (Kandel et al. 1996): pick a
    random last out-edge for every letter but the final one, reject unless those edges form
    a tree into the final letter, shuffle the other edges of each letter, then walk from
    the first letter. The first and last letters are kept; any code (N included) is a letter.
    """
    s = np.asarray(codes, dtype=np.uint8)
    n = len(s)
    if n < 3:
        return s.copy()
    src, dst = s[:-1], s[1:]
    last = int(s[-1])
    letters = [int(v) for v in np.unique(src)]
    succ = {v: dst[src == v] for v in letters}
    # 1. random arborescence of last edges into `last` (rejection until it is a tree)
    while True:
        pick = {v: int(rng.integers(len(succ[v]))) for v in letters if v != last}
        nxt = {v: int(succ[v][i]) for v, i in pick.items()}
        if _is_tree(nxt, last):
            break
    # 2. shuffle the remaining edges of each letter; the chosen last edge goes last
    order: dict[int, list[int]] = {}
    for v in letters:
        e = succ[v]
        if v == last:
            order[v] = e[rng.permutation(len(e))].tolist()
        else:
            rest = np.delete(e, pick[v])
            order[v] = rest[rng.permutation(len(rest))].tolist() + [nxt[v]]
    # 3. walk the Eulerian path
    out = np.empty(n, dtype=np.uint8)
    ptr = dict.fromkeys(letters, 0)
    cur = int(s[0])
    out[0] = cur
    for i in range(1, n):
        j = ptr[cur]
        ptr[cur] = j + 1
        cur = order[cur][j]
        out[i] = cur
    return out


def _is_tree(nxt: dict[int, int], root: int) -> bool:
    """True when following ``nxt`` from every letter reaches ``root`` without a cycle."""
    for v in nxt:
        seen = set()
        while v != root:
            if v in seen:
                return False
            seen.add(v)
            v = nxt[v]
    return True


def shuffle_backgrounds(codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Dinucleotide-shuffle every row of ``codes: uint8[n, L]`` -> ``uint8[n, L]``."""
    return np.stack([dinucleotide_shuffle(row, rng) for row in np.asarray(codes, dtype=np.uint8)])


def dinucleotide_counts(codes: np.ndarray, n_letters: int = 5) -> np.ndarray:
    """int64[n_letters, n_letters]: counts of each ordered pair of adjacent codes in ``codes: uint8[L]``."""
    s = np.asarray(codes, dtype=np.int64)
    return np.bincount(s[:-1] * n_letters + s[1:], minlength=n_letters * n_letters).reshape(n_letters, n_letters)


# --- insertion ---------------------------------------------------------------------------
def centre_start(length: int, width: int, offset: int = 0) -> int:
    """Start of a ``width``-bp site whose centre lies ``offset`` bp from the window centre."""
    start = length // 2 - width // 2 + int(offset)
    if start < 0 or start + width > length:
        raise ValueError(f"a {width}-bp site at offset {offset} does not fit in a {length}-bp window")
    return start


def insert(codes: np.ndarray, sites: np.ndarray, start: int) -> np.ndarray:
    """Copy of ``codes: uint8[n, L]`` with ``sites: uint8[w]`` or ``uint8[n, w]`` written at ``start``."""
    out = np.array(codes, dtype=np.uint8, copy=True)
    sites = np.asarray(sites, dtype=np.uint8)
    w = sites.shape[-1]
    if start < 0 or start + w > out.shape[1]:
        raise ValueError(f"a {w}-bp site at {start} does not fit in a {out.shape[1]}-bp window")
    out[:, start : start + w] = sites
    return out


# --- effects -----------------------------------------------------------------------------
class MotifEffect(NamedTuple):
    """Effect of inserting one kind of site: per-track arrays ``float64[T]``.

    ``effect`` (with ``low``, ``high``) is the mean over backgrounds of the orientation-
    averaged change of the region mean; ``fwd`` / ``rc`` are the two orientations alone.
    ``units`` (with ``units_low``, ``units_high``): the same change in track units (the
    region mean of the back-transformed prediction), NaN when no ``to_units`` was given.
    """

    kind: str
    effect: np.ndarray
    low: np.ndarray
    high: np.ndarray
    sd: np.ndarray
    n: int
    fwd: np.ndarray
    rc: np.ndarray
    baseline: np.ndarray
    units: np.ndarray
    units_low: np.ndarray
    units_high: np.ndarray


def _means(f: Predictor, batches: list[np.ndarray], bins: slice | None, batch_size: int) -> list[np.ndarray]:
    """Region means of several ``uint8[n_i, L]`` arrays with one batched pass: ``[float64[n_i, T]]``."""
    y = region_mean(f, np.concatenate(batches), bins, batch_size)
    return np.split(y, np.cumsum([len(b) for b in batches])[:-1])


def _means2(
    f: Predictor, batches: list[np.ndarray], bins: slice | None, batch_size: int, to_units,
) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """Like :func:`_means`, plus the region means in track units (``to_units``) from the same predictions."""
    if to_units is None:
        return _means(f, batches, bins, batch_size), None
    y = predict_codes(f, np.concatenate(batches), batch_size)
    if bins is not None:
        y = y[..., bins]
    cut = np.cumsum([len(b) for b in batches])[:-1]
    model = np.split(y.mean(axis=-1, dtype=np.float64), cut)
    units = np.split(np.asarray(to_units(y)).mean(axis=-1, dtype=np.float64), cut)
    return model, units


def _summarise(kind: str, delta: np.ndarray, base: np.ndarray, level: float, units: np.ndarray | None = None) -> MotifEffect:
    """``delta: float[n, 2, T]`` (orientations) on the model scale, ``units`` the same in track units."""
    ci: MeanCI = mean_ci(delta.mean(axis=1), level)
    if units is None:
        nan = np.full_like(ci.mean, np.nan)
        u = MeanCI(nan, nan, nan, nan, ci.n)
    else:
        u = mean_ci(units.mean(axis=1), level)
    return MotifEffect(kind, ci.mean, ci.low, ci.high, ci.sd, ci.n, delta[:, 0].mean(axis=0),
                       delta[:, 1].mean(axis=0), base.mean(axis=0), u.mean, u.low, u.high)


def marginalize(
    f: Predictor, backgrounds: np.ndarray, motif: Motif, rng: np.random.Generator, offset: int = 0,
    bins: slice | None = None, level: float = 0.95, batch_size: int = 256,
    to_units: Callable[[np.ndarray], np.ndarray] | None = None,
) -> list[MotifEffect]:
    """Effects of the motif's ``consensus``, of ``sampled`` sites and of the ``shuffled`` control.

    backgrounds: uint8[n, L] (already shuffled); the site is centred ``offset`` bp from the
    window centre. Returns four :class:`MotifEffect`: consensus, sampled, shuffled, and
    ``specific`` = consensus minus shuffled, paired per background (the part of the effect
    due to the motif's arrangement, not its base composition). ``to_units``: predictions
    ``float[n, T, B]`` -> track units, for the effects in track units (``MotifEffect.units``).
    """
    bg = np.asarray(backgrounds, dtype=np.uint8)
    n, L = bg.shape
    start = centre_start(L, motif.width, offset)
    sites = {
        "consensus": motif.consensus_codes,
        "sampled": motif.sample(n, rng),
        "shuffled": np.stack([motif.shuffled(rng).consensus_codes for _ in range(n)]),
    }
    batches = [bg]
    for x in sites.values():
        batches += [insert(bg, x, start), insert(bg, revcomp(x), start)]
    (base, *ys), units = _means2(f, batches, bins, batch_size, to_units)

    def pairs(z: list[np.ndarray]) -> dict[str, np.ndarray]:
        return {kind: np.stack([z[1 + 2 * k] - z[0], z[2 + 2 * k] - z[0]], axis=1) for k, kind in enumerate(sites)}

    deltas = pairs([base, *ys])
    du = pairs(units) if units is not None else dict.fromkeys(sites)
    out = [_summarise(kind, d, base, level, du[kind]) for kind, d in deltas.items()]
    spec_u = None if units is None else du["consensus"] - du["shuffled"]
    out.append(_summarise("specific", deltas["consensus"] - deltas["shuffled"], base, level, spec_u))
    return out


class Sweep(NamedTuple):
    """Effect of the consensus against its offset from the centre: ``float64[k, T]`` per offset."""

    offsets: np.ndarray
    effect: np.ndarray
    low: np.ndarray
    high: np.ndarray


def position_sweep(
    f: Predictor, backgrounds: np.ndarray, motif: Motif, offsets: np.ndarray,
    bins: slice | None = None, level: float = 0.95, batch_size: int = 256,
) -> Sweep:
    """Orientation-averaged effect of the consensus inserted at each ``offsets[k]`` bp from the centre."""
    bg = np.asarray(backgrounds, dtype=np.uint8)
    L = bg.shape[1]
    offs = np.asarray(offsets, dtype=np.int64)
    cons = motif.consensus_codes
    batches = [bg]
    for off in offs:
        start = centre_start(L, motif.width, int(off))
        batches += [insert(bg, cons, start), insert(bg, revcomp(cons), start)]
    base, *ys = _means(f, batches, bins, batch_size)
    cis = [mean_ci((ys[2 * k] + ys[2 * k + 1]) / 2 - base, level) for k in range(len(offs))]
    return Sweep(offs, np.array([c.mean for c in cis]), np.array([c.low for c in cis]), np.array([c.high for c in cis]))


def sweep_offsets(length: int, width: int, step: int = 64) -> np.ndarray:
    """int64[k]: offsets from ``-max`` to ``+max`` in ``step`` bp (0 included) that keep the site inside."""
    m = (length // 2 - width // 2 - 1) // step * step
    return np.arange(-m, m + 1, step, dtype=np.int64)


class Spacing(NamedTuple):
    """Two motifs at centre distance ``spacings[k]``: joint effect and interaction, ``float64[k, T]``."""

    spacings: np.ndarray
    joint: np.ndarray
    joint_low: np.ndarray
    joint_high: np.ndarray
    interaction: np.ndarray
    interaction_low: np.ndarray
    interaction_high: np.ndarray
    single_a: np.ndarray
    single_b: np.ndarray


def pair_starts(length: int, wa: int, wb: int, spacing: int) -> tuple[int, int]:
    """Starts of motif A and B whose centres are ``spacing`` bp apart, B downstream, pair centred."""
    ca = length // 2 - spacing // 2
    cb = ca + spacing
    sa, sb = ca - wa // 2, cb - wb // 2
    if sa < 0 or sb + wb > length:
        raise ValueError(f"spacing {spacing} does not fit in a {length}-bp window")
    return sa, sb


def spacing_experiment(
    f: Predictor, backgrounds: np.ndarray, motif_a: Motif, motif_b: Motif, spacings: np.ndarray,
    bins: slice | None = None, level: float = 0.95, batch_size: int = 256,
) -> Spacing:
    """Consensus of A and of B (both forward) at each centre-to-centre distance in ``spacings``.

    Distances where the two sites would overlap (``< (wa + wb) / 2``) are an error.
    """
    bg = np.asarray(backgrounds, dtype=np.uint8)
    L = bg.shape[1]
    a, b = motif_a.consensus_codes, motif_b.consensus_codes
    sp = np.asarray(spacings, dtype=np.int64)
    min_sp = -(-(len(a) + len(b)) // 2)
    if (sp < min_sp).any():
        raise ValueError(f"spacings must be >= {min_sp} bp so {motif_a.label} and {motif_b.label} do not overlap")
    batches = [bg]
    for s in sp:
        sa, sb = pair_starts(L, len(a), len(b), int(s))
        only_a = insert(bg, a, sa)
        batches += [only_a, insert(bg, b, sb), insert(only_a, b, sb)]
    base, *ys = _means(f, batches, bins, batch_size)
    rows: dict[str, list] = {k: [] for k in ("j", "jl", "jh", "i", "il", "ih", "a", "b")}
    for k in range(len(sp)):
        ya, yb, yab = ys[3 * k : 3 * k + 3]
        j = mean_ci(yab - base, level)
        i = mean_ci(yab - ya - yb + base, level)
        for k, v in zip(rows, (j.mean, j.low, j.high, i.mean, i.low, i.high, (ya - base).mean(0), (yb - base).mean(0))):
            rows[k].append(v)
    arr = {k: np.array(v) for k, v in rows.items()}
    return Spacing(sp, arr["j"], arr["jl"], arr["jh"], arr["i"], arr["il"], arr["ih"], arr["a"], arr["b"])


# --- the edge: a trained run ---------------------------------------------------------------
def truth_predictor(run, truth: dict) -> Predictor | None:
    """The simulator's exact expected signal on the run's scale (``data.simulate.oracle``), or None
    when the run's tracks or window geometry do not allow it (the reason is logged)."""
    import logging

    from ..data.simulate.oracle import oracle_predictor, track_conditions
    from ..errors import DataError

    prep = run.prepared
    try:
        conds = track_conditions(truth, [t.path for t in run.study.tracks])
        return oracle_predictor(truth, conds, prep.input_length, prep.n_bins * prep.resolution, prep.resolution,
                                prep.transform, prep.norm_state)
    except DataError as e:
        logging.getLogger(__name__).warning("no true effects from the simulator: %s", e)
        return None


def effects_frame(motif: Motif, effects: list[MotifEffect], track_names: list[str]) -> "pd.DataFrame":
    """Rows ``motif, name, kind, track, effect, ci_low, ci_high, sd, n, effect_fwd, effect_rc, baseline,
    effect_units, units_ci_low, units_ci_high, consensus`` (the units columns NaN without ``to_units``)."""
    import pandas as pd

    rows = []
    for e in effects:
        for t, tn in enumerate(track_names):
            rows.append({
                "motif": motif.id, "name": motif.name, "kind": e.kind, "track": tn, "effect": e.effect[t],
                "ci_low": e.low[t], "ci_high": e.high[t], "sd": e.sd[t], "n": e.n, "effect_fwd": e.fwd[t],
                "effect_rc": e.rc[t], "baseline": e.baseline[t], "effect_units": e.units[t],
                "units_ci_low": e.units_low[t], "units_ci_high": e.units_high[t], "consensus": motif.consensus,
            })
    return pd.DataFrame(rows)


def plot_sweep(sweeps: list[tuple[str, Sweep]], path, target_length: int, track: int = 0) -> None:
    """Effect against offset (one line + 95% band per motif); the target region is shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .. import atomic

    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.axvspan(-target_length / 2, target_length / 2, color="0.9", label="target region")
    for label, sw in sweeps:
        ax.plot(sw.offsets, sw.effect[:, track], label=label)
        ax.fill_between(sw.offsets, sw.low[:, track], sw.high[:, track], alpha=0.25)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("offset of the motif centre from the window centre (bp)")
    ax.set_ylabel("effect (model scale)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)


def plot_spacing(res: Spacing, label: str, path, track: int = 0) -> None:
    """Joint effect and interaction of a motif pair against the centre-to-centre distance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .. import atomic

    fig, ax = plt.subplots(figsize=(7, 3.2))
    for y, lo, hi, name in ((res.joint, res.joint_low, res.joint_high, "joint A+B"),
                            (res.interaction, res.interaction_low, res.interaction_high, "interaction")):
        ax.plot(res.spacings, y[:, track], marker=".", label=name)
        ax.fill_between(res.spacings, lo[:, track], hi[:, track], alpha=0.25)
    ax.plot(res.spacings, (res.single_a + res.single_b)[:, track], ls="--", label="A alone + B alone")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("centre-to-centre distance (bp)")
    ax.set_ylabel("effect (model scale)")
    ax.set_title(label, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)


def run_marginalize(
    run, motifs: list[Motif], n: int = 500, seed: int | None = None, pair: tuple[Motif, Motif] | None = None,
    spacings: np.ndarray | None = None, sweep_step: int = 64, n_sweep: int = 100, n_spacing: int = 100,
    batch_size: int = 256,
) -> dict:
    """Marginalise ``motifs`` for a trained ``run`` (``rundir.Run``); write ``RUN/interpret/``.

    Files: ``motifs.tsv`` (consensus / sampled / shuffled effects with 95% CIs), ``sweep.tsv``
    and ``sweep.png`` (first ``n_sweep`` backgrounds), and for a ``pair`` ``spacing.tsv`` and
    ``spacing.png`` (first ``n_spacing`` backgrounds). Returns the summary written to
    ``motifs.json`` plus ``table``, the ``motifs.tsv`` DataFrame.
    """
    import pandas as pd

    from .. import atomic
    from . import split_backgrounds

    prep = run.prepared
    seed = int(run.study.seed if seed is None else seed)
    tracks = list(prep.track_names)
    f = run.predictor()
    to_units = run.to_units()
    bg = shuffle_backgrounds(split_backgrounds(prep, n, np.random.default_rng([seed, 1])), np.random.default_rng([seed, 2]))
    truth = run.truth()
    planted = {}
    oracle = None
    if truth:
        for m in truth["motifs"]:
            planted[m["jaspar_id"]] = m["effect"]
        oracle = truth_predictor(run, truth)
    frames, sweeps, sweep_rows = [], [], []
    offs = sweep_offsets(prep.input_length, max(m.width for m in motifs), sweep_step)
    for i, m in enumerate(motifs):
        eff = marginalize(f, bg, m, np.random.default_rng([seed, 3, i]), batch_size=batch_size, to_units=to_units)
        fr = effects_frame(m, eff, tracks)
        fr["planted_effect"] = [planted.get(m.id, {}).get(t, np.nan) for t in fr["track"]]
        if oracle is not None:  # the same insertions (same rng) through the simulator's exact expectation
            te = effects_frame(m, marginalize(oracle, bg, m, np.random.default_rng([seed, 3, i]),
                                              batch_size=batch_size), tracks)
            fr["truth_effect"], fr["truth_ci_low"], fr["truth_ci_high"] = te["effect"], te["ci_low"], te["ci_high"]
        frames.append(fr)
        sw = position_sweep(f, bg[:n_sweep], m, offs, batch_size=batch_size)
        sweeps.append((m.label, sw))
        for t, tn in enumerate(tracks):
            sweep_rows.append(pd.DataFrame({"motif": m.id, "name": m.name, "track": tn, "offset": sw.offsets,
                                            "effect": sw.effect[:, t], "ci_low": sw.low[:, t], "ci_high": sw.high[:, t]}))
    out = run.out
    table = pd.concat(frames, ignore_index=True)
    atomic.write_text(out / "motifs.tsv", table.to_csv(sep="\t", index=False, float_format="%.6g"))
    atomic.write_text(out / "sweep.tsv", pd.concat(sweep_rows).to_csv(sep="\t", index=False, float_format="%.6g"))
    plot_sweep(sweeps, out / "sweep.png", prep.n_bins * prep.resolution)
    files = ["motifs.tsv", "sweep.tsv", "sweep.png"]
    summary: dict = {"n_backgrounds": int(n), "seed": seed, "motifs": [m.label for m in motifs], "tracks": tracks}
    if pair is not None:
        a, b = pair
        min_sp = -(-(a.width + b.width) // 2)
        sp = np.asarray(spacings if spacings is not None else np.arange(min_sp, 161, 4), dtype=np.int64)
        res = spacing_experiment(f, bg[:n_spacing], a, b, sp, batch_size=batch_size)
        tru = None if oracle is None else spacing_experiment(oracle, bg[:n_spacing], a, b, sp, batch_size=batch_size)
        rows = []
        for t, tn in enumerate(tracks):
            fr = pd.DataFrame({
                "motif_a": a.id, "motif_b": b.id, "track": tn, "spacing": res.spacings,
                "joint": res.joint[:, t], "joint_low": res.joint_low[:, t], "joint_high": res.joint_high[:, t],
                "interaction": res.interaction[:, t], "interaction_low": res.interaction_low[:, t],
                "interaction_high": res.interaction_high[:, t], "single_a": res.single_a[:, t],
                "single_b": res.single_b[:, t],
            })
            if tru is not None:
                fr["truth_joint"], fr["truth_interaction"] = tru.joint[:, t], tru.interaction[:, t]
            rows.append(fr)
        atomic.write_text(out / "spacing.tsv", pd.concat(rows).to_csv(sep="\t", index=False, float_format="%.6g"))
        plot_spacing(res, f"{a.label} + {b.label}", out / "spacing.png")
        files += ["spacing.tsv", "spacing.png"]
        summary["pair"] = [a.label, b.label]
    summary["files"] = files
    atomic.write_json(out / "motifs.json", summary)
    return {**summary, "table": table}  # the table as computed (a second run may rewrite motifs.tsv)
