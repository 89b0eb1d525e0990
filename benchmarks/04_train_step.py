"""Training throughput: windows/s and the share of step time spent waiting for data.

Measures, in one process on this machine (2 threads, CPU):
  1. the plain torch loop over the real loader (gather + one-hot + RC/jitter) for the default
     ``dilated_cnn`` at 64 / 32 / 16 channels: windows/s, data-wait fraction, CPU-s per 1k windows;
  2. the same model through ``train_model`` (Lightning, checkpoints, history): its windows/s and
     data-wait fraction, i.e. the framework's overhead over the plain loop.

Data: the yeast ATAC study from ../shared/data if present, else a small simulated genome.
Usage: python benchmarks/04_train_step.py [--batches 30]
Wall-clock numbers depend on what else runs on the machine; CPU-s per 1k windows
(process time) is the steadier figure when the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "yeast_sacCer3"


def yeast_study(tmp: Path):
    from seq2track.config import parse_study

    if not SHARED.exists():
        return None
    text = f"""
name: yeast-atac
seed: 7
genome: {SHARED}/genome/sacCer3.fa
tracks:
  - {{name: atac, path: {SHARED}/atac_SRR1822137/yeast_500k_SRR1822137.fragment_coverage.bw}}
windows: {{input_length: 2048, target_length: 256, resolution: 32, stride: 256, exclude_chroms: [chrM, chrXII]}}
transform: arcsinh
split: {{strategy: chromosome, val: [chrV], test: [chrIV, chrXVI]}}
tracking: none
"""
    return parse_study(text, tmp)


def sim_study(tmp: Path):
    from seq2track.config import load_study, override
    from seq2track.data.simulate import simulate

    res = simulate(tmp / "sim", seed=0, n_chroms=4, length=200_000)
    return override(load_study(res.study_path), {"tracking": "none"})


def plain_loop(study, ds, channels: int, n_batches: int) -> dict[str, float]:
    import torch

    from seq2track.config import override
    from seq2track.train import make_loss, make_model

    st = override(study, {"model.channels": channels})
    model, loss = make_model(st, len(ds.track_names)), make_loss(st)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    dl = ds.torch_dataset("train", augment=st.train.augment, seed=st.seed).loader(st.train.batch_size, shuffle=True)
    it = iter(dl)
    wait = step = 0.0
    n = 0
    c0 = time.process_time()
    for b in range(n_batches + 2):
        t0 = time.perf_counter()
        x, y = next(it)
        t1 = time.perf_counter()
        opt.zero_grad()
        loss.loss(model(x), y).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        t2 = time.perf_counter()
        if b >= 2:  # skip warm-up
            wait += t1 - t0
            step += t2 - t1
            n += len(x)
    cpu = time.process_time() - c0
    return {"windows_per_s": n / (wait + step), "data_wait_fraction": wait / (wait + step),
            "cpu_s_per_1k": 1000 * cpu / n}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=30)
    args = ap.parse_args()
    import torch

    from seq2track.config import override
    from seq2track.data.prepare import prepare
    from seq2track.train import train_model

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        study = yeast_study(tmp) or sim_study(tmp)
        ds = prepare(study, tmp / "data")
        print(f"data: {study.name}, {len(ds.rows('train'))} training windows; torch threads {torch.get_num_threads()}; "
              f"load average {os.getloadavg()[0]:.1f}")
        print(f"{'what':34s} {'windows/s':>10s} {'data wait':>10s} {'CPU-s/1k win':>13s}")
        for ch in (64, 32, 16):
            r = plain_loop(study, ds, ch, args.batches)
            print(f"{f'plain loop, {ch} channels':34s} {r['windows_per_s']:10.0f} {100 * r['data_wait_fraction']:9.1f}% "
                  f"{r['cpu_s_per_1k']:13.1f}")
        st = override(study, {"train.epoch_windows": args.batches * study.train.batch_size, "train.max_epochs": 2})
        c0 = time.process_time()
        res = train_model(st, ds, tmp / "run", progress_bar=False)
        cpu = time.process_time() - c0
        n = 2 * args.batches * study.train.batch_size
        print(f"{'train_model (Lightning), 64 ch':34s} {res.windows_per_s:10.0f} {100 * res.data_wait_fraction:9.1f}% "
              f"{1000 * cpu / n:13.1f}  (CPU incl. validation and checkpoints)")


if __name__ == "__main__":
    main()
