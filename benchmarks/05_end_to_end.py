"""End to end: ``seq2track demo`` (simulate -> prepare -> train -> evaluate -> report) and,
with ``--yeast``, the yeast ATAC study at default model/train settings.

Prints wall and CPU time per stage and the headline metrics next to the k-mer baseline
(and, for the demo, the ceiling set by the simulator's noise-free track).
Usage: python benchmarks/05_end_to_end.py [--yeast] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "yeast_sacCer3"


def show(name: str, m: dict, wall: float, cpu: float) -> None:
    t, b = m["test"], m["baseline"]["test"]
    print(f"== {name}: wall {wall:.0f} s, process CPU {cpu:.0f} s, load average {os.getloadavg()[0]:.1f}")
    print("   stages (s): " + ", ".join(f"{k} {v:.0f}" for k, v in m["timings"].items()))
    tr = m.get("train") or {}
    print(f"   training: {tr.get('epochs')} epochs, {tr.get('windows_per_s', float('nan')):.0f} windows/s, "
          f"{100 * (tr.get('data_wait_fraction') or 0):.1f}% data wait")
    print(f"   test Pearson ({m['resolution']} bp): CNN {t['pearson']:.3f}  k-mer {b['pearson']:.3f}  "
          f"(gain {t['pearson'] - b['pearson']:+.3f})")
    print(f"   test window-total Pearson: CNN {t['window_total']['pearson']:.3f}  k-mer {b['window_total']['pearson']:.3f}")
    print(f"   test auPRC: CNN {t['auprc']:.3f}  k-mer {b['auprc']:.3f}  no-skill {t['auprc_baseline']:.3f}")
    for tn, r in (t.get("reference") or {}).items():
        print(f"   {tn}: ceiling (noise-free vs observed) {r['ceiling_pearson']:.3f}; CNN vs noise-free "
              f"{r['model_vs_reference_pearson']:.3f}; k-mer vs noise-free {r.get('baseline_vs_reference_pearson', float('nan')):.3f}")
    print(f"   report: {m['report']}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--yeast", action="store_true", help="also run the yeast ATAC study (~15 min on 2 cores)")
    ap.add_argument("--out", type=Path, default=None, help="keep outputs here (default: a temporary folder)")
    args = ap.parse_args()
    from seq2track.run import demo

    with tempfile.TemporaryDirectory() as d:
        out = args.out or Path(d)
        w0, c0 = time.perf_counter(), time.process_time()
        m = demo(out / "demo", progress_bar=False)
        show("demo", m, time.perf_counter() - w0, time.process_time() - c0)
        if args.yeast:
            if not SHARED.exists():
                print(f"yeast data not found at {SHARED}: skipped")
                return
            from seq2track.config import parse_study
            from seq2track.run import run_study

            study = parse_study(
                f"""
name: yeast-atac
seed: 7
genome: {SHARED}/genome/sacCer3.fa
tracks:
  - {{name: atac, path: {SHARED}/atac_SRR1822137/yeast_500k_SRR1822137.fragment_coverage.bw}}
windows: {{input_length: 2048, target_length: 256, resolution: 32, stride: 256, exclude_chroms: [chrM, chrXII]}}
transform: arcsinh
split: {{strategy: chromosome, val: [chrV], test: [chrIV, chrXVI]}}
""", out)
            w0, c0 = time.perf_counter(), time.process_time()
            m = run_study(study, out / "yeast", progress_bar=False)
            show("yeast ATAC (defaults)", m, time.perf_counter() - w0, time.process_time() - c0)
            print(json.dumps(m["per_chrom"], indent=1))


if __name__ == "__main__":
    main()
