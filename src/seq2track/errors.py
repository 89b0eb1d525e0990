"""One exception type for problems the user can fix.

The CLI prints a ``Seq2TrackError`` as a single line (no traceback) and exits with code 2.
Every message names the offending file, chromosome or key, and says how to fix it.
"""

from __future__ import annotations


class Seq2TrackError(Exception):
    """A user-fixable problem: bad input file, bad study, inconsistent data."""


class ConfigError(Seq2TrackError):
    """The study file is malformed: unknown key, wrong type, inconsistent values."""


class DataError(Seq2TrackError):
    """An input file is missing, corrupt or inconsistent with the study or genome."""
