"""End to end: ``seq2track demo`` (simulate -> prepare -> train -> evaluate -> report) and,
with ``--yeast``, the yeast ATAC study at default model/train settings.

Prints wall and CPU time per stage, peak RSS (this process and any worker it waited for),
and the headline metrics next to the k-mer baseline (and, for the demo, the ceiling set by
the simulator's noise-free track). Target: demo <= 3 min.

    python benchmarks/05_end_to_end.py [--yeast] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import Timer, load_average, machine_line, peak_rss_mb, yeast_study  # noqa: E402


def show(name: str, m: dict, t: Timer) -> None:
    tb, b = m["test"], m["baseline"]["test"]
    rss = max(peak_rss_mb(), peak_rss_mb(children=True))
    print(f"== {name}: wall {t.s:.0f} s, process CPU {t.cpu:.0f} s, peak RSS {rss:.0f} MB, "
          f"load average {load_average():.1f}")
    print("   stages (s): " + ", ".join(f"{k} {v:.0f}" for k, v in m["timings"].items()))
    tr = m.get("train") or {}
    print(f"   training: {tr.get('epochs')} epochs, {tr.get('windows_per_s', float('nan')):.0f} windows/s, "
          f"{100 * (tr.get('data_wait_fraction') or 0):.1f}% data wait")
    print(f"   test Pearson ({m['resolution']} bp): CNN {tb['pearson']:.3f}  k-mer {b['pearson']:.3f}  "
          f"(gain {tb['pearson'] - b['pearson']:+.3f})")
    print(f"   test window-total Pearson: CNN {tb['window_total']['pearson']:.3f}  "
          f"k-mer {b['window_total']['pearson']:.3f}")
    print(f"   test auPRC: CNN {tb['auprc']:.3f}  k-mer {b['auprc']:.3f}  no-skill {tb['auprc_baseline']:.3f}")
    for tn, r in (tb.get("reference") or {}).items():
        print(f"   {tn}: ceiling (noise-free vs observed) {r['ceiling_pearson']:.3f}; CNN vs noise-free "
              f"{r['model_vs_reference_pearson']:.3f}; k-mer vs noise-free "
              f"{r.get('baseline_vs_reference_pearson', float('nan')):.3f}")
    print(f"   report: {m['report']}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--yeast", action="store_true", help="also run the yeast ATAC study (~15 min on 2 cores)")
    ap.add_argument("--out", type=Path, default=None, help="keep outputs here (default: a temporary folder)")
    args = ap.parse_args()
    from seq2track.run import demo

    print(machine_line())
    with tempfile.TemporaryDirectory() as d:
        out = args.out or Path(d)
        with Timer() as t:
            m = demo(out / "demo", progress_bar=False)
        show("demo", m, t)
        print(f"target demo <= 3 min -> {'MET' if t.s <= 180 else 'MISSED'}")
        print(f"demo_seconds={t.s:.1f}")
        if args.yeast:
            study = yeast_study(out)
            if study is None:
                print("yeast data not found under ../shared/data: skipped")
                return
            from seq2track.run import run_study

            with Timer() as t:
                m = run_study(study, out / "yeast", progress_bar=False)
            show("yeast ATAC (defaults)", m, t)
            print(json.dumps(m["per_chrom"], indent=1))


if __name__ == "__main__":
    main()
