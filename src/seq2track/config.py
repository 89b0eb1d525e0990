"""The study file: pydantic models, YAML loading with line-numbered errors, stable hashes.

A study names a genome, tracks and what to do with them. Unknown keys and wrong types are
``ConfigError``s that name the key, its line in the YAML, and a close match for typos.
Paths in the file are relative to the study file.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class TrackConfig(_Strict):
    """One bigWig track; several tracks make a multi-task target."""

    name: str
    path: Path
    strand: Literal["+", "-"] | None = None
    pair: str | None = Field(None, description="name of the opposite-strand track (stranded assays)")
    missing: Literal["zero", "covered"] = Field(
        "zero", description="bases absent from the bigWig count as 0 (zero) or are left out of the mean (covered)"
    )


class NegativesConfig(_Strict):
    """Negatives of peak-centred windows: sampled away from peaks, GC-matched within each split."""

    ratio: float = Field(1.0, gt=0.0, le=100.0, description="negatives per positive, in each split and GC bin")
    match: Literal["gc", "none"] = "gc"
    within: Literal["split"] = Field("split", description="negatives are drawn inside each split only")
    gc_bins: int = Field(20, ge=1, le=1000, description="equal-width GC bins of the histogram matching")
    fallback: Literal["error", "nearest"] = Field(
        "error", description="a GC bin short of candidates: fail (error) or fill from the nearest bins (nearest)"
    )


class WindowsConfig(_Strict):
    strategy: Literal["tile", "peaks"] = Field(
        "tile", description="tile: every `stride` bp; peaks: windows centred on `peaks` summits plus negatives"
    )
    peaks: Path | None = Field(None, description="narrowPeak/BED whose summits centre the windows (strategy: peaks)")
    negatives: NegativesConfig = Field(default_factory=NegativesConfig)
    input_length: int = Field(2048, gt=0, le=2_000_000)
    target_length: int = Field(
        1024, gt=0,
        description="bp predicted at the centre of each input window (the flanks are context). The trunk "
        "computes every bin of the input anyway: a 1,024-bp target supervises 32 of the 64 bins of a "
        "2,048-bp input instead of 8 (yeast ATAC, same model and budget: test Pearson 0.713 vs 0.692)",
    )
    resolution: int = Field(32, gt=0)
    stride: int = Field(512, gt=0, description="bp between window starts (half the target: each bin is "
                        "predicted from two different contexts)")
    chroms: list[str] | None = None
    exclude_chroms: list[str] = Field(default_factory=list)
    blacklist: Path | None = None
    max_n_fraction: float = Field(0.1, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _shapes(self) -> "WindowsConfig":
        if self.target_length > self.input_length:
            raise ValueError(
                f"target_length ({self.target_length}) must not exceed input_length ({self.input_length})"
            )
        if self.target_length % self.resolution:
            raise ValueError(
                f"target_length ({self.target_length}) must be a multiple of resolution ({self.resolution})"
            )
        if (self.input_length - self.target_length) % 2:
            raise ValueError("input_length - target_length must be even so the target is centred")
        if ((self.input_length - self.target_length) // 2) % self.resolution:
            raise ValueError(
                f"the flank (input_length - target_length)/2 = {(self.input_length - self.target_length) // 2} "
                f"must be a multiple of resolution ({self.resolution}) so target bins align with the bin grid"
            )
        if self.stride % self.resolution:
            raise ValueError(f"stride ({self.stride}) must be a multiple of resolution ({self.resolution})")
        if self.strategy == "peaks" and self.peaks is None:
            raise ValueError("windows.peaks: a narrowPeak/BED file is required when windows.strategy is 'peaks'")
        return self

    @property
    def n_bins(self) -> int:
        return self.target_length // self.resolution

    @property
    def flank(self) -> int:
        return (self.input_length - self.target_length) // 2


class FilterConfig(_Strict):
    """Keep windows whose transformed target mean >= threshold, plus a seeded fraction of the rest."""

    threshold: float | None = None
    keep_below_fraction: float = Field(1.0, ge=0.0, le=1.0)


class SplitConfig(_Strict):
    strategy: Literal["chromosome", "random"] = "chromosome"
    val: list[str] = Field(default_factory=list)
    test: list[str] = Field(default_factory=list)
    val_fraction: float = Field(0.1, gt=0.0, lt=1.0)
    test_fraction: float = Field(0.1, gt=0.0, lt=1.0)

    @model_validator(mode="after")
    def _disjoint(self) -> "SplitConfig":
        if self.strategy == "chromosome":
            from .io.chroms import canonical

            both = {canonical(c) for c in self.val} & {canonical(c) for c in self.test}
            if both:
                named = sorted({c for c in [*self.val, *self.test] if canonical(c) in both})
                raise ValueError(
                    f"val and test share chromosome(s) {named}: a chromosome belongs to one split only"
                )
            if not self.val or not self.test:
                raise ValueError("a chromosome split needs at least one `val:` and one `test:` chromosome")
        return self


class AugmentConfig(_Strict):
    rc: bool = True
    max_shift: int = Field(3, ge=0, le=1024)


#: the architectures seq2track builds itself (``model/architectures.py``); ``grelu.<Model>`` adds gReLU's
#: ``imported``: a model brought in by ``seq2track import-model`` (RUN/model/imported.json), never trained here
NATIVE_ARCHITECTURES = ("dilated_cnn", "conv", "base_dilated", "kmer_ridge", "imported")


class ModelConfig(_Strict):
    """Architecture and sizes. ``arch``: dilated_cnn | conv | base_dilated | grelu.<Model> | kmer_ridge."""

    arch: str = "dilated_cnn"
    channels: int = Field(32, gt=0, description="width of the trunk (64 channels and 6 layers: the same "
                          "yeast ATAC test Pearson, 0.713 vs 0.713, at 3x the CPU time)")
    n_dilated: int = Field(4, ge=0, description="dilated residual layers (dilation 2**i bins)")
    first_kernel: int = Field(15, gt=0)
    kernel_size: int = Field(3, gt=0)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    options: dict[str, Any] = Field(default_factory=dict, description="extra keyword arguments for the architecture")

    @field_validator("arch")
    @classmethod
    def _known_arch(cls, v: str) -> str:
        if v in NATIVE_ARCHITECTURES or (v.startswith("grelu.") and len(v) > len("grelu.")):
            return v
        close = difflib.get_close_matches(v, NATIVE_ARCHITECTURES, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown arch {v!r}: use one of {', '.join(NATIVE_ARCHITECTURES)} or grelu.<Model>{hint}")


#: ``train`` keys that say where a study trains (how many ranks), not what it trains: left out of
#: ``Study.hash()`` and of the checkpoint's train key, so a run resumes on another device count
LAUNCH_KEYS = ("devices", "num_nodes", "strategy")


class TrainConfig(_Strict):
    loss: Literal["poisson", "mse", "bce", "multinomial"] = "poisson"
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    batch_size: int = Field(
        64, gt=0, description="windows per optimiser step on each rank (Lightning's convention); with several "
        "devices the global batch is batch_size x devices x num_nodes",
    )
    max_epochs: int = Field(20, gt=0)
    patience: int = Field(
        6, ge=0,
        description="epochs without a better val loss before stopping (the plateau schedule halves the LR after "
        "half as many); 0 = never stop early. Validation loss is noisy epoch to epoch: on yeast ATAC patience 3 "
        "stopped at epoch 7 (test Pearson 0.680), patience 6 ran all 20 (0.716)",
    )
    schedule: Literal["plateau", "cosine", "none"] = "plateau"
    warmup_epochs: int = Field(0, ge=0)
    grad_clip: float | None = 1.0
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    rc_average_eval: bool = True
    num_workers: int = Field(0, ge=0)
    device: Literal["auto", "cpu", "gpu"] = "auto"
    devices: int | Literal["auto"] = Field(
        1, description="training processes (ranks) per machine, one per GPU (or per CPU process with device: cpu); "
        "'auto' = every visible GPU (1 on a CPU-only machine). batch_size and num_workers are per rank: the "
        "global batch is batch_size x devices x num_nodes (docs/scale.md says how to keep it when this changes)",
    )
    num_nodes: int = Field(1, ge=1, description="machines taking part (SLURM: --nodes); ranks = devices x num_nodes")
    strategy: Literal["auto", "ddp", "ddp_spawn"] = Field(
        "auto", description="how ranks are started (Lightning's DDP over torch.distributed; gloo on CPU, NCCL on GPU): "
        "auto = one process when devices x num_nodes is 1, else ddp; ddp = the launcher re-runs this command once "
        "per extra rank (CLI, scripts, srun, torchrun); ddp_spawn = ranks are forked from this process by "
        "torch.multiprocessing (notebooks, pytest: anywhere the command cannot be re-run)",
    )
    precision: Literal["32", "bf16-mixed", "16-mixed"] = "32"
    bce_threshold: float | None = Field(None, description="transformed-signal threshold that makes a bin positive (BCE)")
    pos_weight: float | None = Field(None, description="positive-class weight for BCE; null = unweighted")
    limit_train_batches: int | None = Field(None, gt=0, description="cap on training batches per epoch")
    epoch_windows: int | None = Field(
        6144, gt=0,
        description="training windows per epoch: each epoch is a fresh seeded shuffle of the training split cut "
        "to this many windows, so validation, early stopping and checkpoints come at a fixed cadence whatever "
        "the genome size; null = the whole training split every epoch. Counted over all ranks together",
    )

    @field_validator("devices", mode="before")
    @classmethod
    def _devices(cls, v: Any) -> Any:
        if v == "auto" and isinstance(v, str):
            return v
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(
                "must be a whole number >= 1 or 'auto': e.g. `devices: 2` for two GPUs, or 1 (the default) "
                "for one process"
            )
        return v


class BaselineConfig(_Strict):
    kmer_ridge: bool = True
    k_max: int = Field(4, ge=1, le=6)
    context: int = Field(256, ge=0, description="bp of sequence each side of a bin fed to the k-mer counts")
    alpha: float = Field(1.0, gt=0)
    max_train_windows: int = Field(20000, gt=0)
    max_train_bins: int = Field(
        250_000, gt=0,
        description="cap on training rows (windows x target bins) of the ridge: its features take "
        "rows x 340 x 4 bytes per copy (k_max 4); 250k rows gave the same test Pearson as 495k on yeast "
        "(0.565 vs 0.567) in 1.6 instead of 8.0 GB",
    )


class EvaluateConfig(_Strict):
    batch_size: int = Field(
        256, ge=1, description="windows per forward pass of evaluation, predict, attribution and variant scoring "
        "(per rank); several ranks split the windows on multiples of it, so every rank count gives the same numbers"
    )
    peak_threshold: float | None = Field(
        None, description="transformed-signal threshold for classification metrics when no peaks BED is given"
    )
    n_browser_regions: int = Field(3, ge=0)
    browser_region_bp: int = Field(10_000, gt=0, description="length of each genome-browser plot region (bp)")
    reference_tracks: dict[str, Path] = Field(
        default_factory=dict,
        description="track name -> a noise-free or deeper bigWig of the same signal (e.g. the simulator's "
        "expected_condA.bw); its correlation with the observed track is the ceiling a model can reach",
    )


class Study(_Strict):
    """A whole study: data, model, training, evaluation, tracking."""

    name: str
    seed: int = Field(0, ge=0, lt=2**63, description="the one seed every random choice derives from (a non-negative integer)")
    genome: Path
    tracks: list[TrackConfig] = Field(min_length=1)
    windows: WindowsConfig = Field(default_factory=WindowsConfig)
    transform: Literal["none", "log1p", "arcsinh", "sqrt"] = "arcsinh"
    normalize: Literal["none", "zscore", "mean_scale"] = Field(
        "none", description="per-track normalisation fitted on the training split only"
    )
    filter: FilterConfig = Field(default_factory=FilterConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    peaks: Path | None = None
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    baseline: BaselineConfig = Field(default_factory=BaselineConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    tracking: Literal["mlflow", "wandb", "tensorboard", "none"] = "mlflow"

    @field_validator("tracks")
    @classmethod
    def _unique_tracks(cls, v: list[TrackConfig]) -> list[TrackConfig]:
        names = [t.name for t in v]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"track names must be unique; repeated: {sorted(dup)}")
        for t in v:
            if t.strand and t.pair and t.pair not in names:
                raise ValueError(f"track {t.name!r} names pair {t.pair!r}, which is not a track of the study")
        return v

    # --- derived -----------------------------------------------------------------
    def data_dict(self) -> dict[str, Any]:
        """The part of the study that determines the prepared cache."""
        keys = ["genome", "tracks", "windows", "transform", "normalize", "filter", "split", "seed"]
        d = json.loads(self.model_dump_json(include=set(keys)))
        if self.windows.strategy == "tile":  # tiled studies keep the hash they had before peak windows
            for k in ("strategy", "peaks", "negatives"):
                d["windows"].pop(k, None)
        return d

    def data_hash(self) -> str:
        """Stable hash of the data config plus the identity (size, mtime) of the input files."""
        d = self.data_dict()
        files = [self.genome] + [t.path for t in self.tracks]
        if self.windows.blacklist:
            files.append(self.windows.blacklist)
        if self.windows.strategy == "peaks" and self.windows.peaks:
            files.append(self.windows.peaks)
        d["_files"] = [_file_identity(p) for p in files]
        return _hash(d)

    def hash(self) -> str:
        """Stable hash of the whole study, less the launch keys (``LAUNCH_KEYS``: where it runs, not what
        it is), so a run can move to more or fewer devices and resume (docs/scale.md)."""
        return _hash(json.loads(self.model_dump_json(exclude={"train": set(LAUNCH_KEYS)})))

    def to_yaml(self) -> str:
        return yaml.safe_dump(json.loads(self.model_dump_json()), sort_keys=False)


def _file_identity(p: Path) -> list[Any]:
    try:
        st = Path(p).stat()
        return [str(Path(p).resolve()), st.st_size, st.st_mtime_ns]
    except OSError:
        return [str(p), None, None]


def _hash(d: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


# --- loading -------------------------------------------------------------------------
def _line_index(node: yaml.Node, prefix: tuple = ()) -> dict[tuple, int]:
    """Map key paths of a composed YAML document to 1-based line numbers."""
    out: dict[tuple, int] = {}
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = prefix + (k.value,)
            out[key] = k.start_mark.line + 1
            out.update(_line_index(v, key))
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            key = prefix + (i,)
            out[key] = v.start_mark.line + 1
            out.update(_line_index(v, key))
    return out


def _model_for(loc: tuple) -> type[BaseModel] | None:
    """The pydantic model that owns the last key of ``loc`` (for typo suggestions)."""
    model: Any = Study
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return None
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        cand = [a for a in (ann, *args) if isinstance(a, type) and issubclass(a, BaseModel)]
        if not cand:
            return None
        model = cand[0]
    return model


def _format_errors(err: ValidationError, lines: dict[tuple, int], source: str) -> str:
    msgs = []
    for e in err.errors():
        loc = tuple(e["loc"])
        key = ".".join(str(p) for p in loc) or "(top level)"
        line = None
        for n in range(len(loc), 0, -1):
            if loc[:n] in lines:
                line = lines[loc[:n]]
                break
        where = f"{source}:{line}" if line else source
        if e["type"] == "extra_forbidden":
            model = _model_for(loc)
            hint = ""
            if model is not None:
                close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; allowed keys: {', '.join(model.model_fields)}"
            msgs.append(f"{where}: unknown key {key!r}{hint}")
        elif e["type"] == "missing":
            msgs.append(f"{where}: missing required key {key!r}")
        else:
            got = e.get("input")
            got_s = f" (got {got!r})" if not isinstance(got, (dict, list)) else ""
            msgs.append(f"{where}: {key}: {e['msg']}{got_s}")
    return "; ".join(msgs)


def _resolve_paths(data: dict[str, Any], base: Path) -> None:
    def fix(v: Any) -> Any:
        if v is None or not isinstance(v, str):
            return v
        p = Path(v).expanduser()
        return str(p if p.is_absolute() else (base / p))

    if "genome" in data:
        data["genome"] = fix(data["genome"])
    for t in data.get("tracks") or []:
        if isinstance(t, dict) and "path" in t:
            t["path"] = fix(t["path"])
    if isinstance(data.get("windows"), dict) and data["windows"].get("blacklist"):
        data["windows"]["blacklist"] = fix(data["windows"]["blacklist"])
    if isinstance(data.get("windows"), dict) and data["windows"].get("peaks"):
        data["windows"]["peaks"] = fix(data["windows"]["peaks"])
    if data.get("peaks"):
        data["peaks"] = fix(data["peaks"])
    ev = data.get("evaluate")
    if isinstance(ev, dict) and isinstance(ev.get("reference_tracks"), dict):
        ev["reference_tracks"] = {k: fix(v) for k, v in ev["reference_tracks"].items()}


def parse_study(text: str, base: Path, source: str = "<study>") -> Study:
    """Parse YAML text into a ``Study``; relative paths resolve against ``base``."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: not valid YAML ({problem}); check indentation and quoting") from None
    except Exception as exc:  # e.g. unhashable keys, bad encodings
        raise ConfigError(f"{source}: not a readable YAML study ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a study must be a YAML mapping of keys (name:, genome:, tracks: ...)")
    lines = _line_index(node) if node is not None else {}
    _resolve_paths(data, base)
    try:
        return Study.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_errors(err, lines, source)) from None


def load_study(path: str | Path) -> Study:
    """Load and validate a study YAML file."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"study file {p} does not exist")
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read study file {p}: {exc}") from None
    return parse_study(text, p.resolve().parent, source=str(p))


def override(study: Study, changes: dict[str, Any]) -> Study:
    """A copy of ``study`` with dotted keys replaced, e.g. ``{"train.lr": 1e-3}``; validated."""
    d = json.loads(study.model_dump_json())
    for dotted, value in changes.items():
        parts = dotted.split(".")
        cur = d
        for p in parts[:-1]:
            if not isinstance(cur, dict) or p not in cur:
                raise ConfigError(f"{dotted!r} is not a key of the study schema")
            cur = cur[p]
        if not isinstance(cur, dict) or (parts[-1] not in cur and parts[-2:-1] != ["options"]):
            raise ConfigError(f"{dotted!r} is not a key of the study schema")
        cur[parts[-1]] = value
    try:
        return Study.model_validate(d)
    except ValidationError as err:
        raise ConfigError(_format_errors(err, {}, "override")) from None
