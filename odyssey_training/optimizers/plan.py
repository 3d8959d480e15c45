"""A param group's native step: the pointer table, the scalar vectors and the
kernel call, built once and reused until the tensors change.

Table rows are ``[n, scalars*, p*, g*, state*...]`` (see codegen.lower_llvm).
Tensors larger than :data:`CHUNK` elements are cut into several rows at
cache-line-aligned offsets so that threads can share the group (see
:func:`odyssey_training.threads.plan_tasks`).
While every tensor of the plan is at the same step (the usual case) all rows
share one scalar vector, so a step writes a single row of float64s.
"""

from __future__ import annotations

import struct
import weakref

import cffi
import numpy as np

from codegen.api import Kernel
from ..threads import CHUNK, address, plan_tasks, run_rows

__all__ = ["KernelPlan"]

_ffi = cffi.FFI()
_SIGNATURE = "void(*)(int64_t *, int64_t, int64_t)"


class KernelPlan:
    """Everything one kernel call over one group (of one dtype) needs.

    ``states`` are the optimizer's per-parameter state dicts (their ``step`` is
    advanced here); ``first`` flags tensors whose "grad"-initialised buffers were
    just created.
    """

    def __init__(self, kernel: Kernel, params: list, buffers: list[list[np.ndarray]],
                 states: list[dict], threads: int, first: list[bool]) -> None:
        self.kernel, self.params, self.states, self.threads = kernel, params, states, threads
        self.first = [float(f) for f in first]
        steps = [s["step"] for s in states]
        self.shared = len(set(steps)) == 1 and len(set(self.first)) == 1
        slots = len(kernel.slots)
        self.scalars = np.zeros((len(params), slots), dtype=np.float64)
        self._pack = struct.Struct(f"{slots}d").pack_into
        rows, sizes = [], []
        for t, (param, bufs) in enumerate(zip(params, buffers)):
            n, item = param.data.size, param.data.itemsize
            bases = [address(a) for a in [param.data, param.grad] + bufs]
            scal = address(self.scalars) + (0 if self.shared else t * self.scalars.strides[0])
            for begin in range(0, n, CHUNK):
                count = min(CHUNK, n - begin)
                rows.append([count, scal] + [b + begin * item for b in bases])
                sizes.append(count)
        self.table = np.array(rows, dtype=np.int64).reshape(len(rows), kernel.row_width)
        row_sizes = np.array(sizes, dtype=np.int64)
        self._grad_refs = [weakref.ref(p.grad) for p in params]
        self._data_refs = [weakref.ref(p.data) for p in params]
        fn = _ffi.cast(_SIGNATURE, kernel.address)
        table = _ffi.cast("int64_t *", address(self.table))
        self._call = lambda first_row, end_row: fn(table, first_row, end_row)
        self._tasks, self._workers = plan_tasks(row_sizes, threads)

    def matches(self, kernel: Kernel, params: list, threads: int) -> bool:
        """True when this plan's table still points at the right arrays (state
        buffers are fixed per kernel: the optimizer drops plans when it replaces them)."""
        if kernel is not self.kernel or threads != self.threads or len(params) != len(self.params):
            return False
        for p, q, gref, dref in zip(params, self.params, self._grad_refs, self._data_refs):
            if p is not q or gref() is not p.grad or dref() is not p.data:
                return False
        return True

    def step(self, hypers: list[float], scale: float) -> None:
        """Write the scalar vector(s) ``[hypers, step, first_step, grad_scale]``, run
        the kernel over every row, advance each tensor's step."""
        if self.shared:
            self._pack(self.scalars, 0, *hypers, self.states[0]["step"] + 1.0, self.first[0],
                       scale)
        else:
            stride = self.scalars.strides[0]
            for t, (state, first) in enumerate(zip(self.states, self.first)):
                self._pack(self.scalars, t * stride, *hypers, state["step"] + 1.0, first, scale)
        if self._workers == 1:
            self._call(*self._tasks[0])
        else:
            run_rows(self._call, self._tasks, self._workers)
        for state in self.states:
            state["step"] += 1
        if self.first[0] or not self.shared:
            self.first = [0.0] * len(self.first)
