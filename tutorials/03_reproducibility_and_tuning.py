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
# # 03 · Reproducibility and hyper-parameter tuning
#
# A result you cannot re-run is an anecdote. Every seq2track run directory carries a
# **manifest** (`manifest.json`): the code version (git commit), the study and its hash,
# the sha256 of every input file, every seed, every installed package, Python/torch/platform,
# the determinism settings, the time of each stage and the checksum of every output.
# `seq2track reproduce RUN --out RUN2` re-runs a run from its manifest alone, and
# `seq2track compare RUN RUN2` lines up every metric. On the same machine the numbers are
# bit-identical, because every random choice is seeded (data order, augmentation, dropout,
# initialisation) and torch runs in deterministic mode.
#
# The second half tunes hyper-parameters with Ray Tune (ASHA early stopping) on the
# validation split only; the test split is used once, for the chosen configuration.

# %%
import json
import os
import tempfile
from pathlib import Path

import seq2track as s2t

WORK = Path(os.environ.get("SEQ2TRACK_TUTORIAL_OUT") or tempfile.mkdtemp(prefix="s2t-tutorial03-"))
if os.environ.get("SEQ2TRACK_STUDY"):
    base = s2t.load_study(os.environ["SEQ2TRACK_STUDY"])
else:
    sim = s2t.simulate(WORK / "sim", seed=0, n_chroms=4, length=60_000)
    base = s2t.load_study(sim.study_path)
study = s2t.override(base, {
    "windows.input_length": 1024, "windows.stride": 256, "model.channels": 8, "model.n_dilated": 2,
    "train.max_epochs": 2, "train.batch_size": 32, "baseline.k_max": 3, "baseline.max_train_windows": 500,
    "evaluate.n_browser_regions": 1, "tracking": "none",
})

# %% [markdown]
# ## A run and its manifest

# %%
metrics = s2t.run_study(study, WORK / "A")
manifest = s2t.read_manifest(WORK / "A")
print("seq2track", manifest["seq2track"])
print("study hash", manifest["study_hash"])
for rec in manifest["inputs"]:
    print(f"  input {rec['role']:18s} {Path(rec['path']).name:22s} {rec['size']:>10,d} B  sha256 {rec['sha256'][:16]}...")
print(f"{len(manifest['packages'])} packages, e.g.", [p for p in manifest["packages"] if p.split("==")[0] in ("torch", "numpy")])
print("determinism:", {k: manifest["determinism"][k] for k in ("torch_deterministic_algorithms", "torch_threads")})
print(f"{len(manifest['outputs'])} output files checksummed, e.g. model/best.ckpt "
      f"{manifest['outputs']['model/best.ckpt']['sha256'][:16]}...")

# %% [markdown]
# ## Reproduce it, and compare
# `reproduce` first re-checks every input file's checksum; then it runs the recorded study
# into a new directory. `compare` prints every value of `metrics.json` for both runs, and the
# largest weight difference of the checkpoints. Timings (seconds, windows/s) are shown but
# cannot be equal, so they are not compared.

# %%
res = s2t.reproduce(WORK / "A", WORK / "B")
print("warnings:", res.warnings or "none")
comp = s2t.compare(WORK / "A", WORK / "B", tol=0.0)
print(comp.text(all_rows=False))

# %% [markdown]
# A changed input is refused, naming the file. Here one byte of the bigWig is flipped in a
# copy of the data (the size stays the same, so only the checksum can tell); `remap` points
# the manifest's paths at the copy.

# %%
import shutil

from seq2track.errors import DataError

data_dir = Path(study.genome).parent
copy = WORK / "data_copy"
shutil.copytree(data_dir, copy, dirs_exist_ok=True)
track = copy / Path(study.tracks[0].path).name
raw = bytearray(track.read_bytes())
raw[-1] ^= 1
track.write_bytes(bytes(raw))
try:
    s2t.reproduce(WORK / "A", WORK / "C", remap={str(data_dir): str(copy)})
except DataError as err:
    print("refused:", err)

# %% [markdown]
# ## Tuning with Ray Tune
# The search space maps study keys to distributions. Each trial trains on the same prepared
# cache (memory-mapped, read-only); ASHA stops poor trials after their first epochs.
# Selection uses the validation loss only; the best configuration is retrained once and
# evaluated on the test split. Trial seeds are derived from the study seed, so the search is
# repeatable too.

# %%
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
from seq2track.tune import parse_space, tune_study

space = parse_space({"train.lr": {"loguniform": [3e-4, 1e-2]}, "model.channels": {"choice": [8, 16]}}, study)
tuned = tune_study(study, space, WORK / "tune", n_trials=3, max_epochs=2, grace_period=1, cpus_per_trial=1)
cols = [c for c in tuned.trials.columns if c.startswith(("train.", "model.")) or c in ("best_val_loss", "epochs")]
print(tuned.trials[cols].to_string(index=False))
print("best:", tuned.best_params, f"{tuned.metric} {tuned.best_score:.4f}")
print("test metrics of the retrained best config:",
      {k: round(v, 4) for k, v in tuned.test_metrics.items() if isinstance(v, float)})
