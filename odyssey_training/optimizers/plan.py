"""A param group's native step: the pointer table, the per-tensor scalar
vectors and the kernel call, built once and reused until the tensors change.

Table rows are ``[n, scalars*, p*, g*, state*...]`` (see codegen.lower_llvm).
Tensors larger than :data:`CHUNK` elements are cut into several rows at
cache-line-aligned offsets so that threads get balanced shares of the group.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import cffi
import numpy as np

from codegen.api import Kernel
from ..threads import PARALLEL_MIN_ELEMENTS, run_rows, split_rows

__all__ = ["KernelPlan", "CHUNK"]

#: largest row, in elements (a multiple of 64 elements keeps rows cache-line aligned)
CHUNK = 1 << 16
_ffi = cffi.FFI()
_SIGNATURE = "void(*)(int64_t *, int64_t, int64_t)"


def _address(arr: np.ndarray) -> int:
    return arr.__array_interface__["data"][0]


@dataclass
class KernelPlan:
    """Everything one kernel call over one group (of one dtype) needs."""
    kernel: Kernel
    params: list            # the Parameters, in table order
    buffers: list[list[np.ndarray]]   # per param: the state arrays in kernel.states order
    threads: int
    first: list[bool] | None   # first_step per tensor for the next run (then None)
    table: np.ndarray = field(init=False)
    scalars: np.ndarray = field(init=False)   # (tensors, slots) float64
    row_sizes: np.ndarray = field(init=False)
    _grad_refs: list = field(init=False)
    _data_refs: list = field(init=False)
    _fn: object = field(init=False)
    _ranges: list = field(init=False)

    def __post_init__(self) -> None:
        k = self.kernel
        self.scalars = np.zeros((len(self.params), len(k.slots)), dtype=np.float64)
        rows, sizes = [], []
        for t, (param, bufs) in enumerate(zip(self.params, self.buffers)):
            n, item = param.data.size, param.data.itemsize
            arrays = [param.data, param.grad] + bufs
            bases = [_address(a) for a in arrays]
            scal = _address(self.scalars) + t * self.scalars.strides[0]
            for begin in range(0, n, CHUNK):
                count = min(CHUNK, n - begin)
                rows.append([count, scal] + [b + begin * item for b in bases])
                sizes.append(count)
        self.table = np.array(rows, dtype=np.int64).reshape(len(rows), k.row_width)
        self.row_sizes = np.array(sizes, dtype=np.int64)
        self._grad_refs = [weakref.ref(p.grad) for p in self.params]
        self._data_refs = [weakref.ref(p.data) for p in self.params]
        self._fn = _ffi.cast(_SIGNATURE, k.address)
        self._table_ptr = _ffi.cast("int64_t *", _address(self.table))
        total = int(self.row_sizes.sum())
        parts = self.threads if total >= PARALLEL_MIN_ELEMENTS else 1
        self._ranges = split_rows(self.row_sizes, parts)

    def matches(self, kernel: Kernel, params: list, threads: int) -> bool:
        """True when this plan's table still points at the right arrays (state
        buffers are fixed per kernel: the optimizer drops plans when it replaces them)."""
        if kernel is not self.kernel or threads != self.threads or len(params) != len(self.params):
            return False
        for p, q, gref, dref in zip(params, self.params, self._grad_refs, self._data_refs):
            if p is not q or gref() is not p.grad or dref() is not p.data:
                return False
        return True

    def run(self) -> None:
        fn, table = self._fn, self._table_ptr
        run_rows(lambda first, end: fn(table, first, end), self._ranges)
