"""The ``pyacemaker`` command.

Exit codes: 0 success; 1 the campaign failed (a job fizzled); 2 bad input (config, arguments, files);
3 the database cannot be reached or started.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from pyacemaker import __version__
from pyacemaker.app import provenance as pv
from pyacemaker.app.jobs_view import counts_line, jobs_table
from pyacemaker.app.progress import console, print_summary, watch
from pyacemaker.app.release import ReleaseError, make_release
from pyacemaker.app.report import write_report
from pyacemaker.campaign.context import Context
from pyacemaker.campaign.launch import run_queue
from pyacemaker.campaign.launchpad import (
    CampaignError,
    build_workflow,
    ensure_campaign,
    ensure_launchpad,
    fizzle_reasons,
    job_names,
    recover_lost,
    requeue_local_launches,
    rerun_fizzled,
    workflow_states,
)
from pyacemaker.campaign.queue_jobs import rerun_ended
from pyacemaker.campaign.status import campaign_status
from pyacemaker.campaign.workers import LOST_AFTER_S, PING_TIME_S, LocalWorkers, fw_config_file
from pyacemaker.config import ConfigError, dump_resolved, load_config, resolve
from pyacemaker.db import Database, DatabaseError, DbTarget, resolve_target
from pyacemaker.oracle import OracleFailure, make_oracle
from pyacemaker.server import EmbeddedServer, ServerError, default_data_dir

# errors never wrapped mid-line (one line per error, whatever the terminal)
err = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_FAILED, EXIT_INPUT, EXIT_DB = 1, 2, 3


class CliError(Exception):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def _load(path: str):

    try:
        cfg, notes = resolve(load_config(path))
    except ConfigError as exc:
        raise CliError(str(exc), EXIT_INPUT) from None
    return cfg, notes


def _target(launchpad: str | None, cfg=None, start: bool = True):

    lp = launchpad or (cfg.database.launchpad if cfg else None)
    try:
        return resolve_target(lp, cfg.database.name if cfg else None, start_embedded=start)
    except (DatabaseError, ServerError) as exc:
        raise CliError(str(exc), EXIT_DB) from None


def _connect(target):

    try:
        return Database.connect(target)
    except DatabaseError as exc:
        raise CliError(str(exc), EXIT_DB) from None


def _context(cfg, workdir: str | None):

    wd = Path(workdir) if workdir else Path.cwd() / "campaigns" / cfg.name
    return Context(cfg.name, cfg, wd.expanduser().resolve())


# ----------------------------------------------------------------------------------------------- commands
def cmd_config(args) -> int:

    cfg, notes = _load(args.file)
    sys.stdout.write(dump_resolved(cfg, notes))
    return 0


def cmd_workflow(args) -> int:

    cfg, _ = _load(args.file)
    wf = build_workflow(_context(cfg, args.workdir))
    out = Path(args.output)
    wf.to_file(str(out))
    console.print(
        f"wrote {out} ({len(wf.fws)} fireworks). Queue it with: lpad -l my_launchpad.yaml add {out}"
    )
    return 0


def _open_campaign(args, announce: bool = False):
    """Config, context, database and the campaign on the LaunchPad (created, or found to continue)."""

    cfg, _ = _load(args.file)
    ctx = _context(cfg, args.workdir)
    target = _target(args.launchpad, cfg)
    db = _connect(target)
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
    return cfg, ctx, target, db, lp, doc, created


def _check_oracle(cfg) -> None:
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


def cmd_submit(args) -> int:
    _, ctx, target, _, _, doc, created = _open_campaign(args)
    what = "added" if created else "already on the LaunchPad"
    console.print(
        f"campaign {ctx.campaign!r} {what}: root firework id {doc.wf_root_fw_id} ({target.describe})"
    )
    console.print("work it with: rlaunch -l my_launchpad.yaml rapidfire   (or qlaunch on a cluster)")
    fw_cfg = fw_config_file(ctx.workdir / "launches")
    console.print(f"give workers elsewhere: export FW_CONFIG_FILE={fw_cfg}  (a ping every 60 s lets "
                  "`pyacemaker recover` re-run the jobs of a lost worker)")  # fmt: skip
    return 0


def cmd_launch(args) -> int:
    """Work the campaign through the queue: one queue feed per job class, light jobs on a local worker."""
    cfg, ctx, target, db, lp, doc, created = _open_campaign(args, announce=True)
    if target.has_credentials:
        raise CliError("launch writes jobflow/launchpad files for the queue jobs and refuses to write credentials; "
                       "use a launchpad file without a password (e.g. a MongoDB bound to the cluster network) or "
                       "`pyacemaker submit` with your own qlaunch setup", EXIT_INPUT)  # fmt: skip
    system = args.queue or cfg.resources.system
    if shutil.which("sbatch" if system == "slurm" else "qsub") is None:
        raise CliError(f"{'sbatch' if system == 'slurm' else 'qsub'} not found: is this a {system} login node?",
                       EXIT_INPUT)  # fmt: skip
    root = doc.wf_root_fw_id
    rerun_fizzled(lp, root)
    console.print(f"feeding the {system} queue per class (label, train, explore; light jobs run here); "
                  f"adapters in {ctx.workdir / 'fireworks'}")  # fmt: skip
    state = run_queue(target, ctx, root, system=system, max_queued=args.max_queued, poll_s=args.poll,
                      say=lambda line: console.print(line))  # fmt: skip
    status = campaign_status(db, db.campaign_doc(ctx.campaign), lp)
    print_summary(status)
    if state != "COMPLETED":
        err.print(f"campaign did not complete (workflow {state}); queue logs in {ctx.workdir / 'queue_logs'}. "
                  "Fix the cause and run the same command again to continue.")  # fmt: skip
        return EXIT_FAILED
    return 0


def cmd_run(args) -> int:

    cfg, _ = _load(args.file)
    _check_oracle(cfg)
    cfg, ctx, target, db, lp, doc, created = _open_campaign(args, announce=True)
    root = doc.wf_root_fw_id

    st = workflow_states(lp, root)
    launches = ctx.workdir / "launches"
    if not created:
        console.print(f"continuing campaign (workflow {st['state']}); finished jobs are not re-run")
        lost = requeue_local_launches(lp, root, launches)
        failed = rerun_fizzled(lp, root)
        if failed or lost:
            console.print(f"re-queued {len(failed)} failed and {len(lost)} interrupted job(s)")
    calls_before = doc.oracle_calls
    if st["state"] != "COMPLETED":
        workers = LocalWorkers(target, ctx, args.workers, cfg.workers.fworker)
        try:
            final = watch(db, lp, ctx.campaign, root, workers, args.quiet)
        finally:
            workers.stop()
            requeue_local_launches(lp, root, launches)  # jobs cut off by an interrupt run again next time
    else:
        final = st
    status = campaign_status(db, db.campaign_doc(ctx.campaign), lp)
    status["oracle_calls_this_run"] = status["oracle_calls"] - calls_before
    print_summary(status)
    if final["state"] != "COMPLETED":
        for line in fizzle_reasons(lp, final.get("fizzled", [])):
            err.print(f"[red]failed:[/] {line}")
        err.print(f"campaign did not complete (workflow {final['state']}); logs in {ctx.workdir / 'logs'}. "
                  "Fix the cause and run the same command again to continue.")  # fmt: skip
        return EXIT_FAILED
    return 0


def cmd_status(args) -> int:

    target = _target(args.launchpad, start=True)
    db = _connect(target)
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


def cmd_gui(args) -> int:
    """FireWorks' web GUI on the campaigns' database (loopback unless --host says otherwise), until Ctrl-C."""
    import subprocess
    import tempfile

    import yaml

    from pyacemaker.allocation import tool

    target = _target(args.launchpad, start=True)
    db = _connect(target)
    lp_file, lp_dir = target.launchpad_file, None
    if lp_file is None:
        if target.has_credentials:
            raise CliError("the GUI needs a launchpad file and pyacemaker writes no credentials: give -l with your "
                           "own launchpad file (it may hold the password)", EXIT_INPUT)  # fmt: skip
        lp_dir = Path(tempfile.mkdtemp(prefix="pyacemaker-gui-"))
        lp_file = str(lp_dir / "my_launchpad.yaml")
        Path(lp_file).write_text(yaml.safe_dump(target.launchpad_spec()))
    cmd = [tool("lpad"), "-l", lp_file, "webgui", "-s", "--host", args.host, "--port", str(args.port)]
    if args.campaign:
        doc = db.campaign_doc(args.campaign)
        if doc is None:
            raise CliError(f"no campaign named {args.campaign!r} in {target.describe}", EXIT_INPUT)
        cmd += ["--wflowquery", json.dumps({"metadata.pyacemaker_campaign": args.campaign}),
                "--fwquery", json.dumps({"spec.pyacemaker_campaign": args.campaign})]  # fmt: skip
    console.print(
        f"FireWorks web GUI on http://{args.host}:{args.port}/ ({target.describe}); Ctrl-C stops it"
    )
    proc = subprocess.Popen(cmd)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if lp_dir is not None:
            shutil.rmtree(lp_dir, ignore_errors=True)


def cmd_recover(args) -> int:
    """Re-run a campaign's lost jobs (no ping for ``--expire`` seconds) and its failed ones; needs no worker here."""
    target = _target(args.launchpad, start=True)
    db = _connect(target)
    lp = target.launchpad()
    doc = db.campaign_doc(args.campaign)
    if doc is None or doc.wf_root_fw_id is None:
        raise CliError(f"no campaign named {args.campaign!r} in {target.describe}", EXIT_INPUT)
    root = doc.wf_root_fw_id
    system = ((doc.config or {}).get("resources") or {}).get("system", "slurm")
    ended = rerun_ended(lp, workflow_states(lp, root).get("nodes", []), system)
    for j in ended:
        console.print(f"re-queued job whose {system} job {j.queue_id} ended "
                      f"({j.queue_state or 'no longer known to the queue'}): {j.name} (fw {j.fw_id})")  # fmt: skip
    lost = [i for i in recover_lost(lp, root, args.expire) if i not in {j.fw_id for j in ended}]
    failed = rerun_fizzled(lp, root)
    for what, ids in (("lost", lost), ("failed", failed)):
        for name in job_names(lp, ids):
            console.print(f"re-queued {what} job: {name}")
    lost = [*lost, *(j.fw_id for j in ended)]
    st = workflow_states(lp, root)
    c = st["counts"]
    console.print(f"campaign {args.campaign!r}: {len(lost)} lost and {len(failed)} failed job(s) re-queued; "
                  f"workflow {st['state']}, {c.get('RUNNING', 0)} running, {c.get('READY', 0)} ready")  # fmt: skip
    return 0


