import numpy as np
import pytest

from conftest import write_fasta
from seq2track.interpret.motifs import Motif
from seq2track.interpret.variants import (
    allele_window,
    chrom_lookup,
    effects_table,
    score_against_truth,
    variant_effects,
    variant_windows,
)
from seq2track.io.genome import Genome, decode, encode
from seq2track.io.vcf import read_vcf

L = 40
SITE = "TTACCCGGA"


def _genome(tmp_path):
    rng = np.random.default_rng(0)
    c1 = "".join(rng.choice(list("ACGT"), 300))
    c1 = c1[:150] + SITE + c1[159:]  # a motif site at 151..159 (1-based)
    c2 = "".join(rng.choice(list("ACGT"), 120))
    fa = write_fasta(tmp_path / "g.fa", {"chr1": c1, "chr2": c2})
    return Genome(fa), c1, c2


def _vcf(tmp_path, c1, c2):
    lines = [
        "##fileformat=VCFv4.2",
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO",
        f"1\t155\tbrk\t{c1[154]}\t{'A' if c1[154] != 'A' else 'G'}\t.\t.\tCLASS=break",  # inside the site; alias 1
        f"chr1\t60\tneu\t{c1[59]}\t{'T' if c1[59] != 'T' else 'C'},{'G' if c1[59] != 'G' else 'C'}\t.\t.\tCLASS=neutral",
        f"chr1\t61\tbad\t{'A' if c1[60] != 'A' else 'C'}\tG\t.\t.\t.",  # wrong REF
        f"chrX\t10\tnochr\tA\tG\t.\t.\t.",
        f"chr2\t3\tedge\t{c2[2]}\tA\t.\t.\t.",
        f"chr1\t100\tdel\t{c1[99:102]}\t{c1[99]}\t.\t.\t.",
        f"chr1\t200\tins\t{c1[199]}\t{c1[199]}GGG\t.\t.\t.",
        f"chr1\t210\tsym\t{c1[209]}\t<DEL>\t.\t.\t.",
        f"chr1\t220\tlong\t{c1[219]}\t{c1[219] + 'A' * 30}\t.\t.\t.",
    ]
    p = tmp_path / "v.vcf"
    p.write_text("\n".join(lines) + "\n")
    return read_vcf(p)


