"""Local workers share the machine's CPUs among them unless the user's OMP_NUM_THREADS says otherwise."""

import os

from pyacemaker.campaign.workers import worker_threads


def test_the_users_threads_win_else_the_cpus_are_shared():
    cpus = len(os.sched_getaffinity(0))
    assert worker_threads(2, {"OMP_NUM_THREADS": "3"}) == 3
    assert worker_threads(2, {}) == max(1, cpus // 2)
    assert worker_threads(1, {"OMP_NUM_THREADS": ""}) == cpus
    assert worker_threads(10 * cpus, {}) == 1  # more workers than CPUs: one thread each, never zero
