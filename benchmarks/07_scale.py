"""Scaling out training (issue 16). Part (b) only so far: training throughput of 2 CPU ranks
(Lightning DDP over gloo) vs 1 rank, measured side by side in one run.

A small simulated study (``simulate``: 4 chromosomes x ``--length`` bp) is prepared once; then
``seq2track train`` runs in a fresh process per arm, the arms interleaved over ``--rounds``
rounds so they see the same machine load:

* ``1 rank x 1 thread``  (``train.devices: 1``, ``OMP_NUM_THREADS=1``)
* ``1 rank x 2 threads`` (the same two cores used by one process's intra-op threads)
* ``2 ranks x 1 thread`` (``train.devices: 2, train.strategy: ddp, train.device: cpu``)

Each arm trains ``--epochs`` epochs of ``--epoch-windows`` windows at ``batch_size`` 64 per rank.
Printed per arm: the training windows/s of ``train_result.json`` (all ranks' windows over the
slowest rank's step + data time, median over epochs; validation excluded: every rank validates
the whole val split) and the median epoch wall time (training + validation); then the ratios.
Needs two free cores: run it as ``heavy heavy .venv/bin/python benchmarks/07_scale.py`` (both slots).

Not yet here: (a) the human-size synthetic genome (prepare wall/RSS, loader RSS per rank),
(b') 1 GPU vs 2 CPU cores, (c) the 8-GPU projection.

    python benchmarks/07_scale.py [--length 300000] [--epochs 3] [--epoch-windows 1536] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import load_average, machine_line  # noqa: E402

ARMS = {
    "1 rank x 1 thread": ({"train.devices": 1, "train.strategy": "auto"}, 1),
    "1 rank x 2 threads": ({"train.devices": 1, "train.strategy": "auto"}, 2),
    "2 ranks x 1 thread": ({"train.devices": 2, "train.strategy": "ddp"}, 1),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--length", type=int, default=300_000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--epoch-windows", type=int, default=1536)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    print(machine_line())

    from seq2track.config import load_study, override
    from seq2track.data.prepare import prepare
    from seq2track.data.simulate import simulate

    tmp = Path(tempfile.mkdtemp(prefix="s2t-bench07-"))
    sim = simulate(tmp / "sim", seed=0, n_chroms=4, length=args.length)
    base = override(load_study(sim.study_path), {
        "tracking": "none", "train.device": "cpu", "train.batch_size": 64, "train.max_epochs": args.epochs,
        "train.epoch_windows": args.epoch_windows, "train.patience": 0,
    })
    data = prepare(base, tmp / "data")
    print(f"study: {len(data.rows('train'))} training windows of {base.windows.input_length} bp, "
          f"{len(data.rows('val'))} val; model {base.model.arch} {base.model.channels} channels; "
          f"{args.epochs} epochs x {args.epoch_windows} windows, batch 64 per rank")

    wps: dict[str, list[float]] = {a: [] for a in ARMS}
    secs: dict[str, list[float]] = {a: [] for a in ARMS}
    loads: list[float] = []
    for r in range(args.rounds):
        for arm, (changes, threads) in ARMS.items():
            st = override(base, changes)
            name = arm.replace(" ", "")
            yaml_p = tmp / f"{name}.yaml"
            yaml_p.write_text(st.to_yaml())
            run = tmp / f"run-{name}-{r}"
            run.mkdir()
            # the prepared cache is shared: every run links to it instead of preparing again
            (run / "data").symlink_to(tmp / "data", target_is_directory=True)
            env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
            t0 = time.perf_counter()
            p = subprocess.run([sys.executable, "-m", "seq2track", "train", str(yaml_p), "--out", str(run)],
                               env=env, capture_output=True, text=True)
            wall = time.perf_counter() - t0
            if p.returncode != 0:
                sys.exit(f"{arm} failed:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
            info = json.loads((run / "model" / "train_result.json").read_text())
            rows = [ln.split(",") for ln in (run / "history.csv").read_text().splitlines()[1:]]
            epoch_s = statistics.median(float(x[4]) for x in rows)
            wps[arm].append(float(info["windows_per_s"]))
            secs[arm].append(epoch_s)
            loads.append(load_average())
            print(f"round {r} {arm:>19}: {info['windows_per_s']:8.1f} training windows/s, epoch {epoch_s:6.2f} s, "
                  f"process {wall:5.1f} s, load {loads[-1]:.2f}")

    med = {a: statistics.median(v) for a, v in wps.items()}
    med_s = {a: statistics.median(v) for a, v in secs.items()}
    one1, one2, two = med["1 rank x 1 thread"], med["1 rank x 2 threads"], med["2 ranks x 1 thread"]
    print("median training windows/s: " + ", ".join(f"{a} {v:.1f}" for a, v in med.items()))
    print("median epoch s (train + val): " + ", ".join(f"{a} {v:.2f}" for a, v in med_s.items()))
    print(f"ratio 2 ranks / 1 rank (1 thread each): {two / one1:.2f}x training windows/s; "
          f"2 ranks x 1 thread / 1 rank x 2 threads: {two / one2:.2f}x; "
          f"load average {min(loads):.2f}-{max(loads):.2f}")


if __name__ == "__main__":
    main()
