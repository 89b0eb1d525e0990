"""Shared bits of the benchmark scripts: the yeast study, timing and peak RSS."""

from __future__ import annotations

import resource
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
YEAST = SHARED / "yeast_sacCer3"
YEAST_FA = YEAST / "genome" / "sacCer3.fa"
YEAST_BW = YEAST / "atac_SRR1822137" / "yeast_500k_SRR1822137.fragment_coverage.bw"

YEAST_STUDY = f"""name: yeast-atac
seed: 7
genome: {YEAST_FA}
tracks:
  - {{name: atac, path: {YEAST_BW}}}
windows: {{input_length: 2048, target_length: 256, resolution: 32, stride: 256,
          chroms: null, exclude_chroms: [chrM, chrXII], max_n_fraction: 0.1}}
transform: arcsinh
split: {{strategy: chromosome, val: [chrV], test: [chrIV, chrXVI]}}
"""


def yeast_study(tmp: Path):
    from seq2track.config import load_study

    p = tmp / "yeast.yaml"
    p.write_text(YEAST_STUDY)
    return load_study(p)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Timer:
    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.s = time.perf_counter() - self.t0
