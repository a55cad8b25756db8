"""Distillation benchmark: the oracle calls ``workflow: distill`` needs against the plain loop to reach the same
test-set errors and gate verdict.

    python benchmarks/distillation.py [--systems cu] [--budgets 25 50] [--seeds 3] [--workdir DIR] [--report-only]

It is the data-efficiency benchmark (``benchmarks/data_efficiency.py``: its independent EMT test set, its measures,
tables, ``results.json`` and continuation) run with three methods: ``loop``, the shipped Cu workflow as it is;
``distill``, the same with ``workflow: distill`` (CHGNet fine-tuned on the first EMT labels, 300 surrogate-MD
snapshots, 100 surrogate labels for a base ACE, corrected by the EMT labels alone, the loop on top to the budget);
``distill_joint``, the same with the surrogate's labels kept in every fit at weight 0.1
(``surrogate.correction: joint``).
Surrogate labels are not oracle calls. Its defaults: Cu, budgets 25 and 50, 3 seeds; any data-efficiency option
given here overrides them.
"""

from __future__ import annotations

import sys

from data_efficiency import main

DEFAULTS = [
    "--methods",
    "loop,distill,distill_joint",
    "--systems",
    "cu",
    "--budgets",
    "25",
    "50",
    "--seeds",
    "3",
]

if __name__ == "__main__":
    sys.argv[1:1] = DEFAULTS  # the user's own options come later and win (argparse keeps the last)
    raise SystemExit(main())
