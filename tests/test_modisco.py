"""interpret/modisco.py: modisco-lite finds planted motifs in attributions, TOMTOM names them from
JASPAR (pyjaspar), a repressor comes out as a negative pattern, and noise gives no pattern."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("modiscolite")
pytest.importorskip("memelite")

from seq2track.errors import DataError  # noqa: E402
from seq2track.interpret.modisco import discover, jaspar_matrices, match, run_motifs  # noqa: E402
from seq2track.interpret.motifs import jaspar_motif  # noqa: E402


def _attributions(seed: int = 0, n: int = 300, length: int = 300):
    """One-hot windows with CTCF (MA0139.1) planted in every 2nd and REST (MA0138.2) in every 3rd,
    hypothetical contributions = +/- the motif's information at the site plus noise elsewhere."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, (n, length))
    hyp = rng.normal(0, 0.01, (n, 4, length)).astype(np.float32)
    for m, sign, every in ((jaspar_motif("MA0139.1"), 1, 2), (jaspar_motif("MA0138.2"), -1, 3)):
        for i in range(0, n, every):
            s = int(rng.integers(20, length - m.width - 20))
            codes[i, s:s + m.width] = [rng.choice(4, p=m.prob[:, j]) for j in range(m.width)]
            hyp[i, :, s:s + m.width] += sign * 0.5 * np.log2(m.prob / 0.25 + 1e-3).clip(0)
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
    assert all(0 <= r["q_value"] <= 1 for r in rows)


def test_noise_finds_no_pattern_and_the_cli_writes_the_table(tmp_path):
    ohe, hyp, rng = _attributions(seed=1)
    noise = rng.normal(0, 0.01, hyp.shape).astype(np.float32)
    assert match(discover(ohe, noise), jaspar_matrices()[:50]) == []
    np.savez_compressed(tmp_path / "ohe.npz", ohe)
    np.savez_compressed(tmp_path / "hyp.npz", hyp)
    from typer.testing import CliRunner

    from seq2track.cli import app

    r = CliRunner().invoke(app, ["motifs", str(tmp_path), "--max-seqlets", "1000"])
    assert r.exit_code == 0, r.output
    table = json.loads((tmp_path / "patterns.json").read_text())["patterns"]
    assert any(p["sign"] == "negative" and p["match_name"] == "REST" and p["significant"] for p in table)
    assert (tmp_path / "patterns.tsv").read_text().startswith("sign\tindex\tn_seqlets")
    with pytest.raises(DataError, match="run `seq2track attribute"):
        run_motifs(tmp_path / "nowhere")
