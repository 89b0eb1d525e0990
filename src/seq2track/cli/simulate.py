"""``simulate`` (the embedded synthetic data set) and ``pileup`` (fragments -> coverage bigWig)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def simulate(
        out: Path = typer.Option(..., "--out", "-o", help="directory to write the data set into"),
        seed: int = typer.Option(0, "--seed", help="same seed -> byte-identical files"),
        chroms: int = typer.Option(6, "--chroms", help="number of chromosomes (>= 3: the last two are val/test)"),
        length: int = typer.Option(400_000, "--length", help="bp per chromosome"),
        depth: float = typer.Option(3.0, "--depth", help="background coverage (reads/bp) of the deep sample"),
    ) -> None:
        """Write a synthetic genome with planted JASPAR motifs, bigWig tracks, peaks, variants, truth and study.yaml."""
        from ..data.simulate import simulate as run

        res = run(out, seed=seed, n_chroms=chroms, length=length, depth=depth)
        st = res.stats
        typer.echo(
            f"wrote {out}: {chroms} x {length:,} bp, {st['n_instances']} motif instances, "
            f"{st['n_fragments']['condA_deep']:,} deep fragments (mean coverage "
            f"{st['mean_coverage_condA_deep']:.2f}), {st['n_peaks']} peaks, "
            f"{sum(st['n_variants'].values())} variants\n"
            f"study: {res.study_path}\ntruth: {res.truth_path}"
        )

    @app.command()
    def pileup(
        fragments: Path = typer.Argument(..., help="fragments/reads: BED3+, BEDPE or BED6 (plain or .gz)"),
        genome: Path = typer.Option(..., "--genome", "-g", help="FASTA/2bit, .fai or chrom.sizes of the assembly"),
        out: Path = typer.Option(..., "--out", "-o", help="bigWig to write"),
        fraction: float = typer.Option(1.0, "--fraction", help="keep each fragment with this probability (thinning)"),
        seed: int = typer.Option(0, "--seed", help="seed of the thinning"),
        clip: bool = typer.Option(
            False, "--clip", help="drop intervals on chromosomes the genome lacks and clip ends past a chromosome end"
        ),
    ) -> None:
        """Pile up fragments or reads into a per-base coverage bigWig (zeros not stored)."""
        from ..io.pileup import pileup as run

        r = run(fragments, genome, out, fraction=fraction, seed=seed, clip=clip)
        extra = f", dropped {r.n_dropped:,}, clipped {r.n_clipped:,}" if (r.n_dropped or r.n_clipped) else ""
        typer.echo(
            f"wrote {r.path}: {r.n_kept:,} of {r.n_fragments:,} intervals, total coverage {r.total_coverage:,}{extra}"
        )
