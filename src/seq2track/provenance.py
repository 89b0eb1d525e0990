"""Provenance: the run manifest, re-running a run from it, and comparing two runs.

* ``write_manifest(run_dir, study, stage_timings)`` writes ``RUN/manifest.json`` (atomically,
  last): seq2track version and git commit (+ dirty flag), the study, its hash and YAML, the
  sha256 and size of every input file, the seeds, every installed package (``pip freeze``
  via ``importlib.metadata``), Python / torch / platform, the determinism settings, the
  per-stage timings and the sha256 and size of every output file in the run directory.
* ``reproduce(run_dir, out)`` re-runs the study recorded in the manifest into ``out`` after
  checking that every input file still has its recorded checksum (a changed file is a
  ``DataError`` naming it), with the manifest's torch thread count.
* ``compare(run_a, run_b, tol)`` flattens both ``metrics.json`` files into dotted keys and
  lines them up with their difference; it also compares the weights of every ``best.ckpt``
  the two runs share. Timing values (seconds, windows/s) are shown but not compared.

On one machine, with the same packages and thread count, a reproduced run has bit-identical
metrics and weights (``tests/test_provenance.py`` checks it).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import atomic
from .config import Study
from .errors import DataError
from .nested import flatten  # noqa: F401  (re-exported: provenance.flatten)

MANIFEST = "manifest.json"
METRICS = "metrics.json"
REPRODUCED_FROM = "reproduced_from.json"
FORMAT = 1

#: last key parts whose values are wall-clock measurements: shown by ``compare``, never compared
TIMING_KEYS = frozenset(
    {"seconds", "elapsed", "duration", "wall_s", "time_s", "windows_per_s", "data_wait_fraction",
     "created", "timestamp", "throughput"}
)
#: any key part that makes the whole sub-tree timing (e.g. ``stage_timings.train``)
TIMING_PARENTS = frozenset({"timings", "stage_timings", "timing"})


# --- checksums ---------------------------------------------------------------------------
def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes (streamed)."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def file_record(path: str | Path) -> dict[str, Any]:
    """``{"path", "size", "sha256"}`` of one file."""
    p = Path(path)
    return {"path": str(p), "size": p.stat().st_size, "sha256": sha256_file(p)}


def input_files(study: Study) -> list[tuple[str, Path]]:
    """``(role, path)`` of every file the study reads: genome, tracks, blacklist, peaks, references."""
    files: list[tuple[str, Path]] = [("genome", Path(study.genome))]
    files += [(f"track:{t.name}", Path(t.path)) for t in study.tracks]
    if study.windows.blacklist is not None:
        files.append(("blacklist", Path(study.windows.blacklist)))
    if study.peaks is not None:
        files.append(("peaks", Path(study.peaks)))
    for name, path in (getattr(study.evaluate, "reference_tracks", None) or {}).items():
        files.append((f"reference:{name}", Path(path)))
    return files


def output_records(run_dir: str | Path) -> dict[str, dict[str, Any]]:
    """``{relative path: {"size", "sha256"}}`` of every file under ``run_dir``.

    Leaves out the manifest itself and the ``.tmp-*`` files of interrupted atomic writes.
    """
    root = Path(run_dir)
    out: dict[str, dict[str, Any]] = {}
    for p in sorted(root.rglob("*")):
        if not p.is_file() or p.is_symlink() or p.name.startswith(".tmp-"):
            continue
        rel = p.relative_to(root).as_posix()
        if rel == MANIFEST:
            continue
        out[rel] = {"size": p.stat().st_size, "sha256": sha256_file(p)}
    return out


# --- environment -------------------------------------------------------------------------
def installed_packages() -> list[str]:
    """``pip freeze`` of the running interpreter as sorted ``name==version`` lines."""
    from importlib import metadata

    seen: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata.get("Name")
        if name:
            seen.setdefault(_norm_name(name), f"{name}=={dist.version}")
    return sorted(seen.values(), key=str.lower)


def _norm_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def git_state(path: str | Path | None = None) -> dict[str, Any]:
    """``{"commit", "dirty"}`` of the git checkout holding ``path`` (the package by default).

    Outside a git checkout (an installed wheel, the Docker image) the commit is
    ``$SEQ2TRACK_GIT_COMMIT`` (the image's build argument) or None, and dirty is None.
    """
    here = Path(path) if path is not None else Path(__file__).resolve().parent
    state: dict[str, Any] = {"commit": os.environ.get("SEQ2TRACK_GIT_COMMIT") or None, "dirty": None}
    try:
        commit = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return state
        state["commit"] = commit.stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=30,
        )
        if status.returncode == 0:
            state["dirty"] = bool(status.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return state


def environment() -> dict[str, Any]:
    """Python, platform, numpy/torch versions and thread counts."""
    import numpy as np

    env: dict[str, Any] = {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
    }
    try:
        import torch

        env.update(
            torch=torch.__version__,
            torch_threads=torch.get_num_threads(),
            cuda_available=bool(torch.cuda.is_available()),
            cuda=torch.version.cuda,
            device_name=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        )
    except ImportError:  # pragma: no cover - torch is a core dependency
        env["torch"] = None
    return env


def determinism() -> dict[str, Any]:
    """The settings that decide whether numbers repeat bit for bit."""
    d: dict[str, Any] = {
        "PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED"),
        "CUBLAS_WORKSPACE_CONFIG": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "lightning_deterministic": True,  # train.py always passes deterministic=True
    }
    try:
        import torch

        d.update(
            torch_deterministic_algorithms=bool(torch.are_deterministic_algorithms_enabled()),
            torch_deterministic_warn_only=bool(torch.is_deterministic_algorithms_warn_only_enabled()),
            cudnn_deterministic=bool(torch.backends.cudnn.deterministic),
            cudnn_benchmark=bool(torch.backends.cudnn.benchmark),
            torch_threads=torch.get_num_threads(),
        )
    except ImportError:  # pragma: no cover
        pass
    return d


def seeds(study: Study) -> dict[str, Any]:
    """Every seed the pipeline derives from ``study.seed`` (see data/prepare.py and train.py)."""
    s = int(study.seed)
    return {
        "study": s,
        "random_split_rng": [s, 101],
        "filter_rng": [s, 202],
        "model_init_torch": s,
        "lightning_seed_everything": s,
        "loader": s,
        "dropout_per_step": f"({s} * 1000003 + global_step) mod 2**63-1",
    }


# --- manifest ----------------------------------------------------------------------------
def build_manifest(
    run_dir: str | Path, study: Study, stage_timings: dict[str, float], extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The manifest of ``run_dir`` as a dict (nothing written). See ``write_manifest``."""
    from importlib import metadata

    try:
        version = metadata.version("seq2track")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        version = None
    inputs = []
    for role, p in input_files(study):
        if not p.exists():
            raise DataError(f"input file {p} ({role}) of study {study.name!r} is gone; the manifest needs it")
        inputs.append({"role": role, **file_record(p)})
    return {
        "format": FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "run_dir": str(Path(run_dir).resolve()),
        "seq2track": {"version": version, **{f"git_{k}": v for k, v in git_state().items()}},
        "study": json.loads(study.model_dump_json()),
        "study_yaml": study.to_yaml(),
        "study_hash": study.hash(),
        "inputs": inputs,
        "seeds": seeds(study),
        "environment": environment(),
        "determinism": determinism(),
        "packages": installed_packages(),
        "stage_timings": {k: float(v) for k, v in stage_timings.items()},
        "outputs": output_records(run_dir),
        "extra": extra or {},
    }


def write_manifest(
    run_dir: str | Path, study: Study, stage_timings: dict[str, float], extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Write ``RUN/manifest.json`` atomically and return it; call it last, when the run is done.

    ``stage_timings``: seconds per stage (``{"prepare": 3.1, "train": 40.2, ...}``);
    ``extra``: anything JSON-able the caller wants kept (e.g. the prepared cache's path).
    """
    manifest = build_manifest(run_dir, study, stage_timings, extra)
    atomic.write_json(Path(run_dir) / MANIFEST, manifest)
    return manifest


def read_manifest(run_dir: str | Path) -> dict[str, Any]:
    """The manifest of a finished run; a ``DataError`` naming the fix when there is none."""
    p = Path(run_dir) / MANIFEST
    if not p.exists():
        raise DataError(
            f"{run_dir} has no {MANIFEST}: it is not a finished seq2track run (a run writes its "
            "manifest last); finish it with `seq2track run STUDY --out RUN`"
        )
    try:
        m = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{p} is not valid JSON ({exc}); re-run the study to rewrite it") from None
    if not isinstance(m, dict) or "study" not in m or "inputs" not in m:
        raise DataError(f"{p} is not a seq2track manifest (no `study`/`inputs`); re-run the study")
    return m


# --- reproduce ---------------------------------------------------------------------------
def _remap(path: str, remap: dict[str, str]) -> str:
    for old, new in remap.items():
        if path == old or path.startswith(old.rstrip("/") + "/"):
            return new.rstrip("/") + path[len(old.rstrip("/")) :]
    return path


def study_from_manifest(manifest: dict[str, Any], remap: dict[str, str] | None = None) -> Study:
    """The recorded study; ``remap`` moves input paths (``{"/old/data": "/new/data"}``)."""
    d = json.loads(json.dumps(manifest["study"]))
    if remap:
        d["genome"] = _remap(d["genome"], remap)
        for t in d["tracks"]:
            t["path"] = _remap(t["path"], remap)
        if d.get("windows", {}).get("blacklist"):
            d["windows"]["blacklist"] = _remap(d["windows"]["blacklist"], remap)
        if d.get("peaks"):
            d["peaks"] = _remap(d["peaks"], remap)
        refs = d.get("evaluate", {}).get("reference_tracks") or {}
        for k, v in refs.items():
            refs[k] = _remap(v, remap)
    return Study.model_validate(d)


def verify_inputs(manifest: dict[str, Any], remap: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Check every recorded input file's size and sha256; a missing or changed one is a ``DataError``."""
    checked = []
    for rec in manifest["inputs"]:
        p = Path(_remap(rec["path"], remap or {}))
        if not p.exists():
            raise DataError(
                f"input file {p} ({rec.get('role')}) recorded in the manifest does not exist; restore it, "
                "or pass --remap OLD_DIR=NEW_DIR if the data moved"
            )
        size = p.stat().st_size
        digest = sha256_file(p) if size == rec["size"] else None
        if size != rec["size"] or digest != rec["sha256"]:
            raise DataError(
                f"input file {p} ({rec.get('role')}) changed since the run was made (sha256 "
                f"{rec['sha256'][:12]}..., {rec['size']} bytes recorded; now "
                f"{(digest or sha256_file(p))[:12]}..., {size} bytes): restore the original file to "
                "reproduce the run, or run the study afresh with `seq2track run`"
            )
        checked.append({**rec, "path": str(p)})
    return checked


def package_differences(manifest: dict[str, Any]) -> list[str]:
    """Lines ``name: recorded -> now`` for packages whose version differs (or that are missing)."""
    def as_map(lines: list[str]) -> dict[str, str]:
        out = {}
        for line in lines:
            name, _, ver = line.partition("==")
            out[_norm_name(name)] = ver
        return out

    before, now = as_map(manifest.get("packages", [])), as_map(installed_packages())
    diffs = []
    for name in sorted(set(before) | set(now)):
        if name == "seq2track":
            continue
        if before.get(name) != now.get(name):
            diffs.append(f"{name}: {before.get(name, 'absent')} -> {now.get(name, 'absent')}")
    return diffs


@dataclass
class ReproduceResult:
    """What ``reproduce`` did: the new run directory, the run's summary and the warnings."""

    out: Path
    summary: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def reproduce(
    run_dir: str | Path, out: str | Path, force: bool = False, remap: dict[str, str] | None = None
) -> ReproduceResult:
    """Re-run the run in ``run_dir`` into ``out`` from its manifest alone.

    Refuses (``DataError``) when an input's checksum changed or ``out`` already holds a
    finished run (unless ``force``). Package, Python or platform differences are warnings:
    the run goes on, but bit-identity is then not expected.
    """
    run_dir, out = Path(run_dir), Path(out)
    manifest = read_manifest(run_dir)
    if out.resolve() == run_dir.resolve():
        raise DataError(f"--out {out} is the run being reproduced; choose a new directory")
    if (out / MANIFEST).exists() and not force:
        raise DataError(f"{out} already holds a finished run; choose another --out or pass --force")
    verify_inputs(manifest, remap)
    study = study_from_manifest(manifest, remap)
    warnings = [f"package changed: {d}" for d in package_differences(manifest)]
    env_then, env_now = manifest.get("environment", {}), environment()
    for key in ("python", "platform", "torch", "cuda", "device_name"):
        if env_then.get(key) != env_now.get(key):
            warnings.append(f"{key} changed: {env_then.get(key)} -> {env_now.get(key)}")
    threads = env_then.get("torch_threads")
    if threads and threads != env_now.get("torch_threads"):
        import torch

        torch.set_num_threads(int(threads))
        warnings.append(f"torch threads set to {threads} as recorded (was {env_now.get('torch_threads')})")

    from .run import run_study

    t0 = time.perf_counter()
    summary = run_study(study, out, force=force)
    if not (out / MANIFEST).exists():  # run_study not yet wired to write it
        write_manifest(out, study, {"run": time.perf_counter() - t0}, {"reproduced_from": str(run_dir.resolve())})
    atomic.write_json(
        out / REPRODUCED_FROM,
        {
            "run_dir": str(run_dir.resolve()),
            "manifest_sha256": sha256_file(run_dir / MANIFEST),
            "remap": remap or {},
            "warnings": warnings,
        },
    )
    return ReproduceResult(out=out, summary=summary if isinstance(summary, dict) else {}, warnings=warnings)


# --- compare -----------------------------------------------------------------------------
def is_timing(key: str) -> bool:
    """True for keys holding wall-clock measurements (never equal between two runs)."""
    parts = [p for p in key.split(".") if not p.isdigit()]
    if not parts:
        return False
    return parts[-1] in TIMING_KEYS or parts[-1].endswith("_seconds") or any(p in TIMING_PARENTS for p in parts)


@dataclass
class Row:
    """One line of a comparison; ``diff`` is b - a for numbers, None otherwise."""

    key: str
    a: Any
    b: Any
    diff: float | None
    status: str  # "same", "differs", "timing", "only_a", "only_b"


@dataclass
class Comparison:
    """The result of ``compare``: rows and whether any compared value differs beyond ``tol``."""

    rows: list[Row]
    tol: float

    @property
    def n_differ(self) -> int:
        return sum(r.status in ("differs", "only_a", "only_b") for r in self.rows)

    @property
    def ok(self) -> bool:
        return self.n_differ == 0

    def text(self, all_rows: bool = True) -> str:
        """A fixed-width table: key, run A, run B, B - A, status."""
        rows = self.rows if all_rows else [r for r in self.rows if r.status != "same"]
        kw = max([len("key")] + [len(r.key) for r in rows])
        lines = [f"{'key':<{kw}}  {'A':>22}  {'B':>22}  {'B - A':>12}  status"]
        for r in rows:
            d = "" if r.diff is None else f"{r.diff:.3g}"
            lines.append(f"{r.key:<{kw}}  {_fmt(r.a):>22}  {_fmt(r.b):>22}  {d:>12}  {r.status}")
        lines.append(
            f"{len(self.rows)} values: {self.n_differ} differ beyond tol={self.tol:g}, "
            f"{sum(r.status == 'timing' for r in self.rows)} timings not compared"
        )
        return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.10g}"
    s = str(v)
    return s if len(s) <= 22 else s[:19] + "..."


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v)
    return None


def compare_values(a: dict[str, Any], b: dict[str, Any], tol: float = 0.0) -> Comparison:
    """Line up two flat dicts. Numbers differ when ``|b - a| > tol`` (NaN equals NaN)."""
    rows = []
    for key in list(a) + [k for k in b if k not in a]:
        va, vb = a.get(key), b.get(key)
        if key not in b:
            rows.append(Row(key, va, None, None, "only_a"))
            continue
        if key not in a:
            rows.append(Row(key, None, vb, None, "only_b"))
            continue
        na, nb = _num(va), _num(vb)
        diff = None
        if na is not None and nb is not None:
            both_nan = math.isnan(na) and math.isnan(nb)
            diff = 0.0 if both_nan else nb - na
            same = both_nan or (math.isfinite(diff) and abs(diff) <= tol) or na == nb
        else:
            same = va == vb
        status = "timing" if is_timing(key) else ("same" if same else "differs")
        rows.append(Row(key, va, vb, diff, status))
    return Comparison(rows, tol)


def _metrics(run_dir: Path) -> dict[str, Any]:
    p = run_dir / METRICS
    if not p.exists():
        raise DataError(f"{run_dir} has no {METRICS}; it is not a finished run (run `seq2track run` first)")
    try:
        data = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"{p} is not valid JSON ({exc}); re-run the study") from None
    flat = flatten(data)
    # paths inside the run differ only by the run directory's own name
    root_strs = sorted({str(run_dir), str(run_dir.resolve())}, key=len, reverse=True)
    for k, v in flat.items():
        if isinstance(v, str):
            for r in root_strs:
                v = v.replace(r, "RUN")
            flat[k] = v
    return flat


