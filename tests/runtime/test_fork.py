"""A process that took a multi-threaded step and then forks: the child steps too
(its thread pool is reset at fork) instead of waiting forever on pool threads that
do not exist in it.  Each scenario runs in its own interpreter under a timeout; a
child that hangs is killed by an alarm, so a failure never leaves a process behind."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

TIMEOUT = 90
pytestmark = pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "darwin",
                                reason="needs os.fork (unsafe after threads on macOS)")
SETUP = """
    import os, signal, sys
    import numpy as np
    import odyssey_training as ot
    from odyssey_training.optimizers import AdamW

    N = 2_000_000                                   # well above PARALLEL_MIN_ELEMENTS
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(N).astype(np.float32) for _ in range(2)]
    w, ref = ot.Parameter(np.zeros(N, np.float32)), ot.Parameter(np.zeros(N, np.float32))
    opt, ref_opt = AdamW([w], num_threads=2), AdamW([ref], num_threads=1)

    def step(k):
        w.grad, ref.grad = grads[k], grads[k]
        opt.step()
        ref_opt.step()
        return bool(np.array_equal(w.data, ref.data))

    assert step(0)                                  # the pool's threads exist now
"""
FORK = SETUP + """
    pid = os.fork()
    if pid == 0:
        signal.alarm(20)                            # a hung child dies instead of lingering
        try:
            os._exit(0 if step(1) else 3)
        except BaseException:
            os._exit(4)
    _, status = os.waitpid(pid, 0)
    print("child", os.waitstatus_to_exitcode(status))
    print("parent", step(1))
"""
POOL = SETUP + """
    import multiprocessing

    def child_step(k):
        signal.alarm(20)
        return step(1), os.getpid() != PARENT

    PARENT = os.getpid()
    with multiprocessing.get_context("fork").Pool(2) as pool:
        results = pool.map_async(child_step, range(4)).get(timeout=40)
    print("pool", results)
    print("parent", step(1))
"""


def run_script(body: str) -> list[str]:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(body)], capture_output=True,
                          text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.splitlines()


def test_forked_child_steps_after_a_threaded_step():
    assert run_script(FORK) == ["child 0", "parent True"]


def test_fork_pool_workers_step_after_a_threaded_step():
    lines = run_script(POOL)
    assert lines == ["pool " + str([(True, True)] * 4), "parent True"]
