"""The metric kernels directly: tie and NaN rules, every thread mode, the exact
undo of a rejected batch, specialized vs generic kernels."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st

from odyssey_training.metrics import Accuracy, ConfusionMatrix, TopKAccuracy, _native

from .strategies import SETTINGS


def np_confusion(targets, y, C):
    out = np.zeros((C, C), dtype=np.int64)
    np.add.at(out, (targets, y), 1)
    return out


def run(preds, targets, C, *, threads=1, sign=1, counts=None, nan_policy="max", sink="confusion",
        k=0):
    counts = np.zeros((C, C), dtype=np.int64) if counts is None else counts
    result = _native.count("scores", sink, preds, targets, C, counts=counts, k=k,
                           nan_policy=nan_policy, threads=threads, sign=sign)
    return counts, result


@pytest.mark.parametrize("C", [1, 5, 8, 9, 16, 31, 32, 33, 64, 65, 100, 257])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_argmax_first_maximum_nan_and_inf(C, dtype):
    """NaN is the largest value (first NaN wins), ties go to the first maximum, and
    all -inf rows predict 0 — numpy.argmax on every row length and dtype."""
    rng = np.random.default_rng(C)
    x = rng.integers(-2, 3, size=(400, C)).astype(dtype)
    x[rng.random(x.shape) < 0.03] = np.nan
    x[rng.random(x.shape) < 0.05] = -np.inf
    x[:3] = -np.inf
    x[3] = np.inf
    t = rng.integers(0, C, size=400)
    counts, hits = run(x, t, C)
    assert hits == np.trace(counts) == int((x.argmax(axis=1) == t).sum())
    np.testing.assert_array_equal(counts, np_confusion(t, x.argmax(axis=1), C))
    _, hits = run(x, t, C, sink="hits")
    assert hits == int((x.argmax(axis=1) == t).sum())


@pytest.mark.parametrize("C", [2, 7, 40])
def test_topk_ties_and_nan_follow_sklearn_order(C):
    """rank = #greater + #equal with a higher class; NaN is largest and equal to NaN."""
    rng = np.random.default_rng(1)
    x = rng.integers(0, 3, size=(500, C)).astype(np.float64)
    x[rng.random(x.shape) < 0.05] = np.nan
    t = rng.integers(0, C, size=500)
    order = np.argsort(x, axis=1, kind="mergesort")[:, ::-1]     # sklearn's ranking
    for k in (1, 2, C):
        _, hits = run(x, t, C, sink="topk", k=k)
        assert hits == int((order[:, :k] == t[:, None]).any(axis=1).sum())


@SETTINGS
@given(C=st.sampled_from([3, 10, 33, 70]), threads=st.integers(1, 4),
       seed=st.integers(0, 2**16), n=st.integers(1, 30_000))
