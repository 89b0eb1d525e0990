"""``seq2track init-study``: a sound default study for a genome and some bigWig tracks.

The rules, so that the choice is the same every time and can be explained:

* **Chromosomes**: those of the genome that every track has (by alias, lengths checked),
  minus mitochondria (``chrM``/``MT``) and unplaced, random, alt, fix, decoy, EBV and
  ``chrUn`` contigs.
* **Split**: held-out chromosomes are drawn from the autosomes (sex chromosomes stay in
  training). Test is the run of consecutive chromosomes in karyotype order (``chr8, chr9``)
  whose total length is closest to ``test_fraction`` (10%) of the kept genome; validation is
  the run closest to ``val_fraction`` among the remaining chromosomes that does not touch
  test. Ties go to the earlier run. No randomness is involved.
* **Windows**: resolution = the smallest power of two >= max(32, the track's data step);
  target = max(256, 8 bins); input = max(2,048, 2 x target); stride = target, doubled
  until the genome has <= ``max_windows`` (1 M) candidate windows.
* **Blacklist**: ``--blacklist`` or, if present, ``<genome stem>.blacklist.bed`` beside the
  genome (``seq2track fetch-genome`` writes it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .config import Study, parse_study
from .errors import DataError
from .io.chroms import canonical, resolve
from .io.info import bigwig_step, natural_key

_UNPLACED = ("_", "random", "alt", "fix", "hap", "decoy", "ebv", "micron", "plasmid")
_SEX = {"x", "y", "w", "z"}


def is_unplaced(name: str) -> bool:
    """True for unplaced/random/alt/fix/decoy/EBV contigs (``chrUn_...``, ``chr1_KI270706v1_random``)."""
    key = name.lower()
    if key.startswith(("chrun", "un_", "gl", "ki", "kn", "jh")) or key in ("un", "chrun"):
        return True
    return any(tok in key for tok in _UNPLACED)


def is_sex_chrom(name: str, names: list[str]) -> bool:
    """X, Y, W or Z, unless the genome numbers its chromosomes in roman numerals (yeast chrX = 10)."""
    from .io.info import roman_number

    roman = sum(1 for n in names if canonical(n) not in ("x", "m") and roman_number(canonical(n).upper()) is not None)
    return canonical(name) in _SEX and roman < 2


@dataclass(frozen=True)
class ChromChoice:
    """Which chromosomes a study keeps and why the others were left out."""

    kept: list[str]  # genome spelling, karyotype order
    excluded: dict[str, str]  # name -> reason


def choose_chroms(genome_sizes: dict[str, int], track_sizes: list[dict[str, int]], min_length: int = 0) -> ChromChoice:
    """Keep genome chromosomes present in all tracks; drop chrM, unplaced contigs and short ones."""
    kept, excluded = [], {}
    for c in sorted(genome_sizes, key=natural_key):
        if canonical(c) == "m":
            excluded[c] = "mitochondrial"
        elif is_unplaced(c):
            excluded[c] = "unplaced/alt contig"
        elif genome_sizes[c] < min_length:
            excluded[c] = f"shorter than one window ({min_length:,} bp)"
        else:
            missing = [i for i, s in enumerate(track_sizes) if resolve(c, s) is None]
            if missing:
                excluded[c] = "absent from track(s) " + ", ".join(str(i + 1) for i in missing)
            else:
                kept.append(c)
    return ChromChoice(kept, excluded)


def _best_run(order: list[str], sizes: dict[str, int], target: float, banned: set[str]) -> list[str]:
    """The run of consecutive names in ``order`` (none in ``banned``) whose total is closest to ``target``."""
    best: tuple[float, int, int] | None = None
    for i in range(len(order)):
        total = 0
        for j in range(i, len(order)):
            if order[j] in banned:
                break
            total += sizes[order[j]]
            score = (abs(total - target), i, j)
            if best is None or score < best:
                best = score
            if total > target:
                break
    if best is None:
        return []
    return order[best[1] : best[2] + 1]


def choose_split(
    sizes: dict[str, int], chroms: list[str], val_fraction: float = 0.1, test_fraction: float = 0.1
) -> tuple[list[str], list[str]]:
    """(val, test) chromosome lists: runs in karyotype order closest to the target fractions.

    ``sizes``: lengths of ``chroms``. Needs >= 3 chromosomes (train, val, test each get one).
    """
    if len(chroms) < 3:
        raise DataError(
            f"only {len(chroms)} usable chromosome(s) ({', '.join(chroms) or 'none'}): a chromosome split needs "
            "at least 3 (train, val, test); add tracks covering more chromosomes, or write "
            "`split: {strategy: random}` yourself knowing that neighbouring windows then leak between splits"
        )
    total = sum(sizes[c] for c in chroms)
    order = sorted(chroms, key=natural_key)
    auto = [c for c in order if not is_sex_chrom(c, chroms)]
    if len(auto) < 3:
        auto = order
    test = _best_run(auto, sizes, test_fraction * total, set())
    val = _best_run(auto, sizes, val_fraction * total, set(test))
    if not val:  # every remaining chromosome sits inside the test run's neighbourhood
        val = [min((c for c in auto if c not in test), key=lambda c: abs(sizes[c] - val_fraction * total))]
    if len(test) + len(val) >= len(chroms):
        # keep at least one training chromosome: give up the last held-out one
        val = val[:-1] if len(val) > 1 else val
        test = test[:-1] if len(test) > 1 and len(test) + len(val) >= len(chroms) else test
    return val, test


def window_defaults(step_bp: int, genome_bp: int, max_windows: int = 1_000_000) -> dict[str, int]:
    """Window sizes for a track whose data step is ``step_bp`` over a genome of ``genome_bp``:
    32 target bins in the centre half of the input, windows every half target (the study
    defaults: on yeast ATAC a 1,024-bp target beat 256 bp, test Pearson 0.713 vs 0.692), the
    stride doubled until the genome gives at most ``max_windows`` windows."""
    res = 32
    while res < step_bp:
        res *= 2
    target = 32 * res
    inp = 2 * target
    stride = target // 2
    while genome_bp / stride > max_windows:
        stride *= 2
    return {"input_length": inp, "target_length": target, "resolution": res, "stride": stride}


def _rel(p: Path, base: Path) -> str:
    try:
        return os.path.relpath(os.path.abspath(p), os.path.abspath(base))
    except ValueError:  # another drive (Windows)
        return os.path.abspath(p)


def _track_name(path: Path, taken: set[str]) -> str:
    name = path.name
    for suf in (".bigWig", ".bigwig", ".bw"):
        if name.endswith(suf):
            name = name[: -len(suf)]
    name = "".join(ch if ch.isalnum() or ch in "_-." else "_" for ch in name) or "track"
    out, i = name, 2
    while out in taken:
        out, i = f"{name}_{i}", i + 1
    taken.add(out)
    return out


def build_study(
    genome: str | Path,
    tracks: list[str | Path],
    out: str | Path,
    *,
    name: str | None = None,
    blacklist: str | Path | None = None,
    seed: int = 0,
) -> tuple[str, Study, dict[str, Any]]:
    """The YAML text of a default study, its validated ``Study`` and a summary of the choices.

    Paths in the YAML are relative to ``out``'s folder. Raises ``DataError`` where the files
    do not fit together (assembly mismatch, a track with no usable chromosome).
    """
    from .io.genome import Genome
    from .io.tracks import check_lengths, open_header

    out = Path(out)
    base = out.parent if str(out.parent) else Path(".")
    genome_p = Path(genome)
    track_ps = [Path(t) for t in tracks]
    if not track_ps:
        raise DataError("init-study needs at least one `--track` bigWig")
    with Genome(genome_p) as g:
        gsizes = dict(g.sizes)
    headers = [open_header(t) for t in track_ps]
    steps = [bigwig_step(t) for t in track_ps]
    choice = choose_chroms(gsizes, [h.sizes for h in headers])
    for h in headers:  # an assembly mismatch is an error, not a silent exclusion
        check_lengths(h, gsizes, choice.kept, str(genome_p))
    kept_bp = sum(gsizes[c] for c in choice.kept)
    win = window_defaults(max(steps), kept_bp)
    short = [c for c in choice.kept if gsizes[c] < win["input_length"]]
    if short:
        choice = ChromChoice(
            [c for c in choice.kept if c not in short],
            {**choice.excluded, **{c: f"shorter than one window ({win['input_length']:,} bp)" for c in short}},
        )
    val, test = choose_split({c: gsizes[c] for c in choice.kept}, choice.kept)

    if blacklist is None:
        cand = genome_p.with_name(genome_p.name.split(".")[0] + ".blacklist.bed")
        blacklist = cand if cand.exists() else None
    taken: set[str] = set()
    study_name = name or out.stem
    doc: dict[str, Any] = {
        "name": study_name,
        "seed": seed,
        "genome": _rel(genome_p, base),
        "tracks": [{"name": _track_name(t, taken), "path": _rel(t, base)} for t in track_ps],
        "windows": {**win, "chroms": choice.kept, "exclude_chroms": []},
        "split": {"strategy": "chromosome", "val": val, "test": test},
    }
    if blacklist is not None:
        doc["windows"]["blacklist"] = _rel(Path(blacklist), base)
    frac = {k: sum(gsizes[c] for c in v) / kept_bp for k, v in (("val", val), ("test", test))}
    summary = {
        "chroms": choice.kept,
        "excluded": choice.excluded,
        "val": val,
        "test": test,
        "val_fraction": frac["val"],
        "test_fraction": frac["test"],
        "kept_bp": kept_bp,
        "track_step_bp": steps,
        **win,
    }
    header = [
        f"# seq2track study written by `seq2track init-study` for {genome_p.name} and "
        + ", ".join(t.name for t in track_ps),
        f"# chromosomes: {len(choice.kept)} kept ({kept_bp:,} bp); held out by chromosome, no randomness:",
        f"#   test {', '.join(test)} = {frac['test']:.1%} of the kept genome, val {', '.join(val)} = {frac['val']:.1%}",
        f"# windows: track data step {max(steps)} bp -> resolution {win['resolution']}; stride {win['stride']} "
        f"gives ~{kept_bp // win['stride']:,} candidate windows",
    ]
    if choice.excluded:
        shown = ", ".join(f"{c} ({why})" for c, why in list(choice.excluded.items())[:12])
        more = f" and {len(choice.excluded) - 12} more" if len(choice.excluded) > 12 else ""
        header.append(f"# left out: {shown}{more}")
    header.append("# every other key takes the defaults of seq2track.config; see `seq2track --help`.")
    text = "\n".join(header) + "\n" + yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=100)
    study = parse_study(text, base.resolve(), source=str(out))
    return text, study, summary


def init_study(genome: str | Path, tracks: list[str | Path], out: str | Path, **kw: Any) -> dict[str, Any]:
    """Write the default study to ``out`` atomically (validated first); return the summary."""
    from .atomic import write_text

    text, _study, summary = build_study(genome, tracks, out, **kw)
    write_text(out, text)
    return summary
