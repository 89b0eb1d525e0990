"""nested.py: one flattener for metrics, studies and manifests."""

import json
import math

import numpy as np

from seq2track.nested import finite_numbers, flatten


def test_flatten_lists_by_index_or_as_leaves():
    d = {"a": [1, {"b": 2}], "c": {"d": {"e": "x"}, "f": []}}
    assert flatten(d) == {"a.0": 1, "a.1.b": 2, "c.d.e": "x"}
    assert flatten(d, lists=False) == {"a": [1, {"b": 2}], "c.d.e": "x", "c.f": []}
    assert flatten(3) == {"": 3}


def test_finite_numbers_keeps_only_finite_real_leaves():
    d = {"pearson": np.float32(0.5), "n": np.int64(3), "ok": True, "nan": math.nan, "inf": -math.inf,
         "name": "x", "per_track": [0.1, 0.2], "window_total": {"pearson": 0.7}}
    got = finite_numbers(d)
    assert got == {"pearson": 0.5, "n": 3.0, "window_total.pearson": 0.7}
    assert all(type(v) is float for v in got.values())
    json.dumps(got)  # plain floats: serialisable as they are
