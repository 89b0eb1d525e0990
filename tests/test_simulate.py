"""The simulator writes real files whose content matches the truth it records."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pyBigWig
import pytest

from seq2track.config import load_study
from seq2track.data.simulate import core, motifs, sequence, signal, variants
from seq2track.errors import ConfigError
from seq2track.io.genome import Genome, encode
from seq2track.io.pileup import pileup


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    res = core.simulate(out, seed=3, n_chroms=3, length=150_000)
    truth = json.loads(res.truth_path.read_text())
    return res, truth


def _values(path: Path, sizes: dict[str, int]) -> dict[str, np.ndarray]:
    with pyBigWig.open(str(path)) as bw:
        return {c: np.nan_to_num(bw.values(c, 0, n, numpy=True)) for c, n in sizes.items()}


def _far_from(pos: np.ndarray, centres: np.ndarray, d: int) -> np.ndarray:
    centres = np.sort(centres)
    j = np.searchsorted(centres, pos)
    left = np.abs(pos - centres[np.clip(j - 1, 0, len(centres) - 1)])
    right = np.abs(pos - centres[np.clip(j, 0, len(centres) - 1)])
    return np.minimum(left, right) >= d


def test_files_and_study(ds):
    res, truth = ds
    for p in res.files:
        assert p.exists() and p.stat().st_size > 0, p
    study = load_study(res.study_path)
    assert study.genome == res.genome.resolve()
    assert study.tracks[0].path == res.tracks["condA_deep"].resolve()
    assert study.split.val == ["chr2"] and study.split.test == ["chr3"]
    refs = getattr(study.evaluate, "reference_tracks", None)
    if refs is not None:
        assert refs == {"condA": res.expected["condA"].resolve()}
    assert set(truth["files"].values()) == {p.name for p in res.files}
    with Genome(res.genome) as g:
        assert g.sizes == {"chr1": 150_000, "chr2": 150_000, "chr3": 150_000}
        for c, gaps in truth["gaps"].items():
            for s, e in gaps:
                assert set(g.fetch(c, s, e)) == {"N"}
            n_total = g.fetch(c, 0, g.sizes[c]).count("N")
            assert n_total == sum(e - s for s, e in gaps) and 0 < n_total < 0.1 * g.sizes[c]
    for p in (res.tracks["condA_deep"], res.expected["condA"]):
        with pyBigWig.open(str(p)) as bw:
            assert bw.chroms() == {"chr1": 150_000, "chr2": 150_000, "chr3": 150_000}


def test_scores_match_biopython():
    """The vectorised scorer equals Biopython's PSSM scan on both strands (N -> no score)."""
    from Bio.motifs import jaspar
    from pyjaspar import jaspardb

    bg = np.array([0.3, 0.2, 0.2, 0.3])
    loaded = motifs.load_motifs(bg, motifs.MOTIFS[:2])
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, 5000).astype(np.uint8)
    codes[100:105] = 4
    seq = "".join("ACGTN"[c] for c in codes)
    db = jaspardb(release=motifs.JASPAR_RELEASE)
    for m in loaded:
        b = db.fetch_motif_by_id(m.spec.jaspar_id)
        b.pseudocounts = jaspar.calculate_pseudocounts(b)
        b.background = dict(zip("ACGT", bg))
        for strand, pssm in ((1, b.pssm), (-1, b.pssm.reverse_complement())):
            ref = pssm.calculate(seq)
            got = motifs.scores(codes, m.lo, strand)
            fin = np.isfinite(ref)
            np.testing.assert_allclose(got[fin], ref[fin], atol=1e-3)
            assert not np.isfinite(got[~fin]).any()


def test_threshold_matches_biopython_distribution():
    bg = np.array([0.3, 0.2, 0.2, 0.3])
    (m,) = motifs.load_motifs(bg, tuple(s for s in motifs.MOTIFS if s.name == "SOX2"))
    from Bio.motifs import jaspar
    from pyjaspar import jaspardb

    b = jaspardb(release=motifs.JASPAR_RELEASE).fetch_motif_by_id(m.spec.jaspar_id)
    b.pseudocounts = jaspar.calculate_pseudocounts(b)
    b.background = dict(zip("ACGT", bg))
    ref = b.pssm.distribution(background=dict(zip("ACGT", bg)), precision=1000).threshold_fpr(motifs.SITE_FPR)
    assert abs(m.threshold - ref) < 0.05


