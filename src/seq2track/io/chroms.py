"""Chromosome-name aliases: the one place where ``chr1`` == ``1`` and ``chrM`` == ``MT``.

Every module that compares chromosome names from different files goes through
:func:`canonical` / :func:`resolve`, so the UCSC (``chrII``), Ensembl (``II``) and
NCBI-ish (``Mito``, ``MT``) conventions meet in one function.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..errors import DataError

_MITO = {"m", "mt", "mito", "mitochondrion", "chrm", "chrmt"}


def canonical(name: str) -> str:
    """A comparison key for a chromosome name: ``chrII``, ``II``, ``ii`` -> ``ii``; ``chrM``/``MT``/``Mito`` -> ``m``."""
    key = name.strip().lower()
    if key in _MITO:
        return "m"
    if key.startswith("chr"):
        key = key[3:]
    if key in _MITO:
        return "m"
    return key


def alias_map(names: Iterable[str]) -> dict[str, str]:
    """Map ``canonical(name) -> name`` for the names of one file (first name wins on collision)."""
    out: dict[str, str] = {}
    for n in names:
        out.setdefault(canonical(n), n)
    return out


def resolve(name: str, available: Iterable[str]) -> str | None:
    """The name in ``available`` that means the same chromosome as ``name``, or None."""
    avail = list(available)
    if name in avail:
        return name
    return alias_map(avail).get(canonical(name))


def resolve_all(
    names: Iterable[str], available: Mapping[str, int] | Iterable[str], file: str, what: str = "file"
) -> dict[str, str]:
    """Map every name in ``names`` to its spelling in ``available``; error listing what the file has."""
    avail = list(available)
    out: dict[str, str] = {}
    missing = []
    for n in names:
        r = resolve(n, avail)
        if r is None:
            missing.append(n)
        else:
            out[n] = r
    if missing:
        shown = ", ".join(avail[:30]) + (" ..." if len(avail) > 30 else "")
        raise DataError(
            f"{what} {file} has no chromosome {', '.join(missing)} (it has: {shown}); "
            f"restrict the study with `windows: {{chroms: [...]}}` or `exclude_chroms:`, "
            f"or check that the file is for the same assembly"
        )
    return out
