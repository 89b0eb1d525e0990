"""The search space: a YAML mapping of dotted study keys to one distribution each, checked
against the study schema (``parse_space``, ``load_space``) and drawn from by an Optuna trial
(``suggest``). The space file format is described in the package docstring."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..config import Study, override
from ..errors import ConfigError

DISTRIBUTIONS = ("loguniform", "uniform", "randint", "choice")
METRIC = "val_loss"
#: top-level study keys that change the prepared cache, which is built once per search
DATA_KEYS = ("genome", "tracks", "windows", "transform", "normalize", "filter", "split", "seed", "peaks")
#: keys that change what the validation loss measures, so its values would not compare across trials
UNCOMPARABLE_KEYS = ("train.bce_threshold", "train.pos_weight")


@dataclass(frozen=True)
class Param:
    """One searched key: ``kind`` in DISTRIBUTIONS, ``args`` = (low, high) or the choices."""

    key: str
    kind: str
    args: tuple


def parse_space(data: Any, study: Study, source: str = "<space>") -> dict[str, Param]:
    """Validate a space mapping (``{dotted_key: {kind: args}}``) against the study schema.

    Every key must be a study key (``config.override`` decides), and every bound / choice must
    give a valid study; otherwise ``ConfigError`` naming the key and ``source``.
    """
    if not isinstance(data, dict) or not data:
        raise ConfigError(
            f"{source}: a search space must be a non-empty mapping of study keys to distributions, "
            "e.g. `train.lr: {loguniform: [0.0001, 0.01]}`"
        )
    out: dict[str, Param] = {}
    for key, spec in data.items():
        where = f"{source}: {key}"
        if str(key).split(".")[0] in DATA_KEYS:
            raise ConfigError(
                f"{where}: {key!r} changes the prepared data, which a search builds once and shares; "
                "remove it from the space (run one search per data setting)"
            )
        if key in UNCOMPARABLE_KEYS:
            raise ConfigError(
                f"{where}: {key!r} changes what the validation loss measures, so trials would not compare; "
                "fix it in the study and remove it from the space"
            )
        if not isinstance(spec, dict) or len(spec) != 1:
            raise ConfigError(
                f"{where}: give exactly one distribution as a mapping, one of "
                f"{', '.join(DISTRIBUTIONS)} (e.g. `{{choice: [32, 64]}}`)"
            )
        (kind, args), = spec.items()
        if kind not in DISTRIBUTIONS:
            raise ConfigError(f"{where}: unknown distribution {kind!r}; use one of {', '.join(DISTRIBUTIONS)}")
        if not isinstance(args, list) or not args:
            raise ConfigError(f"{where}: {kind} needs a list of values, e.g. `{{{kind}: [a, b]}}`")
        if kind == "choice":
            if any(isinstance(a, (dict, list)) for a in args):
                raise ConfigError(f"{where}: choice values must be numbers, strings, booleans or null")
            values: list[Any] = list(args)
        else:
            if len(args) != 2 or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args):
                raise ConfigError(f"{where}: {kind} needs two numbers [low, high], got {args!r}")
            lo, hi = args
            if not lo < hi:
                raise ConfigError(f"{where}: {kind} needs low < high, got [{lo}, {hi}]")
            if kind == "loguniform" and lo <= 0:
                raise ConfigError(f"{where}: loguniform needs low > 0, got {lo}")
            if kind == "randint":
                if not (float(lo).is_integer() and float(hi).is_integer()):
                    raise ConfigError(f"{where}: randint needs integer bounds, got [{lo}, {hi}]")
                lo, hi = int(lo), int(hi)
                values = [lo, hi - 1]
            else:
                lo, hi = float(lo), float(hi)
                values = [lo, hi]
            args = [lo, hi]
        for v in values:  # every end of the range (or every choice) must make a valid study
            try:
                override(study, {key: v})
            except ConfigError as exc:
                if "is not a key of the study schema" in str(exc):
                    raise ConfigError(
                        f"{where}: {key!r} is not a key of the study schema; fix the key in {source} "
                        "(dotted study keys such as train.lr, model.channels)"
                    ) from None
                raise ConfigError(f"{where}: value {v!r} makes an invalid study ({exc}); change the range") from None
        if key == "train.loss" and "bce" in values:
            raise ConfigError(
                f"{where}: bce predicts probabilities, not signal, so it cannot be compared with the other "
                "losses by validation MSE; remove bce from the choices"
            )
        out[key] = Param(key, kind, tuple(args))
    return out


def selection_metric(space: dict[str, Param]) -> str:
    """``val_loss``; or ``val_mse`` (MSE of the prediction on the target scale) when the space
    searches ``train.loss``: losses of different likelihoods are on different scales."""
    return "val_mse" if "train.loss" in space else METRIC


def load_space(path: str | Path, study: Study) -> dict[str, Param]:
    """Read and validate a space YAML file (see ``parse_space``)."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"space file {p} does not exist; write one (see configs/tune_space.yaml)")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML ({str(exc).splitlines()[0]}); check indentation and quoting") from None
    return parse_space(data, study, source=str(p))


def suggest(trial, space: dict[str, Param]) -> dict[str, Any]:
    """Draw one config from an Optuna ``trial`` (define-by-run); returns ``{key: value}``."""
    out: dict[str, Any] = {}
    for key, p in space.items():
        if p.kind == "loguniform":
            out[key] = trial.suggest_float(key, p.args[0], p.args[1], log=True)
        elif p.kind == "uniform":
            out[key] = trial.suggest_float(key, p.args[0], p.args[1])
        elif p.kind == "randint":
            out[key] = trial.suggest_int(key, p.args[0], p.args[1] - 1)
        else:
            out[key] = trial.suggest_categorical(key, list(p.args))
    return out