def test_instances_are_motif_matches(ds):
    """Every recorded instance is a PWM match above the motif's threshold in the written FASTA."""
    from Bio.motifs import jaspar
    from pyjaspar import jaspardb

    res, truth = ds
    bg = np.array(truth["params"]["background_composition"])
    db = jaspardb(release=truth["jaspar_release"])
    thr = {m["name"]: m["threshold"] for m in truth["motifs"]}
    pssm = {}
    for m in truth["motifs"]:
        b = db.fetch_motif_by_id(m["jaspar_id"])
        b.pseudocounts = jaspar.calculate_pseudocounts(b)
        b.background = dict(zip("ACGT", bg))
        pssm[m["name"]] = (b.pssm, b.pssm.reverse_complement())
    origins = {i["origin"] for i in truth["instances"]}
    assert {"planted", "chance"} <= origins
    with Genome(res.genome) as g:
        for i in truth["instances"][::3]:
            s = g.fetch(i["chrom"], i["start"], i["end"])
            p = pssm[i["motif"]][0 if i["strand"] == "+" else 1]
            assert float(np.atleast_1d(p.calculate(s))[0]) >= thr[i["motif"]] - 1e-3, i
    planted = [i for i in truth["instances"] if i["origin"] == "planted"]
    assert {i["strand"] for i in planted} == {"+", "-"}
    assert {m["name"] for m in truth["motifs"]} == {i["motif"] for i in planted}


def test_planted_effects_visible_in_deep_track(ds):
    """Deep coverage at isolated planted sites minus coverage far from any site ~ the planted effect."""
    res, truth = ds
    sizes = truth["sizes"]
    deep = _values(res.tracks["condA_deep"], sizes)
    condb = _values(res.tracks["condB"], sizes)
    expd = _values(res.expected["condA"], sizes)
    rng = np.random.default_rng(0)
    rand_a, rand_b = [], []
    for c, n in sizes.items():
        cen = np.array([i["centre"] for i in truth["instances"] if i["chrom"] == c])
        p = rng.integers(2000, n - 2000, 4000)
        p = p[_far_from(p, cen, 600) & (expd[c][p] > 0)]
        rand_a.append(deep[c][p])
        rand_b.append(condb[c][p])
    base_a, base_b = np.concatenate(rand_a).mean(), np.concatenate(rand_b).mean()
    assert 1.0 < base_a < 10.0  # a few reads per base away from sites
    obs: dict[str, list] = {}
    for c in sizes:
        cen = np.array([i["centre"] for i in truth["instances"] if i["chrom"] == c])
        for i in truth["instances"]:
            if i["chrom"] != c or i["origin"] != "planted" or i["pair"]:
                continue
            others = cen[cen != i["centre"]]
            if _far_from(np.array([i["centre"]]), others, 600)[0]:
                obs.setdefault(i["motif"], []).append((deep[c][i["centre"]], condb[c][i["centre"]]))
    eff = {m["name"]: m["effect"] for m in truth["motifs"]}
    for name in ("CTCF", "TP53"):
        v = np.array(obs[name])
        assert len(v) >= 8
        assert abs(v[:, 0].mean() - base_a - eff[name]["condA"]) < 0.25 * eff[name]["condA"], name
    foxa = np.array(obs["FOXA1"])  # active in condA only
    assert foxa[:, 0].mean() - base_a > 0.6 * eff["FOXA1"]["condA"]
    assert abs(foxa[:, 1].mean() - base_b) < 5
    gata = np.array(obs["GATA1"])  # active in condB only
    assert abs(gata[:, 0].mean() - base_a) < 5
    assert gata[:, 1].mean() - base_b > 0.6 * eff["GATA1"]["condB"]
    assert max(v.max() for v in deep.values()) > 60  # peaks of tens to hundreds


