"""``pyacemaker import``: labelled data a user already owns into a campaign, before or between its runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.table import Table

from pyacemaker.app.cli_common import EXIT_INPUT, CliError, add_lp, connect, load_cfg, target_for


def cmd_import(args) -> int:
    from pyacemaker.campaign.launchpad import same_science
    from pyacemaker.imports import ImportFailure, import_campaign, import_files
    from pyacemaker.imports.readers import FORMATS

    if not args.sources and not args.from_campaign:
        raise CliError("nothing to import: give labelled files, or --from-campaign NAME", EXIT_INPUT)
    if args.format and args.format not in FORMATS:
        raise CliError(f"unknown --format {args.format!r}; known: {', '.join(sorted(FORMATS))}", EXIT_INPUT)
    cfg, _ = load_cfg(args.file)
    db = connect(target_for(args.launchpad, cfg, start=True))
    doc = db.campaign_doc(cfg.name)
    if doc is not None and not same_science(doc, cfg):
        raise CliError(f"campaign {cfg.name!r} exists with a different config: import with the config file it was "
                       "created with (its labels are checked against that oracle)", EXIT_INPUT)  # fmt: skip
    reports = []
    try:
        if args.sources:
            reports += import_files(
                db, cfg, [Path(s) for s in args.sources], args.format, args.assume_settings
            )
        for other in args.from_campaign:
            reports.append(import_campaign(db, cfg, other))
    except ImportFailure as exc:
        done = sum(r.imported for r in reports)
        raise CliError(f"{exc}" + (f"\n({done} record(s) from the sources before it were imported)" if done
                                   else ""), EXIT_INPUT) from None  # fmt: skip
    from pyacemaker.app.progress import console

    t = Table(title=f"imported into campaign {cfg.name} (provenance: imported)")
    for col in ("source", "format", "structures", "imported", "already in the campaign"):
        t.add_column(col)
    for r in reports:
        t.add_row(r.source, r.format, str(r.frames), str(r.imported), str(r.known))
    console.print(t)
    console.print(
        f"labels checked against the campaign's oracle ({cfg.oracle.type}); the next `pyacemaker run "
        f"{args.file}` trains on them with its own"
    )
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    sp = sub.add_parser(
        "import",
        help="bring labelled structures you already have (extxyz, ASE db, pacemaker pckl.gzip, vasprun.xml/OUTCAR, "
        "pw.x output, another campaign) into a campaign",
    )
    sp.add_argument("file", help="the campaign's config file")
    sp.add_argument("sources", nargs="*", help="labelled files (the format is told from the name or content)")
    sp.add_argument("--from-campaign", action="append", default=[], metavar="NAME",
                    help="labels of another campaign in the same database, computed with the same oracle settings "
                    "(repeatable)")  # fmt: skip
    sp.add_argument(
        "--format", help="extxyz, ase-db, pacemaker, vasp or espresso (default: told from each file)"
    )
    sp.add_argument("--assume-settings", action="store_true",
                    help="files that do not record their DFT settings (extxyz, ASE db, pacemaker) were computed "
                    "exactly as the campaign's oracle computes: you vouch for it")  # fmt: skip
    add_lp(sp)
    sp.set_defaults(func=cmd_import)
