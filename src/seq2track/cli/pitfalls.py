"""``pitfalls`` (the measured lab) and ``audit`` (the same pitfalls found without training)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def pitfalls(
        study: Path = typer.Argument(..., help="study YAML file"),
        which: str = typer.Option("all", "--which", help="all, or a comma list of: leakage,leaky,imbalance,depth,shift"),
        seeds: int = typer.Option(3, "--seeds", help="repeats per arm (>= 3 for a confidence interval)"),
        out: Path = typer.Option(..., "--out", "-o", help="folder; results go to OUT/pitfalls/"),
        shallow: Path = typer.Option(None, "--shallow", help="the primary track's assay at a lower depth (bigWig)"),
        other: Path = typer.Option(None, "--other", help="the same assay in another condition / cell type (bigWig)"),
        fragments: Path = typer.Option(None, "--fragments", help="fragments of the primary track (for downsampling)"),
        budget: str = typer.Option("study", "--budget", help="study: every arm trains the study's own model and "
                                   "budget (default); lab: the lab's small model, a quick look"),
        max_eval_windows: int = typer.Option(3000, "--max-eval-windows", help="cap on test windows scored per arm"),
        blocks: int = typer.Option(None, "--blocks", help="cut each chromosome into N positional blocks used as "
                                   "chromosomes (for a one-chromosome data set; val/test = the last two blocks)"),
        cache: Path = typer.Option(None, "--cache", help="folder of prepared caches (default: the cache home, "
                                   "$SEQ2TRACK_CACHE or ~/.cache/seq2track, shared with `audit`)"),
        set_: list[str] = typer.Option(None, "--set", help="KEY=VALUE override of the lab's study (YAML value), "
                                       "repeatable, e.g. --set train.max_epochs=6; recorded in settings.overrides"),
    ) -> None:
        """Measure each pitfall: a sound arm vs pitfall arms, same model and budget, over seeds.

        Writes OUT/pitfalls/<name>.json (metrics per arm and seed; differences with a 95% CI and a verdict), <name>.png, <name>.html and index.html. The simulator's extra tracks are found through its truth.json; for real data pass --shallow/--other/--fragments.
        """  # noqa: E501  (one line per paragraph: Typer keeps line breaks)
        from ..config import load_study
        from ..pitfalls import run_pitfalls
        from ..pitfalls.report import markdown_table

        res = run_pitfalls(load_study(study), out, which=which, seeds=seeds, shallow=shallow, other=other,
                           fragments=fragments, budget=budget, max_eval_windows=max_eval_windows,
                           overrides=_parse_sets(set_ or []), echo=typer.echo, blocks=blocks,
                           cache=cache)
        typer.echo(markdown_table(list(res.values())))
        typer.echo(f"wrote {Path(out) / 'pitfalls'}/ (index.html, <name>.json)")

    @app.command()
    def audit(
        study: Path = typer.Argument(..., help="study YAML file"),
        eval_study: Path = typer.Option(None, "--eval-study", help="a study whose TEST split the model will be tested on "
                                        "(another track, condition or depth)"),
        out: Path = typer.Option(None, "--out", "-o", help="folder for audit.json and the near-duplicate BED "
                                 "(without it the audit only prints)"),
        cache: Path = typer.Option(None, "--cache", help="a prepared cache of STUDY, or a folder of caches (default: "
                                   "the cache home, $SEQ2TRACK_CACHE or ~/.cache/seq2track, shared with `pitfalls`)"),
        eval_cache: Path = typer.Option(None, "--eval-cache", help="a prepared cache of --eval-study (or a folder of caches)"),
        model: Path = typer.Option(None, "--model", help="a run directory (trained, or from import-model): fail when "
                                   "its model trained on the study's val/test chromosomes"),
    ) -> None:
        """Check a study for the field's pitfalls without training: prints pass/warn/fail, writes OUT/audit.json, exits 1 on any fail (for CI)."""  # noqa: E501
        from ..config import load_study
        from ..pitfalls.audit import audit as run_audit

        s = load_study(study)
        ev = load_study(eval_study) if eval_study is not None else None
        res = run_audit(s, cache=cache, eval_study=ev, eval_cache=eval_cache, model=model)
        typer.echo(res.table())
        if out is not None:
            typer.echo(f"wrote {res.write(out)}")
        elif res.duplicates:
            typer.echo("near-duplicate regions found: add --out DIR to write them as a BED for `windows.blacklist`")
        if res.status == "fail":
            raise typer.Exit(1)


def _parse_sets(items: list[str]) -> dict:
    """``["train.max_epochs=6"]`` -> ``{"train.max_epochs": 6}`` (values parsed as YAML; ``1e-3``,
    a string under PyYAML's YAML 1.1, is read as the float it is in YAML 1.2)."""
    import re

    import yaml

    from ..errors import ConfigError

    out = {}
    for it in items:
        key, sep, val = it.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {it!r} is not KEY=VALUE; write e.g. --set train.max_epochs=6")
        v = yaml.safe_load(val)
        if isinstance(v, str) and re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+", v.strip()):
            v = float(v)
        out[key.strip()] = v
    return out
