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
# # 01b · The same data, gReLU style
#
# [gReLU](https://github.com/Genentech/gReLU) describes a training set as a table of
# **intervals** (`chrom, start, end`), a **label array** `[n_intervals, n_tasks, n_bins]`
# read from bigWig files (`grelu.io.bigwig.read_bigwig(intervals, bw_files, bin_size,
# aggfunc)`), and a genome to fetch each interval's sequence from
# (`grelu.data.dataset.LabeledSeqDataset`). Training examples are then `(x, y)` pairs with
# `x: float32[4, length]` (one-hot A, C, G, T) and `y: float32[tasks, bins]`.
#
# seq2track uses the same layout, but it never reads a bigWig per interval: it reads each
# chromosome once into bins, keeps the genome as memory-mapped codes, and cuts windows by
# array slicing. This notebook builds the gReLU-style objects from a prepared seq2track cache
# and checks, value by value, that the two routes give the same numbers. If gReLU is
# installed (`pip install 'seq2track[grelu]'`), its own `read_bigwig` is compared as well.

# %%
import importlib.util
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyBigWig

import seq2track as s2t

WORK = Path(os.environ.get("SEQ2TRACK_TUTORIAL_OUT") or tempfile.mkdtemp(prefix="s2t-tutorial01b-"))
sim = s2t.simulate(WORK / "sim", seed=0, n_chroms=4, length=60_000)
study = s2t.override(s2t.load_study(sim.study_path), {"windows.input_length": 1024, "windows.stride": 512})
ds = s2t.prepare(study, WORK / "cache")
print(ds)

# %% [markdown]
# ## Intervals
# gReLU's intervals are a DataFrame with `chrom`, `start`, `end` (0-based, end exclusive:
# the BED convention). seq2track's `windows` table is one: each row is an input window.
# The model predicts only the **central** `target_length` bp (the flanks are context), so the
# label intervals are the windows shrunk by `flank` on each side.

# %%
intervals = ds.windows[["chrom", "start", "end", "split"]].copy()
label_intervals = intervals.assign(start=intervals.start + ds.flank, end=intervals.end - ds.flank)
print(intervals.head(3).to_string(), "\n")
print(label_intervals.head(3).to_string())
print(f"input {ds.input_length} bp -> label {ds.n_bins} bins x {ds.resolution} bp")

# %% [markdown]
# ## Labels: one read per interval (gReLU's way) vs one read per chromosome (seq2track)
# `read_bigwig(intervals, bw, bin_size=32, aggfunc="mean")` reads every interval's per-base
# values and averages consecutive groups of 32. Here is that computation written with
# pyBigWig (bases with no read count as 0, the study's `missing: zero`), next to the
# seq2track cache:

# %%
def read_bigwig_per_interval(iv: pd.DataFrame, path: Path, bin_size: int) -> np.ndarray:
    """float32[n, 1, n_bins]: per-interval read, mean over bins (gReLU-style)."""
    bw = pyBigWig.open(str(path))
    out = []
    for c, s, e in iv[["chrom", "start", "end"]].itertuples(index=False):
        v = np.nan_to_num(bw.values(c, int(s), int(e), numpy=True).astype(np.float64))
        out.append(v.reshape(-1, bin_size).mean(1))
    return np.asarray(out, dtype=np.float32)[:, None, :]


labels_per_interval = read_bigwig_per_interval(label_intervals, sim.tracks["condA_deep"], ds.resolution)
labels_cache = ds.raw_targets()  # float32[n, tracks, bins], the same rows
print(labels_per_interval.shape, labels_cache.shape)
print("max |difference|:", float(np.abs(labels_per_interval - labels_cache).max()))
assert np.allclose(labels_per_interval, labels_cache, atol=1e-4)

# %%
if importlib.util.find_spec("grelu") is not None:
    from grelu.io.bigwig import read_bigwig

    g = read_bigwig(label_intervals[["chrom", "start", "end"]], str(sim.tracks["condA_deep"]),
                    bin_size=ds.resolution, aggfunc="mean")
    g = np.nan_to_num(np.asarray(g, dtype=np.float32))
    print("gReLU read_bigwig:", g.shape, "max |difference| to seq2track:", float(np.abs(g - labels_cache).max()))
else:
    print("gReLU is not installed: its read_bigwig is not compared (pip install 'seq2track[grelu]')")

# %% [markdown]
# ## Sequences
# `LabeledSeqDataset` fetches each interval's sequence from the genome and one-hot encodes
# it. The cache gives the same one-hot windows by slicing the memory-mapped codes; compare
# with a direct FASTA read (pyfaidx):

# %%
import pyfaidx

fa = pyfaidx.Fasta(str(sim.genome))
i = 5
c, s, e = intervals.iloc[i][["chrom", "start", "end"]]
direct = str(fa[c][int(s):int(e)]).upper()
print(direct[:60], "...")
assert direct == ds.sequence(i)
x = ds.onehot(np.array([i]))[0]
print("one-hot", x.shape, "rows A,C,G,T; column sums are 1 except at N:", np.unique(x.sum(0)))

# %% [markdown]
# ## Splits and filters
# gReLU splits intervals by chromosome (`grelu.data.preprocess.split(data, train_chroms,
# val_chroms, test_chroms)`) and filters them (`filter_chromosomes`, `filter_blacklist`,
# `filter_chrom_ends`, `filter_coverage`). In a seq2track study the same choices are keys:
# `split.val/test`, `windows.chroms/exclude_chroms`, `windows.blacklist`, windows are tiled
# inside chromosomes only, and `filter.threshold` is the coverage filter. What they removed
# is kept in `all_windows` with the reason:

# %%
print(intervals.groupby("split")["chrom"].unique().to_dict())
print(ds.all_windows["reason"].replace("", "kept").value_counts().to_dict())

# %% [markdown]
# ## Training pairs
# `ds.torch_dataset(split, augment=...)` is the `LabeledSeqDataset` equivalent: `(x, y)` with
# `x: [4, L]` and `y: [tracks, bins]` (transformed with arcsinh, normalised with statistics
# fitted on the training split only). Augmentation (reverse complement, a small random
# shift) exists on the training split only, and is a function of `(seed, epoch, batch)`,
# so a run can be repeated bit for bit.

# %%
train = ds.torch_dataset("train", augment=True)
xb, yb = next(iter(train.loader(batch_size=8, shuffle=True)))
print("batch:", tuple(xb.shape), tuple(yb.shape), xb.dtype, yb.dtype)
x2, y2 = next(iter(ds.torch_dataset("train", augment=True).loader(batch_size=8, shuffle=True)))
print("same seed, same first batch:", bool((xb == x2).all() and (yb == y2).all()))
