"""The cluster commands: ``submit`` (queue a campaign), ``launch`` (work it through Slurm/PBS per job class),
``recover`` (re-run lost and failed jobs, from cron) and ``gui`` (FireWorks' web GUI)."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import yaml

from pyacemaker.allocation import tool
from pyacemaker.app.cli_common import (
    EXIT_INPUT,
    CliError,
    add_lp,
    connect,
    finish,
    open_campaign,
    target_for,
)
from pyacemaker.app.progress import console
from pyacemaker.campaign.controller import ControllerBusy, controller_lock
from pyacemaker.campaign.launch import run_queue
from pyacemaker.campaign.launchpad import job_names, recover_lost, rerun_fizzled, workflow_states
from pyacemaker.campaign.queue_jobs import rerun_ended
from pyacemaker.campaign.workers import LOST_AFTER_S, PING_TIME_S, fw_config_file
from pyacemaker.db import write_private


@contextlib.contextmanager
def held(db, campaign: str, command: str):
    """The campaign's controller lock for ``run``/``launch`` (another live controller: a clear error, exit 2)."""
    stack = contextlib.ExitStack()
    try:
        stack.enter_context(controller_lock(db, campaign, command))
    except ControllerBusy as exc:
        raise CliError(str(exc), EXIT_INPUT) from None
    with stack:
        yield


def cmd_submit(args) -> int:
    _, ctx, target, _, _, doc, created = open_campaign(args)
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
    cfg, ctx, target, db, lp, doc, created = open_campaign(args, announce=True)
    if target.has_credentials:
        raise CliError("launch writes jobflow/launchpad files for the queue jobs and refuses to write credentials; "
                       "use a launchpad file without a password (e.g. a MongoDB bound to the cluster network) or "
                       "`pyacemaker submit` with your own qlaunch setup", EXIT_INPUT)  # fmt: skip
    system = args.queue or cfg.resources.system
    if shutil.which("sbatch" if system == "slurm" else "qsub") is None:
        raise CliError(f"{'sbatch' if system == 'slurm' else 'qsub'} not found: is this a {system} login node?",
                       EXIT_INPUT)  # fmt: skip
    with held(db, ctx.campaign, "launch"):
        return _launch(args, system, ctx, target, db, lp, doc)


def _launch(args, system, ctx, target, db, lp, doc) -> int:
    """``launch`` while it holds the campaign's controller lock."""
    root = doc.wf_root_fw_id
    rerun_fizzled(lp, root)
    console.print(f"feeding the {system} queue per class (label, train, explore; light jobs run here); "
                  f"adapters in {ctx.workdir / 'fireworks'}")  # fmt: skip
    state = run_queue(target, ctx, root, system=system, max_queued=args.max_queued, poll_s=args.poll,
                      lost_after_s=ctx.config.workers.lost_after_s, say=lambda line: console.print(line))  # fmt: skip
    if state == "STUCK":
        console.print("nothing can progress: no job is ready, running or queued (only failed jobs and the ones "
                      "waiting on them)")  # fmt: skip
    return finish(db, lp, ctx, root, ctx.workdir / "queue_logs")


def cmd_gui(args) -> int:
    """FireWorks' web GUI on the campaigns' database (loopback unless --host says otherwise), until Ctrl-C."""
    target = target_for(args.launchpad, start=True)
    db = connect(target)
    lp_file, lp_dir = target.launchpad_file, None
    if lp_file is None:
        if target.has_credentials:
            raise CliError("the GUI needs a launchpad file and pyacemaker writes no credentials: give -l with your "
                           "own launchpad file (it may hold the password)", EXIT_INPUT)  # fmt: skip
        lp_dir = Path(tempfile.mkdtemp(prefix="pyacemaker-gui-"))  # 0700, removed when the GUI stops
        lp_file = str(lp_dir / "my_launchpad.yaml")
        write_private(Path(lp_file), yaml.safe_dump(target.launchpad_spec()))
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
    target = target_for(args.launchpad, start=True)
    db = connect(target)
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
    expire = args.expire or float(
        ((doc.config or {}).get("workers") or {}).get("lost_after_s") or LOST_AFTER_S
    )
    lost = [i for i in recover_lost(lp, root, expire) if i not in {j.fw_id for j in ended}]
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


def add_parsers(sub) -> None:
    """The cluster commands' parsers (``sub``: the subparsers of ``pyacemaker``)."""
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
    sp.add_argument("--poll", type=float, default=5.0, help="seconds between looks at the queue (default 5)")
    add_lp(sp)
    sp.set_defaults(func=cmd_launch)

    sp = sub.add_parser("gui", help="FireWorks' web GUI on the campaigns' database (one campaign, or all)")
    sp.add_argument("campaign", nargs="?")
    sp.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback only)")
    sp.add_argument("--port", type=int, default=5000)
    add_lp(sp)
    sp.set_defaults(func=cmd_gui)

    sp = sub.add_parser(
        "recover",
        help="re-run a campaign's lost jobs (their queue job ended, or their worker stopped pinging) and failed "
        "ones (safe from cron)",
    )
    sp.add_argument("campaign")
    sp.add_argument("--expire", type=float, default=None, metavar="SECONDS",
                    help="a running job is lost after this long without a ping (default: the campaign's "
                    f"workers.lost_after_s, {LOST_AFTER_S:g} unless set; workers "
                    f"ping every {PING_TIME_S} s with pyacemaker's FW_config.yaml, FireWorks' default is 3600 s)")  # fmt: skip
    add_lp(sp)
    sp.set_defaults(func=cmd_recover)
