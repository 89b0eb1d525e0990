"""report/motifs.py: the Motifs section keeps positive and negative patterns apart, draws a logo per
pattern, names the best JASPAR match (ID, name, q) or says why a pattern was not matched, and the
run's report includes it only when an attribution folder holds patterns.json. (The section from a
real modisco-lite output is tested in test_modisco.py.)"""

from __future__ import annotations

import json

import numpy as np

from seq2track.report.html import render_report
from seq2track.report.motifs import find_patterns, logo_png, patterns_html


def _pattern(sign: str, index: int, n: int, match: tuple[str, str, float] | None, skipped: str | None = None):
    rng = np.random.default_rng(index)
    cwm = rng.normal(0, 1, (4, 12)) * (1 if sign == "positive" else -1)
    ppm = np.full((4, 12), 0.25)
    row = {"sign": sign, "index": index, "n_seqlets": n, "contrib": float(cwm.sum()), "trim": [2, 10], "width": 8,
           "ic_total": 9.5, "ic_mean": 1.2, "skipped": skipped, "ppm_full": ppm.tolist(), "cwm_full": cwm.tolist(),
           "match_id": None, "match_name": None, "p_value": None, "q_value": None, "significant": False,
           "matches": []}
    if match is not None:
        row.update(match_id=match[0], match_name=match[1], p_value=match[2] / 10, q_value=match[2],
                   significant=match[2] < 0.05, matches=[list(match)])
    return row


def _write(d, patterns):
    d.mkdir(parents=True)
    (d / "patterns.json").write_text(json.dumps({"release": "JASPAR2024", "tax_group": None, "q_max": 0.05,
                                                 "n_windows": 50, "patterns": patterns}))
    return d / "patterns.json"


def test_section_keeps_signs_apart_and_names_matches(tmp_path):
    p = _write(tmp_path / "a", [
        _pattern("positive", 0, 120, ("MA0139.1", "CTCF", 1e-9)),
        _pattern("positive", 1, 30, ("MA0001.1", "AGL3", 0.4)),
        _pattern("positive", 2, 25, None, skipped="core mean information 0.21 bits/column < 0.5"),
        _pattern("negative", 0, 80, ("MA0138.2", "REST", 2e-6)),
    ])
    frag = patterns_html(p)
    pos, neg = frag.index("Positive patterns"), frag.index("Negative patterns")
    assert pos < frag.index("CTCF") < neg < frag.index("REST")  # each under its own heading
    assert "<b>MA0139.1 CTCF</b> (q 1e-09)" in frag and "AGL3 (q 0.4, not significant)" in frag
    assert "not matched: core mean information" in frag
    assert frag.count("<img") == 4 and "2 matched to JASPAR" in frag


def test_logo_is_a_png_and_negative_values_draw():
    png = logo_png(-np.abs(np.random.default_rng(0).normal(0, 1, (4, 15))), trim=(3, 9))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 500


def test_report_includes_the_section_only_with_patterns(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    assert find_patterns(run) == []
    assert 'id="motifs"' not in render_report(run).read_text()
    _write(run / "interpret" / "attributions" / "deepliftshap", [_pattern("negative", 0, 80, ("MA0138.2", "REST", 2e-6))])
    page = render_report(run).read_text()
    assert 'id="motifs"' in page and "MA0138.2 REST" in page and "Positive patterns" in page
