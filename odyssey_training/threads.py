"""Work splitting for native kernels over a persistent thread pool.

Kernels release the GIL (cffi calls do), so Python threads run them in
parallel.  Rows of a pointer table are divided into contiguous ranges of
about equal element counts; the calling thread runs the first range itself.
Thread count: ``ODYSSEY_NUM_THREADS``, else the cores this process may use.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import cffi
import numpy as np

__all__ = ["default_threads", "run_rows", "split_rows", "address", "PARALLEL_MIN_ELEMENTS",
           "CHUNK"]

#: groups smaller than this run in one call on the calling thread
PARALLEL_MIN_ELEMENTS = 1 << 17
#: largest table row, in elements (a multiple of 64 keeps rows cache-line aligned)
CHUNK = 1 << 16
_ffi = cffi.FFI()


def address(arr: np.ndarray) -> int:
    """The address of ``arr``'s first element, for a kernel's pointer table."""
    return int(_ffi.cast("intptr_t", _ffi.from_buffer(arr)))

_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()


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


def run_rows(call: Callable[[int, int], None], ranges: list[tuple[int, int]]) -> None:
    """Run ``call(first, end)`` for every range, the first on this thread."""
    if len(ranges) == 1:
        call(*ranges[0])
        return
    futures = [_executor(len(ranges) - 1).submit(call, a, b) for a, b in ranges[1:]]
    call(*ranges[0])
    for f in futures:
        f.result()
