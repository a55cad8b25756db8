"""The fault benchmark's parts (``benchmarks/faults.py`` runs them): processes, trials, audits, the faults."""
