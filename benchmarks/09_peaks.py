"""Reads and peaks on the yeast ATAC fragments: MACS3 peaks and FRiP, a peak-centred study, and
the tiled model scored on the same peak-centred test windows.

    heavy python benchmarks/09_peaks.py --tiled-run /work/runs/byteid/new_yeast [--workdir /tmp/bench09]

1. ``seq2track.io.peaks.call_peaks`` (MACS3, ``-f BEDPE``, ``-g 1.2e7``) on the shared yeast ATAC
   fragments: number of peaks, FRiP (fragments overlapping a peak / all fragments), time.
2. A peak-centred yeast study: ``configs/yeast_atac.yaml`` with ``windows.strategy: peaks`` on
   those peaks, negatives ratio 1, GC-matched within each split (20 bins, ``fallback: nearest``
   and candidates tiled every ``--stride`` 128 bp by default: at 256 one yeast test GC bin is a
   candidate short); same chromosomes, split, geometry (2,048-bp input, 1,024-bp target, 32-bp
   bins), transform, model and training settings as the tiled study.
   ``run_study`` prepares, trains and evaluates it; printed: the GC balance per split (KS of
   positives' vs negatives' GC, from ``RUN/data/meta.json``) and ``test.peak_windows``.
3. The tiled yeast model (``--tiled-run``: a finished ``seq2track run configs/yeast_atac.yaml``)
   evaluated on the peak study's prepared windows (``evaluate.evaluate_run`` with the tiled run's
   model and loss, into ``WORKDIR/tiled_on_peaks``), side by side with the peak-trained model:
   window-count Pearson at peaks, at negatives, auPRC of peaks vs negatives.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from _common import YEAST, load_average, machine_line  # noqa: E402

BEDPE = YEAST / "atac_SRR1822137" / "yeast_500k_SRR1822137.bedpe.gz"
CONFIG = Path(__file__).resolve().parents[1] / "configs" / "yeast_atac.yaml"


def peak_study(tiled_yaml: Path, peaks: Path, out: Path, stride: int, fallback: str):
    """The tiled study with peak-centred windows (same geometry, split, transform, model, train)."""
    from seq2track.config import load_study, override

    tiled = load_study(tiled_yaml)
    st = override(tiled, {"name": "yeast-atac-peaks", "windows.strategy": "peaks", "windows.peaks": str(peaks),
                          "windows.negatives.ratio": 1.0, "windows.negatives.match": "gc",
                          "windows.negatives.within": "split", "windows.negatives.fallback": fallback,
                          "windows.stride": stride, "tracking": "none"})
    out.write_text(st.to_yaml())
    return load_study(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/bench09"))
    ap.add_argument("--tiled-run", type=Path, required=True, help="finished run of configs/yeast_atac.yaml")
    ap.add_argument("--stride", type=int, default=128, help="tiling of the negative candidates (bp)")
    ap.add_argument("--fallback", default="nearest", help="windows.negatives.fallback: error | nearest")
    a = ap.parse_args()
    a.workdir.mkdir(parents=True, exist_ok=True)
    print(machine_line())
    from seq2track.config import override
    from seq2track.data.cache import PreparedDataset
    from seq2track.evaluate import evaluate_run
    from seq2track.io.peaks import call_peaks
    from seq2track.rundir import Run
    from seq2track.run import run_study

    # 1. MACS3 peaks and FRiP
    peaks = a.workdir / "yeast_atac.narrowPeak"
    t = time.perf_counter()
    pc = call_peaks(BEDPE, peaks, genome_size=1.2e7, fmt="BEDPE", name="yeast")
    call_s = dt = time.perf_counter() - t
    s = json.loads(pc.summary.read_text())
    print(f"MACS3 peaks: {pc.n_peaks:,} (median width {s['median_width']:.0f} bp, {s['peak_bp']:,} bp in peaks); "
          f"FRiP {pc.frip.frip:.4f} ({pc.frip.n_in_peaks:,} of {pc.frip.n_total:,} {pc.frip.unit}); "
          f"call + FRiP {dt:.1f} s, load average {load_average():.2f}")

    # 2. the peak-centred study, trained and evaluated
    tiled = Run.open(a.tiled_run)
    st = peak_study(a.tiled_run / "study.yaml", peaks, a.workdir / "yeast_peaks.yaml", a.stride, a.fallback)
    w, tw = st.windows, tiled.study.windows
    assert (w.input_length, w.target_length, w.resolution) == (tw.input_length, tw.target_length, tw.resolution)
    run_dir = a.workdir / "peaks_run"
    la0 = load_average()
    t = time.perf_counter()
    m = run_study(st, run_dir, force=True, progress_bar=False)
    dt = time.perf_counter() - t
    print(f"peak study run (prepare + train + evaluate): {dt:.0f} s ({m.get('timings')}), "
          f"load average {la0:.2f} -> {load_average():.2f}; run directory {run_dir}")
    meta = json.loads((run_dir / "data" / "meta.json").read_text())
    ks_ok = True
    for sp, b in meta["peaks"]["splits"].items():
        ks_ok &= b["ks_gc"] < 0.05
        print(f"  GC balance {sp:5s}: {b['n_peaks']:,} peaks, {b['n_negatives']:,} negatives, KS {b['ks_gc']:.4f}, "
              f"mean GC {b['gc_mean_peaks']:.4f} vs {b['gc_mean_negatives']:.4f}, {b['n_candidates']:,} candidates, "
              f"{b['n_from_nearest_bin']} from the nearest GC bin")
    print(f"  KS < 0.05 in every split: {ks_ok}")

    # 3. the tiled model on the same test windows
    prepared = PreparedDataset.open(run_dir / "data")
    t = time.perf_counter()
    mt = evaluate_run(override(st, {"baseline.kmer_ridge": False}), prepared, a.workdir / "tiled_on_peaks",
                      model=tiled.model, loss=tiled.loss)
    print(f"tiled model on the peak study's windows: {time.perf_counter() - t:.0f} s, load average "
          f"{load_average():.2f}; into {a.workdir / 'tiled_on_peaks'}")

    rows = []
    for label, mm in (("peak-trained", m), (f"tiled ({a.tiled_run.name})", mt)):
        for tr, pw in mm["test"]["peak_windows"].items():
            rows.append((label, tr, pw))
    print("\ntest split, window counts (sum over the 1,024-bp target), per track:")
    print(f"{'model':28s} {'track':6s} {'n peaks':>8s} {'n neg':>7s} {'r peaks':>8s} {'r neg':>7s} "
          f"{'rho peaks':>9s} {'r all':>7s} {'auPRC':>7s} {'prev.':>6s} {'JSD pk':>7s}")
    for label, tr, pw in rows:
        jsd = pw.get("jsd_median_peaks")
        print(f"{label:28s} {tr:6s} {pw['peaks']['n']:8,d} {pw['negatives']['n']:7,d} {pw['peaks']['pearson']:8.4f} "
              f"{pw['negatives']['pearson']:7.4f} {pw['peaks']['spearman']:9.4f} {pw['all']['pearson']:7.4f} "
              f"{pw['auprc']:7.4f} {pw['prevalence']:6.3f} {jsd if jsd is None else f'{jsd:7.4f}'}")
    print(f"tiled run's own test bin Pearson (all tiled test windows): {tiled_metrics(a.tiled_run):.4f}; "
          f"peak study's test bin Pearson (its windows): {m['test']['pearson']:.4f}")
    from seq2track import atomic

    atomic.write_json(a.workdir / "summary.json", {
        "macs3": s, "call_s": call_s, "balance": meta["peaks"], "peak_trained": m["test"]["peak_windows"],
        "tiled": mt["test"]["peak_windows"], "tiled_run": str(a.tiled_run), "peak_run": str(run_dir)})


def tiled_metrics(run: Path) -> float:
    return float(json.loads((run / "metrics.json").read_text())["test"]["pearson"])


if __name__ == "__main__":
    main()
