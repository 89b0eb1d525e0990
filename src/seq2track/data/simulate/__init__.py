"""The embedded default data set: a synthetic genome with known biology, written as real files.

``simulate(out, seed)`` writes ``genome.fa`` (+ ``.fai``), ``condA_deep.bw``,
``condA_shallow.bw``, ``condB.bw``, ``expected_condA.bw``, ``expected_condB.bw``,
``condA_deep.fragments.bed.gz``, ``peaks.bed``, ``variants.vcf``, ``truth.json`` and a ready
``study.yaml``; the normal pipeline reads them with no special case.

The generative story (all arrays per chromosome, ``n`` = chromosome length):

* **Sequence**: an order-2 Markov chain whose transition table depends on the isochore
  (GC-rich ~0.52, GC-poor ~0.38; 20-100 kb; CpG depleted), generated as ~1-kb blocks in
  parallel; a few N gaps. Real JASPAR motifs (pyjaspar, release ``JASPAR2024``) are planted,
  sampled from their PWMs, on both strands. Then 5-20 kb **segmental duplications** are
  copied between chromosomes with ~1% substitutions (one always from a training chromosome
  into the validation and one into the test chromosome of the demo study).
* **Instances**: a motif instance is *any* site whose log-odds score (Biopython PSSM,
  JASPAR pseudocounts, genome base composition) reaches the motif's threshold (background
  false-positive rate ``1e-5`` per position and strand), planted or by chance; overlapping
  hits of one motif keep the best. Signal is therefore a function of sequence.
* **Fragment-centre rate** ``mu: float64[n]`` (fragments per bp):
  ``bg = depth/E[L] * exp(gc_beta*(gc201 - gc_ref)) * (1 + domain_amp*domain)`` where
  ``domain`` is an H3K36me3-like ramp over "gene bodies" (0.3 at the TSS -> 1 at the TES);
  a repressive motif multiplies ``bg`` by its fold within +-150 bp; every active additive
  instance adds ``h`` fragments centred on it (Gaussian, sd 20 bp); a SOX2-POU5F1 pair whose
  centres lie within 50 bp adds a cooperative ``h_pair`` at its midpoint (non-additive). ``mu``
  is 0 where the 201-bp window holds an N and near chromosome ends.
* **Coverage**: fragments are a Poisson process with rate ``mu`` and lengths ~ discretised
  log-normal (median 165 bp, 80-400). The expected per-base coverage is exactly
  ``E[x] = sum_d mu[x+d] K[d]`` with ``K[d] = P(fragment centred at x+d covers x)``; it is
  written as ``expected_condA.bw`` as 8-bp means (so bin means at any multiple of 8 bp are
  exact; 8x smaller and faster than per-base). ``effect`` of an additive motif = expected extra reads at
  its centre at the deep depth (``h * (g*K)(0)``), in units of reads.
* ``condA_deep.bw`` is the pileup of ``condA_deep.fragments.bed.gz``; ``condA_shallow.bw``
  is the same file thinned to ``shallow_fraction`` (= ``seq2track pileup ... --fraction F
  --seed S`` with the seed in truth.json). ``condB.bw`` is another "cell type": FOXA1 and the
  SOX2/POU5F1 pair are inactive, GATA1 (silent in condA) is active, 70% of gene bodies
  are marked.

Randomness: one ``SeedSequence(seed)`` spawns an independent stream per stage, so the same
seed gives byte-identical files. Every file is written atomically.

Modules: ``motifs`` (JASPAR loading, scoring, scanning, PWM sampling), ``sequence``
(background, isochores, gaps, duplications, gene bodies), ``signal`` (rate, expected
coverage, fragments, peaks), ``variants`` (SNP choice and true effects), ``writers``
(FASTA, fragments, VCF, study) and ``core`` (``simulate``, the truth).
"""

from __future__ import annotations

from .core import SimulationResult, simulate

__all__ = ["SimulationResult", "simulate"]
