"""Calling the generated metric kernels (specs in ``specs/metrics/``).

One call of :func:`count` is one pass over a batch: the kernel for the batch's
(preds kind, dtypes) is chosen, the rows of a large batch are cut into chunks
that the pool's threads take on demand, and the per-chunk status words are summed.  A batch with a
label outside ``[0, C)``, or with NaN scores under ``nan_policy="raise"``, is
rejected as a whole: the counts it already added are removed again by running
the same kernel over the same rows with ``delta = -1`` (integer adds, so the
undo is exact), and a ``ValueError`` says what was wrong.

Threads write the shared ``(C, C)`` counts in one of three modes (the
``mode`` word, see :mod:`odyssey_codegen.lower_metric`): one range -> plain adds;
several ranges and ``C*C <= LOCAL_MAX`` -> each thread counts into a private
stack matrix and adds it once, atomically; larger matrices -> atomic adds
(contention is rare when there are that many cells).  Kernels for up to
:data:`SPECIALIZE_MAX_CLASSES` classes are compiled for their exact class
count (fully unrolled class sweep), larger ones read ``C`` at run time.
"""

from __future__ import annotations

import threading

import cffi
import numpy as np

from odyssey_codegen.metric_api import (ARG_INDEX, ARGS_WORDS, LOCAL_MAX, STATUS_WORDS, compile_metric,
                                standard_metric_spec)
from ..threads import PARALLEL_MIN_ELEMENTS, address, default_threads, run_rows

__all__ = ["count", "kernel_for", "SPECIALIZE_MAX_CLASSES", "SPEC_NAMES"]

#: class counts up to this get a kernel compiled for the exact count
SPECIALIZE_MAX_CLASSES = 64
#: a parallel batch is cut into this many chunks per thread, handed out on demand
CHUNKS_PER_THREAD = 4
#: (preds kind, sink) -> spec name in specs/metrics/
SPEC_NAMES = {("scores", "confusion"): "argmax_confusion", ("scores", "hits"): "argmax_hits",
              ("labels", "confusion"): "labels_confusion", ("labels", "hits"): "labels_hits",
              ("binary", "confusion"): "threshold_confusion",
              ("binary", "hits"): "threshold_hits", ("scores", "topk"): "topk_hits"}
_SIGNATURE = "void(*)(int64_t *, int64_t, int64_t, int64_t *)"
_ffi = cffi.FFI()
_kernels: dict[tuple[str, str, str, int], object] = {}
_I_PREDS, _I_TARGETS, _I_C, _I_COUNTS = (ARG_INDEX[k] for k in ("preds", "targets", "C",
                                                                  "counts"))
_I_DELTA, _I_MODE, _I_K, _I_THR = (ARG_INDEX[k] for k in ("delta", "mode", "k", "threshold"))


def kernel_for(spec_name: str, preds: str, targets: str, num_classes: int):
    """The cffi function of ``spec_name`` for these dtypes (compiled on first use)."""
    spec = standard_metric_spec(spec_name)
    classes = num_classes if (spec.preds_rank == 2
                              and num_classes <= SPECIALIZE_MAX_CLASSES) else 0
    key = (spec_name, preds, targets, classes)
    fn = _kernels.get(key)
    if fn is None:
        kernel = compile_metric(spec, preds, targets, classes=classes)
        fn = _kernels.setdefault(key, _ffi.cast(_SIGNATURE, kernel.address))
    return fn


_NAMES = {np.dtype(t): np.dtype(t).name for t in (np.float32, np.float64, np.int32, np.int64)}


_local = threading.local()


def _scratch() -> tuple[np.ndarray, np.ndarray, object, object]:
    """(args, status, their cffi pointers): one set per thread, reused by every
    single-threaded call (a batch of a few rows costs microseconds; allocating and
    casting these each time was a large part of that)."""
    buffers = getattr(_local, "buffers", None)
    if buffers is None:
        args = np.zeros(ARGS_WORDS, dtype=np.int64)
        status = np.zeros((1, STATUS_WORDS), dtype=np.int64)
        buffers = _local.buffers = (args, status, _ffi.cast("int64_t *", address(args)),
                                    _ffi.cast("int64_t *", address(status)))
    return buffers


