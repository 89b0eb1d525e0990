"""Models: torch architectures (``architectures.py``), losses (``losses.py``) and the
non-neural k-mer ridge baseline (``kmer.py``). Import the submodules directly; this package
imports nothing heavy so the CLI starts fast."""
