"""The ``pyacemaker`` command.

Exit codes: 0 success; 1 the campaign failed (a job fizzled); 2 bad input (config, arguments, files);
3 the database cannot be reached or started.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pymongo.errors import OperationFailure, PyMongoError
from rich.table import Table

from pyacemaker import __version__
from pyacemaker.app import import_cli
from pyacemaker.app import provenance as pv
from pyacemaker.app.cli_common import (
    EXIT_DB,
    EXIT_INPUT,
    CliError,
    add_lp,
    campaign_doc_for,
    check_oracle,
    connect,
    context_for,
    err,
    finish,
    load_cfg,
    open_campaign,
    target_for,
)
from pyacemaker.app.cluster_cli import add_parsers, held
from pyacemaker.app.jobs_view import counts_line, jobs_table
from pyacemaker.app.progress import DatabaseLost, console, print_summary, watch
from pyacemaker.app.release import ReleaseError, make_release
from pyacemaker.app.report import write_report
from pyacemaker.campaign.launchpad import (
    build_workflow,
    ensure_launchpad,
    release_reservations,
    requeue_local_launches,
    rerun_fizzled,
    workflow_states,
)
from pyacemaker.campaign.status import campaign_status
from pyacemaker.campaign.workers import LocalWorkers
from pyacemaker.config import dump_resolved
from pyacemaker.db import DbTarget, write_private
from pyacemaker.server import EmbeddedServer, ServerError, default_data_dir


# ----------------------------------------------------------------------------------------------- commands
def cmd_config(args) -> int:

    cfg, notes = load_cfg(args.file)
    sys.stdout.write(dump_resolved(cfg, notes))
    return 0


def cmd_workflow(args) -> int:

    cfg, _ = load_cfg(args.file)
    wf = build_workflow(context_for(cfg, args.workdir))
    out = Path(args.output)
    wf.to_file(str(out))
    console.print(
        f"wrote {out} ({len(wf.fws)} fireworks). Queue it with: lpad -l my_launchpad.yaml add {out}"
    )
    return 0


def cmd_run(args) -> int:

    cfg, _ = load_cfg(args.file)
    check_oracle(cfg)
    cfg, ctx, target, db, lp, doc, created = open_campaign(args, announce=True)
    with held(db, ctx.campaign, "run"):
        return _run(args, cfg, ctx, target, db, lp, doc, created)


def _run(args, cfg, ctx, target, db, lp, doc, created) -> int:
    """``run`` while it holds the campaign's controller lock."""
    root = doc.wf_root_fw_id
    st = workflow_states(lp, root)
    launches = ctx.workdir / "launches"
    if not created:
        console.print(f"continuing campaign (workflow {st['state']}); finished jobs are not re-run")
        lost = requeue_local_launches(lp, root, launches) + release_reservations(lp, root)
        failed = rerun_fizzled(lp, root)
        if failed or lost:
            console.print(f"re-queued {len(failed)} failed and {len(lost)} interrupted job(s)")
    calls_before = doc.oracle_calls
    if st["state"] != "COMPLETED":
        workers = LocalWorkers(target, ctx, args.workers, cfg.workers.fworker)
        try:
            watch(
                db,
                lp,
                ctx.campaign,
                root,
                workers,
                args.quiet,
                lost_after_s=cfg.workers.lost_after_s,
                revive=reviver(target),
            )
        except DatabaseLost as exc:
            raise CliError(f"{exc} ({target.describe})", EXIT_DB) from None
        finally:
            workers.stop()
            with contextlib.suppress(PyMongoError):  # when the database is gone, the next run does it
                requeue_local_launches(lp, root, launches)  # jobs cut off by an interrupt run again next time
    return finish(db, lp, ctx, root, ctx.workdir / "logs", calls_before)


# how long the embedded database may answer with errors while its process lives before run stops retrying
UNANSWERED_LIMIT_S = 120.0


def _log_size(server: EmbeddedServer) -> int:
    try:
        return server.logfile.stat().st_size
    except OSError:
        return 0


def _first_line(err: Exception) -> str:
    """The first line of an error's message that says something (a log tail it carries left out)."""
    text = str(err).split("Log tail:")[0]
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), type(err).__name__)[:200]


