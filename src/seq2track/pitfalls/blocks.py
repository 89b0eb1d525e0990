"""Positional blocks: chromosomes cut into pseudo-chromosomes, so that a chromosome split is a block split.

Some real data sets cover one chromosome (the Deniz et al. 2016 MNase set: yeast chrII only).
A chromosome split is then impossible, and a random window split is the dependent-examples
pitfall itself. ``seq2track pitfalls --blocks N`` therefore cuts each chromosome of the study
into ``N`` contiguous blocks named ``<chrom>_b<i>`` and writes the genome, every track of the
experiment and the fragment file in block coordinates; the lab's chromosome split and its
rotation of the held-out chromosome over seeds then become a cross-validation over blocks.

Soundness: between two neighbouring blocks a gap of one input length (rounded up to the
resolution) is dropped, so no window's input (+- jitter, which is far smaller) lies within an
input length of a window of another block; the signal's autocorrelation (nucleosomes:
~160 bp) cannot bridge it. What blocks cannot remove is genome-wide similarity (repeats,
duplications); ``audit``'s near-duplicate check still sees it.
"""

from __future__ import annotations

import json
from contextlib import closing
from pathlib import Path

import numpy as np

from .. import atomic
from ..config import Study, TrackConfig, override
from ..errors import ConfigError
from ..io.chroms import canonical

BLOCK = "{chrom}_b{i}"


