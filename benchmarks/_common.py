"""Shared bits of the benchmark scripts: the yeast study, timing, peak RSS, machine line."""

from __future__ import annotations

import os
import platform
import resource
import sys
import time
from pathlib import Path

sys.stdout.reconfigure(line_buffering=True)  # figures show up in a log as they are measured

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


def yeast_study(tmp: Path, overrides: dict | None = None):
    """The yeast ATAC study (``../shared/data``), or None when the data are not there.

    ``overrides``: dotted keys for ``config.override`` (e.g. ``{"tracking": "none"}``).
    """
    from seq2track.config import load_study, override

    if not YEAST_FA.exists() or not YEAST_BW.exists():
        return None
    p = Path(tmp) / "yeast.yaml"
    p.write_text(YEAST_STUDY)
    st = load_study(p)
    return override(st, overrides) if overrides else st


def peak_rss_mb(children: bool = False) -> float:
    """Peak resident set size in MB of this process (or the largest of its waited-for children)."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024


def load_average() -> float:
    """1-minute load average (the machine is shared: print it next to absolute numbers)."""
    return os.getloadavg()[0]


def machine_line() -> str:
    """nproc, CPU model and load average, for the top of every benchmark's output."""
    model = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    la = os.getloadavg()
    return f"machine: {os.cpu_count()} CPUs ({model}), load average {la[0]:.2f} {la[1]:.2f} {la[2]:.2f}"


class Timer:
    """``with Timer() as t: ...`` -> ``t.s`` wall seconds and ``t.cpu`` process CPU seconds."""

    def __enter__(self):
        self.t0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.s = time.perf_counter() - self.t0
        self.cpu = time.process_time() - self.c0


def best_of(fn, repeat: int = 3) -> float:
    """Smallest wall time of ``repeat`` calls of ``fn()`` (the least disturbed by other load)."""
    best = float("inf")
    for _ in range(repeat):
        with Timer() as t:
            r = fn()
        del r
        best = min(best, t.s)
    return best


def per_base_onehot(seq: str):
    """The tutorials' one-hot: a Python loop over bases -> float32[4, len] (N is all zeros)."""
    import numpy as np

    lut = {"A": 0, "C": 1, "G": 2, "T": 3}
    x = np.zeros((4, len(seq)), np.float32)
    for i, ch in enumerate(seq):
        j = lut.get(ch)
        if j is not None:
            x[j, i] = 1
    return x
