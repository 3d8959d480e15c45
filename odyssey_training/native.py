"""``row_call``: a kernel call over a fixed range of table rows, as a builtin function.

``row_call(kernel, table, first, end)()`` runs ``kernel(table, first, end)`` with
the GIL released, like a cffi call, but through a ``METH_NOARGS`` builtin
function object whose C function is the JIT-compiled entry of
:mod:`odyssey_codegen.entry`.  CPython calls it directly: no libffi, no
argument conversion.  Measured right after a LeNet-5 backward pass (Sapphire
Rapids, bench/RESULTS.md): a call over zero rows costs about 3 µs this way and
10 µs through cffi, because libffi's and cffi's own code has left the caches.

The builtin function holds its call record (four int64 words: kernel, table
address, first row, end row) and the table, so they live as long as it does.
The function objects are made once per plan, with ``ctypes.pythonapi``; nothing
here runs on the hot path but the call itself.
"""

from __future__ import annotations

import ctypes
import os
import threading
from typing import Callable

import numpy as np

from odyssey_codegen.api import compile_entry

from .threads import address

__all__ = ["row_call"]

_METH_NOARGS = 0x0004


class _MethodDef(ctypes.Structure):
    """CPython's ``PyMethodDef``."""
    _fields_ = [("ml_name", ctypes.c_char_p), ("ml_meth", ctypes.c_void_p),
                ("ml_flags", ctypes.c_int), ("ml_doc", ctypes.c_char_p)]


_capsule_new = ctypes.pythonapi.PyCapsule_New
_capsule_new.restype = ctypes.py_object
_capsule_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
_function_new = ctypes.pythonapi.PyCFunction_NewEx
_function_new.restype = ctypes.py_object
_function_new.argtypes = [ctypes.c_void_p, ctypes.py_object, ctypes.py_object]
_method: _MethodDef | None = None      # one definition for every row_call, never freed
_lock = threading.Lock()


def _fresh_lock() -> None:
    """A forked child starts with an unheld lock (another thread of the parent may
    have held it at the fork; that thread does not exist in the child)."""
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_fresh_lock)


def _definition() -> _MethodDef:
    global _method
    with _lock:
        if _method is None:
            _method = _MethodDef(b"row_call", compile_entry(), _METH_NOARGS,
                                 b"Run the kernel over its rows (GIL released); returns True.")
        return _method


def row_call(kernel: int, table: np.ndarray, first: int, end: int) -> Callable[[], bool]:
    """A callable taking no arguments that runs the kernel at address ``kernel``
    over rows ``first:end`` of the C-contiguous int64 pointer ``table``."""
    if table.dtype != np.int64 or table.ndim != 2 or not table.flags.c_contiguous:
        raise ValueError("row_call: the table must be a C-contiguous 2-D int64 array")
    if not 0 <= first <= end <= table.shape[0]:
        raise ValueError(f"row_call: rows {first}:{end} of a table of {table.shape[0]}")
    record = np.array([kernel, address(table), first, end], dtype=np.int64)
    capsule = _capsule_new(record.ctypes.data, None, None)
    # the function object's module slot holds what the record points into
    return _function_new(ctypes.addressof(_definition()), capsule, (record, table))
