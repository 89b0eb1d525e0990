"""``prepare`` and ``inspect``."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def prepare(
        study: Path = typer.Argument(..., help="study YAML file"),
        out: Path = typer.Option(..., "--out", "-o", help="cache directory to write"),
        force: bool = typer.Option(False, "--force", help="rebuild even if --out holds another study's cache"),
    ) -> None:
        """Prepare a study: FASTA + bigWig tracks -> cached windows (genome codes, bins, splits)."""
        from ..config import load_study
        from ..data.prepare import prepare as run_prepare

        ds = run_prepare(load_study(study), out, force=force)
        counts = ds.windows["split"].value_counts().to_dict()
        typer.echo(
            f"prepared {out}: {counts.get('train', 0)} train / {counts.get('val', 0)} val / "
            f"{counts.get('test', 0)} test windows, tracks {', '.join(ds.track_names)}"
        )

    @app.command()
    def inspect(cache: Path = typer.Argument(..., help="a directory written by `seq2track prepare`")) -> None:
        """Describe a prepared cache: windows per split, target quantiles, zero bins, per chromosome."""
        from ..data.cache import PreparedDataset
        from ..data.prepare import inspect_text

        typer.echo(inspect_text(PreparedDataset.open(cache)))