def weight_differences(run_a: str | Path, run_b: str | Path) -> dict[str, float]:
    """``{relative checkpoint path: max |w_b - w_a|}`` over every ``best.ckpt`` both runs hold.

    A checkpoint whose tensors do not line up (other names or shapes) gives ``inf``.
    """
    run_a, run_b = Path(run_a), Path(run_b)
    rels = sorted(
        p.relative_to(run_a).as_posix()
        for p in run_a.rglob("best.ckpt")
        if (run_b / p.relative_to(run_a)).exists()
    )
    if not rels:
        return {}
    import torch

    out: dict[str, float] = {}
    for rel in rels:
        sa = torch.load(run_a / rel, map_location="cpu", weights_only=False)["state_dict"]
        sb = torch.load(run_b / rel, map_location="cpu", weights_only=False)["state_dict"]
        if sa.keys() != sb.keys() or any(sa[k].shape != sb[k].shape for k in sa):
            out[rel] = float("inf")
            continue
        worst = 0.0
        for k in sa:
            if sa[k].numel():
                worst = max(worst, float((sa[k].double() - sb[k].double()).abs().max()))
        out[rel] = worst
    return out


def compare(run_a: str | Path, run_b: str | Path, tol: float = 0.0, weights: bool = True) -> Comparison:
    """Every ``metrics.json`` value of two runs side by side, plus the shared checkpoints' weights.

    Weight rows are ``weights.<checkpoint>.max_abs_diff`` (0 for identical weights).
    """
    run_a, run_b = Path(run_a), Path(run_b)
    comp = compare_values(_metrics(run_a), _metrics(run_b), tol)
    if weights:
        for rel, d in weight_differences(run_a, run_b).items():
            same = d <= tol
            comp.rows.append(Row(f"weights.{rel}.max_abs_diff", "", "", d, "same" if same else "differs"))
    return comp
