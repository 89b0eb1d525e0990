"""One-hot encoding of a 50 Mb sequence: ours vs tangermeme's ``one_hot_encode`` and gReLU's
(each when installed) and the straightforward alternatives, in the same run.

    python benchmarks/03_onehot.py [--mb 50] [--rounds 3]

Ours is ``io.genome.encode`` (text -> uint8 codes, what the cache stores) then
``data.cache.onehot`` (codes -> float32[4, L], what the model eats). Every method is timed
``--rounds`` times, interleaved round by round, and its best time is kept (the machine is
shared). All outputs are checked equal to ours on the whole sequence.
Target: ours <= tangermeme's time for the same output (float32 one-hot).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import Timer, machine_line, per_base_onehot  # noqa: E402


def make_sequence(mb: float, seed: int = 0) -> str:
    """Upper-case ACGT text with 0.5% N (tangermeme refuses lower case), ``mb`` Mb long."""
    rng = np.random.default_rng(seed)
    n = int(mb * 1_000_000)
    idx = rng.choice(5, n, p=[0.24875] * 4 + [0.005]).astype(np.uint8)
    return np.frombuffer(b"ACGTN", np.uint8)[idx].tobytes().decode("ascii")


def methods(threads: int) -> dict:
    """name -> (fn(seq) -> array-like [4, L], note). Missing libraries are reported, not timed."""
    import torch

    from seq2track.data.cache import onehot
    from seq2track.io.genome import encode

    eye = np.vstack([np.eye(4, dtype=np.float32), np.zeros((1, 4), np.float32)])
    out = {
        "ours: encode + onehot (float32)": (lambda s: onehot(encode(s)[None])[0], "contiguous float32[4, L]"),
        "ours: encode only (uint8 codes)": (lambda s: encode(s), "uint8[L], 1 byte/base: what the cache stores"),
        "numpy eye lookup (float32)": (lambda s: eye[encode(s)].T, "float32 view [4, L] of [L, 4]"),
    }
    try:
        import tangermeme
        from tangermeme.utils import one_hot_encode
    except ImportError as exc:
        print(f"tangermeme not importable ({exc}): skipped; pip install --no-deps tangermeme numba")
    else:
        v = tangermeme.__version__
        for nj in sorted({1, threads}):
            out[f"tangermeme {v} float32, n_jobs={nj}"] = (
                lambda s, nj=nj: one_hot_encode(s, dtype=torch.float32, n_jobs=nj), "float32 [4, L], strides (1, 4)")
            out[f"tangermeme {v} int8 (default), n_jobs={nj}"] = (
                lambda s, nj=nj: one_hot_encode(s, n_jobs=nj), "int8 [4, L]: 4x less to write")
    try:
        from grelu.sequence.format import strings_to_one_hot
    except ImportError as exc:
        print(f"gReLU not installed ({type(exc).__name__}: {exc}): skipped (it is the opt-in `grelu` extra, 855 MB)")
    else:
        out["gReLU strings_to_one_hot"] = (lambda s: strings_to_one_hot(s), "float32 [4, L]")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    print(machine_line())
    seq = make_sequence(args.mb)
    ms = methods(args.threads)
    ref = ms["ours: encode + onehot (float32)"][0](seq)
    for name, (fn, _) in ms.items():  # warm-up (numba compiles here) + equality on the whole sequence
        r = fn(seq)
        if "encode only" in name:
            continue
        r = r.numpy() if hasattr(r, "numpy") else np.asarray(r)
        if not np.array_equal(r.astype(np.float32, copy=False), ref):
            raise SystemExit(f"{name} disagrees with ours")
        del r
    del ref
    best = {k: float("inf") for k in ms}
    for _ in range(args.rounds):
        for name, (fn, _) in ms.items():
            with Timer() as t:
                r = fn(seq)
            del r
            best[name] = min(best[name], t.s)
    sub = seq[:1_000_000]
    with Timer() as t:
        per_base_onehot(sub)
    loop_s = t.s * len(seq) / len(sub)

    ours = best["ours: encode + onehot (float32)"]
    print(f"{args.mb:g} Mb sequence, best of {args.rounds} interleaved rounds, {args.threads} threads")
    print(f"{'method':44s} {'seconds':>8s} {'Mb/s':>8s} {'vs ours':>8s}  output")
    for name, (_, note) in ms.items():
        print(f"{name:44s} {best[name]:8.3f} {args.mb / best[name]:8.0f} {best[name] / ours:7.2f}x  {note}")
    print(f"{'python per-base loop (1 Mb, projected)':44s} {loop_s:8.1f} {args.mb / loop_s:8.2f} {loop_s / ours:7.0f}x")
    tm = [v for k, v in best.items() if k.startswith("tangermeme") and "float32" in k]
    if tm:
        print(f"target ours <= tangermeme (float32, best n_jobs): {ours:.3f} s vs {min(tm):.3f} s -> "
              f"{'MET' if ours <= min(tm) else 'MISSED'} (ratio {ours / min(tm):.2f})")
    tm8 = [v for k, v in best.items() if k.startswith("tangermeme") and "int8" in k]
    if tm8:
        print(f"for reference, tangermeme's int8 default: {min(tm8):.3f} s; our compact uint8 codes: "
              f"{best['ours: encode only (uint8 codes)']:.3f} s")
    print(f"onehot_seconds={ours:.3f}")


if __name__ == "__main__":
    main()
