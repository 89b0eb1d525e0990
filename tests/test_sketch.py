"""Near-duplicate sketches: canonical k-mer FracMinHash samples and containment in training windows."""

from __future__ import annotations

import numpy as np
from conftest import write_fasta

from seq2track.io.genome import encode
from seq2track.pitfalls import sketch


def test_kmer_samples_are_strand_independent_and_skip_n():
    rng = np.random.default_rng(0)
    seq = "".join(rng.choice(list("ACGT"), 3000))
    rc = seq[::-1].translate(str.maketrans("ACGT", "TGCA"))
    p1, h1 = sketch.kmer_samples(encode(seq), k=21, scale=1)
    p2, h2 = sketch.kmer_samples(encode(rc), k=21, scale=1)
    assert len(p1) == 3000 - 20 and np.array_equal(np.sort(h1), np.sort(h2))
    # the k-mer at p equals the reverse-complement k-mer at the mirrored position
    assert h1[0] == h2[len(h2) - 1]
    with_n = seq[:1000] + "N" + seq[1001:]
    p3, _ = sketch.kmer_samples(encode(with_n), k=21, scale=1)
    assert len(p3) == len(p1) - 21 and not np.any((p3 > 1000 - 21) & (p3 <= 1000))
    ps, hs = sketch.kmer_samples(encode(seq), k=21, scale=8)
    assert 0 < len(ps) < len(p1) / 4 and np.isin(hs, h1).all()
    assert np.array_equal(sketch.kmer_samples(encode(seq), 21, 8)[1], hs)  # deterministic


def test_near_duplicates_find_a_planted_copy(tiny):
    """A 3-kb stretch of a training chromosome copied (~1% substitutions) into the test chromosome."""
    from seq2track.config import load_study, override
    from seq2track.data.prepare import prepare

    rng = np.random.default_rng(5)
    seqs = dict(tiny["seqs"])
    mut = np.array(list(seqs["chr1"][10_000:13_000]))
    hit = rng.random(len(mut)) < 0.01
    mut[hit] = rng.choice(list("ACGT"), int(hit.sum()))
    seqs["chr3"] = seqs["chr3"][:4_000] + "".join(mut) + seqs["chr3"][7_000:]
    d = tiny["dir"]
    write_fasta(d / "dup.fa", seqs)
    study = override(load_study(tiny["study"]), {"genome": str(d / "dup.fa"), "windows.stride": 128})
    ds = prepare(study, d / "cache")
    r = sketch.near_duplicates(ds, scale=4)
    test = ds.windows.iloc[r["rows"]]
    on3 = (test["chrom"] == "chr3").to_numpy()
    inside = on3 & (test["start"] >= 4_000).to_numpy() & (test["start"] + ds.input_length <= 7_000).to_numpy()
    assert inside.sum() >= 10
    assert (r["containment"][inside] > 0.6).all() and r["flagged"][inside].all()
    far = on3 & ((test["start"] + ds.input_length <= 4_000) | (test["start"] >= 7_000)).to_numpy()
    assert far.any() and (r["containment"][far] < 0.05).all() and not r["flagged"][far].any()
    assert r["regions"] and all(c == "chr3" and s < 7_000 and e > 4_000 for c, s, e, _ in r["regions"])
    # a random split: overlapping neighbours do not count ("elsewhere" only), so only copies are flagged
    rnd = prepare(override(study, {"split.strategy": "random"}), d / "cache_random")
    r2 = sketch.near_duplicates(rnd, scale=4)
    w = rnd.windows.iloc[r2["rows"][r2["flagged"]]]
    s, e = w["start"].to_numpy(), w["start"].to_numpy() + rnd.input_length
    in_copy = ((w["chrom"] == "chr1").to_numpy() & (s < 13_000) & (e > 10_000)) | (
        (w["chrom"] == "chr3").to_numpy() & (s < 7_000) & (e > 4_000))
    assert len(w) and in_copy.all()
