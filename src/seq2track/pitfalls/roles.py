"""Tracks with roles in the pitfall lab: the primary track, a shallow replicate, another
condition and the fragments, declared by the simulator's ``truth.json`` or named by the user."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Study, TrackConfig
from ..errors import DataError


@dataclass
class Roles:
    """The tracks a pitfall needs beyond the study's first track.

    primary: the study's first track (deep, condition A); shallow: the same assay at a lower
    depth; other: another condition / cell type; fragments: the primary track's fragment file
    (for downsampling with ``pileup --fraction``).
    """

    primary: TrackConfig
    shallow: TrackConfig | None = None
    other: TrackConfig | None = None
    fragments: Path | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "primary": str(self.primary.path),
            "shallow": str(self.shallow.path) if self.shallow else None,
            "other": str(self.other.path) if self.other else None,
            "fragments": str(self.fragments) if self.fragments else None,
        }


def role_track(name: str, path: str | Path, like: TrackConfig) -> TrackConfig:
    return TrackConfig(name=name, path=Path(path), missing=like.missing)


def discover_roles(
    study: Study,
    shallow: str | Path | None = None,
    other: str | Path | None = None,
    fragments: str | Path | None = None,
) -> Roles:
    """Roles from explicit paths, else from a simulator ``truth.json`` beside the first track.

    The simulator declares its files (``condA_deep``, ``condA_shallow``, ``condB``,
    ``fragments``) in ``truth.json``; real data must name them (``--shallow/--other/--fragments``).
    """
    primary = study.tracks[0]
    roles = Roles(primary=primary)
    from ..data.simulate.oracle import TRUTH, find_truth

    truth_p = Path(primary.path).parent / TRUTH
    truth = find_truth(primary.path)
    if truth is not None:
        files = truth.get("files", {})
        d = truth_p.parent
        if files.get("condA_deep") == Path(primary.path).name:
            if files.get("condA_shallow"):
                roles.shallow = role_track("condA_shallow", d / files["condA_shallow"], primary)
            if files.get("condB"):
                roles.other = role_track("condB", d / files["condB"], primary)
            if files.get("fragments"):
                roles.fragments = d / files["fragments"]
    for attr, val in (("shallow", shallow), ("other", other)):
        if val is not None:
            p = Path(val)
            if not p.exists():
                raise DataError(f"--{attr} track {p} does not exist; give the path of a bigWig")
            setattr(roles, attr, role_track(p.name.split(".")[0], p, primary))
    if fragments is not None:
        p = Path(fragments)
        if not p.exists():
            raise DataError(f"--fragments file {p} does not exist; give the primary track's fragment BED")
        roles.fragments = p
    for t in (roles.shallow, roles.other):
        if t is not None and not Path(t.path).exists():
            raise DataError(f"track {t.path} named by {truth_p} does not exist; re-run `seq2track simulate`")
    return roles
