"""``prepare``: reference FASTA + bigWig tracks -> an on-disk cache of windows.

Steps: resolve chromosomes (aliases, exclusions, lengths), write all chromosomes' codes
into one memory-mappable array, read every track's bin means with one bulk read per
chromosome, tile windows, drop N-rich and blacklisted ones, assign splits, filter by a
threshold on the transformed target, fit the normaliser on the training split only, and
write ``meta.json`` last.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import atomic
from ..config import Study
from ..errors import ConfigError, DataError
from ..io import tracks as tracks_io
from ..io.chroms import canonical, resolve_all
from ..io.genome import Genome
from . import splits, transforms, windows
from .cache import META, PreparedDataset, gather_bins

_CACHE_FILES = ("genome.npy", "bins.npy", "windows.parquet", META, "study.yaml")
#: Bases read from the FASTA per request while preparing (bounds the text copies in memory).
GENOME_CHUNK_BP = 1 << 24


def select_chroms(study: Study, genome_sizes: dict[str, int], track_sizes: list[dict[str, int]]) -> list[str]:
    """The study's chromosomes, spelled as in the genome, in genome order.

    ``chroms: null`` means all genome chromosomes minus ``exclude_chroms``; of those, ones absent
    from a track are left out (contigs such as chrEBV or chrUn_*), unless they are val/test.
    An explicit ``chroms:`` list must exist in the genome and in every track.
    """
    w = study.windows
    excl = {canonical(c) for c in w.exclude_chroms}
    if w.chroms is not None:
        gmap = resolve_all(w.chroms, genome_sizes, str(study.genome), what="genome")
        chroms = [gmap[c] for c in w.chroms if canonical(c) not in excl]
        for c in chroms:
            if genome_sizes[c] < w.input_length:
                raise DataError(
                    f"chromosome {c} is {genome_sizes[c]:,} bp in {study.genome}, shorter than "
                    f"input_length {w.input_length}: every window would run past its end; "
                    "lower `windows.input_length` or drop it from `windows.chroms`"
                )
        return chroms
    needed = {canonical(c) for c in study.split.val + study.split.test}
    out = []
    for c in genome_sizes:
        if canonical(c) in excl:
            continue
        in_all = all(tracks_io_resolve(c, ts) for ts in track_sizes)
        if in_all or canonical(c) in needed:
            out.append(c)
    if not out:
        raise DataError(
            f"no chromosome of genome {study.genome} is in every track; the files do not share "
            "chromosome names (even with chr/Ensembl aliases): check they are the same assembly"
        )
    return out


def tracks_io_resolve(chrom: str, sizes: dict[str, int]) -> bool:
    from ..io.chroms import resolve

    return resolve(chrom, sizes) is not None


def _check_out(out: Path, data_hash: str, force: bool) -> PreparedDataset | None:
    """Reuse a complete cache of the same study; refuse another study's unless ``force``."""
    meta = out / META
    if meta.exists():
        import json

        old = json.loads(meta.read_text())
        if old.get("data_hash") == data_hash and not force:
            return PreparedDataset(out)
        if not force:
            raise DataError(
                f"{out} holds the cache of a different study ({old.get('study', {}).get('name')!r}, "
                f"hash {old.get('data_hash')}); choose another --out or pass --force to rebuild it"
            )
    # incomplete or forced: clear only our own files
    for name in _CACHE_FILES:
        (out / name).unlink(missing_ok=True)
    for tmp in out.glob(".tmp-*") if out.exists() else []:
        tmp.unlink(missing_ok=True)
    return None


