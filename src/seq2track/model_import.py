"""``seq2track import-model``: a model trained elsewhere becomes a normal run directory of a study.

``import_model(study, source, out)`` prepares the study's cache in ``OUT/data``, copies the
source file into ``OUT/model/``, writes ``OUT/model/imported.json`` (the validated adapter, the
study's transform and normaliser, the source's sha256) and ``OUT/study.yaml`` (``model.arch:
imported``, ``train.loss: mse``: the wrapped model outputs the study's transformed units).
``evaluate``, ``audit --model`` (the same ``model_chromosomes`` check ``import_model`` reports), ``predict``, ``interpret`` and the report then open it through
``Run.open`` like any trained run; the caller evaluates it (``run.evaluate_only``).

The adapter comes from a YAML file (:class:`seq2track.model.imported.Adapter`'s keys) and, for a
gReLU checkpoint, from the checkpoint itself (the file's keys win).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from . import atomic
from .config import Study, override
from .errors import ConfigError, DataError
from .rundir import RunPaths, load_imported

#: what a file suffix means when ``--format`` is not given
SUFFIX_FORMAT = {".ckpt": "grelu", ".ts": "torchscript", ".pt": "torchscript", ".pth": "torch"}


@dataclass
class ImportResult:
    out: Path
    adapter: dict[str, Any]
    check: Any  # the audit's ``model_chromosomes`` Check of this model against the study's splits

    @property
    def overlap(self) -> dict[str, list[str]]:
        """``{"val": [...], "test": [...]}``: study chromosomes the model trained on ({} when unknown)."""
        d = self.check.details
        return {s: d[f"{s}_overlap"] for s in ("val", "test")} if "val_overlap" in d else {}


def read_adapter(path: str | Path | None) -> dict[str, Any]:
    """The adapter YAML as a dict ({} for None); a ``ConfigError`` naming the file otherwise."""
    if path is None:
        return {}
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"adapter file {p} does not exist; write the model's input_length, resolution and tracks there")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: an adapter is a mapping of keys (input_length:, resolution:, tracks: ...)")
    return data


def build_adapter(source: Path, fmt: str | None, declared: dict[str, Any], where: str = "adapter"):
    """The validated ``Adapter`` of ``source``: the checkpoint's own fields (gReLU), then ``declared``."""
    from .model.imported import SOURCE_FORMATS, Adapter, grelu_adapter

    fmt = fmt or declared.get("format") or SUFFIX_FORMAT.get(source.suffix.lower())
    if fmt not in SOURCE_FORMATS:
        raise ConfigError(f"cannot tell the format of {source}; pass --format ({' | '.join(SOURCE_FORMATS)})")
    if not source.exists():
        raise DataError(f"model file {source} does not exist; give the path of the checkpoint to import")
    fields = grelu_adapter(source) if fmt == "grelu" else {"format": fmt}
    fields.update({k: v for k, v in declared.items() if k != "format"})
    fields.update(format=fmt, source=str(source))
    try:
        return Adapter.model_validate(fields)
    except ValidationError as err:
        msgs = []
        for e in err.errors():
            key = ".".join(str(p) for p in e["loc"])
            msgs.append(f"missing key {key!r}" if e["type"] == "missing" else f"{key}: {e['msg']}")
        raise ConfigError(f"{where} of {source.name}: " + "; ".join(msgs) + " (declare it in the --adapter YAML)") from None


def import_model(study: Study, source: str | Path, out: str | Path, fmt: str | None = None,
                 adapter_file: str | Path | None = None) -> ImportResult:
    """Write run directory ``out`` for ``study`` around the model in ``source`` (not evaluated yet)."""
    from .data.prepare import prepare
    from .provenance import sha256_file

    source = Path(source)
    adapter = build_adapter(source, fmt, read_adapter(adapter_file), where=str(adapter_file or "adapter"))
    run_study = override(study, {"model.arch": "imported", "train.loss": "mse"})
    paths = RunPaths(out)
    prepared = prepare(run_study, paths.data)
    paths.model.mkdir(parents=True, exist_ok=True)
    dest = paths.model / ("source" + (source.suffix or ".pt"))
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.copyfile(source, tmp)
    tmp.replace(dest)
    spec = {"adapter": adapter.model_dump(), "file": dest.name, "sha256": sha256_file(dest),
            "transform": prepared.transform, "norm_state": prepared.norm_state}
    atomic.write_json(paths.imported, spec)
    paths.write_study(run_study)
    try:  # the geometry is checked now (one forward pass), not at the first evaluation
        load_imported(paths, run_study)
    except (ConfigError, DataError):
        paths.imported.unlink()
        raise
    from .pitfalls.audit import check_model_chroms

    return ImportResult(paths.root, adapter.model_dump(), check_model_chroms(prepared, paths.root))


def overlap_text(res: ImportResult) -> str:
    """The audit's one line on the model's training chromosomes against the study's val/test ones."""
    return ("WARNING: " if res.check.status != "pass" else "") + res.check.message


def describe(res: ImportResult) -> str:
    a = res.adapter
    return json.dumps({k: a[k] for k in ("format", "input_length", "resolution", "tracks", "output_transform",
                                         "output_scale", "train_chroms")}, default=str)
