"""Shared fixtures: tiny real files (FASTA via plain text + pyfaidx index, bigWig via pyBigWig)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# prepared caches that audit/pitfalls keep in the cache home go to a temporary folder, never ~/.cache
# (subprocesses and notebook kernels inherit it)
os.environ.setdefault("SEQ2TRACK_CACHE", tempfile.mkdtemp(prefix="seq2track-test-cache-"))
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


#: the tiny genome's chromosomes and the study that goes with it (one track ``sig``, 1024-bp inputs)
TINY_SIZES = {"chr1": 20_000, "chr2": 12_000, "chr3": 9_000}
TINY_STUDY_YAML = (
    "name: tiny\nseed: 1\ngenome: genome.fa\ntracks:\n  - {name: sig, path: sig.bw}\n"
    "windows: {input_length: 1024, target_length: 256, resolution: 32, stride: 256}\n"
    "split: {strategy: chromosome, val: [chr2], test: [chr3]}\n"
)
#: what makes the tiny study train in seconds (``config.override`` keys)
TINY_SMALL = {"model.channels": 8, "model.n_dilated": 2, "train.batch_size": 16, "tracking": "none",
              "train.max_epochs": 1, "evaluate.browser_region_bp": 1024}


def make_tiny_study(
    d: Path,
    *,
    sizes: dict[str, int] = TINY_SIZES,
    seed: int = 0,
    smooth: int = 50,
    scale: float = 10.0,
    gap: tuple[str, int, int] | None = None,
    dropout: float = 0.0,
    study_yaml: str = TINY_STUDY_YAML,
) -> dict:
    """The tiny study's files in ``d``: ``genome.fa`` (uniform random ACGT from ``seed``; N over
    ``gap = (chrom, start, end)``), ``sig.bw`` (local GC fraction over ``smooth`` bp x ``scale``, a
    fraction ``dropout`` of bases set to 0, rounded to 0.1; zeros omitted) and ``study.yaml``
    (``study_yaml``, paths relative to ``d``). Same arguments -> byte-identical files.

    Returns {"dir", "fa", "bw", "study", "sizes", "seqs", "values": {chrom: float64[length]}}.
    """
    rng = np.random.default_rng(seed)
    seqs = {c: "".join(rng.choice(list("ACGT"), size=n)) for c, n in sizes.items()}
    if gap is not None:
        c, a, b = gap
        seqs[c] = seqs[c][:a] + "N" * (b - a) + seqs[c][b:]
    fa = write_fasta(d / "genome.fa", seqs)
    vals = {}
    for c, s in seqs.items():
        gc = np.isin(np.frombuffer(s.encode(), np.uint8), [ord("G"), ord("C")]).astype(float)
        v = np.convolve(gc, np.ones(smooth) / smooth, mode="same") * scale
        if dropout:
            v[rng.random(len(v)) < dropout] = 0
        vals[c] = np.round(v, 1)
    bw = write_bigwig(d / "sig.bw", sizes, vals)
    study = d / "study.yaml"
    study.write_text(study_yaml)
    return {"dir": d, "fa": fa, "bw": bw, "study": study, "sizes": dict(sizes), "seqs": seqs, "values": vals}


@pytest.fixture
def tiny(tmp_path: Path):
    """A 3-chromosome genome with a signal that depends on sequence (GC; an N gap on chr1, 20 %
    of bases zeroed), plus a study with an arcsinh transform."""
    text = TINY_STUDY_YAML.replace("split:", "transform: arcsinh\nsplit:")
    return make_tiny_study(tmp_path, gap=("chr1", 4000, 6500), dropout=0.2, study_yaml=text)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> dict:
    """The tiny study (no gap, no dropout) with ``TINY_SMALL``, run end to end once per session
    (``run_study``): {"study": its YAML path, "run": the run directory, "metrics": what run_study
    returned}. Shared and READ-ONLY: a test that writes into a run copies it first
    (``shutil.copytree(tiny_run["run"], tmp_path / "run")``)."""
    from seq2track.config import load_study, override
    from seq2track.run import run_study

    d = tmp_path_factory.mktemp("tiny_run")
    f = make_tiny_study(d)
    p = d / "small.yaml"
    p.write_text(override(load_study(f["study"]), TINY_SMALL).to_yaml())
    metrics = run_study(load_study(p), d / "run")
    return {"study": p, "run": d / "run", "metrics": metrics}
