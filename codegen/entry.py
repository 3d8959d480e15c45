"""A CPython entry point for kernel calls: ``row_call(self, NULL)``.

Every kernel has the C signature ``void f(int64 *table, int64 first_row, int64
end_row)``.  A call through cffi (or ctypes) goes through libffi and converts
three Python arguments each time; right after a backward pass has emptied the
caches, that path alone costs several microseconds, which for a small model is
a tenth of its whole optimizer step.  This module's function is what a
``METH_NOARGS`` builtin function calls instead: its ``self`` is a capsule
holding a *call record*, four int64 words ``[kernel, table, first_row,
end_row]``, and it runs ``kernel(table, first_row, end_row)`` with the GIL
released, then returns a new reference to ``True`` (NULL, with CPython's
exception set, when ``self`` is not such a capsule).  The runtime builds the
builtin function objects (:mod:`odyssey_training.native`).

The CPython functions it calls are resolved in this process when the object is
linked (the JIT links against the current process), so the object code names no
address and is cached like any kernel.
"""

from __future__ import annotations

__all__ = ["ENTRY_SYMBOL", "entry_ir"]

#: the symbol of the entry in its object
ENTRY_SYMBOL = "odyssey_row_call"


def entry_ir() -> str:
    """The LLVM IR of the entry (``PyObject *f(PyObject *self, PyObject *unused)``)."""
    return f"""\
declare i8* @PyCapsule_GetPointer(i8*, i8*)
declare i8* @PyEval_SaveThread()
declare void @PyEval_RestoreThread(i8*)
declare i8* @PyBool_FromLong(i64)

define i8* @{ENTRY_SYMBOL}(i8* %self, i8* %unused) {{
entry:
  %record = call i8* @PyCapsule_GetPointer(i8* %self, i8* null)
  %invalid = icmp eq i8* %record, null
  br i1 %invalid, label %fail, label %run
fail:
  ret i8* null
run:
  %words = bitcast i8* %record to i64*
  %kernel_word = load i64, i64* %words
  %kernel = inttoptr i64 %kernel_word to void (i64*, i64, i64)*
  %table_at = getelementptr i64, i64* %words, i64 1
  %table_word = load i64, i64* %table_at
  %table = inttoptr i64 %table_word to i64*
  %first_at = getelementptr i64, i64* %words, i64 2
  %first = load i64, i64* %first_at
  %end_at = getelementptr i64, i64* %words, i64 3
  %end = load i64, i64* %end_at
  %thread = call i8* @PyEval_SaveThread()
  call void %kernel(i64* %table, i64 %first, i64 %end)
  call void @PyEval_RestoreThread(i8* %thread)
  %true = call i8* @PyBool_FromLong(i64 1)
  ret i8* %true
}}
"""