def prepare(study: Study, out: str | Path, force: bool = False, fit_on: str = "train") -> PreparedDataset:
    """Build (or reuse) the cache of ``study`` in ``out`` and open it.

    ``fit_on``: the split the normaliser is fitted on, ``"train"`` (sound, the default) or
    ``"all"`` (every split: the leaky-preprocessing pitfall). Only the pitfall lab passes
    ``"all"``, on purpose; the cache's hash and ``meta.json`` record it.
    """
    if fit_on not in ("train", "all"):
        raise ConfigError(f"prepare(fit_on={fit_on!r}): use 'train' (sound) or 'all' (the leaky-preprocessing pitfall)")
    out = Path(out)
    t0 = time.perf_counter()
    data_hash = study.data_hash() + ("" if fit_on == "train" else f"-fit-{fit_on}")
    reused = _check_out(out, data_hash, force)
    if reused is not None:
        return reused
    out.mkdir(parents=True, exist_ok=True)
    _build(study, out, data_hash, fit_on, t0)
    return PreparedDataset(out)  # opened after _build's arrays are freed: they are not both held


#: the environment variable that names the cache home (else ``$XDG_CACHE_HOME/seq2track``, ``~/.cache/seq2track``)
CACHE_ENV = "SEQ2TRACK_CACHE"


def cache_home() -> Path:
    """Where prepared caches live when no folder is named: ``$SEQ2TRACK_CACHE``, else the XDG cache dir."""
    import os

    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "seq2track"


def prepare_cached(study: Study, home: str | Path | None = None, fit_on: str = "train") -> PreparedDataset:
    """The cache of ``study`` in ``HOME/prepared-<data hash>`` (built once, reused by audit and the pitfall lab).

    ``home``: a folder of caches (default :func:`cache_home`). One folder per data configuration
    (the data hash covers genome, tracks, windows, transform, split and seed), so every command
    that reads the same data opens the same cache.
    """
    home = Path(home) if home is not None else cache_home()
    tag = study.data_hash()[:16] + ("" if fit_on == "train" else f"-fit-{fit_on}")
    return prepare(study, home / f"prepared-{tag}", fit_on=fit_on)


