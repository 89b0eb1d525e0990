"""Pileup from a BAM: seq2track vs ``bedtools genomecov`` on the same file, plus the truth checks.

    python benchmarks/08_pileup.py [--workdir /tmp/bench08]

1. Builds a coordinate-sorted, indexed paired-end BAM with pysam from the shared yeast ATAC
   fragments (467,908 fragments -> 935,816 reads: read1 on + at the fragment start, read2 on -
   ending at the fragment end, reads of min(50, fragment length) bp, TLEN = fragment length).
2. ``seq2track`` coverage pileup of that BAM (``io.read_pileup.pileup_reads``) vs the shared
   fragment-coverage bigWig (built independently from the BEDPE): equal at every base?
3. The Tn5 insertion track (``--count insertions --tn5``) vs a direct numpy count of the
   fragments' shifted ends (start + 4, end - 5).
4. The same BAM through ``bedtools genomecov -ibam -pc -bg`` (fragment coverage of pairs):
   values equal to ours at every base, and the time ratio (each tool timed on the same file,
   the load average printed beside it).
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from _common import YEAST, YEAST_BW, load_average  # noqa: E402

BEDPE = YEAST / "atac_SRR1822137" / "yeast_500k_SRR1822137.bedpe.gz"
SIZES_FILE = YEAST / "genome" / "sacCer3.chrom.sizes"


def read_fragments(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import pandas as pd

    df = pd.read_csv(path, sep="\t", header=None, usecols=[0, 1, 2], names=["c", "s", "e"])
    return df["c"].to_numpy(str), df["s"].to_numpy(np.int64), df["e"].to_numpy(np.int64)


def fragments_to_bam(bam: Path, sizes: dict[str, int], chrom, s, e, read_len: int = 50) -> int:
    """Write fragments ``[s, e)`` as proper pairs into a sorted, indexed BAM; returns reads written."""
    import pysam

    header = {"HD": {"VN": "1.6", "SO": "coordinate"}, "SQ": [{"SN": c, "LN": n} for c, n in sizes.items()]}
    n = 0
    with pysam.AlignmentFile(str(bam), "wb", header=header) as out:
        for ci, c in enumerate(sizes):
            sel = np.flatnonzero(chrom == c)
            if not len(sel):
                continue
            fs, fe = s[sel], e[sel]
            rl = np.minimum(read_len, fe - fs)
            pos = np.concatenate([fs, fe - rl])  # read1 (+) starts, read2 (-) starts
            order = np.argsort(pos, kind="stable")
            m = len(fs)
            for k in order:
                i = k % m
                r1 = k < m
                a = pysam.AlignedSegment(out.header)
                a.query_name = f"{c}_{sel[i]}"
                a.reference_id = ci
                a.reference_start = int(pos[k])
                a.cigartuples = [(0, int(rl[i]))]
                a.mapping_quality = 60
                a.next_reference_id = ci
                a.next_reference_start = int(fe[i] - rl[i]) if r1 else int(fs[i])
                tlen = int(fe[i] - fs[i])
                a.template_length = tlen if r1 else -tlen
                a.flag = 0x1 | 0x2 | (0x20 | 0x40 if r1 else 0x10 | 0x80)
                out.write(a)
                n += 1
    pysam.index(str(bam))
    return n


def bw_values(path: Path, chrom: str, n: int) -> np.ndarray:
    import pyBigWig

    with pyBigWig.open(str(path)) as bw:
        return np.nan_to_num(bw.values(chrom, 0, n, numpy=True))


def bedgraph_dense(path: Path, sizes: dict[str, int]) -> dict[str, np.ndarray]:
    import pandas as pd

    out = {c: np.zeros(n) for c, n in sizes.items()}
    df = pd.read_csv(path, sep="\t", header=None, names=["c", "s", "e", "v"], dtype={"c": str})
    for c, g in df.groupby("c"):
        d = np.zeros(sizes[c] + 1)
        np.add.at(d, g["s"].to_numpy(), g["v"].to_numpy())
        np.add.at(d, g["e"].to_numpy(), -g["v"].to_numpy())
        out[c] = np.cumsum(d)[:-1]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/bench08"))
    args = ap.parse_args()
    if not BEDPE.exists():
        print(f"shared data not found at {BEDPE}; nothing to measure")
        return
    from seq2track.io.pileup import read_sizes
    from seq2track.io.read_pileup import pileup_reads
    from seq2track.io.reads import TN5_SHIFT

    wd = args.workdir
    wd.mkdir(parents=True, exist_ok=True)
    sizes = read_sizes(SIZES_FILE)
    chrom, s, e = read_fragments(BEDPE)
    bam = wd / "yeast_atac.bam"
    t = time.perf_counter()
    n_reads = fragments_to_bam(bam, sizes, chrom, s, e)
    print(f"BAM: {n_reads:,} reads from {len(s):,} fragments in {time.perf_counter() - t:.1f} s "
          f"({bam.stat().st_size / 1e6:.1f} MB)")

    # seq2track coverage
    la0 = load_average()
    t = time.perf_counter()
    cov = pileup_reads(bam, SIZES_FILE, wd / "s2t_coverage.bw", kind="coverage")
    t_ours = time.perf_counter() - t
    n_diff = n_bases = 0
    for c, n in sizes.items():
        a, b = bw_values(cov.paths["coverage"], c, n), bw_values(YEAST_BW, c, n)
        n_diff += int((a != b).sum())
        n_bases += n
    print(f"seq2track coverage vs shared fragment_coverage.bw: {n_bases:,} bases, {n_diff} differ "
          f"-> values-equal={n_diff == 0}; fragments counted {cov.n_units:,}")

    # insertions vs a direct count
    ins = pileup_reads(bam, SIZES_FILE, wd / "s2t_ins.bw", kind="insertions", shift=TN5_SHIFT)
    n_diff_i = 0
    for c, n in sizes.items():
        sel = chrom == c
        direct = np.bincount(np.concatenate([s[sel] + 4, e[sel] - 5]), minlength=n)[:n]
        n_diff_i += int((bw_values(ins.paths["insertions"], c, n) != direct).sum())
    print(f"Tn5 insertions (+4 / -5 on the BED end) vs direct count of the fragments: {n_diff_i} bases differ "
          f"-> values-equal={n_diff_i == 0}; total insertions {ins.total:,.0f} (= 2 x {len(s):,})")

    # bedtools genomecov on the same BAM
    bt = shutil.which("bedtools")
    if bt is None:
        print("bedtools not installed: apt-get install bedtools; time ratio not measured")
        return
    la1 = load_average()
    t = time.perf_counter()
    with open(wd / "bedtools.bg", "w") as fh:
        subprocess.run([bt, "genomecov", "-ibam", str(bam), "-pc", "-bg"], stdout=fh, check=True)
    t_bt = time.perf_counter() - t
    dense = bedgraph_dense(wd / "bedtools.bg", sizes)
    n_diff_b = sum(int((bw_values(cov.paths["coverage"], c, n) != dense[c]).sum()) for c, n in sizes.items())
    print(f"bedtools genomecov -pc vs seq2track: {n_diff_b} bases differ -> values-equal={n_diff_b == 0}")
    print(f"time: seq2track pileup {t_ours:.2f} s (BAM -> bigWig, load {la0:.2f}); bedtools genomecov "
          f"{t_bt:.2f} s (BAM -> bedGraph, no bigWig, load {la1:.2f}); ratio seq2track/bedtools = "
          f"{t_ours / t_bt:.2f}; load average now {os.getloadavg()}")


if __name__ == "__main__":
    main()
