"""Builtin functions whose C code is a JIT-compiled CPython entry of :mod:`odyssey_codegen`.

* ``row_call``: a kernel call over a fixed range of table rows;
* ``steady_call``: a wrapper's steady-state step, from a program of checks,
  gradient re-pointing and kernel runs (:mod:`odyssey_codegen.steady_entry`).

``row_call(kernel, table, first, end)()`` runs ``kernel(table, first, end)`` with
the GIL released, like a cffi call, but through a ``METH_NOARGS`` builtin
function object whose C function is the JIT-compiled entry of
:mod:`odyssey_codegen.entry`.  CPython calls it directly: no libffi, no
argument conversion.  Measured right after a LeNet-5 backward pass (Sapphire
Rapids, bench/RESULTS.md): a call over zero rows costs about 3 µs this way and
10 µs through cffi, because libffi's and cffi's own code has left the caches.

The builtin function holds its record (for ``row_call`` four int64 words kernel, table
address, first row, end row) and what the record points into (the table; for
``steady_call`` every object it names), so they live as long as it does.
The function objects are made once per plan, with ``ctypes.pythonapi``; nothing
here runs on the hot path but the call itself.
"""

from __future__ import annotations

import ctypes
import operator
import os
import threading
from typing import Callable

import numpy as np

from odyssey_codegen.api import STEADY_LAYOUT, compile_entry, entry_words

from .threads import address

__all__ = ["row_call", "steady_call"]

_METH_NOARGS = 0x0004


class _MethodDef(ctypes.Structure):
    """CPython's ``PyMethodDef``."""
    _fields_ = [("ml_name", ctypes.c_char_p), ("ml_meth", ctypes.c_void_p),
                ("ml_flags", ctypes.c_int), ("ml_doc", ctypes.c_char_p)]


_capsule_new = ctypes.pythonapi.PyCapsule_New
_capsule_new.restype = ctypes.py_object
_capsule_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
_type_slot = ctypes.pythonapi.PyType_GetSlot
_type_slot.restype = ctypes.c_void_p
_type_slot.argtypes = [ctypes.py_object, ctypes.c_int]
_TP_DESCR_GET = 54                      # typeslots.h: Py_tp_descr_get
_function_new = ctypes.pythonapi.PyCFunction_NewEx
_function_new.restype = ctypes.py_object
_function_new.argtypes = [ctypes.c_void_p, ctypes.py_object, ctypes.py_object]
_methods: dict[str, _MethodDef] = {}   # one definition per entry, never freed
_lock = threading.Lock()


def _fresh_lock() -> None:
    """A forked child starts with an unheld lock (another thread of the parent may
    have held it at the fork; that thread does not exist in the child)."""
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_fresh_lock)


_DOCS = {"row_call": b"Run the kernel over its rows (GIL released); returns True.",
         "steady_call": b"The steady step: True, False (not steady: nothing ran) or None "
                        b"(the values changed: nothing ran)."}


def _definition(name: str) -> _MethodDef:
    with _lock:
        if name not in _methods:
            _methods[name] = _MethodDef(name.encode(), compile_entry(name=name), _METH_NOARGS,
                                        _DOCS[name])
        return _methods[name]


def _builtin(name: str, record: np.ndarray, keep: object) -> Callable[[], object]:
    capsule = _capsule_new(record.ctypes.data, None, None)
    # the function object's module slot holds what the record points into
    return _function_new(ctypes.addressof(_definition(name)), capsule, (record, keep))


def row_call(kernel: int, table: np.ndarray, first: int, end: int) -> Callable[[], bool]:
    """A callable taking no arguments that runs the kernel at address ``kernel``
    over rows ``first:end`` of the C-contiguous int64 pointer ``table``."""
    if table.dtype != np.int64 or table.ndim != 2 or not table.flags.c_contiguous:
        raise ValueError("row_call: the table must be a C-contiguous 2-D int64 array")
    if not 0 <= first <= end <= table.shape[0]:
        raise ValueError(f"row_call: rows {first}:{end} of a table of {table.shape[0]}")
    record = np.array([kernel, address(table), first, end], dtype=np.int64)
    return _builtin("row_call", record, table)


def steady_call(objects: dict[str, object], **sections: list[tuple]) -> Callable[[], bool | None]:
    """A callable taking no arguments that runs the steady-state program of
    :mod:`odyssey_codegen.steady_entry`: ``objects`` gives the descriptors and the
    key it uses (``grad``, ``dtype``, ``nbytes``: data descriptors; ``data_ptr``,
    ``contiguous``: callables; ``step``: a key); each keyword is a section, a list
    of entries as that table gives them (fields ``o`` and ``z`` as the objects
    themselves, ``z`` None for 0, ``L`` as a list of objects).  Returns True
    (stepped), False (not steady: the full path runs) or None (a value changed)."""
    layout = STEADY_LAYOUT["sections"]
    unknown = set(sections) - set(layout)
    if unknown:
        raise ValueError(f"steady_call: unknown sections {sorted(unknown)}")
    keep: list = []

    def ref(obj: object) -> int:
        keep.append(obj)
        return id(obj)          # CPython: the object's address, kept alive by ``keep``

    header = [0] * STEADY_LAYOUT["header_words"]
    body: list[int] = []
    tail: list[int] = []        # the objects of ``L`` fields, after the sections
    at = len(header) + sum(entry_words(fields) * len(sections.get(s, ()))
                           for s, fields in layout.items())
    for index, (section, fields) in enumerate(layout.items()):
        entries = sections.get(section, ())
        header[2 * index:2 * index + 2] = [len(entries), len(header) + len(body)]
        for entry in entries:
            if len(entry) != len(fields):
                raise ValueError(f"steady_call: a {section} entry has {len(fields)} fields, "
                                 f"got {len(entry)}")
            for kind, value in zip(fields, entry):
                if kind == "L":
                    body += [len(value), at + len(tail)]
                    tail.extend(ref(obj) for obj in value)
                elif kind == "n":
                    body.append(operator.index(value))
                else:                               # "o", or "z" (None: 0)
                    body.append(0 if kind == "z" and value is None else ref(value))
    first = 2 * len(layout)
    for i, name in enumerate(STEADY_LAYOUT["objects"]):
        header[first + i] = ref(1 if name == "one" else objects[name])
    first += len(STEADY_LAYOUT["objects"])
    for i, name in enumerate(STEADY_LAYOUT["getters"]):
        getter = _type_slot(type(objects[name]), _TP_DESCR_GET)
        if not getter:
            raise ValueError(f"steady_call: {name} ({objects[name]!r}) is not a descriptor")
        header[first + i] = getter
    record = np.array(header + body + tail, dtype=np.int64)
    return _builtin("steady_call", record, tuple(keep))
