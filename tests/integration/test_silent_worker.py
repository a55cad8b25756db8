"""A local worker that lives but no longer pings its job (frozen with SIGSTOP, as a stuck node or code hung in a way
that blocks the worker): ``run``'s watch kills it, starts another, and the job runs again to completion.

Real parts: the embedded database server, FireWorks' own ping thread in a real worker process (pinging every second
here instead of every 60 s), a real SIGSTOP. Only the limit is shortened (3 s instead of ``workers.lost_after_s``)."""

from __future__ import annotations

import functools
import os
import signal
import time

import pytest

pytestmark = pytest.mark.integration


def test_a_frozen_local_worker_is_killed_and_its_job_run_again(db_server, tmp_path, monkeypatch):
    from fireworks import Firework, ScriptTask, Workflow

    from pyacemaker.app import progress
    from pyacemaker.campaign import workers as workers_mod
    from pyacemaker.campaign.context import Context
    from pyacemaker.campaign.launchpad import ensure_launchpad, silent_workers
    from pyacemaker.config import parse_config, resolve
    from pyacemaker.db import Database, DbTarget

    monkeypatch.setattr(
        workers_mod, "fw_config_file", functools.partial(workers_mod.fw_config_file, ping_s=1)
    )
    cfg, _ = resolve(parse_config({"elements": ["Cu"], "oracle": {"type": "emt"}}))
    ctx = Context("silent", cfg, tmp_path / "w")
    target = DbTarget(db_server["uri"], "t_silent_worker", "test server")
    db = Database.connect(target)
    lp = target.launchpad()
    ensure_launchpad(lp)
    done = tmp_path / "runs.txt"
    # the first run takes 60 s (it is cut off long before), the second a moment
    script = f"echo run >> {done}; if [ $(grep -c run {done}) -eq 1 ]; then sleep 60; fi; echo done >> {done}"
    fw = Firework(ScriptTask.from_str(script), name="slow job",
                  spec={"pyacemaker_campaign": "silent", "pyacemaker_class": "light"})  # fmt: skip
    lp.add_wf(Workflow([fw]))
    local = workers_mod.LocalWorkers(target, ctx, 1, None)
    try:
        first = local.workers[0]
        end = time.monotonic() + 60
        while lp.fireworks.find_one({"fw_id": fw.fw_id})["state"] != "RUNNING" and time.monotonic() < end:
            time.sleep(0.2)
        time.sleep(2.5)  # a few pings of the live worker
        assert silent_workers(lp, fw.fw_id, 2.0, [first.token]) == []  # pinging: not silent
        os.kill(
            first.proc.pid, signal.SIGSTOP
        )  # its ping thread stops with it; the job's shell goes on alone
        time.sleep(3.0)
        assert silent_workers(lp, fw.fw_id, 2.0, [first.token]) == [first.token]
        st = progress.watch(db, lp, "silent", fw.fw_id, local, quiet=True, lost_after_s=2.0, lost_check_s=1.0)
        assert st["state"] == "COMPLETED", st
        assert first.proc.poll() == -signal.SIGKILL  # the frozen worker was killed, not left stopped
        assert local.replaced == 1 and local.workers[0] is not first
        # the cut-off run never finished (its shell went with the worker's process group); the second did
        assert done.read_text().splitlines() == ["run", "run", "done"]
        assert lp.launches.count_documents({"fw_id": fw.fw_id}) == 2
    finally:
        for w in local.workers:
            if w.alive:
                os.kill(w.proc.pid, signal.SIGCONT)
        local.stop()
        db.db.client.drop_database("t_silent_worker")
