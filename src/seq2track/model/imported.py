"""A model trained elsewhere, brought into a study: its declared adapter and the wrapper that
makes its outputs the study's targets.

The adapter (:class:`Adapter`, ``RUN/model/imported.json``) says what the source model takes and
gives: one-hot ``x: float32[B, 4, input_length]`` (A, C, G, T; or ``[B, input_length, 4]`` with
``input_layout: NLC``) -> ``float32[B, len(tracks), P]``, ``P`` positions of ``resolution`` bp
centred on the input, in the units ``output_transform`` of the per-bin signal (``output_scale``
turns bin sums into bin means: ``raw = output_scale * inverse(output)``).

:class:`Adapted` maps that to the study: the study's tracks picked by name (``track_map``), the
positions cropped to the study's centred target, converted to raw signal, averaged into the
study's bins, then the study's transform and training-split normaliser. Its output is in the
study's transformed units (identity link: the run's ``train.loss`` is ``mse``), and it is
differentiable, so ISM, IG and DeepLIFT/SHAP work on it unchanged.

Sources: ``grelu`` (a ``.ckpt`` as ``grelu.lightning.LightningModel`` writes it: geometry, task
names and training chromosomes are read from its ``data_params``), ``torchscript``
(``torch.jit.save``), ``torch`` (a whole module saved with ``torch.save``; unpickling runs code:
import only files you trust).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn
from torch.nn import functional as F

from ..errors import ConfigError, DataError

SOURCE_FORMATS = ("grelu", "torchscript", "torch")


class Adapter(BaseModel):
    """What an imported model takes and gives (declared, or read from a gReLU checkpoint)."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["grelu", "torchscript", "torch"]
    input_length: int = Field(..., gt=0, description="bp of one-hot input the model takes")
    resolution: int = Field(..., gt=0, description="bp per output position")
    tracks: list[str] = Field(..., min_length=1, description="names of the model's output tracks, in output order")
    track_map: dict[str, str] = Field(default_factory=dict,
                                      description="study track -> model track (default: the same name)")
    input_layout: Literal["NCL", "NLC"] = "NCL"
    output_transform: Literal["none", "log1p", "arcsinh", "sqrt"] = Field(
        "none", description="the model's output is this transform of the per-bin signal")
    output_scale: float = Field(1.0, gt=0, description="raw bin mean = output_scale * inverse(output)")
    train_chroms: list[str] | None = Field(None, description="chromosomes the model was trained on (None: unknown)")
    val_chroms: list[str] | None = None
    source: str = ""


