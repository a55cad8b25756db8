"""A FireWorks worker whose JobStore is built in memory (``python -m pyacemaker.worker``).

Used by ``pyacemaker run`` when the database needs credentials: it calls FireWorks' ``rapidfire`` (what
``rlaunch rapidfire`` calls) with the store set on jobflow's settings, so no credential is written to a file.
"""

from __future__ import annotations

import argparse

from fireworks import FWorker
from fireworks.core.rocket_launcher import rapidfire


def main(argv: list[str] | None = None) -> int:
    import jobflow

    from pyacemaker.db import resolve_target

    ap = argparse.ArgumentParser(prog="python -m pyacemaker.worker")
    ap.add_argument(
        "-l", "--launchpad", help="launchpad file (default: PYACEMAKER_DB_URI or the embedded server)"
    )
    ap.add_argument("-w", "--fworker", help="my_fworker.yaml")
    ap.add_argument("--sleep", type=float, default=1.0)
    args = ap.parse_args(argv)
    target = resolve_target(args.launchpad)
    jobflow.SETTINGS.JOB_STORE = target.job_store()
    fworker = FWorker.from_file(args.fworker) if args.fworker else FWorker()
    rapidfire(target.launchpad(), fworker, nlaunches="infinite", sleep_time=args.sleep)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
