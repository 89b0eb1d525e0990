"""Real data in: ``fetch``, ``fetch-genome``, ``info`` and ``init-study``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ..errors import DataError


def _human_size(n: int | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def register(app: typer.Typer) -> None:
    @app.command()
    def fetch(
        accession: Optional[str] = typer.Argument(None, help="ENCODE file accession, e.g. ENCFF601VTB"),
        out: Path = typer.Option(Path("data/encode"), "--out", "-o", help="folder to download into"),
        experiment: Optional[str] = typer.Option(
            None, "--experiment", "-e", help="list the files of this experiment (ENCSR...) instead of downloading"
        ),
        assembly: Optional[str] = typer.Option(None, "--assembly", help="with --experiment: only this assembly"),
        encode_url: Optional[str] = typer.Option(
            None, "--encode-url", envvar="SEQ2TRACK_ENCODE_URL", help="ENCODE portal base URL"
        ),
        as_json: bool = typer.Option(False, "--json", help="print JSON (for scripts)"),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
    ) -> None:
        """Download an ENCODE file by accession (md5-checked, resumable, cached), or list an experiment's files."""
        from ..io import encode

        if experiment:
            files = encode.experiment_files(experiment, base=encode_url)
            if assembly:
                files = [f for f in files if (f.assembly or "").lower() == assembly.lower()]
            if as_json:
                typer.echo(json.dumps([f.to_json() for f in files], indent=2))
                return
            typer.echo(f"{experiment}: {len(files)} files")
            typer.echo("accession\toutput_type\tassembly\treplicates\tformat\tsize\tstatus")
            for f in files:
                reps = ",".join(map(str, f.biological_replicates)) or "-"
                typer.echo(
                    f"{f.accession}\t{f.output_type}\t{f.assembly or '-'}\t{reps}\t{f.file_format}\t"
                    f"{_human_size(f.file_size)}\t{f.status or '-'}"
                )
            typer.echo("download one with: seq2track fetch <accession>")
            return
        if not accession:
            raise DataError("give an accession (seq2track fetch ENCFF601VTB) or --experiment ENCSR...")
        res = encode.fetch(accession, out, base=encode_url, progress=not quiet and not as_json)
        m = res.meta
        if as_json:
            typer.echo(json.dumps({"path": str(res.path), "cached": res.cached, **m.to_json()}, indent=2))
            return
        how = "cached (md5 matches)" if res.cached else "downloaded, md5 verified"
        typer.echo(
            f"{res.path}: {how}; {m.output_type} {m.file_format}, assembly {m.assembly or '?'}, "
            f"experiment {m.experiment or '?'}"
        )
        if m.status and m.status != "released":
            typer.echo(f"warning: ENCODE status of {m.accession} is {m.status!r}, not 'released'", err=True)

    @app.command("fetch-genome")
    def fetch_genome(
        name: str = typer.Argument(..., help="GRCh38 | hg38 | mm10 | sacCer3"),
        out: Path = typer.Option(Path("data"), "--out", "-o", help="folder; the genome goes to <out>/<name>/"),
        no_blacklist: bool = typer.Option(False, "--no-blacklist", help="skip the ENCODE blacklist"),
        encode_url: Optional[str] = typer.Option(None, "--encode-url", envvar="SEQ2TRACK_ENCODE_URL"),
        ucsc_url: Optional[str] = typer.Option(None, "--ucsc-url", envvar="SEQ2TRACK_UCSC_URL"),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
    ) -> None:
        """Download a reference genome, decompress and index it, write chrom sizes and the blacklist."""
        from ..io import reference

        rec = reference.fetch_genome(
            name, out, encode_base=encode_url, ucsc_base=ucsc_url, progress=not quiet, blacklist=not no_blacklist
        )
        gdir = out / rec["genome"]
        state = "already there" if rec["cached"] else "ready"
        n, bp = rec.get("n_sequences", "?"), rec.get("total_bp", 0)
        typer.echo(f"{gdir / rec['fasta']}: {state}; {n} sequences, {bp:,} bp")
        if rec.get("blacklist"):
            typer.echo(f"blacklist: {gdir / rec['blacklist']}")

    @app.command()
    def info(
        path: Path = typer.Argument(..., help="bigWig, FASTA(.gz), 2bit, FASTQ(.gz) or BED/BEDPE(.gz)"),
        as_json: bool = typer.Option(False, "--json", help="print JSON (for scripts)"),
        reads: int = typer.Option(10_000, "--reads", help="FASTQ: reads to summarise"),
        rows: int = typer.Option(30, "--rows", help="text output: rows per table"),
    ) -> None:
        """Describe a genomics file: what bigWigInfo / faSize / a FASTQ peek would tell."""
        from ..io.info import describe
        from ..io.info_text import format_text

        d = describe(path, n_reads=reads)
        typer.echo(json.dumps(d, indent=2) if as_json else format_text(d, max_rows=rows))

    @app.command("init-study")
    def init_study_cmd(
        genome: Path = typer.Option(..., "--genome", "-g", help="reference FASTA or 2bit"),
        track: list[Path] = typer.Option(..., "--track", "-t", help="bigWig track (repeat for several)"),
        out: Path = typer.Option(..., "--out", "-o", help="study YAML to write"),
        name: Optional[str] = typer.Option(None, "--name", help="study name (default: the file stem)"),
        blacklist: Optional[Path] = typer.Option(None, "--blacklist", help="BED of regions to drop"),
        seed: int = typer.Option(0, "--seed"),
        force: bool = typer.Option(False, "--force", help="overwrite an existing study file"),
    ) -> None:
        """Write a sound default study for a genome and tracks (chromosome split, sensible windows)."""
        from ..init_study import init_study

        if out.exists() and not force:
            raise DataError(f"{out} exists; pass --force to overwrite it or choose another --out")
        s = init_study(genome, list(track), out, name=name, blacklist=blacklist, seed=seed)
        typer.echo(
            f"{out}: {len(s['chroms'])} chromosomes; test {', '.join(s['test'])} ({s['test_fraction']:.1%}), "
            f"val {', '.join(s['val'])} ({s['val_fraction']:.1%}); resolution {s['resolution']}, "
            f"input {s['input_length']}, stride {s['stride']}"
        )

    @app.command()
    def predict(
        run: Path = typer.Argument(..., help="a run directory written by `seq2track run`"),
        out: Path = typer.Option(..., "--out", "-o", help="bigWig (or bedGraph with --bedgraph) to write"),
        chroms: Optional[list[str]] = typer.Option(
            None, "--chroms", help="chromosomes to predict (repeat; 'all' for every study chromosome); default: the test chromosomes"
        ),
        track: Optional[str] = typer.Option(None, "--track", help="which track of a multi-task run (default: the first)"),
        residuals: bool = typer.Option(False, "--residuals", help="write observed minus predicted"),
        bedgraph: bool = typer.Option(False, "--bedgraph", help="write a bedGraph text file instead of a bigWig"),
    ) -> None:
        """Tile the trained model over whole chromosomes and write its predictions (track units) for a genome browser."""
        from ..export import write_predictions
        from ..ranks import launched_split

        with launched_split():  # under torchrun / srun the ranks split the tiles; rank 0 writes
            s = write_predictions(run, out, chroms=chroms, track=track, residuals=residuals, bedgraph=bedgraph)
        typer.echo(f"wrote {s['path']}: track {s['track']}, {sum(s['bins'].values()):,} bins on {', '.join(s['chroms'])}")

    @app.command("import-model")
    def import_model_cmd(
        study: Path = typer.Argument(..., help="the study YAML the model is judged on (its tracks, windows and splits)"),
        model: Path = typer.Argument(..., help="a gReLU .ckpt, a TorchScript file or a torch.save'd module"),
        out: Path = typer.Option(..., "--out", "-o", help="run directory to write"),
        adapter: Optional[Path] = typer.Option(
            None, "--adapter", help="YAML: input_length, resolution, tracks, track_map, output_transform, output_scale, "
            "input_layout, train_chroms (a gReLU checkpoint supplies most of them)"),
        fmt: Optional[str] = typer.Option(None, "--format", help="grelu | torchscript | torch (default: from the suffix)"),
        evaluate: bool = typer.Option(True, "--evaluate/--no-evaluate", help="evaluate and write the report now"),
    ) -> None:
        """Bring in a model trained elsewhere as a run directory of STUDY: evaluate, audit --model, predict, interpret and the report work on it."""  # noqa: E501
        from ..config import load_study
        from ..model_import import describe, import_model, overlap_text
        from ..run import evaluate_only

        res = import_model(load_study(study), model, out, fmt=fmt, adapter_file=adapter)
        typer.echo(f"imported {model} into {res.out}: {describe(res)}")
        typer.echo(overlap_text(res))
        if evaluate:
            m = evaluate_only(res.out)
            t = m.get("test", {})
            typer.echo(f"test Pearson {t.get('pearson', float('nan')):.4f}, report {m['report']}")