def _ranges(n: int, parts: int) -> list[tuple[int, int]]:
    bounds = [n * p // parts for p in range(parts + 1)]
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def _run(fn, args_ptr, status: np.ndarray, n: int, workers: int) -> None:
    """Rows ``[0, n)`` in ``len(status)`` contiguous chunks, chunk ``i`` reporting into
    ``status[i]``, taken on demand by up to ``workers`` threads."""
    chunks = _ranges(n, len(status))
    slots = [_ffi.cast("int64_t *", address(status[i])) for i in range(len(chunks))]
    run_rows(lambda i, _: fn(args_ptr, *chunks[i], slots[i]),
             [(i, i + 1) for i in range(len(chunks))], workers)


def count(kind: str, sink: str, preds: np.ndarray, targets: np.ndarray, num_classes: int, *,
          counts: np.ndarray | None = None, k: int = 0, threshold: float = 0.5,
          nan_policy: str = "raise", sign: int = 1, threads: int | None = None) -> int:
    """Run one kernel over a prepared batch (see :func:`._inputs.prepare`).

    ``sink="confusion"`` adds the batch into ``counts`` (int64 ``(C, C)``, C-contiguous;
    ``sign=-1`` subtracts it instead).  Every sink returns the number of hits: rows
    whose prediction equals the target (``"topk"``: whose target is in the top k).
    Raises ``ValueError`` (with nothing counted) for bad labels or rejected NaNs.
    """
    n = targets.shape[0]
    if n == 0:
        return 0
    fn = kernel_for(SPEC_NAMES[kind, sink], _NAMES[preds.dtype], _NAMES[targets.dtype],
                    num_classes)
    work = n * num_classes if kind == "scores" else n
    parts = min(threads or default_threads(), n) if work >= PARALLEL_MIN_ELEMENTS else 1
    if parts == 1:      # the common small batch: this thread's reusable buffers
        args, status, args_ptr, status_ptr = _scratch()
    else:
        args = np.zeros(ARGS_WORDS, dtype=np.int64)
        status = np.zeros((min(n, parts * CHUNKS_PER_THREAD), STATUS_WORDS), dtype=np.int64)
        args_ptr = _ffi.cast("int64_t *", address(args))
    args[_I_PREDS], args[_I_TARGETS], args[_I_C] = address(preds), address(targets), num_classes
    args[_I_COUNTS] = 0 if counts is None else address(counts)
    args[_I_DELTA] = sign
    args[_I_MODE] = 0 if parts == 1 else (2 if num_classes * num_classes <= LOCAL_MAX else 1)
    args[_I_K] = k
    args.view(np.float64)[_I_THR] = threshold
    if parts == 1:
        fn(args_ptr, 0, n, status_ptr)
        bad, nan_rows, hits = status[0].tolist()
    else:
        _run(fn, args_ptr, status, n, parts)
        bad, nan_rows, hits = (int(v) for v in status.sum(axis=0))
    if bad or (nan_rows and nan_policy == "raise"):
        if counts is not None:  # remove what was added: same rows, delta = -1
            args[_I_DELTA] = -sign
            _run(fn, args_ptr, status, n, parts)
        raise ValueError(_message(kind, preds, targets, num_classes, bad, nan_rows))
    return hits


def _message(kind: str, preds: np.ndarray, targets: np.ndarray, num_classes: int, bad: int,
             nan_rows: int) -> str:
    """Why a batch was rejected (computed with NumPy: this is the error path)."""
    if bad:
        parts = []
        arrays = [("targets", targets)] + ([("preds", preds)] if kind == "labels" else [])
        for what, arr in arrays:
            wrong = arr[(arr < 0) | (arr >= num_classes)]
            if wrong.size:
                shown = ", ".join(str(v) for v in np.unique(wrong)[:5])
                parts.append(f"{what} has {wrong.size} label(s) outside [0, {num_classes}) "
                             f"(values: {shown})")
        return "; ".join(parts) + "; nothing from this batch was counted"
    return (f"preds has NaN scores in {nan_rows} row(s) (nan_policy='raise'); nothing from "
            "this batch was counted. Pass nan_policy='max' to count a NaN as the largest "
            "score, as numpy.argmax does")
