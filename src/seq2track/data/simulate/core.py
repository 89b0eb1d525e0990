"""``simulate``: one seed -> a directory of real files (FASTA, bigWig, fragments, peaks, VCF, truth, study)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ... import atomic
from ...errors import ConfigError
from ...io import pileup as pileup_io
from ...io.genome import CODE_N
from . import writers
from .motifs import (
    CONDS, JASPAR_RELEASE, PAIR, PAIR_BOOST, PAIR_DISTANCE, SITE_FPR, Hits, Motif, break_column, genome_base,
    load_motifs, nominal_effect, sample_sites, scan_all,
)
from .sequence import (
    BLOCK, apply_dups, domain, free, isochore_runs, isochores, markov_background, markov_tables, place_dups,
    place_gaps, place_genes, plant,
)
from .signal import (
    FOOT_SD, GC_HALF, REPRESS_HALF, Kernels, Params, call_peaks, centre_rate, expected_coverage, make_kernels,
    sample_fragments, valid_mask,
)
from .variants import EFFECT_WINDOW, choose_variants

SLOT = 1500  # one planted feature per slot of this many bp
SLOT_SHARES = {"pair_close": 0.07, "pair_far": 0.05, "near": 0.06}  # besides each motif's own share
NEAR_MOTIFS = ("CTCF", "TP53", "FOXA1", "NRF1", "REST")  # motifs that get one-SNP-away near-sites
EXPECTED_SPAN = 8  # expected_*.bw store 8-bp means: bin means at any multiple of 8 bp are exact


@dataclass
class SimulationResult:
    """Paths of everything ``simulate`` wrote, plus a few headline numbers."""

    out: Path
    genome: Path
    tracks: dict[str, Path]
    expected: dict[str, Path]
    fragments: Path
    peaks: Path
    variants: Path
    truth_path: Path
    study_path: Path
    files: list[Path] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)


def simulate(
    out: str | Path,
    seed: int = 0,
    n_chroms: int = 6,
    length: int = 400_000,
    depth: float = 3.0,
    shallow_fraction: float = 1 / 3,
    n_variants: int = 40,
) -> SimulationResult:
    """Write the synthetic data set into ``out`` and return the paths (see the package docstring).

    ``n_chroms`` chromosomes ``chr1..chrN`` of ``length`` bp; the last two are the demo study's
    validation and test chromosomes. ``depth``: background coverage of the deep sample.
    ``n_variants``: at most this many variants per class (break, create, neutral).
    """
    if n_chroms < 3:
        raise ConfigError(f"--chroms must be >= 3 (one training, one validation, one test chromosome), got {n_chroms}")
    if length < 50_000:
        raise ConfigError(f"--length must be >= 50000 bp so each chromosome holds windows and features, got {length}")
    if not 0 < shallow_fraction < 1 or depth <= 0:
        raise ConfigError(f"shallow_fraction must be in (0, 1) and depth > 0, got {shallow_fraction}, {depth}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    r_seq, r_layout, r_sites, r_div, r_frag_a, r_frag_b, r_var = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(7)
    )
    thin_seed = int(np.random.SeedSequence([seed, 17]).generate_state(1)[0])
    params, ker = Params(depth=float(depth)), make_kernels()
    names = [f"chr{i + 1}" for i in range(n_chroms)]
    sizes = {c: int(length) for c in names}

    # sequence: Markov background with isochores, N gaps; motifs scored against its composition
    nb = -(-length // BLOCK)
    iso = {c: isochores(nb, r_layout) for c in names}
    bgseq = markov_background(np.concatenate([iso[c] for c in names]), markov_tables(r_seq), r_seq)
    codes = {c: bgseq[i * nb * BLOCK : i * nb * BLOCK + length].copy() for i, c in enumerate(names)}
    gaps = {c: place_gaps(length, r_layout) for c in names}
    for c in names:
        for s, e in gaps[c]:
            codes[c][s:e] = CODE_N
    comp = np.bincount(np.concatenate(list(codes.values())), minlength=5)[:4].astype(float)
    bg = (comp + comp[::-1]) / (2 * comp.sum())  # strand-symmetric composition
    motifs = load_motifs(bg)

    # layout, planting, duplications (after planting, so copies carry motifs), instances
    dups = place_dups(names, length, gaps, r_layout)
    genes = {c: place_genes(length, iso[c], r_layout) for c in names}
    planted, nears = _layout_features(names, length, gaps, dups, motifs, r_layout)
    nears = _plant_features(codes, planted, nears, motifs, r_sites)
    apply_dups(codes, dups, r_div)
    inst = {c: scan_all(codes[c], motifs) for c in names}

    # signal: exact expectation and sampled fragments per condition
    domains = {cd: {c: domain(length, genes[c], cd) for c in names} for cd in CONDS}
    expected: dict[str, dict[str, np.ndarray]] = {cd: {} for cd in CONDS}
    frags: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {cd: {} for cd in CONDS}
    for c in names:
        for cd, rng in (("condA", r_frag_a), ("condB", r_frag_b)):
            rate = centre_rate(codes[c], domains[cd][c], inst[c], motifs, cd, params, ker)
            expected[cd][c] = expected_coverage(rate, ker)
            frags[cd][c] = sample_fragments(rate, ker, rng)

    files, piles = _write_tracks(out, names, sizes, codes, frags, expected, shallow_fraction, thin_seed)
    peaks = _peaks(names, codes, frags["condA"], ker)
    files["peaks"] = out / "peaks.bed"
    atomic.write_text(files["peaks"], peaks.to_csv(sep="\t", header=False, index=False))
    variants = choose_variants(names, codes, inst, planted, nears, dups, domains, motifs, params, ker,
                               n_variants, r_var)
    files["variants"] = out / "variants.vcf"
    writers.write_vcf(files["variants"], sizes, variants)
    files["study"] = out / "study.yaml"
    writers.write_study(files["study"], names)
    files["truth"] = out / "truth.json"

    totals = {k: (r.n_kept, r.total_coverage) for k, r in piles.items()}
    instances = _instances_table(names, inst, planted, dups, motifs, params)
    stats = {
        "n_fragments": {k: v[0] for k, v in totals.items()},
        "total_coverage": {k: v[1] for k, v in totals.items()},
        "mean_coverage_condA_deep": totals["condA_deep"][1] / (n_chroms * length),
        "n_instances": int(len(instances)),
        "n_peaks": int(len(peaks)),
        "n_variants": {k: int(sum(v["CLASS"] == k for v in variants)) for k in ("break", "create", "neutral")},
    }
    truth = _truth(seed, thin_seed, sizes, params, ker, bg, shallow_fraction, motifs, instances, dups, gaps, iso,
                   genes, totals, names, stats, files)
    atomic.write_json(files["truth"], truth)
    from ...config import load_study

    load_study(files["study"])  # the study we wrote must validate
    return SimulationResult(
        out=out, genome=files["genome"],
        tracks={k: files[k] for k in ("condA_deep", "condA_shallow", "condB")},
        expected={cd: files[f"expected_{cd}"] for cd in CONDS},
        fragments=files["fragments"], peaks=files["peaks"], variants=files["variants"],
        truth_path=files["truth"], study_path=files["study"], files=list(files.values()), stats=stats,
    )


# --- steps ---------------------------------------------------------------------------
def _layout_features(names, length, gaps, dups, motifs, rng) -> tuple[list[dict], list[dict]]:
    """One feature per ``SLOT``-bp slot (or none): a motif, a SOX2-POU5F1 pair (close or far), or a near-site.

    Slots near gaps, chromosome ends or duplication targets stay empty. Returns the planted
    records ``{chrom, centre, motif, strand, pair}`` and the near-site records.
    """
    kinds = [m.spec.name for m in motifs] + list(SLOT_SHARES)
    weights = np.array([m.spec.weight for m in motifs] + list(SLOT_SHARES.values()))
    weights = np.append(weights, max(0.0, 1 - weights.sum()))  # empty slots
    planted: list[dict] = []
    nears: list[dict] = []
    for c in names:
        blocked = list(gaps[c]) + [(d["dst_start"], d["dst_start"] + d["length"]) for d in dups if d["dst_chrom"] == c]
        n = length // SLOT
        kind = rng.choice(len(weights), size=n, p=weights / weights.sum())
        centre = np.arange(n) * SLOT + rng.integers(400, SLOT - 400, size=n)
        strand = np.where(rng.random(n) < 0.5, 1, -1)
        dist = np.where(kind == kinds.index("pair_close"), rng.integers(12, PAIR_DISTANCE - 5, size=n),
                        rng.integers(80, 250, size=n))
        partner_strand = np.where(rng.random(n) < 0.5, 1, -1)
        near_pick = rng.integers(0, len(NEAR_MOTIFS), size=n)
        for i in range(n):
            ci = int(centre[i])
            if kind[i] == len(kinds) or not 1000 <= ci <= length - 1000 or not free(ci - 500, ci + 500, blocked):
                continue
            k = kinds[kind[i]]
            if k in ("pair_close", "pair_far"):
                planted.append({"chrom": c, "centre": ci, "motif": PAIR[0], "strand": int(strand[i]), "pair": k})
                planted.append({"chrom": c, "centre": ci + int(dist[i]), "motif": PAIR[1],
                                "strand": int(partner_strand[i]), "pair": k})
            elif k == "near":
                nears.append({"chrom": c, "centre": ci, "motif": NEAR_MOTIFS[near_pick[i]], "strand": int(strand[i])})
            else:
                planted.append({"chrom": c, "centre": ci, "motif": k, "strand": int(strand[i]), "pair": ""})
    return planted, nears


def _plant_features(codes, planted, nears, motifs, rng) -> list[dict]:
    """Write PWM-sampled sites (score >= threshold) into ``codes``; near-sites get one column set to
    its worst base so that one SNP (``pos``, ``alt``) re-creates the site. Returns the near-sites placed."""
    for m in motifs:
        recs = [p for p in planted if p["motif"] == m.spec.name]
        if recs:
            for p, site in zip(recs, sample_sites(m, len(recs), rng, m.threshold)):
                p["start"] = p["centre"] - m.width // 2
                plant(codes[p["chrom"]], p["start"], site, p["strand"])
        recs = [p for p in nears if p["motif"] == m.spec.name]
        if recs:
            cand = sample_sites(m, 40 * len(recs), rng, m.threshold)
            fixes = [break_column(m, s) for s in cand]
            good = [j for j, f in enumerate(fixes) if f[2] < m.threshold - 0.5][: len(recs)]
            for p, j in zip(recs, good):
                k, worst, _ = fixes[j]
                site = cand[j].copy()
                alt_base = int(site[k])
                site[k] = worst
                p["start"] = p["centre"] - m.width // 2
                plant(codes[p["chrom"]], p["start"], site, p["strand"])
                p["pos"], p["alt"] = genome_base(k, alt_base, p["start"], m.width, p["strand"])
    return [p for p in nears if "pos" in p]


def _write_tracks(out, names, sizes, codes, frags, expected, shallow_fraction, thin_seed):
    """FASTA, fragment file, the three coverage bigWigs (through ``pileup``) and the expected bigWigs.

    Returns ``({key: path}, {track: PileupResult})``.
    """
    files: dict[str, Path] = {}
    files["genome"] = writers.write_fasta(out / "genome.fa", names, codes)
    files["genome_fai"] = out / "genome.fa.fai"
    files["fragments"] = out / "condA_deep.fragments.bed.gz"
    writers.write_fragments(files["fragments"], names, frags["condA"])
    piles = {
        "condA_deep": pileup_io.pileup(files["fragments"], sizes, out / "condA_deep.bw"),
        "condA_shallow": pileup_io.pileup(
            files["fragments"], sizes, out / "condA_shallow.bw", fraction=shallow_fraction, seed=thin_seed
        ),
    }
    fb = pd.concat([pd.DataFrame({"chrom": c, "start": frags["condB"][c][0], "end": frags["condB"][c][1]})
                    for c in names], ignore_index=True)
    piles["condB"] = pileup_io.pileup_frame(fb, sizes, out / "condB.bw", source="condB")
    files.update({k: r.path for k, r in piles.items()})
    for cd in CONDS:
        files[f"expected_{cd}"] = out / f"expected_{cd}.bw"
        pileup_io.write_dense_bigwig(files[f"expected_{cd}"], sizes, expected[cd], span=EXPECTED_SPAN)
    return files, piles


def _peaks(names, codes, frags, ker: Kernels) -> pd.DataFrame:
    """Poisson peaks of the deep coverage: ``chrom, start, end`` (BED3)."""
    rows = []
    for c in names:
        n = len(codes[c])
        cov = pileup_io.dense_coverage(*frags[c], n)
        s, e = call_peaks(cov, valid_mask(codes[c], 0, n, ker.half + 1))
        rows.append(pd.DataFrame({"chrom": c, "start": s, "end": e}))
    return pd.concat(rows, ignore_index=True)


def _instances_table(names, inst, planted, dups, motifs: list[Motif], params: Params) -> pd.DataFrame:
    """Every instance with its origin (planted / chance / duplicated), pair tag and nominal effects."""
    key = {(p["chrom"], p["start"], p["motif"]): p for p in planted if "start" in p}
    rows = []
    for c in names:
        for r in (Hits(*row) for row in zip(*inst[c])):
            m = motifs[int(r.motif)]
            p = key.get((c, int(r.start), m.spec.name))
            origin = "planted" if p is not None else "chance"
            if any(d["dst_chrom"] == c and d["dst_start"] <= r.start < d["dst_start"] + d["length"] for d in dups):
                origin = "duplicated"
            rows.append({
                "chrom": c, "start": int(r.start), "end": int(r.end), "strand": "+" if r.strand > 0 else "-",
                "motif": m.spec.name, "score": round(float(r.score), 3), "centre": int(r.centre),
                "origin": origin, "pair": p["pair"] if p is not None else "",
                "effect_condA": nominal_effect(m, "condA", params.depth),
                "effect_condB": nominal_effect(m, "condB", params.depth),
            })
    return pd.DataFrame(rows)


def _truth(seed, thin_seed, sizes, params, ker, bg, shallow_fraction, motifs, instances, dups, gaps, iso, genes,
           totals, names, stats, files) -> dict[str, Any]:
    length = next(iter(sizes.values()))
    return {
        "format": "seq2track.simulate/1",
        "seed": seed,
        "seeds": {"root": seed, "thinning": thin_seed},
        "sizes": sizes,
        "params": {**asdict(params), "shallow_fraction": shallow_fraction, "site_fpr": SITE_FPR,
                   "foot_sd": FOOT_SD, "repress_half_width": REPRESS_HALF, "gc_half_width": GC_HALF,
                   "fragment_length_median": 165, "fragment_length_mean": ker.mean_length,
                   "effect_window": EFFECT_WINDOW, "expected_span": EXPECTED_SPAN,
                   "background_composition": [float(x) for x in bg]},
        "jaspar_release": JASPAR_RELEASE,
        "motifs": [
            {"name": m.spec.name, "jaspar_id": m.spec.jaspar_id, "width": m.width, "threshold": m.threshold,
             "consensus": m.consensus, "mode": m.spec.mode,
             "effect": {cd: nominal_effect(m, cd, params.depth) for cd in CONDS},
             "fold": ({cd: m.spec.effect(cd) for cd in CONDS} if m.spec.mode == "repress" else None)}
            for m in motifs
        ],
        "effect_units": "expected extra reads at the site centre at the condA_deep depth "
                        "(repressors: -(1 - fold) * depth, the change at an average background)",
        "interacting_pair": {"motifs": list(PAIR), "max_centre_distance": PAIR_DISTANCE,
                             "boost": {cd: PAIR_BOOST[cd] * params.depth for cd in CONDS}},
        "instances": instances.to_dict(orient="records"),
        "duplications": [
            {**d, "src_end": d["src_start"] + d["length"], "dst_end": d["dst_start"] + d["length"]} for d in dups
        ],
        "gaps": {c: [list(g) for g in gaps[c]] for c in names},
        "isochores": {c: isochore_runs(iso[c], length) for c in names},
        "genes": {c: genes[c] for c in names},
        "depths": {
            "condA_deep": {"scale": 1.0, "background_depth": params.depth, "n_fragments": totals["condA_deep"][0],
                           "total_coverage": totals["condA_deep"][1]},
            "condA_shallow": {
                "fraction": shallow_fraction, "thinning_seed": thin_seed,
                "n_fragments": totals["condA_shallow"][0], "total_coverage": totals["condA_shallow"][1],
                "reproduce": f"seq2track pileup condA_deep.fragments.bed.gz --genome genome.fa "
                             f"--out condA_shallow.bw --fraction {shallow_fraction!r} --seed {thin_seed}",
            },
            "condB": {"scale": 1.0, "n_fragments": totals["condB"][0], "total_coverage": totals["condB"][1]},
        },
        "conditions": {"condA": "all motifs but GATA1 active; all gene bodies marked",
                       "condB": "FOXA1, SOX2, POU5F1 and the pair inactive; GATA1 active; 70% of gene bodies"},
        "study": {"val": [names[-2]], "test": [names[-1]]},
        "stats": stats,
        "files": {k: p.name for k, p in files.items()},
    }