def test_threads_and_modes_count_the_same(C, threads, seed, n):
    """One range (plain adds), private stack matrices (C*C <= LOCAL_MAX) and atomic
    adds (larger C) all give numpy's counts; the split does not matter."""
    rng = np.random.default_rng(seed)
    n = max(n, 140_000 // C) if threads > 1 else n   # large enough to be split
    x = rng.standard_normal((n, C)).astype(np.float32)
    t = rng.integers(0, C, size=n)
    counts, _ = run(x, t, C, threads=threads)
    np.testing.assert_array_equal(counts, np_confusion(t, x.argmax(axis=1), C))


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("C", [10, 70])
def test_rejected_batch_leaves_counts_untouched(threads, C):
    rng = np.random.default_rng(2)
    n = 60_000
    x = rng.standard_normal((n, C)).astype(np.float32)
    t = rng.integers(0, C, size=n)
    before = rng.integers(0, 5, size=(C, C)).astype(np.int64)
    bad = t.copy()
    bad[[5, n // 2, n - 1]] = [C, -1, C + 7]
    counts = before.copy()
    with pytest.raises(ValueError, match=r"targets has 3 label\(s\) outside"):
        run(x, bad, C, threads=threads, counts=counts)
    np.testing.assert_array_equal(counts, before)
    nan = x.copy()
    nan[n - 2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN scores in 1 row"):
        run(nan, t, C, threads=threads, counts=counts, nan_policy="raise")
    np.testing.assert_array_equal(counts, before)
    run(x, t, C, threads=threads, counts=counts, sign=-1)     # sign=-1 removes a batch
    run(x, t, C, threads=threads, counts=counts)
    np.testing.assert_array_equal(counts, before)


def test_specialized_and_generic_kernels_agree(monkeypatch):
    rng = np.random.default_rng(3)
    x = rng.integers(-1, 2, size=(2000, 20)).astype(np.float32)
    t = rng.integers(0, 20, size=2000)
    specialized, _ = run(x, t, 20)
    monkeypatch.setattr(_native, "SPECIALIZE_MAX_CLASSES", 0)
    generic, _ = run(x, t, 20)
    np.testing.assert_array_equal(specialized, generic)
    fns = {_native.kernel_for("argmax_confusion", "float32", "int64", 20)}
    monkeypatch.setattr(_native, "SPECIALIZE_MAX_CLASSES", 32)
    fns.add(_native.kernel_for("argmax_confusion", "float32", "int64", 20))
    assert len(fns) == 2


def test_metrics_use_many_threads_on_large_batches(monkeypatch):
    calls = []
    real = _native.run_rows
    monkeypatch.setattr(_native, "run_rows", lambda call, tasks, workers: (
        calls.append(workers), real(call, tasks, workers)))
    monkeypatch.setenv("ODYSSEY_NUM_THREADS", "4")
    rng = np.random.default_rng(4)
    x = rng.standard_normal((50_000, 10)).astype(np.float32)
    t = rng.integers(0, 10, size=50_000)
    cm, acc, top = ConfusionMatrix(10), Accuracy(10), TopKAccuracy(10, k=3)
    for m in (cm, acc, top):
        m.update(x, t)
    assert calls == [4, 4, 4]
    np.testing.assert_array_equal(cm.compute(), np_confusion(t, x.argmax(1), 10))
    assert acc.correct == int(np.trace(cm.compute()))
    calls.clear()
    acc.update(x[:100], t[:100])                              # small: one call, no pool
    assert calls == []


@pytest.mark.parametrize("C", [3, 10, 40])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_status_words_count_bad_and_nan_rows(C, dtype):
    """The kernel's own counts: bad rows are skipped and counted, NaN rows counted
    (and predicted as their first NaN), +inf next to -inf is not a NaN."""
    import cffi
    ffi = cffi.FFI()
    rng = np.random.default_rng(C)
    n = 1000
    x = rng.standard_normal((n, C)).astype(dtype)
    x[rng.random(n) < 0.1, 0] = np.nan
    x[7, :] = -np.inf
    x[7, C - 1] = np.inf
    t = rng.integers(0, C, size=n)
    bad = rng.random(n) < 0.05
    t[bad] = C + 3
    fn = _native.kernel_for("argmax_confusion", x.dtype.name, "int64", C)
    counts = np.zeros((C, C), dtype=np.int64)
    args = np.array([x.ctypes.data, t.ctypes.data, C, counts.ctypes.data, 1, 0, 0, 0],
                    dtype=np.int64)
    status = np.zeros(3, dtype=np.int64)
    fn(ffi.cast("int64_t *", args.ctypes.data), 0, n, ffi.cast("int64_t *", status.ctypes.data))
    ok = ~bad
    assert status[0] == bad.sum()
    assert status[1] == np.isnan(x[ok]).any(axis=1).sum()
    assert status[2] == np.trace(counts)
    np.testing.assert_array_equal(counts, np_confusion(t[ok], x[ok].argmax(axis=1), C))
    inf_row = ConfusionMatrix(C)                      # nan_policy="raise" accepts it
    inf_row.update(x[7:8], np.array([0]))
    assert inf_row.compute()[0, C - 1] == 1