def test_interacting_pair_is_non_additive(ds):
    res, truth = ds
    deep = _values(res.tracks["condA_deep"], truth["sizes"])
    sox = [i for i in truth["instances"] if i["motif"] == "SOX2" and i["origin"] == "planted"]
    close = [deep[i["chrom"]][i["centre"]] for i in sox if i["pair"] == "pair_close"]
    far = [deep[i["chrom"]][i["centre"]] for i in sox if i["pair"] == "pair_far"]
    boost = truth["interacting_pair"]["boost"]["condA"]
    assert len(close) >= 5 and len(far) >= 3
    assert np.mean(close) - np.mean(far) > 0.5 * boost


def test_depths_and_expected(ds):
    res, truth = ds
    d = truth["depths"]
    frac = d["condA_shallow"]["fraction"]
    n_deep, n_sh = d["condA_deep"]["n_fragments"], d["condA_shallow"]["n_fragments"]
    assert abs(n_sh - frac * n_deep) < 5 * np.sqrt(n_deep * frac * (1 - frac))
    sizes = truth["sizes"]
    tot = {k: sum(v.sum() for v in _values(res.tracks[k], sizes).values()) for k in ("condA_deep", "condA_shallow")}
    assert tot["condA_deep"] == d["condA_deep"]["total_coverage"]
    assert 0.30 < tot["condA_shallow"] / tot["condA_deep"] < 0.37
    exp_total = sum(v.sum() for v in _values(res.expected["condA"], sizes).values())
    assert abs(tot["condA_deep"] / exp_total - 1) < 0.03  # the expected track is the mean of the deep one
    # the fragment file is sorted BED3 and reproduces the deep track; thinning reproduces the shallow one
    with gzip.open(res.fragments, "rt") as fh:
        first = [next(fh).split("\t") for _ in range(100)]
    assert all(len(f) == 3 for f in first)
    starts = [int(f[1]) for f in first]
    assert starts == sorted(starts)
    again = pileup(res.fragments, res.genome, res.out / "again_shallow.bw", fraction=frac,
                   seed=truth["seeds"]["thinning"])
    assert again.path.read_bytes() == res.tracks["condA_shallow"].read_bytes()
    again.path.unlink()


def test_duplications_share_sequence(ds):
    res, truth = ds
    names = list(truth["sizes"])
    held = set(truth["study"]["val"] + truth["study"]["test"])
    dups = truth["duplications"]
    assert any(d["src_chrom"] not in held and d["dst_chrom"] in held for d in dups)
    with Genome(res.genome) as g:
        for d in dups:
            assert 5000 <= d["length"] <= 20_000
            a = encode(g.fetch(d["src_chrom"], d["src_start"], d["src_end"]))
            b = encode(g.fetch(d["dst_chrom"], d["dst_start"], d["dst_end"]))
            ident = float((a == b).mean())
            assert 0.975 < ident < 0.999, ident
            # unrelated sequence of the same length is ~30% identical
            c = encode(g.fetch(names[0], 1000, 1000 + d["length"]))
            assert (a == c).mean() < 0.5


def test_isochores_differ_in_gc(ds):
    res, truth = ds
    gc = {"GC-rich": [], "GC-poor": []}
    with Genome(res.genome) as g:
        for c, runs in truth["isochores"].items():
            codes = g.codes(c)
            for s, e, kind in runs:
                x = codes[s:e]
                x = x[x < 4]
                gc[kind].append(((x == 1) | (x == 2)).mean())
    assert gc["GC-rich"] and gc["GC-poor"]
    assert np.mean(gc["GC-rich"]) - np.mean(gc["GC-poor"]) > 0.08


