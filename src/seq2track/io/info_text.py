"""``seq2track info`` as text: the summary dicts of ``io/info.py`` rendered for a terminal."""

from __future__ import annotations

import math
from typing import Any


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        if math.isfinite(x) and x == int(x) and abs(x) < 1e15:
            return f"{int(x):,}"
        return f"{x:.4g}"
    if isinstance(x, int):
        return f"{x:,}"
    return str(x)


def _dist(d: dict[str, float]) -> str:
    return "  ".join(f"{k} {_fmt(v)}" for k, v in d.items() if not isinstance(v, dict))


def format_text(info: dict[str, Any], max_rows: int = 30) -> str:
    """A human-readable rendering of :func:`describe`'s dict."""
    k = info["kind"]
    lines = [f"{info['path']}  ({k}, {info['file_size']:,} bytes)"]
    if k == "bigwig":
        lines += [
            f"version: {info['version']}",
            f"chromosomes: {info['n_chroms']} ({len(info['chroms_with_data'])} with data), {info['genome_bp']:,} bp",
            f"bases covered: {info['bases_covered']:,} ({info['covered_fraction']:.2%})",
            f"min {_fmt(info['min'])}  max {_fmt(info['max'])}  mean {_fmt(info['mean'])}  std {_fmt(info['std'])}",
            f"zoom levels: {len(info['zoom_levels'])} ({', '.join(map(str, info['zoom_levels']))} bp)",
            f"data step: {info['step_bp']} bp",
            "zeros stored: " + {True: "yes", False: "no", None: "unknown (values span 0)"}[info["zeros_stored"]],
        ]
        if info["covered_fraction"] < 1 and info["zeros_stored"] is False:
            lines.append("  bases absent from the file read as NaN; a study's `missing: zero` counts them as 0")
        lines.append("chromosome lengths:")
        for i, (c, n) in enumerate(info["chroms"].items()):
            if i == max_rows:
                lines.append(f"  ... {info['n_chroms'] - max_rows} more")
                break
            mark = "" if c in info["chroms_with_data"] else "  (no data)"
            lines.append(f"  {c}\t{n:,}{mark}")
    elif k in ("fasta", "2bit"):
        lines += [
            f"sequences: {info['n_sequences']}, {info['total_bp']:,} bp",
            f"N fraction {info['n_fraction']:.4f}  GC fraction {info['gc_fraction']:.4f} (of ACGT bases)",
            "name\tlength\tN\tGC",
        ]
        for i, r in enumerate(info["sequences"]):
            if i == max_rows:
                lines.append(f"... {info['n_sequences'] - max_rows} more")
                break
            lines.append(f"{r['name']}\t{r['length']:,}\t{r['n_fraction']:.4f}\t{r['gc_fraction']:.4f}")
    elif k == "fastq":
        more = " (more in the file)" if info["more_reads"] else " (whole file)"
        lines += [
            f"reads sampled: {info['n_reads_sampled']:,}{more}; Phred+{info['phred_offset']}",
            f"read length: {_dist(info['read_length'])}",
            f"base quality: {_dist(info['base_quality'])}",
            f"read mean quality: {_dist(info['read_mean_quality'])}",
            f"GC {info['gc_fraction']:.4f}  N {info['n_fraction']:.4f}",
            "first records:",
        ]
        for r in info["first_records"]:
            lines += [f"  @{r['id']}", f"  {r['sequence']}", "  " + " ".join(map(str, r["quality"]))]
    elif k == "intervals":
        lines += [
            f"format: {info['format']} ({info['n_columns']} columns), {info['count']:,} intervals, "
            f"{len(info['per_chrom'])} chromosomes",
            f"length: {_dist(info['length'])}",
        ]
        if info["n_interchromosomal"]:
            lines.append(f"left out: {info['n_interchromosomal']:,} pairs with ends on different chromosomes")
        if info["n_invalid"]:
            lines.append(f"warning: {info['n_invalid']:,} intervals with end <= start")
        lines.append("per chromosome:")
        for i, (c, n) in enumerate(info["per_chrom"].items()):
            if i == max_rows:
                lines.append(f"  ... {len(info['per_chrom']) - max_rows} more")
                break
            lines.append(f"  {c}\t{n:,}")
    return "\n".join(lines)
