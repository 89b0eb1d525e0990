"""Execute tutorials (jupytext percent-format ``.py``) as notebooks with nbclient and a real
ipykernel, writing ``<name>.ipynb`` beside each; exit 1 if any cell raised. The image's
``tutorials`` mode runs it (jupytext's own ``--execute`` would need nbconvert, which the lock
leaves out); the test suite executes the tutorials the same way (tests/test_tutorials.py).

    python _execute.py 01_bigwig_preprocessing.py 02_training_and_pitfalls.py ...
"""

from __future__ import annotations

import sys
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def main(paths: list[str]) -> int:
    failed = []
    for p in map(Path, paths):
        nb = jupytext.read(p)
        print(f"[tutorials] executing {p.name}", flush=True)
        try:
            NotebookClient(nb, timeout=1800, kernel_name="python3",
                           resources={"metadata": {"path": str(p.parent)}}).execute()
        except CellExecutionError as exc:
            failed.append(p.name)
            print(f"[tutorials] {p.name} FAILED: {str(exc).strip().splitlines()[-1]}", flush=True)
        finally:
            nbformat.write(nb, p.with_suffix(".ipynb"))
    print(f"[tutorials] {len(paths) - len(failed)} of {len(paths)} executed without error", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
