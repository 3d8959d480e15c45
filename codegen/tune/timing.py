"""Timing candidate kernels on synthetic memory: interleaved rounds, medians.

The tuner cannot use the caller's arrays (a candidate would update them), so it
allocates its own with cffi (codegen does not import numpy or the runtime): one
array per pointer column of the kernel's table rows, filled with finite values
that keep every candidate's arithmetic on normal numbers.  Tensors are cut into
rows of the candidate's ``chunk`` and the rows into contiguous tasks that
``threads`` threads take on demand, as the runtime does.

Each round runs every candidate once, in a fresh (seeded) random order; a
candidate's time is the median over rounds, so a slow phase of a shared
machine, which slows every candidate of a round alike, does not pick the winner.
``cold`` touches memory between steps (the small-group class: a training loop's
forward and backward passes evict the optimizer's arrays from the caches).
"""

from __future__ import annotations

import itertools
import random
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import cffi

__all__ = ["Workload", "Runner", "interleaved", "median"]

_ffi = cffi.FFI()
_CALL = {"update": "void(*)(int64_t *, int64_t, int64_t)",
         "sumsq": "void(*)(int64_t *, int64_t, int64_t, double *)"}
#: tasks per thread of a parallel call (as odyssey_training.threads)
TASKS_PER_THREAD = 8
#: memory touched between steps of a cold workload
COLD_BYTES = 8 << 20


def _fill(buf, nbytes: int, pattern: bytes) -> None:
    """Repeat ``pattern`` over the first ``nbytes`` of ``buf`` (doubling copies)."""
    _ffi.memmove(buf, pattern, len(pattern))
    done = len(pattern)
    while done < nbytes:
        size = min(done, nbytes - done)
        _ffi.memmove(buf + done, buf, size)
        done += size


@dataclass
class Workload:
    """``columns`` arrays of ``n`` elements (``fills``: each one's value) and the
    float64 scalar vector ``scalars`` (update kernels; the norm pass has none)."""
    kind: str
    n: int
    itemsize: int
    fills: list[float]
    scalars: list[float]

    def __post_init__(self) -> None:
        code = "f" if self.itemsize == 4 else "d"
        self.arrays = []
        for value in self.fills:
            buf = _ffi.new("char[]", self.n * self.itemsize)
            _fill(buf, self.n * self.itemsize, struct.pack(f"<{code}", value) * 16)
            self.arrays.append(buf)
        self.scal = _ffi.new("double[]", self.scalars or [0.0])
        self.scratch = _ffi.new("char[]", COLD_BYTES)

    def rows(self, chunk: int) -> list[list[int]]:
        """Table rows over the arrays, ``chunk`` elements each."""
        addrs = [int(_ffi.cast("intptr_t", a)) for a in self.arrays]
        head = [] if self.kind == "sumsq" else [int(_ffi.cast("intptr_t", self.scal))]
        return [[min(chunk, self.n - b)] + head + [a + b * self.itemsize for a in addrs]
                for b in range(0, self.n, chunk)]

    def chill(self) -> None:
        """Touch :data:`COLD_BYTES` of other memory (evicts the arrays from L1/L2)."""
        _ffi.memmove(self.scratch, self.scratch + COLD_BYTES // 2, COLD_BYTES // 2)


class Runner:
    """A thread pool that runs one kernel over a table's rows, as the runtime does."""

    def __init__(self, threads: int):
        self.threads = threads
        self.pool = ThreadPoolExecutor(threads - 1) if threads > 1 else None

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)

    def step(self, address: int, kind: str, rows: list[list[int]]) -> Callable[[], None]:
        """A zero-argument call of the kernel at ``address`` over ``rows``."""
        table = _ffi.new("int64_t[]", [w for row in rows for w in row])
        out = _ffi.new("double[]", len(rows))
        fn = _ffi.cast(_CALL[kind], address)
        call = ((lambda a, b: fn(table, a, b)) if kind == "update"
                else (lambda a, b: fn(table, a, b, out)))
        count = len(rows)
        if self.pool is None or count < 2:
            return lambda: call(0, count)
        parts = min(count, self.threads * TASKS_PER_THREAD)
        tasks = [(count * k // parts, count * (k + 1) // parts) for k in range(parts)]
        pool, workers = self.pool, self.threads

        def run() -> None:
            ticket = itertools.count()

            def work() -> None:
                while (i := next(ticket)) < len(tasks):
                    call(*tasks[i])
            futures = [pool.submit(work) for _ in range(workers - 1)]
            work()
            for f in futures:
                f.result()
        return run


def interleaved(steps: dict, min_rounds: int, rounds: int, seconds: float,
                before: Callable[[], None] | None = None, seed: int = 0) -> dict[str, list[float]]:
    """Times of each step over interleaved rounds: at least ``min_rounds``, at most
    ``rounds``, and no new round after ``seconds``.  ``before`` runs untimed before
    every step."""
    order = list(steps)
    rng = random.Random(seed)
    times: dict[str, list[float]] = {name: [] for name in order}
    clock = time.perf_counter
    start = clock()
    for r in range(rounds):
        rng.shuffle(order)
        for name in order:
            if before is not None:
                before()
            t0 = clock()
            steps[name]()
            times[name].append(clock() - t0)
        if r + 1 >= min_rounds and clock() - start > seconds:
            break
    return times


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])
