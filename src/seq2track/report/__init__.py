"""The HTML report of a run (``html.py``) and its plots (``plots.py``)."""
