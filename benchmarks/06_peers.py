"""Peers side by side on the yeast ATAC study (configs/yeast_atac.yaml: test chrIV + chrXVI, val chrV).

    python benchmarks/06_peers.py [--out /work/runs/peers] [--budget 36864] [--threads 2]
                                  [--peers ours,grelu_s2t,grelu,bpnet_tiled,bpnet_peaks,crested,kmer]

Each arm trains with its *own* data pipeline and training loop, as its documentation shows, in its
own process (peak RSS per arm), with the same threads and the same budget of training windows
seen (``--budget``; epochs = budget / windows per epoch of that pipeline):

* ``ours``: seq2track's default study (dilated CNN, Poisson, RC + jitter, 6,144 windows per epoch).
* ``grelu_s2t``: ``arch: grelu.DilatedConvModel`` (32 channels, 4 layers) through ``seq2track`` itself.
* ``grelu``: the same gReLU model through gReLU's own loop: ``BigWigSeqDataset`` over the study's
  training windows (per-base labels over the central 1,024 bp, RC + 3-bp shift) and
  ``LightningModel.train_on_dataset`` with its Poisson loss; per-base predictions -> 32-bp means.
* ``bpnet_tiled`` / ``bpnet_peaks``: bpnet-lite's BPNet (64 filters, 8 layers: its defaults;
  trimming 512 for 2,048 -> 1,024 bp) through its ``PeakGenerator`` and ``BPNet.fit``, on the
  study's tiled training windows, or on MACS3 peaks of the ATAC fragments (``io.peaks.call_peaks``)
  with tiles outside peaks as negatives (its docs' recipe); profile x counts -> 32-bp means.
* ``crested``: CREsted with the torch Keras backend (region-level: one mean per 1,024-bp region, so
  its 32-bp profile is flat and only its window-total figures compare).
* ``kmer``: seq2track's k-mer ridge baseline.

Every arm is scored by seq2track's own ``evaluate.score`` on the *same* test windows (the study's
cache; one-hot of the same sequence for every model), in arcsinh units at 32 bp: bin Pearson,
window-total Pearson, auPRC (positives: bins above the 90th percentile of training bins) with its
prevalence. Peers that cannot be imported are reported as skipped; the rest still run.
Install the peers (benchmark-only): see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from _common import YEAST, load_average  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "configs" / "yeast_atac.yaml"
BEDPE = YEAST / "atac_SRR1822137" / "yeast_500k_SRR1822137.bedpe.gz"
ARMS = ["ours", "grelu_s2t", "grelu", "bpnet_tiled", "bpnet_peaks", "crested", "kmer"]
LR, BATCH = 1e-3, 64


# --- shared helpers (both parent and arms) ------------------------------------------------------
def load(out: Path):
    from seq2track.config import load_study, override
    from seq2track.data.prepare import prepare

    study = override(load_study(STUDY), {"tracking": "none"})
    return study, prepare(study, out / "cache")


def coords(prepared, split: str):
    """(rows, DataFrame chrom/start/end of each window's 2,048-bp input)."""
    import pandas as pd

    rows = prepared.rows(split)
    w = prepared.windows.iloc[rows]
    start = w["start"].to_numpy()
    df = pd.DataFrame({"chrom": w["chrom"].to_numpy(), "start": start, "end": start + prepared.input_length})
    return rows, df


def budgeted(df, budget: int, seed: int):
    """A peer's training loci and epochs for ``budget`` windows seen: every locus, ``budget / n``
    passes (its pipelines go through the whole set each epoch), or a seeded subset of ``budget``
    loci for one pass when the budget is below one pass."""
    if budget < len(df):
        return df.sample(n=budget, random_state=seed).sort_index().reset_index(drop=True), 1
    return df, max(1, round(budget / len(df)))


def predict_batches(fn, prepared, rows, batch: int = 128) -> np.ndarray:
    """``fn(x: float32[b, 4, L]) -> float32[b, 1, n_bins]`` over the test windows' one-hot."""
    out = []
    for lo in range(0, len(rows), batch):
        out.append(fn(prepared.onehot(rows[lo:lo + batch])))
    return np.concatenate(out).astype(np.float32)


def per_base_to_bins(y: np.ndarray, n_bins: int) -> np.ndarray:
    """``float[n, 1, n_bins * r]`` raw per-base signal -> ``arcsinh`` of the 32-bp means."""
    n, t, length = y.shape
    return np.arcsinh(y.reshape(n, t, n_bins, length // n_bins).mean(-1))


# --- the arms ------------------------------------------------------------------------------------
def arm_ours(out, study, prepared, budget, arch=None):
    from seq2track.config import override
    from seq2track.predict import predict_windows
    from seq2track.train import train_model

    ch = {"train.max_epochs": max(1, round(budget / study.train.epoch_windows)), "train.lr": LR,
          "train.batch_size": BATCH}
    if arch:
        ch.update({"model.arch": arch, "model.channels": 32, "model.n_dilated": 4})
    st = override(study, ch)
    t0 = time.perf_counter()
    res = train_model(st, prepared, out / "run", resume=False, log_to_tracker=False, progress_bar=False)
    train_s = time.perf_counter() - t0
    rows = prepared.rows("test")
    pred = predict_windows(res.model, res.loss, prepared, rows)
    return pred, {"train_s": train_s, "epochs": res.epochs_run, "windows_seen": res.epochs_run * st.train.epoch_windows}


def _genome_link(out: Path, fasta: Path) -> Path:
    """gReLU / genomepy want ``<fasta>.sizes`` beside the FASTA: a symlink in the arm's folder."""
    link = out / fasta.name
    if not link.exists():
        link.symlink_to(fasta)
    sizes = Path(str(link) + ".sizes")
    if not sizes.exists():
        import pyfaidx

        fa = pyfaidx.Fasta(str(fasta))
        sizes.write_text("".join(f"{k}\t{len(v)}\n" for k, v in fa.items()))
    return link


def arm_grelu(out, study, prepared, budget):
    import torch
    from grelu.data.dataset import BigWigSeqDataset
    from grelu.lightning import LightningModel

    genome = _genome_link(out, Path(study.genome))
    _, tr = coords(prepared, "train")
    _, va = coords(prepared, "val")
    L, T = prepared.input_length, prepared.n_bins * prepared.resolution
    kw = dict(bw_files=[str(study.tracks[0].path)], tasks=["atac"], seq_len=L, label_len=T, bin_size=1,
              genome=str(genome))
    # gReLU refuses windows whose 3-bp shift would leave the chromosome: the few at the ends are left out
    sizes = {c: n for c, n in (ln.split("\t") for ln in Path(str(genome) + ".sizes").read_text().split("\n") if ln)}
    tr = tr[(tr["start"] >= 3) & (tr["end"] + 3 <= tr["chrom"].map(lambda c: int(sizes[c])))].reset_index(drop=True)
    tr, epochs = budgeted(tr, budget, study.seed)
    # augment_mode "random": one random RC/shift per window per epoch, as ours does (gReLU's default
    # "serial" makes an epoch every window x 14 augmentations: 14 times the budget)
    train = BigWigSeqDataset(tr, rc=True, max_seq_shift=3, seed=study.seed, augment_mode="random", **kw)
    val = BigWigSeqDataset(va, **kw)
    torch.manual_seed(study.seed)
    lm = LightningModel(
        {"model_type": "DilatedConvModel", "n_tasks": 1, "channels": 32, "n_conv": 4,
         "crop_len": (L - T) // 2, "final_pool_func": None},
        {"task": "regression", "loss": "poisson", "lr": LR, "batch_size": BATCH, "max_epochs": epochs,
         "logger": None, "save_dir": str(out / "grelu"), "num_workers": 0, "devices": "cpu", "checkpoint": True})
    t0 = time.perf_counter()
    lm.train_on_dataset(train, val)
    train_s = time.perf_counter() - t0
    best = sorted((out / "grelu").rglob("epoch=*.ckpt"))  # ModelCheckpoint keeps the best val_loss epoch
    if best:
        lm = LightningModel.load_from_checkpoint(str(best[-1]), map_location="cpu", weights_only=False)
    lm.eval()
    act = lm.activation

    def fn(x):
        with torch.no_grad():
            return per_base_to_bins(act(lm.model(torch.from_numpy(x))).numpy(), prepared.n_bins)

    pred = predict_batches(fn, prepared, prepared.rows("test"))
    return pred, {"train_s": train_s, "epochs": epochs, "windows_seen": epochs * len(train)}


def _bpnet(out, study, prepared, budget, peaks_bed=None):
    import pandas as pd
    import torch
    from bpnetlite import BPNet
    from bpnetlite.io import PeakGenerator, extract_loci

    os.chdir(out)  # BPNet.fit writes <name>.torch and <name>.log into the working directory
    fasta, bw = str(study.genome), str(study.tracks[0].path)
    L, T = prepared.input_length, prepared.n_bins * prepared.resolution
    _, tr = coords(prepared, "train")
    _, va = coords(prepared, "val")
    train_chroms = sorted(tr["chrom"].unique())
    if peaks_bed is None:
        loci, _ = budgeted(tr, budget, study.seed)
        negatives = tr.sample(frac=0.2, random_state=study.seed)
    else:
        pk = pd.read_csv(peaks_bed, sep="\t", header=None, usecols=[0, 1, 2], names=["chrom", "start", "end"])
        loci = pk[pk["chrom"].isin(train_chroms)].reset_index(drop=True)
        import bioframe

        far = bioframe.setdiff(tr, bioframe.expand(loci, pad=T // 2))
        negatives = tr.merge(far[["chrom", "start", "end"]], on=["chrom", "start", "end"])
    gen = PeakGenerator(loci, negatives, fasta, [bw], chroms=train_chroms, in_window=L, out_window=T,
                        max_jitter=128 if peaks_bed is not None else 3, negative_ratio=0.1,
                        reverse_complement=True, random_state=study.seed, pin_memory=False, batch_size=BATCH)
    n_per_epoch = len(gen.dataset) if hasattr(gen, "dataset") else len(loci)
    epochs = max(1, round(budget / max(1, n_per_epoch)))
    Xv, yv = extract_loci(loci=va, sequences=fasta, signals=[bw], in_window=L, out_window=T, max_jitter=0)
    torch.manual_seed(study.seed)
    model = BPNet(n_outputs=1, n_control_tracks=0, trimming=(L - T) // 2, name="bpnet", verbose=False)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    t0 = time.perf_counter()
    model.fit(gen, opt, X_valid=Xv, y_valid=yv, max_epochs=epochs, batch_size=BATCH, device="cpu")
    train_s = time.perf_counter() - t0
    best = torch.load("bpnet.torch", weights_only=False).eval()

    def fn(x):
        with torch.no_grad():
            logits, logcounts = best(torch.from_numpy(x))
            prof = torch.softmax(logits.float(), dim=-1) * (torch.exp(logcounts.float()) - 1).clamp(min=0)[..., None]
        return per_base_to_bins(prof.numpy(), prepared.n_bins)

    pred = predict_batches(fn, prepared, prepared.rows("test"))
    return pred, {"train_s": train_s, "epochs": epochs, "windows_seen": epochs * n_per_epoch,
                  "train_loci": int(len(loci))}


def arm_bpnet_tiled(out, study, prepared, budget):
    return _bpnet(out, study, prepared, budget)


def arm_bpnet_peaks(out, study, prepared, budget):
    from seq2track.io.peaks import call_peaks

    peaks = out / "macs3.narrowPeak"
    if not peaks.exists():
        call_peaks(BEDPE, peaks, genome_size=1.2e7, fmt="BEDPE", name="yeast")
    return _bpnet(out, study, prepared, budget, peaks_bed=peaks)


def arm_crested(out, study, prepared, budget):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import crested
    import keras

    _, tr = coords(prepared, "train")
    _, va = coords(prepared, "val")
    rows, te = coords(prepared, "test")
    T = prepared.n_bins * prepared.resolution
    regions = []
    for split, df in (("train", tr), ("val", va), ("test", te)):
        regions.append(df.assign(split=split))
    import pandas as pd

    reg = pd.concat(regions, ignore_index=True)
    bed = out / "regions.bed"
    reg[["chrom", "start", "end"]].to_csv(bed, sep="\t", header=False, index=False)
    bwdir = out / "bigwigs"
    bwdir.mkdir(exist_ok=True)
    link = bwdir / "atac.bw"
    if not link.exists():
        link.symlink_to(study.tracks[0].path)
    sizes = Path(str(_genome_link(out, Path(study.genome))) + ".sizes")
    adata = crested.import_bigwigs(bigwigs_folder=str(bwdir), regions_file=str(bed), chromsizes_file=str(sizes),
                                   target_region_width=T, target="mean")  # CREsted's recipe: raw region means
    adata.var["split"] = reg["split"].to_numpy()
    genome = crested.Genome(str(study.genome), chrom_sizes=sizes)
    data = crested.tl.data.AnnDataModule(adata, genome=genome, batch_size=BATCH, max_stochastic_shift=3,
                                         always_reverse_complement=True)
    keras.utils.set_random_seed(study.seed)
    model = crested.tl.zoo.simple_convnet(seq_len=prepared.input_length, num_classes=1)
    cfg = crested.tl.default_configs("peak_regression")
    cfg = crested.tl.TaskConfig(optimizer=keras.optimizers.Adam(learning_rate=LR), loss=cfg.loss, metrics=cfg.metrics)
    trainer = crested.tl.Crested(data=data, model=model, config=cfg, project_name=str(out / "crested"),
                                 run_name="bench", logger=None, seed=study.seed)
    n_train = int((reg["split"] == "train").sum())
    epochs = max(1, round(budget / n_train))
    if budget < n_train:  # below one pass: a seeded subset of the training regions for one epoch
        drop = tr.sample(n=n_train - budget, random_state=study.seed).index
        adata = adata[:, ~np.isin(np.arange(adata.n_vars), drop)].copy()
        n_train, epochs = budget, 1
    t0 = time.perf_counter()
    trainer.fit(epochs=epochs, early_stopping=False, model_checkpointing=False)
    train_s = time.perf_counter() - t0

    def fn(x):
        z = np.asarray(model.predict(np.transpose(x, (0, 2, 1)), verbose=0), dtype=np.float32)  # [b, 1]
        return np.repeat(np.arcsinh(z)[:, :, None], prepared.n_bins, axis=2)  # region-level: a flat profile

    pred = predict_batches(fn, prepared, rows)
    return pred, {"train_s": train_s, "epochs": epochs, "windows_seen": epochs * n_train, "region_level": True}


def arm_kmer(out, study, prepared, budget):
    from seq2track.evaluate import fit_baseline, predict_baseline

    t0 = time.perf_counter()
    b = fit_baseline(study, prepared)
    train_s = time.perf_counter() - t0
    pred = predict_baseline(b, prepared, prepared.rows("test"))
    return pred, {"train_s": train_s, "epochs": 0, "windows_seen": 0}


def run_arm(name: str, out: Path, budget: int, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    study, prepared = load(out.parent)
    out.mkdir(parents=True, exist_ok=True)
    t0, c0 = time.perf_counter(), time.process_time()
    if name == "grelu_s2t":
        pred, info = arm_ours(out, study, prepared, budget, arch="grelu.DilatedConvModel")
    else:
        pred, info = globals()[f"arm_{name}"](out, study, prepared, budget)
    info.update(wall_s=time.perf_counter() - t0, cpu_s=time.process_time() - c0,
                peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    np.save(out / "pred.npy", pred)
    (out / "info.json").write_text(json.dumps(info))


# --- the parent: every arm in its own process, scored the same way ---------------------------
IMPORTS = {"grelu": "grelu", "grelu_s2t": "grelu", "bpnet_tiled": "bpnetlite", "bpnet_peaks": "bpnetlite",
           "crested": "crested"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("/work/runs/peers"))
    ap.add_argument("--budget", type=int, default=15458,
                    help="training windows seen by every arm (default: one pass over the yeast training split)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--peers", default=",".join(ARMS))
    ap.add_argument("--one", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        return run_arm(a.one, a.out / a.one, a.budget, a.threads)

    import importlib.util

    from seq2track.evaluate import score, train_thresholds

    a.out.mkdir(parents=True, exist_ok=True)
    print(f"# 06_peers: {os.cpu_count()} CPUs, load {load_average():.2f}, budget {a.budget:,} training windows, "
          f"{a.threads} threads per arm")
    t0 = time.perf_counter()
    study, prepared = load(a.out)
    print(f"study {study.name}: cache {prepared.root} ({time.perf_counter() - t0:.1f} s); "
          f"train {len(prepared.rows('train')):,} / val {len(prepared.rows('val')):,} / test {len(prepared.rows('test')):,} windows")
    rows = prepared.rows("test")
    obs = prepared.targets(rows)
    labels = obs > train_thresholds(prepared)[None, :, None]
    results = {}
    for name in a.peers.split(","):
        mod = IMPORTS.get(name)
        env = {**os.environ, "KERAS_BACKEND": "torch", "OMP_NUM_THREADS": str(a.threads)}
        if mod and importlib.util.find_spec(mod) is None:
            print(f"{name}: SKIPPED ({mod} is not importable; see benchmarks/README.md)")
            continue
        l0 = load_average()
        r = subprocess.run([sys.executable, __file__, "--one", name, "--out", str(a.out), "--budget", str(a.budget),
                            "--threads", str(a.threads)], capture_output=True, text=True, env=env)
        (a.out / f"{name}.log").write_text(r.stdout + r.stderr)
        if r.returncode != 0:
            print(f"{name}: FAILED (exit {r.returncode}): {(r.stderr.strip().splitlines() or ['?'])[-1][:200]}")
            continue
        info = json.loads((a.out / name / "info.json").read_text())
        s = score(np.load(a.out / name / "pred.npy"), obs, labels, list(prepared.track_names))
        info.update(pearson=s["pearson"], window_total_pearson=s["window_total"]["pearson"], auprc=s["auprc"],
                    prevalence=s["auprc_baseline"], load_before=l0, load_after=load_average())
        info["windows_per_s"] = info["windows_seen"] / info["train_s"] if info["windows_seen"] else float("nan")
        results[name] = info
        print(f"{name}: Pearson {s['pearson']:.4f}, window-total {s['window_total']['pearson']:.4f}, auPRC "
              f"{s['auprc']:.3f} (prevalence {s['auprc_baseline']:.3f}); {info['wall_s']:.0f} s wall, "
              f"{info['cpu_s']:.0f} s CPU, {info['peak_rss_mb']:.0f} MB, {info['windows_per_s']:.0f} windows/s, "
              f"{info['epochs']} epochs; load {l0:.2f}->{info['load_after']:.2f}")
    (a.out / "results.json").write_text(json.dumps(results, indent=1))
    print("\n| arm | test Pearson (32 bp) | window-total Pearson | auPRC (prevalence) | wall s | CPU s | peak RSS MB "
          "| train windows/s | epochs |\n|---|---|---|---|---|---|---|---|---|")
    for n, i in results.items():
        print(f"| {n} | {i['pearson']:.3f} | {i['window_total_pearson']:.3f} | {i['auprc']:.3f} ({i['prevalence']:.3f}) "
              f"| {i['wall_s']:.0f} | {i['cpu_s']:.0f} | {i['peak_rss_mb']:.0f} | {i['windows_per_s']:.0f} | {i['epochs']} |")
    if "ours" in results:
        peers = {n: i for n, i in results.items() if n not in ("ours", "kmer", "grelu_s2t")}
        if peers:
            best = max(peers, key=lambda n: peers[n]["pearson"])
            o, b = results["ours"], peers[best]
            met = o["pearson"] >= b["pearson"] and o["cpu_s"] <= 0.5 * b["cpu_s"]
            print(f"\nbest peer {best}: Pearson {b['pearson']:.3f} at {b['cpu_s']:.0f} CPU s; ours {o['pearson']:.3f} at "
                  f"{o['cpu_s']:.0f} CPU s ({o['cpu_s'] / b['cpu_s']:.2f}x): "
                  f"{'MET' if met else 'MISSED'} (goal: best Pearson at <= half the best peer's CPU time)")


if __name__ == "__main__":
    main()