def storage_failed(server: EmbeddedServer, exc: Exception, log_from: int = 0) -> bool:
    """The embedded daemon lives but its storage engine failed (WiredTiger panicked, e.g. on a full disk): every
    command then ends in an internal error (code 1), and its log (written after byte ``log_from``) names the panic."""
    if not isinstance(exc, OperationFailure) or exc.code != 1:
        return False
    try:
        with open(server.logfile, "rb") as f:
            f.seek(max(log_from, f.seek(0, 2) - 65536))
            return b"WT_PANIC" in f.read()
    except OSError:
        return False


def reviver(
    target: DbTarget, max_restarts: int = 5, start_timeout_s: float = 60.0
) -> Callable[[Exception], str | None] | None:
    """For the embedded database: restart it on its port when it died under a run, or lives with a failed storage
    engine (what ``run``'s watcher calls when the database stops answering). Errors from a live daemon are waited
    out for UNANSWERED_LIMIT_S. None for a database pyacemaker does not own."""
    if target.embedded_root is None or target.uri is None:
        return None
    server, port, restarts = EmbeddedServer(target.embedded_root), urlparse(target.uri).port, [0]
    unanswered: list[float] = []  # [first, last] time of the current run of errors from a live daemon
    log_from = [_log_size(server)]  # what the daemon logged before this run (or its last restart) is old news

    def revive(exc: Exception) -> str | None:
        st = server.status()
        broken = bool(st) and storage_failed(server, exc, log_from[0])
        if st and st["responding"] and not broken:
            now = time.monotonic()
            if not unanswered or now - unanswered[1] > 10.0:
                unanswered[:] = [now, now]
            unanswered[1] = now
            if now - unanswered[0] > UNANSWERED_LIMIT_S:
                return None
            time.sleep(1.0)
            return f"the database did not answer for a moment ({type(exc).__name__}); going on"
        if restarts[0] >= max_restarts:
            return None
        restarts[0] += 1
        why = "its storage failed (WiredTiger panic; a full disk?)" if broken else "it had stopped"
        try:
            if st:
                server.stop(timeout=10.0)
            log_from[0] = _log_size(server)
            uri = server.start(port=port, timeout=start_timeout_s)
        except ServerError as err:
            if broken:
                raise DatabaseLost(f"the embedded database's storage failed (WiredTiger panic, see {server.logfile}; "
                                   f"a full disk?) and it could not be restarted: {_first_line(err)}): free space, then run the "
                                   "same command to continue the campaign") from None  # fmt: skip
            return None
        if uri != target.public_uri:  # another port: the workers' files name the old one
            server.stop()
            return None
        return f"the embedded database: {why}; restarted it on port {port} (restart {restarts[0]}); going on"

    return revive


def cmd_status(args) -> int:

    target = target_for(args.launchpad, start=True)
    db = connect(target)
    lp = target.launchpad()
    docs = db.campaign_docs(args.campaign)
    if args.campaign and not docs:
        raise CliError(f"no campaign named {args.campaign!r} in {target.describe}", EXIT_INPUT)
    out = [campaign_status(db, d, lp) for d in docs]
    if args.json:
        sys.stdout.write(
            json.dumps({"schema": "pyacemaker.status/1", "campaigns": out}, indent=2, default=str) + "\n"
        )
        return 0
    if not out:
        console.print(f"no campaigns in {target.describe}")
    for s in out:
        print_summary(s)
        if s.get("jobs"):
            console.print(f"jobs by class: {counts_line(s['jobs'])}")
            table = jobs_table(s["jobs"], everything=args.jobs, title=f"{s['campaign']}: jobs"
                               + ("" if args.jobs else " on their way or stuck (--jobs: all)"))  # fmt: skip
            if table is not None:
                console.print(table)
    return 0


