"""Provenance: the run manifest, re-running a run from it, and comparing two runs.

* ``write_manifest(run_dir, study, stage_timings)`` writes ``RUN/manifest.json`` (atomically,
  last): seq2track version and git commit (+ dirty flag), the study, its hash and YAML, the
  sha256 and size of every input file, the seeds, every installed package (``pip freeze``
  via ``importlib.metadata``), Python / torch / platform, the determinism settings, the
  per-stage timings and the sha256 and size of every output file in the run directory.
* ``verify_inputs`` / ``study_from_manifest`` / ``package_differences``: what
  ``run.reproduce(run_dir, out)`` checks and rebuilds before re-running a study (a changed
  input file is a ``DataError`` naming it).
* ``compare.py`` lines up two runs' metrics and weights.

This module is a leaf: it reads run directories and the environment, and runs nothing.

On one machine, with the same packages and thread count, a reproduced run has bit-identical
metrics and weights (``tests/test_provenance.py`` checks it).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import atomic
from .config import Study
from .errors import DataError
from .rundir import RunPaths

MANIFEST = RunPaths.MANIFEST
REPRODUCED_FROM = "reproduced_from.json"
FORMAT = 1

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