def _build(study: Study, out: Path, data_hash: str, fit_on: str, t0: float) -> None:
    """Write every file of the cache of ``study`` into ``out`` (``meta.json`` last)."""
    w = study.windows
    timings: dict[str, float] = {}

    with Genome(study.genome) as genome:
        headers = [tracks_io.open_header(t.path) for t in study.tracks]
        chroms = select_chroms(study, genome.sizes, [h.sizes for h in headers])
        track_names = [
            tracks_io.check_lengths(h, genome.sizes, chroms, str(study.genome)) for h in headers
        ]
        sizes = {c: genome.sizes[c] for c in chroms}
        bp_off, bin_off = {}, {}
        total_bp = total_bins = 0
        for c in chroms:
            bp_off[c], bin_off[c] = total_bp, total_bins
            total_bp += sizes[c]
            total_bins += sizes[c] // w.resolution

        # genome codes, streamed in GENOME_CHUNK_BP pieces into one .npy; each chromosome is
        # mapped on its own and unmapped after, so peak memory is set by the largest chromosome,
        # not by the genome (a whole-genome writable map keeps every written page resident)
        t = time.perf_counter()
        n_frac_parts = []
        # --- peak-centred windows (issue 17): summit windows + negative candidates replace the tiling
        gc_parts: list = []
        if w.strategy == "peaks":
            from . import peaks as peak_windows
            from ..io.peaks import read_peaks

            win = peak_windows.candidate_windows(
                read_peaks(w.peaks, chroms), sizes, chroms, w.input_length, w.stride, w.resolution
            )
        else:  # --- end issue 17
            win = windows.tile(sizes, chroms, w.input_length, w.stride)
        win_chrom, win_start = win["chrom"].to_numpy(), win["start"].to_numpy()
        with atomic.atomic_path(out / "genome.npy") as tmp:
            mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(total_bp,))
            data_offset = mm.offset
            del mm
            for c in chroms:
                if sizes[c] == 0:
                    continue
                cm = np.memmap(tmp, dtype=np.uint8, mode="r+", offset=data_offset + bp_off[c], shape=(sizes[c],))
                for lo in range(0, sizes[c], GENOME_CHUNK_BP):
                    hi = min(lo + GENOME_CHUNK_BP, sizes[c])
                    cm[lo:hi] = genome.codes(c, lo, hi)
                sel = win_chrom == c
                n_frac_parts.append((sel, windows.n_fraction(cm, win_start[sel], w.input_length)))
                if w.strategy == "peaks":  # issue 17: GC of every window, for the matching
                    gc_parts.append((sel, peak_windows.gc_fraction(cm, win_start[sel], w.input_length)))
                cm.flush()
                del cm
        timings["genome"] = time.perf_counter() - t

    n_frac = np.zeros(len(win), dtype=np.float32)
    for sel, nf in n_frac_parts:
        n_frac[sel] = nf

    # track bins
    t = time.perf_counter()
    track_stats: list[dict[str, Any]] = []
    with atomic.atomic_path(out / "bins.npy") as tmp:
        bins = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(len(study.tracks), total_bins))
        for ti, tc in enumerate(study.tracks):
            tmin, tmax = np.inf, -np.inf
            for c in chroms:
                nb = sizes[c] // w.resolution
                v = tracks_io.read_bins(tc.path, track_names[ti][c], nb, w.resolution, tc.missing)
                bins[ti, bin_off[c] : bin_off[c] + nb] = v
                if nb:
                    tmin, tmax = min(tmin, float(v.min())), max(tmax, float(v.max()))
            transforms.check_domain(tmin, study.transform, tc.name, str(tc.path))
            track_stats.append({"name": tc.name, "path": str(tc.path), "min": tmin, "max": tmax})
        bins.flush()
        del bins
    timings["tracks"] = time.perf_counter() - t

    # windows: flags, splits, filter
    t = time.perf_counter()
    reason = np.full(len(win), "", dtype=object)
    reason[n_frac > w.max_n_fraction] = "n_fraction"
    if w.blacklist is not None:
        bl = _read_blacklist(w.blacklist, chroms)
        hit = windows.overlaps_intervals(win["chrom"].to_numpy(), win["start"].to_numpy(), win["end"].to_numpy(), bl)
        reason[(reason == "") & hit] = "blacklist"
    rng = np.random.default_rng([study.seed, 101])
    if study.split.strategy == "chromosome":
        split = splits.chromosome_split(win["chrom"].to_numpy(), study.split.val, study.split.test, chroms)
    else:
        split = splits.random_split(len(win), study.split.val_fraction, study.split.test_fraction, rng)
    win["split"] = split
    win["n_fraction"] = n_frac
    win["keep"] = reason == ""
    win["reason"] = reason
    peaks_report = _select_peak_negatives(study, win, gc_parts) if w.strategy == "peaks" else None  # issue 17
    atomic.write_text(out / "study.yaml", study.to_yaml())
    pre_rows = np.flatnonzero(win["keep"].to_numpy())
    raw_pre = _raw_targets(out, win, pre_rows, chroms, bin_off, w)
    y_pre = transforms.forward(raw_pre, study.transform)
    win["target_mean"] = np.nan
    win.loc[win["keep"].to_numpy(), "target_mean"] = y_pre.mean(axis=(1, 2)) if len(y_pre) else []
    f = study.filter
    if f.threshold is not None:
        frng = np.random.default_rng([study.seed, 202])
        below = win["keep"].to_numpy() & (win["target_mean"].to_numpy() < f.threshold)
        dropped = below & (frng.random(len(win)) >= f.keep_below_fraction)
        win.loc[dropped, "keep"] = False
        win.loc[dropped, "reason"] = "below_threshold"
    keep = win["keep"].to_numpy()
    for s in ("train", "val", "test"):
        if not (keep & (win["split"].to_numpy() == s)).any():
            raise DataError(
                f"the {s} split of study {study.name!r} has no windows after filtering "
                f"(chromosomes {sorted(set(win.loc[win['split'] == s, 'chrom']))}); check `split:`, "
                "`filter:` and `windows.max_n_fraction`"
            )
    kept_rows = np.flatnonzero(keep)
    # the filter only drops rows: reuse the rows already read rather than gathering them again
    still = keep[pre_rows]
    raw_kept, y_kept = (raw_pre, y_pre) if still.all() else (raw_pre[still], y_pre[still])
    del raw_pre, y_pre
    fit_sel = win["split"].to_numpy()[kept_rows] == "train" if fit_on == "train" else slice(None)
    norm_state = transforms.fit(y_kept[fit_sel], study.normalize)
    norm_state["fit_on"] = fit_on
    timings["windows"] = time.perf_counter() - t

    with atomic.atomic_path(out / "windows.parquet") as tmp:
        win.to_parquet(tmp, index=False)
    del n_frac_parts, reason
    stats = _stats(win, raw_kept, y_kept, study, track_stats)
    del raw_kept, y_kept
    meta = {
        "format": 1,
        "data_hash": data_hash,
        "study": study.model_dump(mode="json"),
        "seed": study.seed,
        "chroms": chroms,
        "chrom_sizes": sizes,
        "bp_offsets": bp_off,
        "bin_offsets": bin_off,
        "track_names": [t.name for t in study.tracks],
        "track_chrom_names": track_names,
        "input_length": w.input_length,
        "target_length": w.target_length,
        "resolution": w.resolution,
        "n_bins": w.n_bins,
        "flank": w.flank,
        "transform": study.transform,
        "norm_state": norm_state,
        "rc_perm": _rc_perm(study),
        "stats": stats,
        **({"peaks": peaks_report} if peaks_report is not None else {}),  # issue 17: GC balance per split
        "timings": {**timings, "total": time.perf_counter() - t0},
    }
    atomic.write_json(out / META, meta)