def cmd_provenance(args) -> int:

    target = _target(args.launchpad, start=True)
    db = _connect(target)
    try:
        if args.record:
            rid = args.record if ":" in args.record else f"{args.campaign}:{args.record}"
            data: Any = {"lineage": pv.lineage(db, rid), "labels": pv.label_info(db, rid),
                         "trained_potentials": pv.potentials_trained_on(db, rid)}  # fmt: skip
        else:
            pot = pv.potential_id(db, args.campaign, args.potential)
            data = {"potential": pot, "training_set": pv.training_set(db, pot)}
    except KeyError as exc:
        raise CliError(str(exc).strip("'\""), EXIT_INPUT) from None
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


def _campaign_doc(args):
    """The database and the document of ``args.campaign`` (an input error when there is no such campaign)."""
    target = _target(args.launchpad, start=True)
    db = _connect(target)
    doc = db.campaign_doc(args.campaign)
    if doc is None:
        raise CliError(f"no campaign named {args.campaign!r} in {target.describe}", EXIT_INPUT)
    return db, doc


def cmd_release(args) -> int:

    db, doc = _campaign_doc(args)
    out = Path(args.output or Path(doc.workdir or ".") / "releases")
    report = write_report(db, args.campaign, out / f"report_v{args.version}.html")
    try:
        path = make_release(db, args.campaign, args.version, out, force=args.force, author=args.author,
                            report=report)  # fmt: skip
    except ReleaseError as exc:
        raise CliError(str(exc), EXIT_INPUT) from None
    finally:
        report.unlink(missing_ok=True)
    console.print(f"release written: {path}")
    return 0


