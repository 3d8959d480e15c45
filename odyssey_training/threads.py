"""Work splitting for native kernels over a persistent thread pool.

Kernels release the GIL (cffi calls and :mod:`odyssey_training.native`'s do), so
Python threads run them in parallel.  The rows of a pointer table (tensors cut
at cache-line-aligned offsets into rows of at most :data:`CHUNK` elements) are
grouped into contiguous tasks of about equal element counts,
:data:`TASKS_PER_THREAD` per thread, which the calling thread and the pool's
threads take on demand.
Thread count: ``ODYSSEY_NUM_THREADS``, else the cores this process may use.

Fork safety: a forked child (``os.fork``, ``multiprocessing``'s "fork" start method,
a data-loader worker) has none of its parent's pool threads, so the pool is
forgotten in the child (``os.register_at_fork``) and a new one starts on demand.
"""

from __future__ import annotations

import functools
import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence

import cffi
import numpy as np

__all__ = ["default_threads", "run_rows", "run_calls", "split_rows", "address", "buffer_pointer",
           "pointer_slots", "point_rows", "PARALLEL_MIN_ELEMENTS",
           "CHUNK", "TASKS_PER_THREAD", "plan_tasks"]

#: groups smaller than this run in one call on the calling thread
PARALLEL_MIN_ELEMENTS = 1 << 17
#: largest table row, in elements, of a kernel's default variant (a tuned kernel
#: says its own: ``kernel.variant.chunk``; a multiple of 64 keeps rows cache-line aligned)
CHUNK = 1 << 16
#: a parallel call is cut into this many tasks per thread, taken on demand
TASKS_PER_THREAD = 8
_ffi = cffi.FFI()


def address(arr: np.ndarray) -> int:
    """The address of ``arr``'s first element, for a kernel's pointer table."""
    return int(_ffi.cast("intptr_t", _ffi.from_buffer(arr)))


_CHARS = _ffi.typeof("char[]")


def buffer_pointer(arr: np.ndarray):
    """``arr``'s memory as a cffi ``char[]`` (ValueError when it is not C-contiguous),
    to store into a pointer table viewed as ``char **`` (:func:`pointer_slots`):
    ``ffi.from_buffer`` without its Python wrapper, the cheapest way to an
    ndarray's address, for tables re-pointed at new gradients every step."""
    return _ffi._backend.from_buffer(_CHARS, arr, False)


def pointer_slots(table: np.ndarray):
    """The words of an int64 pointer table as ``char *`` slots."""
    return _ffi.cast("char **", _ffi.from_buffer(table))


def point_rows(slots, word: int, rows: int, row_width: int, arr: np.ndarray,
               chunk: int = CHUNK) -> None:
    """Point a table column at ``arr`` cut into ``rows`` rows of ``chunk``
    elements: slot ``word`` gets its first element, each of the next ``rows - 1``
    rows (``row_width`` words apart) the start of its chunk (ValueError when
    ``arr`` is not C-contiguous)."""
    base, row_bytes = buffer_pointer(arr), chunk * arr.itemsize
    for k in range(rows):
        slots[word + k * row_width] = base + k * row_bytes

_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()


def _forget_pool_in_child() -> None:
    """After a fork: the pool's threads exist only in the parent (never join them),
    and its lock may have been held by another parent thread at the fork."""
    global _pool, _pool_size, _pool_lock
    _pool, _pool_size, _pool_lock = None, 0, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)


def default_threads() -> int:
    text = os.environ.get("ODYSSEY_NUM_THREADS", "")
    if text:
        if not text.isdigit() or int(text) < 1:
            raise ValueError(f"ODYSSEY_NUM_THREADS={text!r} (expected a positive integer)")
        return int(text)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _executor(workers: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < workers:
            if _pool is not None:
                _pool.shutdown(wait=True)
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="odyssey")
            _pool_size = workers
        return _pool


def split_rows(sizes: np.ndarray, parts: int) -> list[tuple[int, int]]:
    """Split rows with element counts ``sizes`` into ``parts`` contiguous ranges of
    about equal total size (rows must already be chunked finely enough)."""
    total = int(sizes.sum())
    if parts <= 1 or total == 0:
        return [(0, len(sizes))]
    ends = np.cumsum(sizes)
    bounds = [0] + [int(np.searchsorted(ends, total * k / parts, side="left")) + 1
                    for k in range(1, parts)] + [len(sizes)]
    bounds = sorted(set(min(b, len(sizes)) for b in bounds))
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def plan_tasks(sizes: np.ndarray, threads: int) -> tuple[list[tuple[int, int]], int]:
    """(tasks, workers) for rows with element counts ``sizes``: one task on the
    calling thread for small work, else about ``TASKS_PER_THREAD`` per thread."""
    if threads <= 1 or int(sizes.sum()) < PARALLEL_MIN_ELEMENTS:
        return [(0, len(sizes))], 1
    tasks = split_rows(sizes, threads * TASKS_PER_THREAD)
    return tasks, min(threads, len(tasks))


def run_rows(call: Callable[[int, int], None], tasks: list[tuple[int, int]],
             workers: int) -> None:
    """Run ``call(first, end)`` for every task (see :func:`run_calls`)."""
    run_calls([functools.partial(call, first, end) for first, end in tasks], workers)


def run_calls(calls: Sequence[Callable[[], object]], workers: int) -> None:
    """Run every call, on up to ``workers`` threads (this one included) that each
    take the next call when done with the last, so a thread that shares its core
    with another process takes fewer tasks instead of holding up the rest.
    Which thread runs a task never changes its result."""
    workers = min(workers, len(calls))
    if workers <= 1:
        for call in calls:
            call()
        return
    ticket = itertools.count()  # next() on a count is atomic under the GIL

    def work() -> None:
        while (i := next(ticket)) < len(calls):
            calls[i]()

    futures = [_executor(workers - 1).submit(work) for _ in range(workers - 1)]
    work()
    for f in futures:
        f.result()
