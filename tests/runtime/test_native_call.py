"""``row_call``: a kernel call as a builtin function (odyssey_training.native).

The calls run the SGD kernel of a real plan over chosen rows; the expected values
are SGD's update written out in NumPy (p -= lr * g), so a call that ran the
wrong rows, the wrong kernel or nothing at all fails."""

from __future__ import annotations

import gc
import threading
import weakref

import numpy as np
import pytest

import odyssey_training as ot
from odyssey_training.native import row_call
from odyssey_training.optimizers import SGD

LR = 0.5


def _plan(sizes=(5, 7, 3)):
    """An SGD plan over three parameters, after one step (the table is built)."""
    rng = np.random.default_rng(0)
    params = [ot.Parameter(rng.standard_normal(n).astype(np.float32)) for n in sizes]
    for p in params:
        p.grad = rng.standard_normal(p.data.shape).astype(np.float32)
    opt = SGD(params, lr=LR, num_threads=1)
    opt.step()
    (plan,) = opt._last[0].plans
    return params, plan


def test_a_call_runs_the_kernel_over_its_rows_only():
    params, plan = _plan()
    before = [p.data.copy() for p in params]
    call = row_call(plan.kernel.address, plan.table, 1, 2)
    assert call() is True
    np.testing.assert_array_equal(params[0].data, before[0])
    np.testing.assert_array_equal(params[2].data, before[2])
    np.testing.assert_allclose(params[1].data, before[1] - LR * params[1].grad, rtol=1e-6)


def test_the_whole_table_and_an_empty_range():
    params, plan = _plan()
    before = [p.data.copy() for p in params]
    row_call(plan.kernel.address, plan.table, 0, 0)()
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p.data, b)
    row_call(plan.kernel.address, plan.table, 0, plan.table.shape[0])()
    for p, b in zip(params, before):
        np.testing.assert_allclose(p.data, b - LR * p.grad, rtol=1e-6)


def test_the_call_keeps_its_table_alive_and_frees_it_with_itself():
    params, plan = _plan()
    table = plan.table.copy()
    gone = weakref.ref(table)
    call = row_call(plan.kernel.address, table, 0, 1)
    del table
    gc.collect()
    assert gone() is not None            # held by the call
    before = params[0].data.copy()
    call()
    np.testing.assert_allclose(params[0].data, before - LR * params[0].grad, rtol=1e-6)
    del call
    gc.collect()
    assert gone() is None                # and released with it


def test_calls_from_several_threads():
    params, plan = _plan(sizes=(64,) * 8)
    before = [p.data.copy() for p in params]
    calls = [row_call(plan.kernel.address, plan.table, k, k + 1) for k in range(8)]
    threads = [threading.Thread(target=c) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for p, b in zip(params, before):
        np.testing.assert_allclose(p.data, b - LR * p.grad, rtol=1e-6)


@pytest.mark.parametrize("table, first, end, match", [
    (np.zeros((3, 5), np.int32), 0, 1, "int64"),
    (np.zeros(15, np.int64), 0, 1, "2-D"),
    (np.zeros((5, 3), np.int64).T, 0, 1, "C-contiguous"),
    (np.zeros((3, 5), np.int64), 2, 4, "rows 2:4 of a table of 3"),
    (np.zeros((3, 5), np.int64), 2, 1, "rows 2:1"),
    (np.zeros((3, 5), np.int64), -1, 1, "rows -1:1"),
])
def test_a_bad_table_or_range_is_refused(table, first, end, match):
    with pytest.raises(ValueError, match=match):
        row_call(0, table, first, end)
