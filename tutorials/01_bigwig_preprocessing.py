# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · From a bigWig file to training windows
#
# *For machine-learning readers with little biology.*
#
# A sequence-to-signal model reads a stretch of DNA (a string over A, C, G, T) and predicts
# a number for every short **bin** of it: how much of some biochemical activity was
# measured there. The measurements come as **bigWig** files: for each chromosome, a
# compressed, indexed list of `(start, end, value)` runs. This notebook turns such files into
# a dataset you can train on, and shows each choice that decides whether the result can be
# trusted:
#
# 1. what a bigWig holds, and what a *missing* value means;
# 2. **binning**: averaging per-base values into 32-bp bins;
# 3. **arcsinh**: taming the heavy tail of count data;
# 4. **thresholding**: dropping empty windows (and what that does to the data);
# 5. **splits**: holding out whole chromosomes, and why random windows leak.
#
# It runs on the package's simulator (a small synthetic genome with known biology, written
# as real FASTA and bigWig files) and, when the project's real data folder is present, on a
# yeast ATAC-seq track. `SEQ2TRACK_DATA` points at another copy of that folder.

# %%
import os
import tempfile
from pathlib import Path

import numpy as np
import pyBigWig

WORK = Path(os.environ.get("SEQ2TRACK_TUTORIAL_OUT") or tempfile.mkdtemp(prefix="s2t-tutorial01-"))
DATA = Path(os.environ.get("SEQ2TRACK_DATA") or Path.cwd().resolve().parents[1] / "shared" / "data")
print("working folder:", WORK)
print("real data:", DATA, "(present)" if DATA.exists() else "(absent: the real-data part is skipped)")

# %% [markdown]
# ## A small synthetic genome
# `simulate` writes four 60-kb chromosomes, a coverage track of a deep and of a shallow
# sequencing run, the noise-free *expected* signal, peaks, variants and a ready study file.
# Real DNA motifs (from JASPAR) are planted with known effects, so we know the truth.

# %%
import seq2track as s2t

sim = s2t.simulate(WORK / "sim", seed=0, n_chroms=4, length=60_000)
print(sorted(p.name for p in sim.out.iterdir()))
track = sim.tracks["condA_deep"]

# %% [markdown]
# ## 1 · What a bigWig holds
# A header with the chromosome sizes, then runs of constant value. Coverage tracks usually
# **do not store zeros**: a base with no read is simply absent, and pyBigWig reports it as
# `NaN`. Whether `NaN` means "zero" or "unknown" is a modelling decision (see `missing:` in
# the study); for read coverage it means zero.

# %%
bw = pyBigWig.open(str(track))
print("chromosomes:", bw.chroms())
print("first runs on chr1:", bw.intervals("chr1", 0, 60_000)[:4])
v = bw.values("chr1", 0, 60_000, numpy=True)
print(f"per-base values on chr1: {v.size:,}, of which NaN (no read): {np.isnan(v).mean():.1%}")

# %% [markdown]
# ## 2 · Binning
# Predicting every base is costly and noisy. We average the signal over bins of
# `resolution` bp. `seq2track.io.tracks.read_bins` does one bulk read per chromosome and
# averages with numpy; its result equals the obvious per-base computation exactly.

# %%
from seq2track.io.tracks import read_bins