def _raw_targets(out: Path, win: pd.DataFrame, rows: np.ndarray, chroms: list[str], bin_off: dict[str, int],
                 w) -> np.ndarray:
    """float32[n, T, n_bins] raw targets of window ``rows`` from the ``bins.npy`` just written (no meta yet)."""
    bins = np.load(out / "bins.npy", mmap_mode="r")
    ci = {c: i for i, c in enumerate(chroms)}
    off = np.array([bin_off[c] for c in chroms], dtype=np.int64)
    chrom_i = win["chrom"].map(ci).to_numpy(np.int64)[rows]
    start = win["start"].to_numpy(np.int64)[rows]
    return gather_bins(bins, off[chrom_i] + (start + w.flank) // w.resolution, w.n_bins)


def _select_peak_negatives(study: Study, win: pd.DataFrame, gc_parts: list) -> dict[str, Any]:
    """Issue 17: keep the GC-matched negatives (drawn within each split), drop the other candidates.

    Adds ``gc`` to ``win``; unchosen candidates get ``keep=False``, reason ``negative_unused``.
    """
    from . import peaks as peak_windows

    gc = np.zeros(len(win), dtype=np.float32)
    for sel, g in gc_parts:
        gc[sel] = g
    win["gc"] = gc
    neg = study.windows.negatives
    kind = win["kind"].to_numpy()
    chosen, report = peak_windows.select_negatives(
        kind, win["split"].to_numpy(), win["keep"].to_numpy(), gc, neg.ratio, neg.match, neg.gc_bins,
        np.random.default_rng([study.seed, 303]), neg.fallback,
    )
    unused = (kind == "negative") & ~chosen & win["keep"].to_numpy()
    win.loc[unused, "keep"] = False
    win.loc[unused, "reason"] = "negative_unused"
    return report


def _rc_perm(study: Study) -> list[int]:
    """Track permutation under reverse complement: stranded pairs swap, others stay."""
    names = [t.name for t in study.tracks]
    perm = list(range(len(names)))
    for i, t in enumerate(study.tracks):
        if t.strand and t.pair:
            perm[i] = names.index(t.pair)
    return perm


def _read_blacklist(path: Path, chroms: list[str]) -> pd.DataFrame:
    from ..io.intervals import read_bed

    return read_bed(path, chroms, what="blacklist", fix="give a 3-column BED file")


def _stats(
    win: pd.DataFrame, raw_kept: np.ndarray, y: np.ndarray, study: Study, track_stats: list[dict]
) -> dict[str, Any]:
    """Counts, quantiles, zero-bin fraction and depth per split, for ``inspect`` and ``audit``.

    raw_kept, y: float32[n_kept, n_tracks, n_bins] raw and transformed targets of the kept windows.
    """
    keep = win["keep"].to_numpy()
    kept_chrom = win["chrom"].to_numpy()[keep]
    out: dict[str, Any] = {
        "n_candidates": int(len(win)),
        "dropped": {r: int(n) for r, n in win.loc[~win["keep"], "reason"].value_counts().items()},
        "tracks": track_stats,
        "splits": {},
        "per_chrom": {},
    }
    sp = win["split"].to_numpy()[keep]
    for s in ("train", "val", "test"):
        m = sp == s
        ys, rs = y[m], raw_kept[m]
        out["splits"][s] = {
            "n_windows": int(m.sum()),
            "chroms": sorted(pd.unique(kept_chrom[m]).tolist()),
            "quantiles": {
                str(q): [float(np.quantile(ys[:, t], q)) if len(ys) else None for t in range(ys.shape[1])]
                for q in (0.0, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0)
            },
            "zero_bin_fraction": [float((rs[:, t] == 0).mean()) if len(rs) else None for t in range(rs.shape[1])],
            "mean_raw": [float(rs[:, t].mean()) if len(rs) else None for t in range(rs.shape[1])],
            "depth": [float(rs[:, t].sum() * study.windows.resolution) for t in range(rs.shape[1])],
        }
    for c, g in win.groupby("chrom", sort=False):
        out["per_chrom"][str(c)] = {
            "split": str(g["split"].iloc[0]) if study.split.strategy == "chromosome" else "mixed",
            "candidates": int(len(g)),
            "kept": int(g["keep"].sum()),
            "n_fraction_dropped": int((g["reason"] == "n_fraction").sum()),
            "blacklist_dropped": int((g["reason"] == "blacklist").sum()),
            "below_threshold_dropped": int((g["reason"] == "below_threshold").sum()),
        }
    return out


def inspect_text(ds: PreparedDataset) -> str:
    """The human summary printed by ``seq2track inspect``."""
    st = ds.meta["stats"]
    lines = [f"cache {ds.root}  study {ds.meta['study']['name']!r}  hash {ds.meta['data_hash']}"]
    lines.append(
        f"windows: input {ds.input_length} bp, target {ds.n_bins} bins x {ds.resolution} bp; "
        f"transform {ds.transform}, normalise {ds.norm_state['kind']} (fit on {ds.norm_state.get('fit_on')})"
    )
    lines.append(f"candidates {st['n_candidates']}, dropped {st['dropped'] or 'none'}")
    for s, d in st["splits"].items():
        lines.append(f"  {s:5s} {d['n_windows']:7d} windows on {', '.join(d['chroms'])}")
    for ti, name in enumerate(ds.track_names):
        lines.append(f"track {name}:")
        for s, d in st["splits"].items():
            q = {k: v[ti] for k, v in d["quantiles"].items()}
            qs = " ".join(f"q{float(k):g}={v:.3g}" for k, v in q.items() if v is not None)
            lines.append(
                f"  {s:5s} zero-bin fraction {d['zero_bin_fraction'][ti]:.3f}  mean(raw) {d['mean_raw'][ti]:.3g}  "
                f"depth {d['depth'][ti]:.3g}  transformed {qs}"
            )
    lines.append("per chromosome (split: kept/candidates, N-dropped, blacklist, below threshold):")
    for c, d in st["per_chrom"].items():
        lines.append(
            f"  {c:12s} {d['split']:5s} {d['kept']:6d}/{d['candidates']:<6d} N {d['n_fraction_dropped']:4d}  "
            f"bl {d['blacklist_dropped']:4d}  thr {d['below_threshold_dropped']:5d}"
        )
    return "\n".join(lines)
