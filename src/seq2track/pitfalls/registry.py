"""The pitfall lab's registry: which experiments exist, in lab order, and what each needs.

Each name is a module of this package (``pitfalls/<name>.py``) with a declarative experiment.
"""

#: the five pitfalls of Whalen et al. 2022, in the order the lab runs and reports them
PITFALLS = ("leakage", "leaky", "imbalance", "depth", "shift")
#: roles a pitfall cannot run without
NEEDS = {"depth": "shallow", "shift": "other"}