L = bw.chroms("chr1")
per_base = np.nan_to_num(v.astype(np.float64))
for res in (1, 32, 128):
    bins = read_bins(track, "chr1", L // res, res)
    assert np.allclose(bins, per_base[: L // res * res].reshape(-1, res).mean(1), atol=1e-5)
    cv = bins.std() / bins.mean()
    print(f"{res:4d}-bp bins: {bins.size:6,d} values per chromosome, coefficient of variation {cv:.2f}")

# %% [markdown]
# Coarser bins average out sampling noise (the coefficient of variation falls) but blur
# sharp features. Here it falls only a little: coverage piled up from ~165-bp fragments is
# already smooth along the genome; a 1-bp signal (e.g. transcription start sites) gains more. The missing-value policy matters in bins that are only partly covered:
# `missing: zero` averages over all bases, `missing: covered` only over the bases present
# (what UCSC's `bigWigSummary` reports).

# %%
zero = read_bins(track, "chr1", L // 32, 32, "zero")
covered = read_bins(track, "chr1", L // 32, 32, "covered")
partly = (zero > 0) & (zero != covered)
print(f"bins with some but not all bases covered: {partly.mean():.1%}; "
      f"mean there: zero-policy {zero[partly].mean():.2f} vs covered-policy {covered[partly].mean():.2f}")

# %% [markdown]
# ## 3 · arcsinh
# Counts are heavy-tailed: a few bins are 10-100x the median. A squared-error or Poisson loss
# on raw counts is dominated by those bins. `arcsinh(x) = log(x + sqrt(x^2 + 1))` behaves like
# `x` near 0 and like `log(2x)` for large `x`, is defined at 0 (unlike `log`), and is exactly
# invertible, so predictions can be mapped back to reads.

# %%
from seq2track.data import transforms

y = transforms.forward(zero, "arcsinh")
for name, a in (("raw", zero), ("arcsinh", y)):
    q = np.quantile(a, [0.5, 0.9, 0.99, 1.0])
    print(f"{name:8s} median {q[0]:6.2f}  q90 {q[1]:6.2f}  q99 {q[2]:6.2f}  max {q[3]:7.2f}  max/median {q[3] / q[0]:6.1f}")
assert np.allclose(transforms.inverse(y, "arcsinh"), zero, rtol=1e-4, atol=1e-4)

# %%
import matplotlib.pyplot as plt

fig, ax = plt.subplots(1, 2, figsize=(9, 2.8))
ax[0].hist(zero, bins=60)
ax[0].set_title("32-bp bin means (reads)")
ax[1].hist(y, bins=60)
ax[1].set_title("arcsinh(bin means)")
fig.tight_layout()

# %% [markdown]
# ## 4 · Windows and thresholding
# The model sees **windows**: `input_length` bp of sequence, and predicts the
# `target_length` bp at their centre (the flanks give context). Windows are tiled every
# `stride` bp. Many windows of a sparse track are nearly empty; a common trick keeps only
# windows whose mean (transformed) signal passes a threshold. That changes the data the
# model learns from **and** the data it is evaluated on, so the study records it and the
# report says so; `keep_below_fraction` keeps a seeded sample of the rest.

# %%

study = s2t.override(s2t.load_study(sim.study_path), {"windows.input_length": 1024, "windows.stride": 256})
ds = s2t.prepare(study, WORK / "cache_all")
tm = ds.all_windows.loc[ds.all_windows["keep"], "target_mean"].to_numpy()
thr = float(np.quantile(tm, 0.5))
print(f"{len(tm)} windows; threshold {thr:.2f} (the median) would drop {np.mean(tm < thr):.0%} of them")
filtered = s2t.prepare(s2t.override(study, {"filter.threshold": thr, "filter.keep_below_fraction": 0.1}), WORK / "cache_thr")
print(filtered.windows["split"].value_counts().to_dict(), "kept after thresholding (10% of the rest kept)")

# %% [markdown]
# ## 5 · Splits: hold out whole chromosomes
# Neighbouring windows overlap (stride < input length) and nearby DNA is correlated. A
# random split puts a window in the test set and its overlapping neighbour in training: the
# model has effectively seen the test sequence. Holding out whole chromosomes avoids this.
# Count how many test windows overlap a training window under each scheme:

# %%
from seq2track.data import splits


def overlapping_test_windows(win, split) -> float:
    """Fraction of test windows that share bases with a training window."""
    hit = 0
    test = np.flatnonzero(split == "test")
    for i in test:
        same = (win["chrom"].to_numpy() == win["chrom"].iat[i]) & (split == "train")
        starts = win["start"].to_numpy()[same]
        hit += np.any(np.abs(starts - win["start"].iat[i]) < study.windows.input_length)
    return hit / max(len(test), 1)


win = ds.all_windows
by_chrom = splits.chromosome_split(win["chrom"].to_numpy(), study.split.val, study.split.test, ds.chroms)
at_random = splits.random_split(len(win), 0.15, 0.15, np.random.default_rng(0))
print(f"test windows overlapping a training window: chromosome split {overlapping_test_windows(win, by_chrom):.0%}, "
      f"random split {overlapping_test_windows(win, at_random):.0%}")

# %% [markdown]
# The whole recipe is one call, `prepare(study, out)` (or `seq2track prepare STUDY --out DIR`),
# and `seq2track inspect DIR` summarises what it did:

# %%
from seq2track.data.prepare import inspect_text

print(inspect_text(ds))

# %% [markdown]
# ## Real data: yeast ATAC-seq
# ATAC-seq measures how *accessible* DNA is. The track below is the fragment coverage of
# one yeast sample (467,908 fragments). Its chromosome names are UCSC style (`chrII`);
# seq2track matches `chrII`, `II` and `2`-style names through one alias function.

# %%
atac = DATA / "yeast_sacCer3" / "atac_SRR1822137" / "yeast_500k_SRR1822137.fragment_coverage.bw"
if atac.exists():
    from seq2track.io.chroms import resolve

    sizes = pyBigWig.open(str(atac)).chroms()
    name = resolve("II", sizes)
    b = read_bins(atac, name, sizes[name] // 32, 32)
    yb = transforms.forward(b, "arcsinh")
    print(f"'II' resolves to {name!r}: {b.size:,} bins of 32 bp, {np.mean(b == 0):.0%} empty, "
          f"max/median raw {b.max() / max(np.median(b), 1e-9):.0f}, after arcsinh {yb.max() / max(np.median(yb), 1e-9):.1f}")
else:
    print("yeast data not found: skipped")
