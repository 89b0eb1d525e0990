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
# # 04 · What did the model learn? Motifs, variants, attributions
#
# A trained sequence model is a hypothesis about which DNA words change the signal. Three
# ways to question it, each usable on any model that maps one-hot DNA to predictions:
#
# * **Marginalisation**: insert a motif (a short DNA "word" a protein binds, from the JASPAR
#   database) into many shuffled background sequences and measure the average change of the
#   prediction, against a shuffled-motif control. The simulator planted real motifs with
#   known effects, so we can check the answer.
# * **Variant effects**: predict the reference and the alternative allele of single-base
#   variants; the simulator's VCF says which variants break or create a motif.
# * **Attributions**: in-silico mutagenesis (ISM: try every base at every position) and
#   Integrated Gradients show which bases of one window drive its prediction.
#
# The model here is small and briefly trained, so effects are noisy; the point is the
# method, and that every number comes with its control.

# %%
import os
import tempfile
from pathlib import Path

import numpy as np

from seq2track.config import load_study, override
from seq2track.data.simulate import simulate
from seq2track.run import run_study

WORK = Path(os.environ.get("SEQ2TRACK_TUTORIAL_OUT") or tempfile.mkdtemp(prefix="s2t-tutorial04-"))
sim = simulate(WORK / "sim", seed=0, n_chroms=4, length=60_000)
study = override(load_study(sim.study_path), {
    "windows.input_length": 1024, "windows.stride": 256, "model.channels": 16, "model.n_dilated": 3,
    "train.max_epochs": 3, "train.lr": 3e-3, "train.schedule": "none", "train.batch_size": 32,
    "baseline.kmer_ridge": False, "evaluate.n_browser_regions": 0, "tracking": "none",
})
metrics = run_study(study, WORK / "run")
print(f"test Pearson {metrics['test']['pearson']:.3f}")

# %%
import seq2track as s2t

run = s2t.Run.open(WORK / "run")
truth = run.truth()
print("planted motifs (effect in reads at the site, condition A):")
for m in truth["motifs"]:
    print(f"  {m['name']:8s} {m['jaspar_id']:9s} {m['mode']:4s} effect {m['effect']['condA']}")

# %% [markdown]
# ## Marginalisation: insert a motif into shuffled backgrounds
# Backgrounds are test-chromosome windows shuffled while keeping dinucleotide counts
# (so GC content and CpG frequency stay, but any motif is destroyed). The motif's
# consensus, sites sampled from its position weight matrix, and a shuffled version of the
# motif are inserted at the centre in both orientations.

# %%
from seq2track.interpret import split_backgrounds
from seq2track.interpret.marginalize import marginalize, shuffle_backgrounds
from seq2track.interpret.motifs import get_motifs

f = run.predictor()
rng = np.random.default_rng(0)
bg = shuffle_backgrounds(split_backgrounds(run.prepared, 64, rng), rng)
strongest, weakest = truth["motifs"][0], [m for m in truth["motifs"] if m["effect"]["condA"] == 0] or truth["motifs"][-1:]
for spec in (strongest, weakest[0]):
    motif = get_motifs([spec["jaspar_id"]])[0]
    effects = marginalize(f, bg, motif, rng, to_units=run.to_units())
    row = ", ".join(f"{e.kind} {e.effect[0]:+.3f} [{e.low[0]:+.3f}, {e.high[0]:+.3f}]" for e in effects)
    print(f"{spec['name']:7s} (planted effect {spec['effect']['condA']}): {row}")
    print(f"        consensus in coverage units: {effects[0].units[0]:+.2f} "
          f"[{effects[0].units_low[0]:+.2f}, {effects[0].units_high[0]:+.2f}]")

# %% [markdown]
# The change is in model units (arcsinh of coverage); `units` is the same change after
# back-transforming the predictions to coverage (mean over the 256-bp target region, so it
# is smaller than the planted effect, which is counted at the site centre). A learned motif
# shows a consensus effect whose interval excludes 0 and exceeds the shuffled control's.
#
# ## Variant effects against the simulated truth

# %%
from seq2track.interpret.variants import run_variants

summary = run_variants(run, sim.variants)
print(f"{summary['n_variants']} variants scored; status {summary['status']}")
for track, score in (summary.get("truth") or {}).items():
    print(track, {k: (round(v, 3) if isinstance(v, float) else v) for k, v in score.items()})

# %% [markdown]
# `auroc_break_vs_neutral` asks whether |predicted effect| ranks motif-breaking variants
# above neutral ones (0.5 = chance).
#
# ## Attributions on the most active test window

# %%
from seq2track.interpret.ism import run_attribute

att = run_attribute(run, top=1, span=200, n_baselines=2, ig_steps=8)
for w in att["windows"]:
    print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in w.items()})
pngs = sorted((run.out / "attributions").glob("*.png"))
print("logo plots:", [p.name for p in pngs])
