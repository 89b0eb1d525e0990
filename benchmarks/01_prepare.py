"""Prepare the whole yeast genome vs the tutorial's per-window pyBigWig + pyfaidx loop,
and vs pyBigWig ``stats(nBins=...)``; then time per Mb on larger synthetic genomes.

    python benchmarks/01_prepare.py [--scale-mb 100 400]

Prints seconds, ratios and peak RSS measured in this one run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import YEAST_BW, YEAST_FA, Timer, peak_rss_mb, yeast_study  # noqa: E402


def per_window_loop(ds, n_max: int | None = None) -> tuple[float, int]:
    """The tutorial's way: for each window, pyfaidx slice + pyBigWig values + reshape-mean."""
    import pyBigWig
    import pyfaidx

    fa = pyfaidx.Fasta(str(YEAST_FA))
    bw = pyBigWig.open(str(YEAST_BW))
    w = ds.windows if n_max is None else ds.windows.iloc[:n_max]
    with Timer() as t:
        for c, s, e in zip(w.chrom, w.start, w.end):
            seq = str(fa[c][s:e]).upper()  # noqa: F841
            v = np.nan_to_num(bw.values(c, s + ds.flank, s + ds.flank + ds.n_bins * ds.resolution, numpy=True))
            v.reshape(ds.n_bins, ds.resolution).mean(1)
    return t.s, len(w)


def stats_nbins(ds) -> float:
    """pyBigWig stats(nBins) over whole chromosomes (DEPENDENCIES.md: ~70 us per bin)."""
    import pyBigWig

    bw = pyBigWig.open(str(YEAST_BW))
    with Timer() as t:
        for c in ds.chroms[:3]:
            n = ds.chrom_sizes[c] // ds.resolution
            bw.stats(c, 0, n * ds.resolution, nBins=n, type="mean", exact=True)
    bp3 = sum(ds.chrom_sizes[c] for c in ds.chroms[:3])
    return t.s * sum(ds.chrom_sizes.values()) / bp3


def synthetic(tmp: Path, mb: int) -> Path:
    """A synthetic genome of ``mb`` Mb (10 chromosomes) + a dense coverage track, and its study."""
    import pyBigWig

    rng = np.random.default_rng(0)
    n = 10
    L = mb * 1_000_000 // n
    fa = tmp / f"g{mb}.fa"
    with open(fa, "w") as fh:
        for i in range(n):
            fh.write(f">chr{i + 1}\n")
            s = rng.choice(np.frombuffer(b"ACGT", np.uint8), size=L).tobytes()
            for j in range(0, L, 1 << 20):
                block = s[j : j + (1 << 20)]
                fh.write("\n".join(block[k : k + 60].decode() for k in range(0, len(block), 60)) + "\n")
    bw_p = tmp / f"g{mb}.bw"
    bw = pyBigWig.open(str(bw_p), "w")
    bw.addHeader([(f"chr{i + 1}", L) for i in range(n)])
    for i in range(n):
        step = 50
        vals = rng.poisson(3, size=L // step).astype(np.float64)
        bw.addEntries(f"chr{i + 1}", 0, values=vals.tolist(), span=step, step=step)
    bw.close()
    st = tmp / f"g{mb}.yaml"
    st.write_text(
        f"name: synth{mb}\ngenome: {fa}\ntracks: [{{name: s, path: {bw_p}}}]\n"
        "windows: {input_length: 2048, target_length: 256, resolution: 32, stride: 256}\n"
        "split: {strategy: chromosome, val: [chr9], test: [chr10]}\n"
    )
    return st


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale-mb", type=int, nargs="*", default=[100])
    args = ap.parse_args()
    from seq2track.config import load_study
    from seq2track.data.prepare import prepare

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        study = yeast_study(tmp)
        with Timer() as t:
            ds = prepare(study, tmp / "cache")
        ours = t.s
        loop_s, n_loop = per_window_loop(ds)
        stats_s = stats_nbins(ds)
        mb = sum(ds.chrom_sizes.values()) / 1e6
        print(f"yeast genome: {mb:.2f} Mb, {len(ds.windows)} windows")
        print(f"prepare (ours, whole genome):         {ours:7.2f} s  ({ours / mb:.3f} s/Mb)  target <= 5 s")
        print(f"per-window pyBigWig+pyfaidx loop:     {loop_s:7.2f} s  ({n_loop / loop_s:,.0f} windows/s)")
        print(f"pyBigWig stats(nBins) projected:      {stats_s:7.2f} s")
        print(f"ratio loop/ours = {loop_s / ours:.1f}x   stats/ours = {stats_s / ours:.1f}x")
        print(f"timings: {ds.meta['timings']}")
        print(f"peak RSS so far: {peak_rss_mb():.0f} MB")
        per_mb = []
        for size in args.scale_mb:
            st = synthetic(tmp, size)
            with Timer() as t:
                prepare(load_study(st), tmp / f"c{size}")
            per_mb.append(t.s / size)
            print(f"synthetic {size} Mb: prepare {t.s:.1f} s ({t.s / size:.3f} s/Mb), peak RSS {peak_rss_mb():.0f} MB")
        proj = max(per_mb) * 3100
        print(f"projected 3.1 Gb human genome: {proj / 60:.1f} min (target <= 10 min); "
              "peak RSS is bounded by the largest chromosome's codes + one track chunk")
        print(f"prepare_seconds={ours:.3f}")


if __name__ == "__main__":
    main()
