"""Every tutorial (``tutorials/NN_*.py``, jupytext percent format) executes end to end as a
notebook (jupytext -> nbformat -> nbclient, a real ipykernel), on the simulator's small data.

A tutorial whose package API is not there yet is skipped with the reason. The executed
notebook is written beside the test's temporary folder for inspection on failure.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((ROOT / "tutorials").glob("[0-9][0-9]*.py"))

#: modules a tutorial needs beyond prepare + simulator (skip, naming them, while absent)
REQUIRES = {
    "02_training_and_pitfalls": ["seq2track.run", "seq2track.pitfalls"],
    "03_reproducibility_and_tuning": ["seq2track.run", "seq2track.provenance", "seq2track.tune"],
    "04_interpretation": ["seq2track.run", "seq2track.interpret.ism", "seq2track.interpret.marginalize"],
}


def _missing(modules: list[str]) -> list[str]:
    out = []
    for m in modules:
        try:
            if importlib.util.find_spec(m) is None:
                out.append(m)
        except ModuleNotFoundError:
            out.append(m)
    return out


def test_there_are_tutorials():
    names = [p.stem for p in TUTORIALS]
    assert {"01_bigwig_preprocessing", "01b_grelu_style_data"} <= set(names), names


#: tutorials that train models (~1 min of CPU each on 2 cores): marked slow (still run in CI)
SLOW = {"02_training_and_pitfalls", "03_reproducibility_and_tuning", "04_interpretation"}


@pytest.mark.parametrize(
    "path",
    [pytest.param(p, id=p.stem, marks=[pytest.mark.slow] if p.stem in SLOW else []) for p in TUTORIALS],
)
def test_tutorial_executes(path, tmp_path, monkeypatch):
    missing = _missing(REQUIRES.get(path.stem, []))
    if missing:
        pytest.skip(f"{path.name} needs {', '.join(missing)}, not in the package yet")
    import jupytext
    import nbformat
    from nbclient import NotebookClient

    nb = jupytext.read(path)
    assert nb.cells, f"{path.name} has no cells"
    monkeypatch.setenv("SEQ2TRACK_TUTORIAL_OUT", str(tmp_path / "work"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    try:
        client.execute()
    finally:
        nbformat.write(nb, tmp_path / f"{path.stem}.ipynb")
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert outputs, f"{path.name} printed nothing"
