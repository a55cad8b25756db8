"""Quantum ESPRESSO oracle: pseudopotentials, physics defaults, pw.x I/O, Custodian healing."""
