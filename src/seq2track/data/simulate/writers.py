"""Writers of the simulator's FASTA, fragment file, VCF and study (all atomic, byte-reproducible)."""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ... import atomic
from .variants import EFFECT_WINDOW

def write_fasta(path: Path, names: list[str], codes: dict[str, np.ndarray], width: int = 60) -> Path:
    """FASTA (60 bp per line) plus its pyfaidx ``.fai``, both written atomically."""
    import pyfaidx

    with atomic.atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            for c in names:
                seq = np.frombuffer(b"ACGTN", np.uint8)[codes[c]]
                n = len(seq)
                full = n // width
                body = np.concatenate([seq[: full * width].reshape(full, width),
                                       np.full((full, 1), ord("\n"), np.uint8)], axis=1).tobytes()
                tail = seq[full * width :].tobytes()
                fh.write(b">" + c.encode() + b"\n" + body + (tail + b"\n" if tail else b""))
        pyfaidx.Faidx(str(tmp)).close()
        with atomic.atomic_path(str(path) + ".fai") as tmp_fai:
            os.replace(str(tmp) + ".fai", tmp_fai)
    return path


def write_fragments(path: Path, names: list[str], frags: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """BED3, sorted (genome order, start, end), gzip with a fixed header (byte-identical reruns)."""
    buf = io.StringIO()
    for c in names:
        s, e = frags[c]
        pd.DataFrame({"c": c, "s": s, "e": e}).to_csv(buf, sep="\t", header=False, index=False)
    with atomic.atomic_path(path) as tmp:
        with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz:
            gz.write(buf.getvalue().encode())


def write_vcf(path: Path, sizes: dict[str, int], recs: list[dict]) -> None:
    lines = [
        "##fileformat=VCFv4.2",
        "##source=seq2track.simulate",
        "##reference=genome.fa",
        *(f"##contig=<ID={c},length={n}>" for c, n in sizes.items()),
        '##INFO=<ID=CLASS,Number=1,Type=String,Description="break: destroys a motif instance; create: makes one; '
        'neutral: GC-preserving control far from any instance">',
        '##INFO=<ID=MOTIF,Number=1,Type=String,Description="motif broken or created (. for neutral)">',
        f'##INFO=<ID=TRUE_EFFECT,Number=1,Type=Float,Description="log2(alt/ref) of the expected condA_deep '
        f'coverage summed over the {EFFECT_WINDOW} bp centred on the variant">',
        '##INFO=<ID=TRUE_EFFECT_B,Number=1,Type=Float,Description="the same for condB">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO",
    ]
    for i, r in enumerate(recs):
        info = f"TRUE_EFFECT={r['TRUE_EFFECT']};TRUE_EFFECT_B={r['TRUE_EFFECT_B']};CLASS={r['CLASS']};MOTIF={r['MOTIF']}"
        lines.append(f"{r['CHROM']}\t{r['POS'] + 1}\tsim{i + 1}\t{r['REF']}\t{r['ALT']}\t.\tPASS\t{info}")
    atomic.write_text(path, "\n".join(lines) + "\n")


def write_study(path: Path, names: list[str]) -> None:
    """The demo study: condA_deep as the target, the last two chromosomes as val / test.

    ``evaluate.reference_tracks`` names ``expected_condA.bw`` (the noise-free ceiling) when
    the study schema has that key.
    """
    from ...config import EvaluateConfig

    text = (
        "# the demo study of the simulated data set (seq2track simulate); model/train use the defaults\n"
        "name: demo\n"
        "seed: 0\n"
        "genome: genome.fa\n"
        "tracks:\n"
        "  - {name: condA, path: condA_deep.bw}\n"
        "windows: {input_length: 2048, target_length: 256, resolution: 32, stride: 256}\n"
        "transform: arcsinh\n"
        f"split: {{strategy: chromosome, val: [{names[-2]}], test: [{names[-1]}]}}\n"
        "peaks: peaks.bed\n"
    )
    if "reference_tracks" in EvaluateConfig.model_fields:
        text += "evaluate: {reference_tracks: {condA: expected_condA.bw}}\n"
    atomic.write_text(path, text)