def cmd_provenance(args) -> int:

    target = target_for(args.launchpad, start=True)
    db = connect(target)
    try:
        if args.record:
            rid = args.record if ":" in args.record else f"{args.campaign}:{args.record}"
            data: Any = {"lineage": pv.lineage(db, rid), "labels": pv.label_info(db, rid),
                         "trained_potentials": pv.potentials_trained_on(db, rid)}  # fmt: skip
        else:
            pot = pv.potential_id(db, args.campaign, args.potential)
            data = {"potential": pot, "training_set": pv.training_set(db, pot)}
    except KeyError as exc:
        raise CliError(str(exc.args[0] if exc.args else exc), EXIT_INPUT) from None
    if args.json:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
        return 0
    if args.record:
        t = Table(title=f"where {rid} came from (newest first)")
        for col in ("record", "origin", "iteration", "MD run", "condition", "step", "gamma", "built as"):
            t.add_column(col)
        for r in data["lineage"]:
            cond = r.get("condition") or {}
            t.add_row(r["id"].split(":")[-1], r.get("origin", "?"), str(r.get("iteration", "")), r.get("run_id") or "-",
                      (cond.get("name") or f"{cond['temperature_K']:.0f} K {cond.get('ensemble', '')}") if cond else "-",
                      str(r.get("step") if r.get("step") is not None else "-"),
                      f"{r['gamma']:.2f}" if r.get("gamma") else "-", r.get("builder") or "-")  # fmt: skip
        console.print(t)
        lab = data["labels"]
        if lab["labelled"]:
            console.print(f"labels: oracle {lab['oracle']} settings {json.dumps(lab['settings'])} "
                          f"(hash {lab['settings_hash']}); corrections: {lab['corrections'] or 'none'}")  # fmt: skip
        else:
            console.print(
                f"not labelled (status {lab['status']}"
                + (f": {lab['reject_reason']}" if lab.get("reject_reason") else "")
                + ")"
            )
        console.print(f"in the training set of: {', '.join(data['trained_potentials']) or 'no potential'}")
        return 0
    rows = data["training_set"]
    t = Table(title=f"{data['potential']}: trained on {len(rows)} records")
    for col in ("record", "formula", "origin", "iteration", "condition", "step", "parent"):
        t.add_column(col)
    for r in rows:
        cond = r.get("condition") or {}
        t.add_row(r["id"].split(":")[-1], r["formula"], r["origin"], str(r["iteration"]),
                  (cond.get("name") or f"{cond['temperature_K']:.0f} K") if cond else (r.get("builder") or "-"),
                  str(r["step"] if r["step"] is not None else "-"), (r["parent"] or "-").split(":")[-1])  # fmt: skip
    console.print(t)
    return 0


def cmd_release(args) -> int:

    db, doc = campaign_doc_for(args)
    out = Path(args.output or Path(doc.workdir or ".") / "releases")
    # the report is written aside first: a refused release leaves nothing behind in ``out``
    with tempfile.TemporaryDirectory(prefix="pyacemaker-release-") as tmp:
        report = write_report(db, args.campaign, Path(tmp) / f"report_v{args.version}.html")
        try:
            path = make_release(db, args.campaign, args.version, out, force=args.force, author=args.author,
                                report=report)  # fmt: skip
        except ReleaseError as exc:
            raise CliError(str(exc), EXIT_INPUT) from None
    console.print(f"release written: {path}")
    return 0


def cmd_report(args) -> int:

    db, doc = campaign_doc_for(args)
    out = Path(args.output or Path(doc.workdir or ".") / "report.html")
    path = write_report(db, args.campaign, out)
    console.print(f"report written: {path}")
    return 0


def cmd_db(args) -> int:
    import yaml

    root = Path(args.data_dir).expanduser().resolve() if args.data_dir else default_data_dir()
    server = EmbeddedServer(root)
    if args.action == "start":
        try:
            uri = server.start(port=args.port)
        except ServerError as exc:
            raise CliError(str(exc), EXIT_DB) from None
        t = DbTarget(uri, args.name, "")

        ensure_launchpad(t.launchpad())  # so that `lpad add` works on a fresh server without `lpad reset`
        # they carry the server's login: 0600, like the credentials they come from
        write_private(root / "my_launchpad.yaml", yaml.safe_dump(t.launchpad_spec()))
        write_private(root / "jobflow.yaml", yaml.safe_dump({"JOB_STORE": t.jobflow_store_spec()}))
        console.print(f"embedded database running at {uri} (data in {server.storage})")
        console.print(f"launchpad file: {root / 'my_launchpad.yaml'}")
        console.print(f"for plain FireWorks workers: export JOBFLOW_CONFIG_FILE={root / 'jobflow.yaml'}")
        return 0
    if args.action == "stop":
        try:
            stopped = server.stop()
        except ServerError as exc:  # the state file's pid is not this data directory's server
            raise CliError(str(exc), EXIT_DB) from None
        console.print("embedded database stopped" if stopped else "embedded database was not running")
        return 0
    st = server.status()
    if args.json:
        sys.stdout.write(json.dumps(st or {"running": False}) + "\n")
    elif st:
        console.print(f"running: pid {st['pid']}, {st['uri']}, data in {st['storage']}"
                      + ("" if st["responding"] else " [red](not responding)[/]"))  # fmt: skip
    else:
        console.print(f"not running (data directory {root})")
    return 0 if st else 1


