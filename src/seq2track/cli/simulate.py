"""``simulate`` (the embedded synthetic data set) and ``pileup`` (reads/fragments -> coverage or 5' count bigWigs)."""

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
        fragments: Path = typer.Argument(..., help="fragments/reads: BAM/CRAM (indexed), BED3+, BEDPE or BED6 (plain or .gz)"),
        genome: Path = typer.Option(..., "--genome", "-g", help="FASTA/2bit, .fai or chrom.sizes of the assembly"),
        out: Path = typer.Option(..., "--out", "-o", help="bigWig to write (stranded: OUT.plus.bw and OUT.minus.bw)"),
        count: str = typer.Option("coverage", "--count", help="coverage | insertions (5' ends) | stranded (5' ends, + and -)"),
        tn5: bool = typer.Option(False, "--tn5", help="ATAC Tn5 shift of the 5' ends: +4 on +, -5 on - (BED end)"),
        shift_plus: int = typer.Option(0, "--shift-plus", help="bp added to + strand 5' ends (ignored with --tn5)"),
        shift_minus: int = typer.Option(0, "--shift-minus", help="bp added to - strand 5' bases (ignored with --tn5)"),
        extend: int = typer.Option(None, "--extend", help="single-end BAM: extend reads to this fragment length"),
        paired: bool = typer.Option(None, "--paired/--single", help="BAM pairing (default: from the flags)"),
        min_mapq: int = typer.Option(0, "--min-mapq", help="BAM: drop alignments below this MAPQ"),
        keep_duplicates: bool = typer.Option(False, "--keep-duplicates", help="BAM: count reads flagged duplicate"),
        proper_pairs: bool = typer.Option(False, "--proper-pairs", help="BAM: count proper pairs only"),
        keep_secondary: bool = typer.Option(False, "--keep-secondary", help="BAM: count secondary/supplementary"),
        blacklist: Path = typer.Option(None, "--blacklist", help="BED of regions whose reads/fragments are dropped"),
        reference: Path = typer.Option(None, "--reference", help="FASTA a CRAM was compressed against"),
        fraction: float = typer.Option(1.0, "--fraction", help="keep each fragment with this probability (thinning)"),
        seed: int = typer.Option(0, "--seed", help="seed of the thinning"),
        clip: bool = typer.Option(
            False, "--clip", help="drop intervals on chromosomes the genome lacks and clip ends past a chromosome end"
        ),
    ) -> None:
        """Pile up reads (BAM/CRAM) or fragments into per-base bigWig(s): coverage or 5' counts (zeros not stored)."""
        from ..io import pileup as pu
        from ..io import read_pileup as rp
        from ..io.reads import TN5_SHIFT, ReadFilter, is_alignment_file, track_names

        track_names(count)
        shift = TN5_SHIFT if tn5 else (shift_plus, shift_minus)
        bl = None
        if blacklist is not None:
            from ..io.intervals import read_bed

            bl = read_bed(blacklist, list(pu.read_sizes(genome)), what="blacklist", fix="give a 3-column BED file")
        if is_alignment_file(fragments):
            filt = ReadFilter(min_mapq=min_mapq, drop_duplicates=not keep_duplicates, proper_pairs=proper_pairs,
                              drop_secondary=not keep_secondary, blacklist=bl)
            r = rp.pileup_reads(fragments, genome, out, kind=count, reference=reference, filt=filt, shift=shift,
                                extend=extend, paired=paired, fraction=fraction, seed=seed)
            typer.echo(
                f"wrote {', '.join(str(p) for p in r.paths.values())}: {'paired' if r.paired else 'single'}-end, "
                f"{r.n_units:,} {'fragments' if r.paired else 'reads'} counted of {r.n_reads:,} alignments "
                f"({r.n_filtered:,} filtered), total {r.total:,.0f}"
            )
            return
        if count != "coverage" or shift != (0, 0) or bl is not None:
            r2 = rp.pileup_fragment_counts(fragments, genome, out, kind=count, shift=shift, blacklist=bl,
                                           fraction=fraction, seed=seed, clip=clip)
            typer.echo(f"wrote {', '.join(str(p) for p in r2.paths.values())}: {r2.n_units:,} of {r2.n_reads:,} "
                       f"fragments, total {r2.total:,.0f}")
            return
        r = pu.pileup(fragments, genome, out, fraction=fraction, seed=seed, clip=clip)
        extra = f", dropped {r.n_dropped:,}, clipped {r.n_clipped:,}" if (r.n_dropped or r.n_clipped) else ""
        typer.echo(
            f"wrote {r.path}: {r.n_kept:,} of {r.n_fragments:,} intervals, total coverage {r.total_coverage:,}{extra}"
        )

    @app.command("call-peaks")
    def call_peaks_cmd(
        treatment: list[Path] = typer.Argument(..., help="treatment reads/fragments: BAM (indexed) or BEDPE/BED"),
        out: Path = typer.Option(..., "--out", "-o", help="narrowPeak to write"),
        control: list[Path] = typer.Option(None, "--control", "-c", help="control (input) reads, same format"),
        genome_size: str = typer.Option("hs", "--genome-size", "-g", help="effective genome size (bp) or hs/mm/ce/dm"),
        fmt: str = typer.Option("auto", "--format", "-f", help="auto | BAMPE | BAM | BEDPE | BED"),
        qvalue: float = typer.Option(0.05, "--qvalue", "-q", help="MACS3 q-value cutoff"),
        keep_dup: str = typer.Option("1", "--keep-dup", help="MACS3 --keep-dup (1, all or auto)"),
    ) -> None:
        """Call peaks with MACS3 (`macs3 callpeak`) on reads or fragments, with an optional control."""
        from ..io.peaks import call_peaks

        r = call_peaks(list(treatment), out, control=list(control) if control else None, genome_size=genome_size,
                       fmt=fmt, qvalue=qvalue, keep_dup=keep_dup)
        fr = r.frip
        typer.echo(f"wrote {r.path}: {r.n_peaks:,} peaks (MACS3, -f {r.format}); FRiP {fr.frip:.3f} "
                   f"({fr.n_in_peaks:,} of {fr.n_total:,} {fr.unit} in peaks); summary {r.summary}")
