"""``reproduce`` and ``compare``: re-run a run from its manifest; line up two runs' metrics."""

from __future__ import annotations

import sys
from pathlib import Path

import typer


def _parse_remap(items: list[str]) -> dict[str, str]:
    from ..errors import ConfigError

    out = {}
    for item in items:
        old, sep, new = item.partition("=")
        if not sep or not old or not new:
            raise ConfigError(f"--remap {item!r} must look like OLD_DIR=NEW_DIR")
        out[old] = new
    return out


def register(app: typer.Typer) -> None:
    @app.command()
    def reproduce(
        run: Path = typer.Argument(..., help="a finished run directory (holds manifest.json)"),
        out: Path = typer.Option(..., "--out", "-o", help="new run directory to write"),
        force: bool = typer.Option(False, "--force", help="overwrite --out if it holds a finished run"),
        remap: list[str] = typer.Option(
            [], "--remap", help="OLD_DIR=NEW_DIR: the input files moved (checksums are still checked)"
        ),
    ) -> None:
        """Re-run RUN from its manifest alone into --out; refuses if an input file changed."""
        from ..run import reproduce as run_reproduce

        res = run_reproduce(run, out, force=force, remap=_parse_remap(remap))
        for w in res.warnings:
            typer.echo(f"warning: {w}", err=True)
        typer.echo(f"reproduced {run} into {out}; compare them with: seq2track compare {run} {out}")

    @app.command()
    def compare(
        run_a: Path = typer.Argument(..., help="first run directory"),
        run_b: Path = typer.Argument(..., help="second run directory"),
        tol: float = typer.Option(0.0, "--tol", help="largest |B - A| that counts as equal"),
        weights: bool = typer.Option(True, "--weights/--no-weights", help="also compare best.ckpt weights"),
        only_diff: bool = typer.Option(False, "--only-diff", help="print only the values that are not equal"),
    ) -> None:
        """Print every metric of two runs side by side with B - A; exit 1 if any differs beyond --tol."""
        from ..comparison import compare as run_compare

        comp = run_compare(run_a, run_b, tol=tol, weights=weights)
        typer.echo(comp.text(all_rows=not only_diff))
        if not comp.ok:
            # SystemExit, not typer.Exit: cli.main runs the app with standalone_mode=False, where
            # click turns typer.Exit into a return value that main() does not pass on
            sys.exit(1)
