"""What every ``pyacemaker`` command shares: exit codes, errors, and opening the config, database and campaign."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from pyacemaker import __version__
from pyacemaker.app.progress import console, print_summary
from pyacemaker.campaign.context import Context
from pyacemaker.campaign.launchpad import CampaignError, ensure_campaign, fizzle_reasons, workflow_states
from pyacemaker.campaign.status import campaign_status
from pyacemaker.config import ConfigError, load_config, resolve
from pyacemaker.db import Database, DatabaseError, resolve_target
from pyacemaker.oracle import OracleFailure, make_oracle
from pyacemaker.server import ServerError

# errors never wrapped mid-line (one line per error, whatever the terminal)
err = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_FAILED, EXIT_INPUT, EXIT_DB = 1, 2, 3


class CliError(Exception):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def load_cfg(path: str):
    """The resolved config of a file (bad input: exit 2)."""
    try:
        cfg, notes = resolve(load_config(path))
    except ConfigError as exc:
        raise CliError(str(exc), EXIT_INPUT) from None
    return cfg, notes


def target_for(launchpad: str | None, cfg=None, start: bool = True):

    lp = launchpad or (cfg.database.launchpad if cfg else None)
    try:
        return resolve_target(lp, cfg.database.name if cfg else None, start_embedded=start)
    except (DatabaseError, ServerError) as exc:
        raise CliError(str(exc), EXIT_DB) from None


def connect(target):

    try:
        return Database.connect(target)
    except DatabaseError as exc:
        raise CliError(str(exc), EXIT_DB) from None


def context_for(cfg, workdir: str | None):

    wd = Path(workdir) if workdir else Path.cwd() / "campaigns" / cfg.name
    return Context(cfg.name, cfg, wd.expanduser().resolve())


def check_workdir(workdir: Path) -> None:
    """Fail (bad input) when the campaign directory could not be created or written, before anything exists:
    the nearest existing ancestor must be a writable directory. Creates nothing."""
    import os

    here = workdir
    while not here.exists() and here != here.parent:
        here = here.parent
    if not here.is_dir():
        raise CliError(f"working directory {workdir} cannot be created: {here} is a file, not a directory; "
                       "give another --workdir", EXIT_INPUT)  # fmt: skip
    if not os.access(here, os.W_OK | os.X_OK):
        where = "" if here == workdir else f" ({here}, where it would be created, is not)"
        raise CliError(f"working directory {workdir} is not writable{where}: give another --workdir",
                       EXIT_INPUT)  # fmt: skip


def open_campaign(args, announce: bool = False):
    """Config, context, database and the campaign on the LaunchPad (created, or found to continue)."""

    cfg, _ = load_cfg(args.file)
    ctx = context_for(cfg, args.workdir)
    check_workdir(ctx.workdir)
    target = target_for(args.launchpad, cfg)
    db = connect(target)
    lp = target.launchpad()
    if announce:
        console.print(
            f"[bold]pyacemaker {__version__}[/] campaign [bold]{ctx.campaign}[/]  database: {target.describe}"
        )
        console.print(f"working directory: {ctx.workdir}")
    try:
        doc, created = ensure_campaign(db, lp, ctx)
    except CampaignError as exc:
        raise CliError(str(exc), EXIT_INPUT) from None
    if not created and doc.config is not None and doc.config != cfg.model_dump(mode="json"):
        console.print("note: this config's runtime settings (resources, workers, time limits) differ from the "
                      "campaign's; its jobs keep the ones it was created with")  # fmt: skip
    return cfg, ctx, target, db, lp, doc, created


def check_oracle(cfg) -> None:
    """Local workers run the oracle and the exploration drivers here: fail before anything is created if they
    could not."""
    import shlex
    import shutil

    try:
        make_oracle(cfg.oracle).check_ready()
    except OracleFailure as exc:
        raise CliError(
            f"the {cfg.oracle.type} oracle cannot run on this machine: {exc}", EXIT_INPUT
        ) from None
    if cfg.workflow == "distill":
        s = cfg.surrogate
        try:
            surrogate = make_oracle(s.oracle_settings())
            surrogate.check_ready()
            surrogate.check_covers(cfg.elements)
        except OracleFailure as exc:
            raise CliError(f"surrogate.model {s.model}: {exc}", EXIT_INPUT) from None
    import importlib.util

    if cfg.seeds.cold_start == "chgnet" and importlib.util.find_spec("chgnet") is None:
        raise CliError(
            "seeds.cold_start: chgnet, but CHGNet is not installed: pip install -r requirements/coldstart.txt "
            "(or set seeds.cold_start: auto to use it only when installed, none to skip the cold start)",
            EXIT_INPUT,
        )
    eon = cfg.explore.eon_command
    if any(c.driver == "eon" for c in cfg.explore.conditions or []) and not shutil.which(
        shlex.split(eon)[-1]
    ):
        raise CliError(
            f"a condition uses driver: eon but {eon!r} is not on PATH: install EON (eon-akmc; the PyPI package "
            "'eon' is unrelated), set explore.eon_command, or use driver: kmc (built in)",
            EXIT_INPUT,
        )


def campaign_doc_for(args):
    """The database and the document of ``args.campaign`` (an input error when there is no such campaign)."""
    target = target_for(args.launchpad, start=True)
    db = connect(target)
    doc = db.campaign_doc(args.campaign)
    if doc is None:
        raise CliError(f"no campaign named {args.campaign!r} in {target.describe}", EXIT_INPUT)
    return db, doc


def add_lp(sp: argparse.ArgumentParser) -> None:
    """The -l/--launchpad option of every command that reads the database."""
    sp.add_argument("-l", "--launchpad", help="FireWorks launchpad file of a real MongoDB (default: "
                    "$PYACEMAKER_DB_URI, else the embedded server)")  # fmt: skip


def finish(db: Database, lp, ctx: Context, root: int, logs: Path, calls_before: int | None = None) -> int:
    """The summary at the end of ``run``/``launch``; when the workflow did not complete, why and what to do
    (exit 1)."""
    final = workflow_states(lp, root)
    status = campaign_status(db, db.campaign_doc(ctx.campaign), lp)
    if calls_before is not None:
        status["oracle_calls_this_run"] = status["oracle_calls"] - calls_before
    print_summary(status)
    if final["state"] == "COMPLETED":
        return 0
    for line in fizzle_reasons(lp, final.get("fizzled", [])):
        err.print(f"[red]failed:[/] {line}")
    err.print(f"campaign did not complete (workflow {final['state']}); logs in {logs}. "
              "Fix the cause and run the same command again to continue.")  # fmt: skip
    return EXIT_FAILED
