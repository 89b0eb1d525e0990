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
# # 02 · Training a gReLU model, and measuring the field's pitfalls
#
# We train a small convolutional network (gReLU's `DilatedConvModel` when the `grelu` extra is
# installed, `pip install -r requirements-grelu.lock`; otherwise seq2track's own `dilated_cnn`) that reads 1,024 bp of DNA and predicts the
# (arcsinh-transformed) coverage of the central 256 bp in 32-bp bins, compare it with a
# k-mer ridge regression baseline, and then ask the questions that decide whether a number
# in a paper means anything:
#
# * **Audit** (no training): do the splits share chromosomes, overlapping context, or
#   near-duplicate sequence? Was the normaliser fitted on the training split only? What is
#   the no-skill level of auPRC?
# * **The pitfall lab** (training): train the same model on a sound split and on a random
#   window split, over seeds, and measure how much the random split inflates the test score.
#
# Sizes are tiny so this runs in a couple of minutes on a laptop. `SEQ2TRACK_STUDY` may name
# another study file (e.g. `configs/encode_h3k36me3_brain.yaml` once its data is fetched).

# %%
import os
import tempfile
from pathlib import Path

import pandas as pd

from seq2track.config import load_study, override
from seq2track.data.simulate import simulate

WORK = Path(os.environ.get("SEQ2TRACK_TUTORIAL_OUT") or tempfile.mkdtemp(prefix="s2t-tutorial02-"))
if os.environ.get("SEQ2TRACK_STUDY"):
    base = load_study(os.environ["SEQ2TRACK_STUDY"])
else:
    sim = simulate(WORK / "sim", seed=0, n_chroms=4, length=60_000)
    base = load_study(sim.study_path)
TINY = {
    "windows.input_length": 1024, "windows.stride": 256,
    "model.channels": 16, "model.n_dilated": 3,
    "train.max_epochs": 3, "train.batch_size": 32, "train.patience": 2, "train.lr": 3e-3, "train.schedule": "none",
    "baseline.k_max": 3, "baseline.max_train_windows": 1000,
    "evaluate.n_browser_regions": 1, "tracking": "none",
}
import importlib.util

HAS_GRELU = importlib.util.find_spec("grelu") is not None
TINY["model.arch"] = "grelu.DilatedConvModel" if HAS_GRELU else "dilated_cnn"
study = override(base, TINY)
print("architecture:", study.model.arch, "" if HAS_GRELU else "(grelu is not installed: seq2track's dilated_cnn instead)")
print(study.name, "| tracks:", [t.name for t in study.tracks], "| val", study.split.val, "test", study.split.test)

# %% [markdown]
# `arch: grelu.DilatedConvModel` builds gReLU's own model class (`grelu.model.models`) with
# `crop_len` set so that its per-base output covers exactly the target, averaged to 32-bp bins
# (`seq2track/model/grelu.py`); its weights load unchanged into gReLU's `LightningModel`.
# Without the `grelu` extra, the same cells run with seq2track's `dilated_cnn`.
#
# ## Train, evaluate, report
# `run_study` (the `seq2track run` command) prepares the data, trains with early stopping on
# the validation loss, evaluates on the held-out test chromosome, and writes an HTML report.
# Everything it writes is in the run directory.

# %%
from seq2track.run import run_study

metrics = run_study(study, WORK / "run")
history = pd.read_csv(WORK / "run" / "history.csv")
print(history[["epoch", "train_loss", "val_loss", "lr"]].to_string(index=False))

# %%
t, b = metrics["test"], metrics["baseline"]["test"]
print(f"test Pearson (all bins):    model {t['pearson']:.3f}   k-mer ridge {b['pearson']:.3f}")
print(f"test Pearson (window sums): model {t['window_total']['pearson']:.3f}   "
      f"k-mer ridge {b['window_total']['pearson']:.3f}")
for name, r in (t.get("reference") or {}).items():
    print(f"{name}: model vs the noise-free signal {r['model_vs_reference_pearson']:.3f}; "
          f"ceiling (noise-free vs observed) {r['ceiling_pearson']:.3f}")
print("report:", metrics["report"])

# %% [markdown]
# A model is only interesting if it beats the baseline: a linear model of k-mer counts
# already captures GC content and common motifs. On the simulator we also know the
# noise-free signal, so the *ceiling* (how well the truth itself correlates with the noisy
# observation) says how much is left to learn.
#
# ## Audit: pitfalls found without training

# %%
from seq2track.pitfalls.audit import audit

result = audit(study, cache=WORK / "caches")
print(result.table())

# %% [markdown]
# ## The pitfall lab: what a random split does to the test score
# Each arm trains the same small model with the same budget; only the split differs.
# The difference between arms is computed seed by seed, with a 95% interval when there are
# 3 or more seeds. Here: 2 seeds and a 2-epoch budget, to keep the notebook short (the
# command line default is `seq2track pitfalls STUDY --which all --seeds 3`).

# %%
from seq2track.pitfalls import run_pitfalls

lab = run_pitfalls(study, WORK / "lab", which="leakage", seeds=2, budget="lab",
                   overrides={"train.max_epochs": 2, "train.limit_train_batches": 6, "model.channels": 8},
                   echo=lambda s: None)
res = lab["leakage"]
print(res.headline())
for c in res.comparisons:
    print("-", c["verdict"])
