"""interpret/modisco.py: modisco-lite finds planted motifs in attributions, TOMTOM names them from
JASPAR (pyjaspar), a repressor comes out as a negative pattern, and noise gives no pattern."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("modiscolite")
pytest.importorskip("memelite")

from seq2track.errors import DataError  # noqa: E402
from seq2track.interpret.modisco import (column_ic, discover, jaspar_matrices, match, passing_fraction, run_motifs,  # noqa: E402
                                         seqlet_threshold, trim_bounds)
from seq2track.interpret.motifs import jaspar_motif  # noqa: E402


def _attributions(seed: int = 0, n: int = 300, length: int = 300):
    """One-hot windows with CTCF (MA0139.1) planted in every 2nd and REST (MA0138.2) in every 3rd,
    hypothetical contributions = +/- the motif's information at the site plus noise elsewhere; every
    odd window also holds a wide (40-bp) low-information site (each column 0.4 one base, 0.2 the others,
    about 0.08 bit) with strong positive contributions: modisco finds it, TOMTOM must not name it."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, (n, length))
    hyp = rng.normal(0, 0.01, (n, 4, length)).astype(np.float32)
    for m, sign, every in ((jaspar_motif("MA0139.1"), 1, 2), (jaspar_motif("MA0138.2"), -1, 3)):
        for i in range(0, n, every):
            s = int(rng.integers(20, length - m.width - 20))
            codes[i, s:s + m.width] = [rng.choice(4, p=m.prob[:, j]) for j in range(m.width)]
            hyp[i, :, s:s + m.width] += sign * 0.5 * np.log2(m.prob / 0.25 + 1e-3).clip(0)
    bias = rng.integers(0, 4, 40)
    weak = np.full((40, 4), 0.2)
    weak[np.arange(40), bias] = 0.4
    for i in range(1, n, 2):
        s = int(rng.integers(5, length - 45))
        codes[i, s:s + 40] = [rng.choice(4, p=weak[j]) for j in range(40)]
        hyp[i, :, s:s + 40] += 0.3 * np.eye(4, dtype=np.float32)[bias].T + 0.1
    ohe = np.eye(4, dtype=np.float32)[codes].transpose(0, 2, 1)
    return ohe, hyp, rng


@pytest.fixture(scope="module")
def db():
    full = jaspar_matrices()
    keep = [m for m in full if m[0].split(".")[0] in ("MA0139", "MA0138")]  # every version of the two
    return keep + [m for m in full if m not in keep][:300]  # and 300 unplanted matrices


def test_planted_activator_and_repressor_are_found_apart_and_named(db, tmp_path):
    ohe, hyp, _ = _attributions()
    rows = match(discover(ohe, hyp), db)
    assert {r["sign"] for r in rows} == {"positive", "negative"}
    pos = max((r for r in rows if r["sign"] == "positive"), key=lambda r: r["n_seqlets"])
    neg = max((r for r in rows if r["sign"] == "negative"), key=lambda r: r["n_seqlets"])
    assert pos["match_id"].startswith("MA0139") and pos["significant"] and pos["match_name"] == "CTCF"
    assert neg["match_id"].startswith("MA0138") and neg["significant"] and neg["match_name"] == "REST"
    assert all(0 <= r["q_value"] <= 1 for r in rows if r["q_value"] is not None)
    # the wide low-information site is found as a pattern but not matched to anything
    weak = [r for r in rows if r["skipped"]]
    assert weak and all(r["ic_mean"] < 0.5 and r["match_id"] is None and not r["significant"] for r in weak)
    assert {r["match_name"] for r in rows if r["significant"]} == {"CTCF", "REST"}
    # the untrimmed matrices are kept for the logo; the trimmed core lies inside them
    for r in rows:
        a, b = r["trim"]
        assert np.asarray(r["cwm_full"]).shape == np.asarray(r["ppm_full"]).shape == (4, len(r["cwm_full"][0]))
        assert 0 <= a <= b <= len(r["cwm_full"][0]) and r["width"] == b - a


def test_trim_keeps_the_informative_core_and_filters_low_information():
    uniform, core = np.full((4, 10), 0.25), np.eye(4)[:, [0, 1, 2, 3, 0, 1, 2, 3]] * 0.9 + 0.025
    ppm = np.concatenate([uniform, core, uniform], axis=1)  # [4, 28]: informative columns 10..17
    contrib = np.ones((4, 28))  # the contribution trim alone would keep all 28 columns
    assert trim_bounds(ppm, contrib, min_ic=0.0) == (0, 28)
    assert trim_bounds(ppm, contrib, min_ic=0.3) == (10, 18)
    assert column_ic(core).min() > 1.3 and column_ic(uniform).max() < 1e-9
    assert trim_bounds(np.full((4, 20), 0.25), contrib[:, :20]) == (0, 0)  # nothing informative