def block_edges(length: int, n: int, gap: int, resolution: int) -> list[tuple[int, int]]:
    """``n`` equal pieces ``(start, end)`` of ``[0, length)``, ``gap`` bp dropped between neighbours.

    Starts and lengths are multiples of ``resolution`` (``gap`` is rounded up to one).
    """
    if n < 1:
        raise ConfigError(f"--blocks must be >= 1 (got {n})")
    gap = -(-int(gap) // resolution) * resolution
    size = (length - gap * (n - 1)) // n // resolution * resolution
    if size < resolution:
        raise ConfigError(f"a {length:,}-bp chromosome cannot hold {n} blocks with {gap}-bp gaps; use fewer --blocks")
    return [(i * (size + gap), i * (size + gap) + size) for i in range(n)]


def study_chroms(study: Study, sizes: dict[str, int]) -> list[str]:
    """The genome's chromosomes the study uses (``windows.chroms`` / ``exclude_chroms``), in genome order."""
    w = study.windows
    want = {canonical(c) for c in w.chroms} if w.chroms else None
    drop = {canonical(c) for c in w.exclude_chroms}
    return [c for c in sizes if (want is None or canonical(c) in want) and canonical(c) not in drop]


def cut_track(src: str | Path, dst: str | Path, layout: dict[str, tuple[str, int, int]]) -> Path:
    """Write bigWig ``src`` in block coordinates; ``layout = {block: (chrom, start, end)}``.

    Bases absent from ``src`` stay absent (NaN); present values are copied exactly, as runs.
    """
    import pyBigWig

    from ..io.chroms import resolve
    from ..io.pileup import Runs, write_runs_bigwig

    runs: dict[str, Runs] = {}
    with closing(pyBigWig.open(str(src))) as bw:
        have = list(bw.chroms())
        for block, (chrom, s, e) in layout.items():
            c = resolve(chrom, have)
            if c is None:
                raise ConfigError(f"track {src} has no chromosome {chrom} (it has {', '.join(have[:20])}); "
                                  "give a track of the same assembly")
            v = np.asarray(bw.values(c, s, e, numpy=True), np.float64)
            ok = ~np.isnan(v)
            w = np.where(ok, v, np.inf)  # inf marks 'absent' so that runs of NaN compare equal
            starts = np.r_[0, np.flatnonzero(w[1:] != w[:-1]) + 1].astype(np.int64)
            ends = np.r_[starts[1:], len(w)].astype(np.int64)
            keep = ok[starts]
            runs[block] = Runs(starts[keep], ends[keep], v[starts[keep]])
    write_runs_bigwig(dst, {b: e - s for b, (_, s, e) in layout.items()}, runs)
    return Path(dst)


def cut_fasta(genome, dst: str | Path, layout: dict[str, tuple[str, int, int]]) -> Path:
    """Write the blocks' sequence as FASTA (60 bp a line), atomically. ``genome``: an open ``io.genome.Genome``."""
    lines = []
    for block, (chrom, s, e) in layout.items():
        seq = genome.fetch(chrom, s, e)
        lines.append(f">{block}")
        lines += [seq[i : i + 60] for i in range(0, len(seq), 60)]
    Path(f"{dst}.fai").unlink(missing_ok=True)  # a stale index of an earlier cut would be trusted
    atomic.write_text(dst, "\n".join(lines) + "\n")
    return Path(dst)


def cut_fragments(src: str | Path, dst: str | Path, layout: dict[str, tuple[str, int, int]]) -> tuple[Path, int, int]:
    """Fragments inside a block, in block coordinates (BED3); returns ``(path, kept, dropped)``.

    A fragment that reaches into a gap or crosses a block edge is dropped.
    """
    from ..io.pileup import read_fragments

    f = read_fragments(src)
    canon = f["chrom"].map(canonical).to_numpy()
    parts = []
    for block, (chrom, s, e) in layout.items():
        m = (canon == canonical(chrom)) & (f["start"].to_numpy() >= s) & (f["end"].to_numpy() <= e)
        g = f.loc[m, ["start", "end"]] - s
        g.insert(0, "chrom", block)
        parts.append(g)
    import pandas as pd

    out = pd.concat(parts, ignore_index=True) if parts else f.iloc[:0]
    atomic.write_text(dst, out.to_csv(sep="\t", header=False, index=False))
    return Path(dst), len(out), len(f) - len(out)


def to_blocks(study: Study, roles, n_blocks: int, out: str | Path):
    """The study and its roles rewritten into ``n_blocks`` blocks per chromosome under ``out``.

    Returns ``(study, roles, info)``. The split: the study's own when its val/test name block
    names (``chrII_b7``); else val = the last block, test = the one before it (of the last
    chromosome). ``info`` (block layout, gap, fragments dropped) goes into the results' notes.
    """
    from ..io.genome import Genome

    if study.windows.blacklist is not None:
        raise ConfigError("--blocks cannot re-map windows.blacklist; remove it from the study (or cut it yourself)")
    out = Path(out)
    gap = study.windows.input_length
    with Genome(study.genome) as g:
        sizes = dict(g.sizes)
        chroms = study_chroms(study, sizes)
        if not chroms:
            raise ConfigError(f"study {study.name} selects no chromosome of {study.genome}; fix windows.chroms")
        layout: dict[str, tuple[str, int, int]] = {}
        for c in chroms:
            for i, (s, e) in enumerate(block_edges(sizes[c], n_blocks, gap, study.windows.resolution)):
                layout[BLOCK.format(chrom=c, i=i)] = (c, s, e)
        fasta = cut_fasta(g, out / "genome.blocks.fa", layout)

    def cut(t: TrackConfig | None) -> TrackConfig | None:
        if t is None:
            return None
        dst = out / f"{Path(t.path).name.split('.')[0]}.blocks.bw"
        cut_track(t.path, dst, layout)
        return TrackConfig(name=t.name, path=dst, missing=t.missing)

    from .roles import Roles

    new = Roles(primary=cut(roles.primary), shallow=cut(roles.shallow), other=cut(roles.other))
    info = {"n_blocks": n_blocks, "gap_bp": gap, "blocks": {b: list(v) for b, v in layout.items()}}
    if roles.fragments is not None:
        new.fragments, kept, dropped = cut_fragments(roles.fragments, out / "fragments.blocks.bed", layout)
        info.update(fragments_kept=kept, fragments_dropped=dropped)
    names = set(layout)
    split = study.split
    if not (set(split.val) <= names and set(split.test) <= names):
        last = [b for b in layout if layout[b][0] == chroms[-1]]
        split = split.model_copy(update={"val": [last[-1]], "test": [last[-2]] if len(last) > 1 else []})
        if not split.test:
            raise ConfigError("--blocks needs >= 3 blocks (train, val, test); raise --blocks")
    changes = {
        "genome": str(fasta),
        "tracks": [json.loads(new.primary.model_dump_json())],
        "windows.chroms": None,
        "windows.exclude_chroms": [],
        "split.strategy": "chromosome",
        "split.val": list(split.val),
        "split.test": list(split.test),
    }
    info.update(val=list(split.val), test=list(split.test))
    atomic.write_json(out / "blocks.json", info)
    return override(study, changes), new, info
