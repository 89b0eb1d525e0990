"""Prepare: the whole yeast genome vs the tutorial's per-window pyBigWig + pyfaidx loop and
vs pyBigWig ``stats(nBins=...)``; then scaling over 12 Mb (yeast), 100 Mb and 400 Mb synthetic
genomes (time per Mb, peak RSS, each size in its own process) and a projection to a 3.1 Gb
human genome.

    python benchmarks/01_prepare.py [--sizes 100 400] [--synth-dir /work/runs/bench-synth]

The synthetic genomes (FASTA + a dense bigWig written with pyBigWig, seed 0) are written
once under ``--synth-dir`` (outside the repo) and reused. The 400 Mb genome has one
248-Mb chromosome (the size of human chr1) so that the per-chromosome buffers are measured
at human scale; the 100 Mb genome has ten 10-Mb chromosomes. The 400 Mb genome is prepared
again at stride 32, which gives it as many windows (12.5 M) as the human genome has at
stride 256: its peak RSS is the human-scale figure. Wall time is inflated when the machine is
shared; process CPU time (prepare runs on one thread) is what an idle machine would take.
Targets: yeast <= 5 s; projected 3.1 Gb <= 10 min with peak RSS <= 8 GB (2 cores).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import YEAST_BW, YEAST_FA, Timer, machine_line, peak_rss_mb, yeast_study  # noqa: E402

HUMAN_MB = 3100.0


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
    """pyBigWig stats(nBins) over whole chromosomes (DEPENDENCIES.md: ~70 us per bin), projected
    from the first three chromosomes to the whole genome."""
    import pyBigWig

    bw = pyBigWig.open(str(YEAST_BW))
    with Timer() as t:
        for c in ds.chroms[:3]:
            n = ds.chrom_sizes[c] // ds.resolution
            bw.stats(c, 0, n * ds.resolution, nBins=n, type="mean", exact=True)
    bp3 = sum(ds.chrom_sizes[c] for c in ds.chroms[:3])
    return t.s * sum(ds.chrom_sizes.values()) / bp3


def chrom_lengths(mb: int) -> list[int]:
    """Chromosome lengths of the synthetic genome of ``mb`` Mb (see the module docstring)."""
    total = mb * 1_000_000
    if mb >= 400:
        big = 248_000_000
        rest = (total - big) // 8
        return [big] + [rest] * 8
    return [total // 10] * 10


def synthetic(root: Path, mb: int, stride: int = 256) -> Path:
    """Write (once) a synthetic genome of ``mb`` Mb + a dense coverage bigWig; return its study.

    Sequence: uniform ACGT with a 50-kb N block at each chromosome start; track: Poisson(3)
    counts in 50-bp steps (dense: the costliest case to decompress). Seeded, so re-runs reuse it.
    """
    import pyBigWig

    root.mkdir(parents=True, exist_ok=True)
    fa, bw_p, st = root / f"g{mb}.fa", root / f"g{mb}.bw", root / f"g{mb}_s{stride}.yaml"
    lens = chrom_lengths(mb)
    names = [f"chr{i + 1}" for i in range(len(lens))]
    if not (fa.exists() and bw_p.exists()):
        rng = np.random.default_rng(0)
        letters = np.frombuffer(b"ACGT", np.uint8)
        with open(fa.with_suffix(".tmp"), "wb") as fh:
            for c, L in zip(names, lens):
                fh.write(f">{c}\n".encode())
                s = letters[rng.integers(0, 4, L, dtype=np.uint8)]
                s[: min(50_000, L)] = ord("N")
                full = L // 60
                body = np.empty((full, 61), np.uint8)
                body[:, :60] = s[: full * 60].reshape(full, 60)
                body[:, 60] = ord("\n")
                fh.write(body.tobytes())
                if L % 60:
                    fh.write(s[full * 60 :].tobytes() + b"\n")
                del s, body
        fa.with_suffix(".tmp").rename(fa)
        Path(str(fa) + ".fai").unlink(missing_ok=True)
        tmp_bw = bw_p.with_suffix(".tmp")
        bw = pyBigWig.open(str(tmp_bw), "w")
        bw.addHeader(list(zip(names, lens)), maxZooms=10)
        step = 50
        for c, L in zip(names, lens):
            vals = rng.poisson(3, size=L // step).astype(np.float64)
            bw.addEntries(c, 0, values=vals, span=step, step=step)
        bw.close()
        tmp_bw.rename(bw_p)
    st.write_text(
        f"name: synth{mb}-s{stride}\nseed: 0\ngenome: {fa}\ntracks: [{{name: s, path: {bw_p}}}]\n"
        f"windows: {{input_length: 2048, target_length: 256, resolution: 32, stride: {stride}}}\n"
        "transform: arcsinh\n"
        f"split: {{strategy: chromosome, val: [{names[-2]}], test: [{names[-1]}]}}\n"
    )
    return st


def worker(study_path: str, out: str) -> None:
    """Run in a child process: prepare one study, print its seconds and peak RSS as JSON."""
    from seq2track.config import load_study
    from seq2track.data.prepare import prepare

    study = load_study(study_path)
    base = peak_rss_mb()
    with Timer() as t:
        ds = prepare(study, out, force=True)
    print(json.dumps({"seconds": t.s, "cpu_s": t.cpu, "peak_rss_mb": peak_rss_mb(), "baseline_rss_mb": base,
                      "mb": sum(ds.chrom_sizes.values()) / 1e6, "windows": int(len(ds.all_windows)),
                      "largest_chrom_mb": max(ds.chrom_sizes.values()) / 1e6,
                      "timings": ds.meta["timings"]}))


def in_child(study_path: Path, out: Path) -> dict:
    r = subprocess.run([sys.executable, __file__, "--worker", str(study_path), str(out)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"prepare of {study_path} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="*", default=[100, 400], help="synthetic genome sizes in Mb")
    ap.add_argument("--synth-dir", type=Path, default=Path("/work/runs/bench-synth"),
                    help="where the synthetic genomes are written (once) and the caches go")
    ap.add_argument("--no-human-windows", dest="human_windows", action="store_false",
                    help="skip the largest genome at stride 32 (as many windows as human at stride 256)")
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(*args.worker)
    from seq2track.data.prepare import prepare

    print(machine_line())
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        study = yeast_study(tmp)
        if study is None:
            print(f"yeast data not found under {YEAST_FA.parent.parent}: the yeast comparison is skipped")
        else:
            with Timer() as t:
                ds = prepare(study, tmp / "cache")
            ours = t.s
            loop_s, n_loop = per_window_loop(ds)
            stats_s = stats_nbins(ds)
            mb = sum(ds.chrom_sizes.values()) / 1e6
            print(f"yeast genome: {mb:.2f} Mb, {len(ds.windows)} windows (same process, side by side)")
            print(f"prepare (ours, whole genome):         {ours:7.2f} s  ({ours / mb:.3f} s/Mb)  target <= 5 s "
                  f"-> {'MET' if ours <= 5 else 'MISSED'}")
            print(f"per-window pyBigWig+pyfaidx loop:     {loop_s:7.2f} s  ({n_loop / loop_s:,.0f} windows/s)")
            print(f"pyBigWig stats(nBins) projected:      {stats_s:7.2f} s")
            print(f"ratio loop/ours = {loop_s / ours:.1f}x   stats/ours = {stats_s / ours:.1f}x")
            print("stage seconds: " + ", ".join(f"{k} {v:.2f}" for k, v in ds.meta["timings"].items()))

        rows = []
        if study is not None:
            rows.append(("yeast", in_child(tmp / "yeast.yaml", tmp / "cy")))
        for size in args.sizes:
            rows.append((f"synthetic {size}", prepare_synthetic(args.synth_dir, size, 256)))
        if args.human_windows and args.sizes:
            big_mb = max(args.sizes)
            rows.append((f"synth {big_mb} s32", prepare_synthetic(args.synth_dir, big_mb, 32)))
    print(f"\nscaling (each size prepared in its own process; {machine_line()[9:]})")
    print(f"{'genome':16s} {'Mb':>6s} {'largest':>7s} {'windows':>11s} {'wall s':>7s} {'CPU s':>6s} {'CPU s/Mb':>8s} "
          f"{'peak RSS MB':>11s}  stages wall s (genome/tracks/windows/rest)")
    for name, r in rows:
        tm = r["timings"]
        rest = tm["total"] - tm["genome"] - tm["tracks"] - tm["windows"]
        print(f"{name:16s} {r['mb']:6.0f} {r['largest_chrom_mb']:7.0f} {r['windows']:11,d} {r['seconds']:7.1f} "
              f"{r['cpu_s']:6.1f} {r['cpu_s'] / r['mb']:8.3f} {r['peak_rss_mb']:11.0f}  "
              f"{tm['genome']:.1f}/{tm['tracks']:.1f}/{tm['windows']:.1f}/{rest:.1f}")
    s256 = [r for n, r in rows if n.startswith(("synthetic", "yeast"))]
    big = max(s256, key=lambda r: r["mb"])
    proj_wall, proj_cpu = big["seconds"] / big["mb"] * HUMAN_MB, big["cpu_s"] / big["mb"] * HUMAN_MB
    print(f"projected 3.1 Gb human genome from the {big['mb']:.0f} Mb run: {proj_wall / 60:.1f} min wall at this load, "
          f"{proj_cpu / 60:.1f} min CPU (= wall on an idle machine; prepare is one thread) "
          f"(target <= 10 min -> {'MET' if max(proj_wall, proj_cpu) <= 600 else 'MISSED'})")
    hw = [r for n, r in rows if n.endswith("s32")]
    if hw:
        r = hw[0]
        extra = (HUMAN_MB - r["mb"]) * 1e6 / 32 * 4 / 2**20  # bins.npy of one track grows with the genome
        proj_rss = r["peak_rss_mb"] + extra
        print(f"peak RSS at human scale: the {r['mb']:.0f} Mb genome at stride 32 has {r['windows'] / 1e6:.1f} M "
              f"windows (human at stride 256: {HUMAN_MB * 1e6 / 256 / 1e6:.1f} M) and a {r['largest_chrom_mb']:.0f}-Mb "
              "chromosome "
              f"(human chr1: 248 Mb): {r['peak_rss_mb']:.0f} MB + {extra:.0f} MB for the larger bins array -> "
              f"{proj_rss / 1024:.2f} GB (target <= 8 GB -> {'MET' if proj_rss <= 8192 else 'MISSED'})")
    if study is not None:
        print(f"prepare_seconds={ours:.3f}")


def prepare_synthetic(root: Path, mb: int, stride: int) -> dict:
    st = synthetic(root, mb, stride)
    cache = root / f"cache{mb}_s{stride}"
    r = in_child(st, cache)
    for f in cache.glob("*.npy"):
        f.unlink()  # keep the disk free; the cache is not reused
    return r


if __name__ == "__main__":
    main()
