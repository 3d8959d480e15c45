"""Call a compiled kernel directly (no runtime): one row per array set."""

from __future__ import annotations

import cffi
import numpy as np

from odyssey_codegen.api import Kernel

_ffi = cffi.FFI()


def call_kernel(kernel: Kernel, arrays: dict[str, np.ndarray], slots: dict[str, float],
                rows: list[tuple[int, int]] | None = None) -> None:
    """Run ``kernel`` in place over ``arrays`` (p, g and kernel.states); ``rows``
    optionally splits the elements into ``(begin, end)`` ranges, one table row each."""
    scal = np.array([slots[name] for name in kernel.slots], dtype=np.float64)
    order = [arrays["p"], arrays["g"]] + [arrays[s] for s in kernel.states]
    n = order[0].size
    rows = rows or [(0, n)]
    table = np.array([[e - b, scal.ctypes.data] + [a.ctypes.data + b * a.itemsize for a in order]
                      for b, e in rows], dtype=np.int64)
    fn = _ffi.cast("void(*)(int64_t *, int64_t, int64_t)", kernel.address)
    fn(_ffi.cast("int64_t *", table.ctypes.data), 0, len(rows))
