"""Shared fixtures: tiny real files (FASTA via plain text + pyfaidx index, bigWig via pyBigWig)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
YEAST = SHARED / "yeast_sacCer3"


def need_shared() -> Path:
    if not YEAST.exists():
        pytest.skip(f"shared real data not found at {SHARED} (CI lays ../shared beside the clone)")
    return SHARED


def write_fasta(path: Path, seqs: dict[str, str], width: int = 60) -> Path:
    with open(path, "w") as fh:
        for name, s in seqs.items():
            fh.write(f">{name}\n")
            for i in range(0, len(s), width):
                fh.write(s[i : i + width] + "\n")
    return path


def write_bigwig(path: Path, sizes: dict[str, int], values: dict[str, np.ndarray], skip_zeros: bool = True) -> Path:
    """Per-base values -> bigWig with run-length entries (zeros omitted like real coverage files)."""
    import pyBigWig

    bw = pyBigWig.open(str(path), "w")
    bw.addHeader(list(sizes.items()))
    for c in sizes:
        v = np.asarray(values.get(c, np.zeros(sizes[c])), dtype=np.float64)
        change = np.flatnonzero(np.diff(v) != 0) + 1
        starts = np.concatenate([[0], change])
        ends = np.concatenate([change, [len(v)]])
        vals = v[starts]
        keep = vals != 0 if skip_zeros else np.ones(len(vals), bool)
        if keep.any():
            bw.addEntries([c] * int(keep.sum()), starts[keep].tolist(), ends=ends[keep].tolist(), values=vals[keep].tolist())
    bw.close()
    return path


@pytest.fixture
def tiny(tmp_path: Path):
    """A 3-chromosome genome with a signal that depends on sequence (GC), plus a study."""
    rng = np.random.default_rng(0)
    sizes = {"chr1": 20_000, "chr2": 12_000, "chr3": 9_000}
    seqs = {c: "".join(rng.choice(list("ACGT"), size=n)) for c, n in sizes.items()}
    # an N gap on chr1
    s1 = list(seqs["chr1"])
    s1[4000:6500] = "N" * 2500
    seqs["chr1"] = "".join(s1)
    fa = write_fasta(tmp_path / "genome.fa", seqs)
    vals = {}
    for c, s in seqs.items():
        gc = np.frombuffer(s.encode(), np.uint8)
        gc = np.isin(gc, [ord("G"), ord("C")]).astype(float)
        v = np.convolve(gc, np.ones(50) / 50, mode="same") * 10
        v[rng.random(len(v)) < 0.2] = 0
        vals[c] = np.round(v, 1)
    bw = write_bigwig(tmp_path / "sig.bw", sizes, vals)
    study = tmp_path / "study.yaml"
    study.write_text(
        "name: tiny\nseed: 1\ngenome: genome.fa\n"
        "tracks:\n  - {name: sig, path: sig.bw}\n"
        "windows: {input_length: 1024, target_length: 256, resolution: 32, stride: 256}\n"
        "transform: arcsinh\n"
        "split: {strategy: chromosome, val: [chr2], test: [chr3]}\n"
    )
    return {"dir": tmp_path, "fa": fa, "bw": bw, "study": study, "sizes": sizes, "seqs": seqs, "values": vals}