def cmd_report(args) -> int:

    db, doc = _campaign_doc(args)
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
        (root / "my_launchpad.yaml").write_text(yaml.safe_dump(t.launchpad_spec()))
        (root / "jobflow.yaml").write_text(yaml.safe_dump({"JOB_STORE": t.jobflow_store_spec()}))
        console.print(f"embedded database running at {uri} (data in {server.storage})")
        console.print(f"launchpad file: {root / 'my_launchpad.yaml'}")
        console.print(f"for plain FireWorks workers: export JOBFLOW_CONFIG_FILE={root / 'jobflow.yaml'}")
        return 0
    if args.action == "stop":
        stopped = server.stop()
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

    def add_lp(sp):
        sp.add_argument("-l", "--launchpad", help="FireWorks launchpad file of a real MongoDB (default: "
                        "$PYACEMAKER_DB_URI, else the embedded server)")  # fmt: skip

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

    sp = sub.add_parser(
        "submit", help="add a campaign to a LaunchPad and print its ids (workers: rlaunch/qlaunch)"
    )
    sp.add_argument("file")
    sp.add_argument("--workdir", help="campaign directory the workers use (shared filesystem on a cluster)")
    add_lp(sp)
    sp.set_defaults(func=cmd_submit)

    sp = sub.add_parser(
        "launch", help="work a campaign through Slurm/PBS: one qlaunch feed per job class, light jobs here"
    )
    sp.add_argument("file")
    sp.add_argument("--queue", choices=["slurm", "pbs"], help="queue system (default: resources.system)")
    sp.add_argument("--workdir", help="campaign directory on a filesystem the compute nodes share")
    sp.add_argument("--max-queued", type=int, default=4, help="queue jobs per class at a time (default 4)")
    sp.add_argument(
        "--poll", type=float, default=10.0, help="seconds between looks at the queue (default 10)"
    )
    add_lp(sp)
    sp.set_defaults(func=cmd_launch)

    sp = sub.add_parser("gui", help="FireWorks' web GUI on the campaigns' database (one campaign, or all)")
    sp.add_argument("campaign", nargs="?")
    sp.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback only)")
    sp.add_argument("--port", type=int, default=5000)
    add_lp(sp)
    sp.set_defaults(func=cmd_gui)

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
        "recover",
        help="re-run a campaign's lost jobs (their queue job ended, or their worker stopped pinging) and failed "
        "ones (safe from cron)",
    )
    sp.add_argument("campaign")
    sp.add_argument("--expire", type=float, default=LOST_AFTER_S, metavar="SECONDS",
                    help=f"a running job is lost after this long without a ping (default {LOST_AFTER_S}; workers "
                    f"ping every {PING_TIME_S} s with pyacemaker's FW_config.yaml, FireWorks' default is 3600 s)")  # fmt: skip
    add_lp(sp)
    sp.set_defaults(func=cmd_recover)

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


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        err.print(f"[red]error:[/] {exc}")
        return exc.code
    except KeyboardInterrupt:
        err.print("interrupted: run the same command again to continue the campaign")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
