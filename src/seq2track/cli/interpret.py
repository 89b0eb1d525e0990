"""``interpret`` (motif marginalisation), ``variants`` (variant effects), ``attribute`` (ISM, IG, logos)."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def _motifs(specs: list[str], motif_file: Path | None, release: str):
    from ..interpret.motifs import get_motifs

    return get_motifs(specs, motif_file, release)


def _report(run_dir: Path) -> None:
    from ..interpret import update_report

    p = update_report(run_dir)
    if p is not None:
        typer.echo(f"report: {p} (section Interpretation)")


def register(app: typer.Typer) -> None:
    @app.command()
    def interpret(
        run: Path = typer.Argument(..., help="a trained run directory"),
        motif: list[str] = typer.Option(
            None, "--motif", "-m",
            help="JASPAR ID (MA0139.1) or name (CTCF), or an ID/name in --motif-file; repeat for several. "
                 "Default on simulated data: the planted motifs of truth.json",
        ),
        motif_file: Path = typer.Option(None, "--motif-file", help="MEME minimal, JASPAR or gimmemotifs .pfm file"),
        pair: str = typer.Option(None, "--pair", help="two motifs A,B for the spacing experiment (default on "
                                 "simulated data: the interacting pair)"),
        n: int = typer.Option(500, "--n", help="number of shuffled test-split backgrounds", min=2),
        n_sweep: int = typer.Option(100, "--n-sweep", help="backgrounds used for the position sweep", min=2),
        n_spacing: int = typer.Option(100, "--n-spacing", help="backgrounds used for the spacing experiment", min=2),
        spacing_max: int = typer.Option(160, "--spacing-max", help="largest centre-to-centre distance (bp)"),
        spacing_step: int = typer.Option(4, "--spacing-step", help="distance step (bp)", min=1),
        sweep_step: int = typer.Option(64, "--sweep-step", help="offset step of the position sweep (bp)", min=1),
        seed: int = typer.Option(None, "--seed", help="random seed (default: the study's)"),
        release: str = typer.Option("JASPAR2024", "--jaspar", help="pyjaspar release for ID/name look-ups"),
    ) -> None:
        """Insert motifs into shuffled test sequences; effect on the prediction with 95% CIs -> RUN/interpret/."""
        import numpy as np

        from ..errors import ConfigError
        from ..rundir import Run
        from ..interpret.marginalize import run_marginalize

        specs = list(motif or [])
        given = _motifs(specs, motif_file, release) if specs else None  # fail fast on a bad motif
        r = Run.open(run)
        truth = r.truth()
        if not specs and truth:
            specs = [m["jaspar_id"] for m in truth["motifs"]]
        if not specs:
            raise ConfigError("give at least one --motif (a JASPAR ID such as MA0139.1, a name, or a file)")
        motifs = given if given is not None else _motifs(specs, motif_file, release)
        pair_specs = pair.split(",") if pair else None
        if pair_specs is None and truth and not motif:
            ids = {m["name"]: m["jaspar_id"] for m in truth["motifs"]}
            pair_specs = [ids[x] for x in truth["interacting_pair"]["motifs"]]
        pair_m = None
        if pair_specs:
            if len(pair_specs) != 2:
                raise ConfigError(f"--pair needs two motifs separated by a comma (got {pair!r})")
            pair_m = tuple(_motifs(pair_specs, motif_file, release))
        spacings = None
        if pair_m:
            lo = -(-(pair_m[0].width + pair_m[1].width) // 2)
            spacings = np.arange(lo, spacing_max + 1, spacing_step)
        s = run_marginalize(r, motifs, n=n, seed=seed, pair=pair_m, spacings=spacings, sweep_step=sweep_step,
                            n_sweep=n_sweep, n_spacing=n_spacing)
        tab = s["table"]  # what this run computed, not what another run may have written since
        cols = ["motif", "name", "kind", "track", "effect", "ci_low", "ci_high"]
        if "effect_units" in tab and tab["effect_units"].notna().any():
            cols.append("effect_units")
        if "planted_effect" in tab and tab["planted_effect"].notna().any():
            cols.append("planted_effect")
        if "truth_effect" in tab and tab["truth_effect"].notna().any():
            cols += ["truth_effect", "truth_ci_low", "truth_ci_high"]
        typer.echo(tab[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        typer.echo(f"wrote {', '.join(s['files'])} to {r.out}")
        _report(r.dir)

    @app.command()
    def variants(
        run: Path = typer.Argument(..., help="a trained run directory"),
        vcf: Path = typer.Option(..., "--vcf", help="VCF (plain, gzip or bgzip)"),
        out: Path = typer.Option(None, "--out", "-o", help="output TSV (default RUN/interpret/variants.tsv)"),
        max_indel: int = typer.Option(None, "--max-indel", help="largest indel length change scored "
                                      "(default input_length/4)"),
        pseudocount: float = typer.Option(1.0, "--pseudocount", help="added to track-unit means before log2 fold change"),
    ) -> None:
        """Predict reference and alternative alleles (RC-averaged); difference and log2 fold change per track."""
        from ..rundir import Run
        from ..interpret.variants import run_variants

        from ..ranks import launched_split

        r = Run.open(run)
        with launched_split():  # under torchrun / srun the ranks split the variants; rank 0 writes
            s = run_variants(r, vcf, out, max_indel=max_indel, pseudocount=pseudocount)
        st = ", ".join(f"{k} {v}" for k, v in s["status"].items() if v)
        typer.echo(f"{s['n_variants']} alleles: {st}")
        for track, m in s.get("truth", {}).items():
            typer.echo(
                f"{track}: auROC break vs neutral {m['auroc_break_vs_neutral']:.3f}, "
                f"Pearson {m['pearson']:.3f}, Spearman {m['spearman']:.3f} (predicted log2FC vs TRUE_EFFECT)"
            )
        typer.echo(f"wrote {out or r.out / 'variants.tsv'}")
        _report(r.dir)

    @app.command()
    def attribute(
        run: Path = typer.Argument(..., help="a trained run directory"),
        region: str = typer.Option(None, "--region", help="chrom:start-end (0-based); the window is centred on it"),
        top: int = typer.Option(None, "--top", help="the N test windows with the highest prediction", min=1),
        span: int = typer.Option(400, "--span", help="central bp mutated (ISM) and drawn"),
        track: str = typer.Option("0", "--track", help="track name or index"),
        baselines: int = typer.Option(4, "--baselines", help="dinucleotide-shuffled baselines for IG", min=1),
        ig_steps: int = typer.Option(32, "--ig-steps", help="integration steps for IG", min=2),
        seed: int = typer.Option(None, "--seed", help="random seed (default: the study's)"),
        method: str = typer.Option(None, "--method", help="deepliftshap|ism|ig over --n windows: arrays for "
                                   "modisco-lite (ohe.npz, hyp.npz) + a per-base bigWig, instead of logos"),
        regions: str = typer.Option("test", "--regions", help="with --method: test, all or a BED path"),
        n: int = typer.Option(1000, "--n", "--n-windows", help="with --method: number of windows "
                              "(spell it --n-windows after torchrun, whose own parser takes --n for its options)", min=1),
        shuffles: int = typer.Option(10, "--shuffles", help="with --method: dinucleotide-shuffled references", min=1),
        out: Path = typer.Option(None, "--out", "-o", help="with --method: output folder "
                                 "(default RUN/interpret/attributions/METHOD)"),
        shuffle_inputs: bool = typer.Option(False, "--shuffle-inputs", help="with --method: dinucleotide-shuffle "
                                            "each window first (the control: `motifs` should find no match)"),
    ) -> None:
        """ISM + IG logos of a few windows, or (--method) attributions of many windows -> RUN/interpret/attributions/."""
        from ..rundir import Run
        from ..interpret.ism import run_attribute

        r = Run.open(run)
        if method is not None:
            from ..interpret.deeplift import run_attribute_many
            from ..ranks import launched_split

            with launched_split():  # under torchrun / srun the ranks split the windows; rank 0 writes
                m = run_attribute_many(r, method, regions=regions, n=n, track=track, n_shuffles=shuffles, seed=seed,
                                       out=out, shuffle_inputs=shuffle_inputs)
            typer.echo(f"{m['method']}: {m['n']} windows; explained: {m['scalar']}; max |sum(attr) - (pred - ref)| "
                       f"{m['max_abs_delta']} (max |pred - ref| {m['max_abs_pred_minus_ref']})")
            typer.echo(f"wrote {', '.join(m['files'])} to {m['dir']}")
            return
        s = run_attribute(r, region=region, top=top, span=span, track=track, n_baselines=baselines,
                          ig_steps=ig_steps, seed=seed)
        for w in s["windows"]:
            typer.echo(
                f"{w['window']}: predicted {w['prediction']:.3g}; sites {w['sites'] or '-'}; "
                f"ISM enrichment {w['ism_site_enrichment']:.2f}, IG enrichment {w['ig_site_enrichment']:.2f}"
            )
        typer.echo(f"wrote {r.out / 'attributions'}")
        _report(r.dir)

    @app.command()
    def motifs(
        attr_dir: Path = typer.Argument(..., help="a folder written by `seq2track attribute RUN --method deepliftshap --out DIR`"),
        release: str = typer.Option("JASPAR2024", "--jaspar", help="pyjaspar release matched against"),
        tax_group: str = typer.Option(None, "--tax-group", help="JASPAR CORE taxonomic group, e.g. fungi, vertebrates"),
        max_seqlets: int = typer.Option(2000, "--max-seqlets", help="seqlets per sign given to modisco-lite", min=10),
        q_max: float = typer.Option(0.05, "--q", help="q-value below which a TOMTOM match is reported as significant"),
        min_seqlets: int = typer.Option(20, "--min-seqlets", help="patterns with fewer seqlets are not matched", min=1),
        min_total_ic: float = typer.Option(6.0, "--min-ic", help="patterns whose trimmed core holds fewer bits are "
                                           "not matched", min=0.0),
        threshold_from: Path = typer.Option(None, "--threshold-from", help="for a control (attribute --shuffle-inputs): "
                                            "the real run's folder; its seqlet threshold is used here"),
    ) -> None:
        """TF-MoDISco (modisco-lite) patterns of the attributions, each matched to JASPAR by TOMTOM -> DIR/patterns.{tsv,json}."""
        from ..interpret.modisco import run_motifs

        rows = run_motifs(attr_dir, release=release, tax_group=tax_group, max_seqlets=max_seqlets, q_max=q_max,
                          min_seqlets=min_seqlets, min_total_ic=min_total_ic, threshold_from=threshold_from)
        for r in rows:
            head = f"{r['sign']} pattern {r['index']}: {r['n_seqlets']} seqlets, {r['width']} bp, {r['ic_total']:.1f} bits"
            if r["skipped"]:
                typer.echo(f"{head}; not matched ({r['skipped']})")
            else:
                typer.echo(f"{head}; best match {r['match_id']} {r['match_name']} "
                           f"(q {r['q_value']:.2g}{', significant' if r['significant'] else ''})")
        if threshold_from is not None:
            sq = json.loads((Path(attr_dir) / "patterns.json").read_text())["seqlets"]
            typer.echo(f"seqlet threshold {sq['threshold']:.4g} from {threshold_from}: "
                       f"{100 * sq['passing_frac']:.3g}% of this folder's windows reach it")
        typer.echo(f"{len(rows)} patterns; wrote {Path(attr_dir) / 'patterns.tsv'}")
        run_dir = next((d for d in Path(attr_dir).resolve().parents if (d / "study.yaml").exists()
                        and (d / "data").is_dir()), None)
        if run_dir is not None:  # the attributions lie inside a run: its report gains the Motifs section
            from ..report.html import render_report

            typer.echo(f"report: {render_report(run_dir)} (section Motifs)")