# --- elementwise transforms in torch (the numpy ones live in data/transforms.py) -----------------
def _inverse(z: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "log1p":
        return torch.expm1(z)
    if kind == "arcsinh":
        return torch.sinh(z)
    if kind == "sqrt":
        return torch.clamp(z, min=0) ** 2
    return z


def _forward(x: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "log1p":
        return torch.log1p(torch.clamp(x, min=0))
    if kind == "arcsinh":
        return torch.asinh(x)
    if kind == "sqrt":
        return torch.sqrt(torch.clamp(x, min=0))
    return x


class Adapted(nn.Module):
    """``x: float32[B, 4, L] -> z: float32[B, n_study_tracks, n_bins]`` in the study's transformed units."""

    def __init__(self, inner: nn.Module, adapter: Adapter, track_idx: list[int], start: int, n_keep: int,
                 per_bin: int, transform: str, norm: dict[str, Any]):
        super().__init__()
        self.inner = inner
        self.layout = adapter.input_layout
        self.out_tf = adapter.output_transform
        self.scale = float(adapter.output_scale)
        self.register_buffer("track_idx", torch.tensor(track_idx, dtype=torch.long), persistent=False)
        self.start, self.n_keep, self.per_bin = int(start), int(n_keep), int(per_bin)
        self.transform = transform
        self.norm_kind = norm.get("kind", "none")
        mean = torch.tensor(norm.get("mean", [0.0] * len(track_idx)), dtype=torch.float32)[None, :, None]
        std = torch.tensor(norm.get("std", [1.0] * len(track_idx)), dtype=torch.float32)[None, :, None]
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.inner(x.transpose(1, 2) if self.layout == "NLC" else x)
        if isinstance(z, (tuple, list)):  # e.g. bpnet-style (profile, counts): the first head
            z = z[0]
        z = z[:, self.track_idx, self.start:self.start + self.n_keep].float()
        raw = self.scale * _inverse(z, self.out_tf)
        if self.per_bin > 1:
            raw = F.avg_pool1d(raw, self.per_bin)
        y = _forward(raw, self.transform)
        if self.norm_kind == "zscore":
            y = (y - self.mean) / self.std
        elif self.norm_kind == "mean_scale":
            y = y / self.mean
        return y


# --- reading the source model ----------------------------------------------------------------------
def grelu_adapter(ckpt: str | Path) -> dict[str, Any]:
    """The adapter fields a gReLU checkpoint records: geometry, task names, training chromosomes.

    gReLU's ``LightningModel.train_on_dataset`` stores ``data_params = {"tasks": {"name": [...]},
    "train": {seq_len, label_len, bin_size, label_aggfunc (when a string), intervals, ...}, "val": ...}``.
    """
    import warnings

    try:
        with warnings.catch_warnings():  # a TorchScript file given as --format grelu: our line says it
            warnings.simplefilter("ignore", UserWarning)
            ck = torch.load(ckpt, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise DataError(f"{ckpt} is not a gReLU checkpoint ({str(exc).strip().splitlines()[0][:120]}); "
                        "check --format") from None
    if not isinstance(ck, dict) or "state_dict" not in ck or "hyper_parameters" not in ck:
        raise DataError(f"{ckpt} is not a gReLU checkpoint (no Lightning state_dict / hyper_parameters); check --format")
    dp = ck.get("data_params") or {}
    tr, va = dp.get("train") or {}, dp.get("val") or {}
    names = list((dp.get("tasks") or {}).get("name") or [])
    fields: dict[str, Any] = {"format": "grelu"}
    if tr.get("seq_len"):
        fields["input_length"] = int(tr["seq_len"])
    if tr.get("bin_size"):
        fields["resolution"] = int(tr["bin_size"])
    if names:
        fields["tracks"] = [str(n) for n in names]
    agg = tr.get("label_aggfunc", "sum")  # gReLU's default np.sum is a callable: not stored
    if agg in (None, "sum") and tr.get("bin_size"):
        fields["output_scale"] = 1.0 / int(tr["bin_size"])
    tf = tr.get("label_transform_func")
    if tf not in (None, "none"):
        if tf not in ("log1p", "arcsinh", "sqrt"):
            raise ConfigError(f"{ckpt}: gReLU trained on labels transformed by {tf!r}; declare output_transform "
                              "(none | log1p | arcsinh | sqrt) in the adapter file")
        fields["output_transform"] = tf
    for key, src in (("train_chroms", tr), ("val_chroms", va)):
        iv = src.get("intervals") or {}
        if iv.get("chrom"):
            fields[key] = sorted({str(c) for c in iv["chrom"]})
    return fields


def load_source(fmt: str, path: str | Path) -> nn.Module:
    """The source model of ``path`` in eval mode (``fmt`` one of ``SOURCE_FORMATS``)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"model file {path} does not exist; give the path of the checkpoint to import")
    try:
        if fmt == "grelu":
            try:
                from grelu.lightning import LightningModel
            except ImportError:
                raise ConfigError(f"{path} is a gReLU checkpoint: install the grelu extra "
                                  "(pip install --no-deps -r requirements-grelu.lock)") from None
            model = LightningModel.load_from_checkpoint(str(path), map_location="cpu", weights_only=False).model
        elif fmt == "torchscript":
            model = torch.jit.load(str(path), map_location="cpu")
        else:
            model = torch.load(path, map_location="cpu", weights_only=False)
    except (ConfigError, DataError):
        raise
    except Exception as exc:  # a file of another format: one line naming it and the fix
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path} could not be read as a {fmt} model ({msg}); check --format") from None
    if not isinstance(model, nn.Module) and not hasattr(model, "forward"):
        raise DataError(f"{path} holds a {type(model).__name__}, not a torch module; save the module itself")
    return model.eval()


def adapt(inner: nn.Module, adapter: Adapter, study_tracks: list[str], input_length: int, n_bins: int,
          resolution: int, transform: str, norm: dict[str, Any]) -> Adapted:
    """Wrap ``inner`` for a study; a ``ConfigError`` names the mismatch and its fix.

    The output geometry is read from one forward pass on an all-N input (``float32[1, 4, L]`` of 0.25).
    """
    if adapter.input_length != input_length:
        raise ConfigError(f"the imported model takes {adapter.input_length}-bp inputs but the study's "
                          f"windows.input_length is {input_length}; set windows.input_length: {adapter.input_length}")
    if resolution % adapter.resolution:
        raise ConfigError(f"the study's windows.resolution ({resolution} bp) is not a multiple of the imported "
                          f"model's {adapter.resolution} bp; set windows.resolution to a multiple of it")
    idx = []
    for t in study_tracks:
        name = adapter.track_map.get(t, t)
        if name not in adapter.tracks:
            raise ConfigError(f"study track {t!r} is not an output of the imported model ({adapter.tracks[:8]}); "
                              f"map it in the adapter: track_map: {{{t}: <model track>}}")
        idx.append(adapter.tracks.index(name))
    with torch.no_grad():
        probe = torch.full((1, 4, input_length), 0.25)
        z = inner(probe.transpose(1, 2) if adapter.input_layout == "NLC" else probe)
        z = z[0] if isinstance(z, (tuple, list)) else z
    if z.dim() != 3 or z.shape[1] != len(adapter.tracks):
        raise ConfigError(f"the imported model returned shape {tuple(z.shape)}, expected [B, {len(adapter.tracks)} "
                          "tracks, positions]; check tracks and input_layout in the adapter")
    positions = int(z.shape[-1])
    span_m, span_s = positions * adapter.resolution, n_bins * resolution
    off = span_m - span_s
    if off < 0 or off % 2 or (off // 2) % adapter.resolution:
        raise ConfigError(f"the imported model predicts the centre {span_m} bp of its input; the study's target "
                          f"({n_bins} bins x {resolution} bp = {span_s} bp) must fit inside it, centred on a "
                          f"{adapter.resolution}-bp grid; change windows.target_length")
    start = off // 2 // adapter.resolution
    return Adapted(inner, adapter, idx, start, span_s // adapter.resolution, resolution // adapter.resolution,
                   transform, norm)
