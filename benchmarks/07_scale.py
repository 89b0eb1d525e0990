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

``--human`` runs parts (a) and (c) instead:

(a) a synthetic genome of human size (3.1 Gb: one 248-Mb and eight 356-Mb chromosomes, uniform
    ACGT, a dense Poisson(3) track in 50-bp steps: ``benchmarks/01_prepare.py``'s generator) is
    prepared in a child process (wall, CPU, peak RSS); then the training loader reads its shard
    for 1 and for 2 ranks, each rank a process of its own reading straight from the memory maps
    with the training sampler's own shard (``train.distributed.ShardSampler``, augmentation on),
    the ranks of one arm at the same time: windows/s per rank and peak RSS per rank. File-backed
    pages of the memory-mapped genome count in RSS although the page cache shares them between
    ranks; the anonymous part (``RssAnon``) is printed beside it.
(c) the projection of one epoch of the whole human genome at stride = target length on 8 GPUs:
    windows per epoch from (a)'s cache at that stride; the loader-bound time from the measured
    loader rate per rank; the compute-bound time from ``--gpu-windows-per-s`` (an assumption,
    stated in the output: no GPU was lent to measure it).

Not here: (b') 1 GPU vs 2 CPU cores (needs a lent GPU).

    python benchmarks/07_scale.py [--length 300000] [--epochs 3] [--epoch-windows 1536] [--rounds 2]
    python benchmarks/07_scale.py --human [--synth-dir /work/runs/bench-synth] [--loader-batches 300]
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


def _bench01():
    """``benchmarks/01_prepare.py`` as a module (its synthetic-genome writer and prepare-in-a-child)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench01", Path(__file__).with_name("01_prepare.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _rss_anon_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def loader_worker(cache: str, rank: int, world: int, n_batches: int) -> None:
    """Child process: read this rank's first ``n_batches`` training batches; print windows/s and RSS."""
    from _common import peak_rss_mb

    from seq2track.data.cache import PreparedDataset
    from seq2track.data.dataset import WindowDataset
    from seq2track.train.distributed import ShardSampler

    ds = PreparedDataset(cache)
    wd = WindowDataset(ds, "train", augment={"rc": True, "max_shift": 3}, seed=0)
    sampler = ShardSampler(len(wd), 64, True, seed=0, world=world)
    n = 0
    anon = 0.0
    t0 = time.perf_counter()
    for b, (key, pos) in enumerate(sampler.positions(0, rank)):
        if b == n_batches:
            break
        x, y = wd[(0, key, pos)]
        n += len(pos)
        anon = max(anon, _rss_anon_mb())
    dt = time.perf_counter() - t0
    print(json.dumps({"rank": rank, "world": world, "windows": n, "seconds": dt, "windows_per_s": n / dt,
                      "peak_rss_mb": peak_rss_mb(), "peak_rss_anon_mb": anon, "train_windows": len(wd)}))


def human(args) -> None:
    """Parts (a) and (c): see the module docstring."""
    from seq2track.config import load_study
    from seq2track.data.cache import PreparedDataset

    b01 = _bench01()
    t = time.perf_counter()
    study_p = b01.synthetic(args.synth_dir, args.mb, stride=256)
    print(f"(a) synthetic {args.mb:,}-Mb genome + track ready in {time.perf_counter() - t:.0f} s "
          f"({study_p.parent}), load {load_average():.2f}")
    cache = args.synth_dir / f"cache-{args.mb}-s256"
    r = b01.in_child(study_p, cache)
    print(f"(a) prepare: {r['seconds']:.0f} s wall, {r['cpu_s']:.0f} s CPU, peak RSS {r['peak_rss_mb']:,.0f} MB, "
          f"{r['windows']:,} windows of {r['mb']:,.0f} Mb (largest chromosome {r['largest_chrom_mb']:.0f} Mb), "
          f"load {load_average():.2f}")
    rates = {}
    for world in (1, 2):
        procs = [subprocess.Popen([sys.executable, __file__, "--loader-worker", str(cache), str(rk), str(world),
                                   str(args.loader_batches)], stdout=subprocess.PIPE, text=True,
                                  env={**os.environ, "OMP_NUM_THREADS": "1"}) for rk in range(world)]
        outs = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
        if any(p.returncode for p in procs):
            sys.exit(f"loader worker failed (world {world})")
        rates[world] = [o["windows_per_s"] for o in outs]
        for o in outs:
            print(f"(a) loader, {world} rank(s), rank {o['rank']}: {o['windows']:,} windows in {o['seconds']:.1f} s = "
                  f"{o['windows_per_s']:,.0f} windows/s; peak RSS {o['peak_rss_mb']:,.0f} MB "
                  f"(anonymous {o['peak_rss_anon_mb']:,.0f} MB); shard of {o['train_windows']:,} training windows")
        print(f"    load {load_average():.2f}")
    # (c) the projection
    ds = PreparedDataset(cache)
    st = load_study(study_p)
    tl = st.windows.target_length
    bp = sum(ds.chrom_sizes.values())
    n_epoch = int(len(ds.rows("train")) * st.windows.stride / tl)  # stride = target length: fewer windows
    per_rank = min(rates[2])
    gpu = args.gpu_windows_per_s
    print(f"(c) one epoch of the {bp / 1e9:.2f}-Gb genome at stride = target length ({tl} bp): ~{n_epoch:,} training "
          f"windows (the stride-{st.windows.stride} cache's training windows x {st.windows.stride}/{tl})")
    print(f"    loader-bound, 8 ranks at the measured {per_rank:,.0f} windows/s per rank (one CPU core each, "
          f"2-rank figure): {n_epoch / (8 * per_rank) / 60:.1f} min")
    print(f"    compute-bound, 8 GPUs at an ASSUMED {gpu:,.0f} training windows/s per GPU (2,048-bp inputs, the "
          f"default 32-channel CNN, bf16; not measured here): {n_epoch / (8 * gpu) / 60:.1f} min; the epoch takes "
          f"the larger of the two: {max(n_epoch / (8 * per_rank), n_epoch / (8 * gpu)) / 60:.1f} min "
          "(more loader workers per GPU, `num_workers`, lift the loader bound)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--length", type=int, default=300_000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--epoch-windows", type=int, default=1536)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--human", action="store_true", help="parts (a) and (c): the 3.1-Gb genome and the projection")
    ap.add_argument("--synth-dir", type=Path, default=Path("/work/runs/bench-synth"))
    ap.add_argument("--mb", type=int, default=3100, help="(a) genome size in Mb (3,100: human)")
    ap.add_argument("--loader-batches", type=int, default=300, help="batches of 64 each rank reads in (a)")
    ap.add_argument("--gpu-windows-per-s", type=float, default=5000.0,
                    help="(c) assumed training throughput of one GPU (windows/s)")
    ap.add_argument("--loader-worker", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.loader_worker:
        c, rk, w, nb = args.loader_worker
        return loader_worker(c, int(rk), int(w), int(nb))
    print(machine_line())
    if args.human:
        return human(args)

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