# ----------------------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pyacemaker", description="Active learning of ACE potentials, run as FireWorks campaigns."
    )
    p.add_argument("--version", action="version", version=f"pyacemaker {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    sp = sub.add_parser(
        "config", help="print the fully resolved config, with where each derived value came from"
    )
    sp.add_argument("file")
    sp.set_defaults(func=cmd_config)

    sp = sub.add_parser("run", help="run (or continue) a campaign here with local FireWorks workers")
    sp.add_argument("file")
    sp.add_argument("--workdir", help="campaign directory (default: ./campaigns/NAME)")
    sp.add_argument("--workers", type=int, default=2, help="local rlaunch workers (default 2)")
    sp.add_argument("--quiet", action="store_true", help="no progress display")
    add_lp(sp)
    sp.set_defaults(func=cmd_run)

    add_parsers(sub)
    import_cli.add_parser(sub)

    sp = sub.add_parser("workflow", help="write the campaign as a FireWorks workflow file for `lpad add`")
    sp.add_argument("file")
    sp.add_argument("-o", "--output", default="wf.yaml")
    sp.add_argument("--workdir")
    sp.set_defaults(func=cmd_workflow)

    sp = sub.add_parser(
        "status", help="state, iterations, halts, dataset size, oracle calls, potential and errors"
    )
    sp.add_argument("campaign", nargs="?")
    sp.add_argument(
        "--json", action="store_true", help="machine-readable (schema pyacemaker.status/1, see README)"
    )
    sp.add_argument("--jobs", action="store_true",
                    help="list every job (class, FireWorks state, queue id and queue state), not only live ones")  # fmt: skip
    add_lp(sp)
    sp.set_defaults(func=cmd_status)

    sp = sub.add_parser(
        "provenance", help="what trained a potential; where a record came from and how it was labelled"
    )
    sp.add_argument("campaign")
    g = sp.add_mutually_exclusive_group()
    g.add_argument(
        "--potential", type=int, metavar="ITERATION", help="the potential of this iteration (default: latest)"
    )
    g.add_argument("--record", metavar="ID", help="a record id (campaign prefix optional)")
    sp.add_argument("--json", action="store_true")
    add_lp(sp)
    sp.set_defaults(func=cmd_provenance)

    sp = sub.add_parser(
        "report", help="write report.html (one self-contained file) for a campaign, at any time"
    )
    sp.add_argument("campaign")
    sp.add_argument("-o", "--output", help="default: CAMPAIGN_WORKDIR/report.html")
    add_lp(sp)
    sp.set_defaults(func=cmd_report)

    sp = sub.add_parser(
        "release",
        help="package the campaign's potential as release_vX.Y.Z.zip (files, manifest, report, snippets)",
    )
    sp.add_argument("campaign")
    sp.add_argument("--version", default="1.0.0", help="X.Y.Z (default 1.0.0)")
    sp.add_argument(
        "--force", action="store_true", help="release a potential that failed validation (recorded)"
    )
    sp.add_argument("--author", help="default: your user name")
    sp.add_argument("-o", "--output", help="directory (default: CAMPAIGN_WORKDIR/releases)")
    add_lp(sp)
    sp.set_defaults(func=cmd_release)

    sp = sub.add_parser("db", help="the embedded database server: start, stop, status")
    sp.add_argument("action", choices=["start", "stop", "status"])
    sp.add_argument("--data-dir", help="default: $PYACEMAKER_DATA_DIR or ~/.local/share/pyacemaker")
    sp.add_argument("--port", type=int, help="default 27117, or a free port if taken")
    sp.add_argument("--name", default="pyacemaker", help="database name written into the launchpad file")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_db)
    return p


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP (a scheduler, ``kill``, a dropped ssh session): stopped like Ctrl-C, workers included."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _stop_on(signum: int, frame) -> None:
    raise Stopped(signum)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _stop_on)
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        err.print(f"[red]error:[/] {exc}")
        return exc.code
    except KeyboardInterrupt as exc:
        with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone
            err.print(f"{'stopped by ' + str(exc) if isinstance(exc, Stopped) else 'interrupted'}: "
                      "run the same command again to continue the campaign")  # fmt: skip
        return 128 + exc.signum if isinstance(exc, Stopped) else 130


if __name__ == "__main__":
    raise SystemExit(main())
