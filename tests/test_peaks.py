"""Peaks: real MACS3 runs on a pysam-written BAM with planted enrichment; reading user peak files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pysam = pytest.importorskip("pysam")

from seq2track.errors import DataError  # noqa: E402
from seq2track.io.peaks import call_peaks, frip, read_peaks  # noqa: E402

CHROM_LEN = 200_000
SITES = [30_000, 90_000, 150_000]


def _fragments(rng, n_bg: int, per_site: int) -> np.ndarray:
    """int64[n, 2] fragments: uniform background plus ``per_site`` fragments centred on each site."""
    ln = rng.integers(80, 200, n_bg)
    s = rng.integers(0, CHROM_LEN - 200, n_bg)
    parts = [np.stack([s, s + ln], 1)]
    for c in SITES:
        m = rng.integers(-60, 60, per_site) + c
        ln = rng.integers(80, 200, per_site)
        parts.append(np.stack([m - ln // 2, m - ln // 2 + ln], 1))
    return np.concatenate(parts).astype(np.int64)


def _bam(path: Path, frags: np.ndarray, rlen: int = 40) -> Path:
    header = {"HD": {"VN": "1.6", "SO": "coordinate"}, "SQ": [{"SN": "chr1", "LN": CHROM_LEN}]}
    recs = []
    for i, (s, e) in enumerate(frags):
        recs.append((int(s), i, True))
        recs.append((int(e - rlen), i, False))
    recs.sort()
    with pysam.AlignmentFile(str(path), "wb", header=header) as f:
        for pos, i, r1 in recs:
            s, e = int(frags[i, 0]), int(frags[i, 1])
            a = pysam.AlignedSegment(f.header)
            a.query_name = f"q{i}"
            a.reference_id = a.next_reference_id = 0
            a.reference_start = pos
            a.next_reference_start = e - rlen if r1 else s
            a.cigartuples = [(0, rlen)]
            a.mapping_quality = 60
            a.template_length = (e - s) if r1 else -(e - s)
            a.flag = 0x1 | 0x2 | (0x20 | 0x40 if r1 else 0x10 | 0x80)
            f.write(a)
    pysam.index(str(path))
    return path


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    d = tmp_path_factory.mktemp("peaks")
    rng = np.random.default_rng(0)
    t = _fragments(rng, 3000, 150)
    c = _fragments(rng, 3000, 0)
    bed = d / "treat.bedpe"
    bed.write_text("".join(f"chr1\t{s}\t{e}\n" for s, e in t))
    return d, _bam(d / "treat.bam", t), _bam(d / "ctrl.bam", c), bed, t


def _summits_near_sites(peaks: pd.DataFrame) -> list[int]:
    return [int(np.min(np.abs(peaks["summit"].to_numpy() - s))) for s in SITES]


def test_macs3_finds_the_planted_sites_with_a_control(planted):
    d, treat, ctrl, _, frags = planted
    r = call_peaks(treat, d / "out" / "p.narrowPeak", control=ctrl, genome_size=CHROM_LEN)
    assert r.format == "BAMPE" and r.path.exists() and not list((d / "out").glob(".tmp-*"))
    pk = read_peaks(r.path)
    assert r.n_peaks == len(pk) >= 3
    assert max(_summits_near_sites(pk)) < 100  # every planted site has a summit within 100 bp
    assert len(pk) <= 6  # the uniform background yields few or no extra peaks
    f = pd.DataFrame({"chrom": "chr1", "start": frags[:, 0], "end": frags[:, 1]})
    fr = frip(f, pk)
    assert 0.1 < fr < 0.3  # 450 of 3,450 fragments are planted (13%), plus background in the peaks


def test_macs3_on_fragments_gives_the_same_sites(planted):
    d, _, _, bed, _ = planted
    r = call_peaks(bed, d / "frag.narrowPeak", genome_size=CHROM_LEN)
    assert r.format == "BEDPE"
    assert max(_summits_near_sites(read_peaks(r.path))) < 100


def test_call_peaks_reports_frip_beside_the_narrowpeak(planted, tmp_path):
    """FRiP of the pysam BAM (fragments from the pairs) = a direct count of the planted fragments
    overlapping the called peaks; written to OUT.json and printed by the CLI."""
    import json

    from typer.testing import CliRunner

    from seq2track.cli import app

    d, treat, ctrl, bed, frags = planted
    out = tmp_path / "p.narrowPeak"
    res = CliRunner().invoke(app, ["call-peaks", str(treat), "--control", str(ctrl), "--out", str(out),
                                   "--genome-size", str(CHROM_LEN)])
    assert res.exit_code == 0, res.output
    pk = read_peaks(out)
    direct = sum(bool(((pk["start"] < e) & (pk["end"] > s)).any()) for s, e in frags)  # by hand, per fragment
    summary = json.loads((tmp_path / "p.narrowPeak.json").read_text())
    assert summary["n_peaks"] == len(pk) and summary["unit"] == "fragments" and summary["format"] == "BAMPE"
    assert summary["n_total"] == len(frags) and summary["n_in_peaks"] == direct
    assert summary["frip"] == pytest.approx(direct / len(frags))
    f = pd.DataFrame({"chrom": "chr1", "start": frags[:, 0], "end": frags[:, 1]})
    assert summary["frip"] == pytest.approx(frip(f, pk))  # the in-memory (bioframe) FRiP agrees
    assert summary["peak_bp"] == int((pk["end"] - pk["start"]).sum()) and summary["control"] == [str(ctrl)]
    assert f"FRiP {summary['frip']:.3f} ({direct:,} of {len(frags):,} fragments in peaks)" in res.output
    # the fragment file gives the same count over the same peaks; single-end counting counts reads
    from seq2track.io.peaks import count_in_peaks

    assert count_in_peaks(bed, pk).n_in_peaks == direct
    se = count_in_peaks(treat, pk, fmt="BAM")
    assert se.unit == "reads" and se.n_total == 2 * len(frags)


def test_user_peak_files_and_errors(tmp_path):
    np_ = tmp_path / "p.narrowPeak"
    np_.write_text("I\t100\t300\tp1\t10\t.\t5.0\t3.0\t2.0\t50\nII\t10\t30\tp2\t10\t.\t5.0\t3.0\t2.0\t-1\n")
    pk = read_peaks(np_, ["chrI", "chrII"])  # Ensembl names renamed to the study's
    assert pk["chrom"].tolist() == ["chrI", "chrII"] and pk["summit"].tolist() == [150, 20]
    bed = tmp_path / "p.bed"
    bed.write_text("chrI\t100\t300\nchrM\t0\t10\n")
    assert read_peaks(bed, ["chrI"])["summit"].tolist() == [200]
    with pytest.raises(DataError, match=r"missing\.bam does not exist"):
        call_peaks(tmp_path / "missing.bam", tmp_path / "o.narrowPeak")


# --- peak-centred windows (seq2track.data.peaks) and their preparation ------------------------------
from seq2track.data.peaks import candidate_windows, gc_fraction, select_negatives  # noqa: E402


def test_gc_fraction_counts_gc_among_acgt():
    codes = np.array([0, 1, 2, 3, 4, 4, 1, 1], np.uint8)  # A C G T N N C C
    np.testing.assert_allclose(gc_fraction(codes, np.array([0, 2, 4]), 4), [0.5, 0.5, 1.0])
    assert gc_fraction(np.full(10, 4, np.uint8), np.array([0]), 4).tolist() == [0.0]


def test_candidate_windows_centre_on_summits_and_keep_negatives_away():
    sizes = {"c1": 20_000, "c2": 10_000}
    peaks = pd.DataFrame({"chrom": ["c1", "c1", "c2", "c1"], "summit": [5_000, 5_010, 9_900, 100]})
    w = candidate_windows(peaks, sizes, ["c1", "c2"], 1000, 100, 32)
    pos = w[w["kind"] == "peak"]
    # the summit at 100 and the one at 9,900 (window past the end) are dropped; 5,000 and 5,010 share a cell
    assert pos["start"].tolist() == [((5_000 - 500) // 32) * 32]
    centre = pos["start"].iloc[0] + 500
    assert 0 <= 5_000 - centre < 32
    neg = w[w["kind"] == "negative"]
    assert len(neg) > 0 and (neg["end"] - neg["start"] == 1000).all()
    c1 = neg[neg["chrom"] == "c1"]
    assert not ((c1["start"] < pos["end"].iloc[0]) & (c1["end"] > pos["start"].iloc[0])).any()
    assert (neg["chrom"] == "c2").sum() == (10_000 - 1000) // 100 + 1  # c2 keeps its whole tiling


def _balanced_inputs(rng, n_pos=200, n_cand=6000):
    kind = np.array(["peak"] * n_pos + ["negative"] * n_cand)
    split = rng.choice(["train", "val", "test"], len(kind), p=[0.6, 0.2, 0.2])
    gc = np.concatenate([rng.normal(0.42, 0.03, n_pos), rng.normal(0.40, 0.05, n_cand)]).clip(0, 1)
    return kind, split, np.ones(len(kind), bool), gc


def test_negatives_are_gc_matched_within_each_split_and_seeded():
    kind, split, usable, gc = _balanced_inputs(np.random.default_rng(1))
    chosen, rep = select_negatives(kind, split, usable, gc, 1.0, "gc", 10, np.random.default_rng(5))
    assert not chosen[kind == "peak"].any()
    for s in ("train", "val", "test"):
        r = rep["splits"][s]
        assert r["n_negatives"] == r["n_peaks"] == int(((kind == "peak") & (split == s)).sum())
        assert (split[chosen] == s).sum() == r["n_negatives"]  # each negative was drawn in its own split
        assert r["ks_gc"] < 0.15 and abs(r["gc_mean_peaks"] - r["gc_mean_negatives"]) < 0.01
    unmatched, rep0 = select_negatives(kind, split, usable, gc, 1.0, "none", 10, np.random.default_rng(5))
    for s in ("train", "val", "test"):  # without matching the negatives are AT-richer
        assert rep0["splits"][s]["ks_gc"] > 2 * rep["splits"][s]["ks_gc"]
    again, _ = select_negatives(kind, split, usable, gc, 1.0, "gc", 10, np.random.default_rng(5))
    other, _ = select_negatives(kind, split, usable, gc, 1.0, "gc", 10, np.random.default_rng(6))
    assert (again == chosen).all() and (other != chosen).any()


def test_too_few_candidates_in_a_gc_bin_fails_or_falls_back():
    rng = np.random.default_rng(2)
    kind, split, usable, gc = _balanced_inputs(rng, n_pos=200, n_cand=400)
    with pytest.raises(DataError, match=r"the \w+ split needs \d+ negatives in GC bin .* candidates away from peaks"):
        select_negatives(kind, split, usable, gc, 1.0, "gc", 10, np.random.default_rng(0))
    chosen, rep = select_negatives(kind, split, usable, gc, 1.0, "gc", 10, np.random.default_rng(0),
                                   fallback="nearest")
    assert sum(r["n_from_nearest_bin"] for r in rep["splits"].values()) > 0
    for s in ("train", "val", "test"):
        assert (split[chosen] == s).sum() == rep["splits"][s]["n_peaks"]


def test_prepare_a_peak_centred_study(tmp_path):
    """simulate -> study with windows.strategy: peaks -> prepare: balance in meta, no leak across splits."""
    from seq2track.config import load_study
    from seq2track.data.cache import PreparedDataset
    from seq2track.data.prepare import prepare
    from seq2track.data.simulate import simulate

    sim = simulate(tmp_path / "sim", seed=0, n_chroms=4, length=100_000, depth=3.0)
    text = Path(sim.study_path).read_text().replace(
        "windows: {input_length: 2048, target_length: 256, resolution: 32, stride: 256}",
        "windows: {strategy: peaks, peaks: peaks.bed, negatives: {ratio: 1.0, match: gc, gc_bins: 5}, "
        "input_length: 2048, target_length: 256, resolution: 32, stride: 64}",
    )
    assert "strategy: peaks" in text
    p = tmp_path / "sim" / "peaks_study.yaml"
    p.write_text(text)
    study = load_study(p)
    ds = prepare(study, tmp_path / "prep")
    assert isinstance(ds, PreparedDataset)
    bal = ds.meta["peaks"]["splits"]
    w = ds.all_windows
    kept = w[w["keep"]]
    for s in ("train", "val", "test"):
        ks = kept[kept["split"] == s]
        assert (ks["kind"] == "peak").sum() == bal[s]["n_peaks"] > 0
        assert (ks["kind"] == "negative").sum() == bal[s]["n_negatives"] == bal[s]["n_peaks"]
        assert bal[s]["ks_gc"] is not None and 0 <= bal[s]["ks_gc"] <= 1
    assert set(w.loc[~w["keep"], "reason"]) <= {"negative_unused", "n_fraction", "blacklist"}
    # no kept negative overlaps a positive's input window
    import bioframe

    pos, neg = kept[kept["kind"] == "peak"], kept[kept["kind"] == "negative"]
    assert len(bioframe.overlap(neg[["chrom", "start", "end"]], pos[["chrom", "start", "end"]], how="inner")) == 0
    # the same study and seed give the same negatives
    ds2 = prepare(study, tmp_path / "prep2")
    assert ds2.all_windows[["chrom", "start", "keep"]].equals(w[["chrom", "start", "keep"]])
    tiled = load_study(Path(sim.study_path))
    assert "strategy" not in tiled.data_dict()["windows"]  # tiled studies keep their hash
