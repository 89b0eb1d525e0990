"""File readers and writers (FASTA/2bit, bigWig, BED/VCF). Nothing here imports torch."""