def test_windows_statuses_and_alleles(tmp_path):
    g, c1, c2 = _genome(tmp_path)
    v = _vcf(tmp_path, c1, c2)
    get = chrom_lookup(list(g.sizes), g.codes)
    w = variant_windows(v, get, L, max_indel=10)
    assert list(v["id"]) == ["brk", "neu", "neu", "bad", "nochr", "edge", "del", "ins", "sym", "long"]
    assert list(w.status) == ["ok", "ok", "ok", "ref_mismatch", "unknown_chrom", "edge", "ok", "ok", "symbolic", "too_long"]
    assert w.rows.tolist() == [0, 1, 2, 6, 7]
    # SNV: same window, centre base replaced; the window is the genome around the variant
    ref0, alt0 = decode(w.ref[0]), decode(w.alt[0])
    assert ref0 == c1[154 - L // 2 : 154 + L // 2]
    assert [i for i in range(L) if ref0[i] != alt0[i]] == [L // 2] and alt0[L // 2] == v["alt"][0]
    # deletion of 2 bp: the alt window holds the flanks joined, centred on the remaining base
    d_ref, d_alt = decode(w.ref[3]), decode(w.alt[3])
    assert d_ref == c1[99 - (L // 2 - 1) : 99 - (L // 2 - 1) + L]
    assert d_alt == c1[99 - L // 2 : 100] + c1[102 : 102 + L // 2 - 1]
    # insertion: alt allele in the middle of the alt window
    i_alt = decode(w.alt[4])
    assert i_alt[L // 2 - 2 : L // 2 + 2] == c1[199] + "GGG" and len(i_alt) == L
    assert w.ref.shape == w.alt.shape == (5, L)


def test_allele_window_off_the_end():
    chrom = encode("ACGT" * 5)
    assert allele_window(chrom, 2, 1, encode("A"), 10) is None
    assert decode(allele_window(chrom, 10, 1, encode("T"), 10)) == "CGTAC" + "T" + "TACG"  # 5 bp left, allele, 4 right


def _site_model(site: str):
    """f(x) = 10 * (exact site on either strand) per window, 3 bins, 2 tracks (2nd = 1 - first/20)."""
    fwd = encode(site)
    rc = 3 - fwd[::-1]

    def f(x):
        codes = np.where(x.sum(1) > 0, x.argmax(1), 4)
        win = np.lib.stride_tricks.sliding_window_view(codes, len(site), axis=1)
        hit = ((win == fwd).all(-1) | (win == rc).all(-1)).any(-1).astype(np.float32)
        y = np.stack([10 * hit, 1 - hit / 2], axis=1)
        return np.repeat(y[:, :, None], 3, axis=2) + 1.0

    return f


def test_effects_break_the_site_and_table(tmp_path):
    g, c1, c2 = _genome(tmp_path)
    v = _vcf(tmp_path, c1, c2)
    w = variant_windows(v, chrom_lookup(list(g.sizes), g.codes), L, max_indel=10)
    eff = variant_effects(_site_model(SITE), w.ref, w.alt, pseudocount=0.0)
    assert eff.diff.shape == (5, 2)
    assert eff.diff[0].tolist() == [-10.0, 0.5]  # breaking the site
    assert np.allclose(eff.log2fc[0], [np.log2(1 / 11), np.log2(2 / 1.5)])
    assert np.all(eff.diff[1:3] == 0)  # both alleles of the multi-allelic neutral SNP
    units = variant_effects(_site_model(SITE), w.ref, w.alt, to_units=lambda y: y * 2, pseudocount=1.0)
    assert np.allclose(units.log2fc[0, 0], np.log2(3 / 23))
    tab = effects_table(v, w, eff, ["a", "b"])
    assert len(tab) == 2 * len(v) and list(tab["track"][:2]) == ["a", "b"]
    assert tab.loc[0, "variant"] == f"1:155:{c1[154]}>{v['alt'][0]}" and tab.loc[0, "diff"] == -10.0
    bad = tab[tab["status"] != "ok"]
    assert bad[["pred_ref", "pred_alt", "diff", "log2fc"]].isna().all().all()
    assert set(bad["status"]) == {"ref_mismatch", "unknown_chrom", "edge", "symbolic", "too_long"}


def test_score_against_truth():
    cls = np.array(["break"] * 4 + ["create"] * 2 + ["neutral"] * 4)
    effect = np.array([-3.0, -2.0, 1.5, -0.2, 2.0, 0.1, 0.0, 0.3, -0.1, 0.05])
    truth = np.array([-3.0, -2.5, 1.0, -0.5, 2.0, 0.5, 0.0, 0.1, 0.0, 0.0])
    s = score_against_truth(effect, cls, truth)
    # break |effect| {3, 2, 1.5, 0.2} vs neutral {0, 0.3, 0.1, 0.05}: 15 of 16 pairs ordered right
    assert s["auroc_break_vs_neutral"] == pytest.approx(15 / 16)
    assert s["n_break"] == 4 and s["n_neutral"] == 4
    assert s["pearson"] == pytest.approx(np.corrcoef(effect, truth)[0, 1])
    assert -1 <= s["spearman"] <= 1


def test_variants_command_on_a_run_directory(tiny):
    import json

    import pandas as pd
    from typer.testing import CliRunner

    from seq2track.cli import app
    from test_marginalize import make_tiny_run

    run = make_tiny_run(tiny, truth=False)
    c3 = tiny["seqs"]["chr3"]
    alt = {b: "ACGT"[("ACGT".index(b) + 1) % 4] for b in "ACGT"}
    lines = ["##fileformat=VCFv4.2", "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    for k, p in enumerate(range(2000, 7000, 500)):
        cls = "break" if k % 2 else "neutral"
        lines.append(f"3\t{p}\tv{k}\t{c3[p - 1]}\t{alt[c3[p - 1]]}\t.\t.\tCLASS={cls};TRUE_EFFECT={-k * (k % 2)}")
    lines.append(f"chr3\t100\tmis\t{alt[c3[99]]}\tA\t.\t.\t.")  # REF does not match the genome
    lines.append(f"chr3\t10\tedge\t{c3[9]}\t{alt[c3[9]]}\t.\t.\t.")  # 1024-bp window runs off chr3
    vcf = tiny["dir"] / "v.vcf.gz"
    import gzip

    with gzip.open(vcf, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    res = CliRunner().invoke(app, ["variants", str(run), "--vcf", str(vcf)])
    assert res.exit_code == 0, res.output
    tab = pd.read_csv(run / "interpret" / "variants.tsv", sep="\t")
    assert len(tab) == 12 and set(tab["track"]) == {"sig"}
    assert list(tab["status"]) == ["ok"] * 10 + ["ref_mismatch", "edge"]
    ok = tab[tab["status"] == "ok"]
    assert ok[["pred_ref", "pred_alt", "diff", "log2fc"]].notna().all().all()
    assert np.allclose(ok["diff"], ok["pred_alt"] - ok["pred_ref"], atol=1e-5)
    summary = json.loads((run / "interpret" / "variants.json").read_text())
    assert summary["status"]["ok"] == 10 and summary["status"]["ref_mismatch"] == 1
    assert set(summary["truth"]["sig"]) >= {"auroc_break_vs_neutral", "pearson", "spearman"}
    assert "auROC break vs neutral" in res.output
    assert "Variant effects" in (run / "report.html").read_text()