def test_variants(ds):
    res, truth = ds
    lines = res.variants.read_text().splitlines()
    assert lines[0] == "##fileformat=VCFv4.2"
    body = [ln.split("\t") for ln in lines if not ln.startswith("#")]
    assert body
    recs = []
    with Genome(res.genome) as g:
        for chrom, pos, _id, ref, alt, *_rest, info in body:
            kv = dict(x.split("=") for x in info.split(";"))
            assert g.fetch(chrom, int(pos) - 1, int(pos)) == ref and alt != ref
            recs.append((chrom, int(pos), kv))
    order = {c: i for i, c in enumerate(truth["sizes"])}
    assert [(order[c], p) for c, p, _ in recs] == sorted((order[c], p) for c, p, _ in recs)
    by = {}
    for _c, _p, kv in recs:
        by.setdefault(kv["CLASS"], []).append(float(kv["TRUE_EFFECT"]))
    assert set(by) == {"break", "create", "neutral"}
    assert all(e == 0 for e in by["neutral"])
    assert np.median(by["create"]) > 0.5
    assert np.median(by["break"]) < -0.3


def test_variant_reference_matches_expected_track(ds):
    """Re-simulating a variant's neighbourhood reproduces the genome-wide expected track (ref allele)."""
    res, truth = ds
    bg = np.array(truth["params"]["background_composition"])
    loaded = motifs.load_motifs(bg)
    params = signal.Params(**{k: truth["params"][k] for k in ("depth", "gc_beta", "gc_ref", "domain_amp")})
    ker = signal.make_kernels()
    sizes = truth["sizes"]
    expd = _values(res.expected["condA"], sizes)
    span = truth["params"]["expected_span"]
    body = [ln.split("\t") for ln in res.variants.read_text().splitlines() if not ln.startswith("#")]
    with Genome(res.genome) as g:
        for chrom, pos, *_ in body[:: max(1, len(body) // 6)]:
            codes = g.codes(chrom)
            dom = sequence.domain(len(codes), truth["genes"][chrom], "condA")
            lo = (int(pos) // span) * span - 128
            a, b = lo - 1500, lo + 256 + 1500
            local = variants.local_expected(codes[a:b], a, lo, lo + 256, dom, loaded, "condA", params, ker, len(codes))
            np.testing.assert_allclose(local.sum(), expd[chrom][lo : lo + 256].sum(), rtol=1e-4)


def test_peaks_cover_strong_sites(ds):
    res, truth = ds
    import pandas as pd

    peaks = pd.read_csv(res.peaks, sep="\t", header=None, names=["chrom", "start", "end"])
    assert (peaks["end"] > peaks["start"]).all()
    assert (peaks["end"] - peaks["start"]).sum() < 0.1 * sum(truth["sizes"].values())
    ctcf = [i for i in truth["instances"] if i["motif"] == "CTCF" and i["origin"] == "planted" and not i["pair"]]
    hit = 0
    for i in ctcf:
        p = peaks[peaks["chrom"] == i["chrom"]]
        hit += bool(((p["start"] <= i["centre"]) & (p["end"] > i["centre"])).any())
    assert hit / len(ctcf) > 0.8


def test_prepare_reads_the_output(ds, tmp_path):
    from seq2track.data.prepare import prepare

    res, truth = ds
    prepared = prepare(load_study(res.study_path), tmp_path / "cache")
    w = prepared.windows
    assert set(w["split"]) == {"train", "val", "test"}
    assert set(w.loc[w["split"] == "val", "chrom"]) == set(truth["study"]["val"])
    assert set(w.loc[w["split"] == "test", "chrom"]) == set(truth["study"]["test"])


def test_same_seed_same_bytes(tmp_path):
    from typer.testing import CliRunner

    from seq2track.cli import app

    a = core.simulate(tmp_path / "a", seed=7, n_chroms=3, length=60_000)
    r = CliRunner().invoke(app, ["simulate", "--out", str(tmp_path / "b"), "--seed", "7", "--chroms", "3",
                                 "--length", "60000"])
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    assert not [n for n in names if n.startswith(".tmp")]
    for n in names:
        assert (tmp_path / "a" / n).read_bytes() == (tmp_path / "b" / n).read_bytes(), n
    c = core.simulate(tmp_path / "c", seed=8, n_chroms=3, length=60_000)
    assert c.genome.read_bytes() != a.genome.read_bytes()


def test_bad_sizes_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="chroms"):
        core.simulate(tmp_path, n_chroms=2)
    with pytest.raises(ConfigError, match="length"):
        core.simulate(tmp_path, length=10_000)