def test_noise_finds_no_pattern_and_the_cli_writes_the_table(tmp_path):
    ohe, hyp, rng = _attributions(seed=1)
    noise = rng.normal(0, 0.01, hyp.shape).astype(np.float32)
    assert match(discover(ohe, noise), jaspar_matrices()[:50]) == []
    attr = tmp_path / "run" / "interpret" / "attributions" / "deepliftshap"
    attr.mkdir(parents=True)
    np.savez_compressed(attr / "ohe.npz", ohe)
    np.savez_compressed(attr / "hyp.npz", hyp)
    from typer.testing import CliRunner

    from seq2track.cli import app

    r = CliRunner().invoke(app, ["motifs", str(attr), "--max-seqlets", "1000"])
    assert r.exit_code == 0, r.output
    table = json.loads((attr / "patterns.json").read_text())["patterns"]
    assert any(p["sign"] == "negative" and p["match_name"] == "REST" and p["significant"] for p in table)
    assert (attr / "patterns.tsv").read_text().startswith("sign\tindex\tn_seqlets")
    # the report section renders from this real modisco output, and the run's report includes it
    from seq2track.report.html import render_report
    from seq2track.report.motifs import find_patterns, patterns_html

    run = tmp_path / "run"
    assert find_patterns(run) == [attr / "patterns.json"]
    frag = patterns_html(attr / "patterns.json")
    assert "Positive patterns" in frag and "Negative patterns" in frag and "REST" in frag
    assert frag.count("<img") == min(len([p for p in table if p["sign"] == "positive"]), 20) + min(
        len([p for p in table if p["sign"] == "negative"]), 20)
    page = render_report(run).read_text()
    assert 'id="motifs"' in page or "#motifs" in page
    assert "MA0138" in page
    with pytest.raises(DataError, match="run `seq2track attribute"):
        run_motifs(tmp_path / "nowhere")


def _weak_control(scale: float, seed: int = 1, n: int = 300, length: int = 300):
    """A control like a dinucleotide-shuffled one: CTCF partial sites in every 2nd window, to which the
    model responds ``scale / 0.5`` as strongly as to the real sites of :func:`_attributions`."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, (n, length))
    hyp = rng.normal(0, 0.01, (n, 4, length)).astype(np.float32)
    m = jaspar_motif("MA0139.1")
    for i in range(0, n, 2):
        s = int(rng.integers(20, length - m.width - 20))
        codes[i, s:s + m.width] = [rng.choice(4, p=m.prob[:, j]) for j in range(m.width)]
        hyp[i, :, s:s + m.width] += scale * np.log2(m.prob / 0.25 + 1e-3).clip(0)
    return np.eye(4, dtype=np.float32)[codes].transpose(0, 2, 1), hyp


def test_a_control_is_judged_at_the_real_runs_seqlet_threshold(db, tmp_path):
    """On its own, modisco-lite lets >= 3% of a control's windows pass, so weak chance responses
    become a significant CTCF pattern; at the real run's threshold the same control gives none."""
    real_ohe, real_hyp, _ = _attributions()
    ctl_ohe, ctl_hyp = _weak_control(0.015)
    own = match(discover(ctl_ohe, ctl_hyp), db)
    assert any(r["match_name"] == "CTCF" and r["significant"] for r in own)
    t = seqlet_threshold(real_ohe, real_hyp)
    assert np.isfinite(t) and 0.03 - 1e-9 <= passing_fraction(real_ohe, real_hyp, t) <= 0.2 + 1e-3
    assert passing_fraction(ctl_ohe, ctl_hyp, t) < passing_fraction(ctl_ohe, ctl_hyp, 0.0) == 1.0
    carried = match(discover(ctl_ohe, ctl_hyp, passing_frac=passing_fraction(ctl_ohe, ctl_hyp, t)), db)
    assert not any(r["significant"] for r in carried)
    # the same through the folders: the real run records its threshold, the control reads it
    real, ctl = tmp_path / "real", tmp_path / "control"
    for d, (o, h) in ((real, (real_ohe, real_hyp)), (ctl, (ctl_ohe, ctl_hyp))):
        d.mkdir()
        np.savez_compressed(d / "ohe.npz", o)
        np.savez_compressed(d / "hyp.npz", h)
    with pytest.raises(DataError, match="run `seq2track motifs"):
        run_motifs(ctl, threshold_from=real)
    run_motifs(real, max_seqlets=1000)
    assert json.loads((real / "patterns.json").read_text())["seqlets"]["threshold"] == pytest.approx(t)
    rows = run_motifs(ctl, max_seqlets=1000, threshold_from=real)
    got = json.loads((ctl / "patterns.json").read_text())["seqlets"]
    assert got["threshold"] == pytest.approx(t) and got["threshold_from"] == str(real)
    assert not any(r["significant"] for r in rows)
