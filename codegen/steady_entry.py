"""A CPython entry point for a wrapper's steady-state step: ``steady_call(self, NULL)``.

A training loop calls ``opt.step()`` with the same groups, tensors and values each
time, and new gradient tensors.  Right after a backward pass every interpreter
step and every Python object touched costs cache misses; a Python closure that
makes the checks, re-points the gradients and repeats the kernels spends about
as long as the kernels themselves on a small model.  This function does the
same work from one *program*: an int64 record of object pointers and numbers
that the runtime packs once per steady state
(:func:`odyssey_training.native.steady_call`), read here section by section.

Its ``self`` is a capsule holding the record.  A section is ``(count, offset)``
in the header; its entries are ``width`` words each (:data:`SECTIONS` gives their
fields), from word ``offset``:

=================  =====  ======================================================
section            width  each entry, and what it asks
=================  =====  ======================================================
``empty``          1      ``obj``: ``len(obj) == 0``
``falsy``          2      ``holder, name``: ``getattr(holder, name)`` is false
``same``           3      ``holder, name, obj``: ``getattr(holder, name) is obj``
``same_item``      3      ``mapping, key, obj``: ``mapping[key] is obj``
``items``          3      ``list, n, at``: the list holds exactly the ``n``
                          objects at words ``at..at+n``, in order
``values``         5      ``group, keys, holder, name``: ``group`` (a dict) holds
                          at each key the object at that index of the tuple
                          ``getattr(holder, name)``
``point``          8      ``tensor, address, nbytes, dtype, word, rows, stride,
                          row_bytes``: ``g = <grad>(tensor)`` is not None,
                          ``<data_ptr>(tensor) == address``, ``<dtype>(g) is
                          dtype``, ``<nbytes>(g) == nbytes``, ``<contiguous>(g)``
                          is True; then ``*(word + k*stride) = <data_ptr>(g) +
                          k*row_bytes`` for ``k < rows``
``plans``          4      ``run, states, words, k``: with ``states`` (a list of
                          dicts) not 0: ``step = states[0][<step>] + <one>``, the
                          doubles at ``words + 8k`` get ``step, 0.0, 1.0``,
                          ``run()``, then every state's ``<step>`` is ``step``;
                          with ``states`` 0: ``run()``
=================  =====  ======================================================

The names in angle brackets are the header's :data:`OBJECTS`: ``grad``,
``dtype`` and ``nbytes`` are data descriptors, read through their type's
``__get__`` (whose C function the header's :data:`GETTERS` words give, so
neither the attribute lookup nor the instance dict is paid for); ``data_ptr``
and ``contiguous`` are callables, called with the object alone (a method
descriptor: the method); ``step`` is a key and ``one`` the int 1.

The checks run in the table's order, and the first that fails (an exception
counts as failing, and is cleared) returns ``False``: the caller takes its full
path, which validates everything.  Only ``point`` writes (gradient words the
full path rewrites); nothing has been written when a check before it fails.  A
value that is not the object last seen returns ``None``: the caller compares
the new values, takes them, updates the tuple and calls again (identity is
checked here because it touches no value object: after a backward pass each
touch is a cache miss).  After every plan ran: ``True``.  An exception from a
``run()``, or from reading or storing a plan's step, propagates: NULL with it set.

Everything is called through CPython's exported functions (and the getters the
record gives), so the object code names no structure layout and no address and
is cached like a kernel; the runtime's function object owns references to every
object the record names.
"""

from __future__ import annotations


__all__ = ["STEADY_SYMBOL", "SECTIONS", "OBJECTS", "GETTERS", "HEADER_WORDS", "entry_words",
           "steady_entry_ir"]

#: the symbol of the entry in its object
STEADY_SYMBOL = "odyssey_steady_call"
#: section -> its entries' fields, in header order (header words 2i, 2i+1: count,
#: offset): ``o`` an object, ``n`` a number, ``z`` an object or 0 (None), ``L`` a
#: list of objects (two words: how many, and the word where their pointers start)
SECTIONS = {"empty": "o", "falsy": "oo", "same": "ooo", "same_item": "ooo", "items": "oL",
            "values": "oLoo", "point": "onnonnnn", "plans": "oznn"}
#: the objects the header holds after the sections, in this order
OBJECTS = ("grad", "data_ptr", "dtype", "nbytes", "contiguous", "step", "one")
#: then, for these descriptors among them, the address of their type's ``__get__``
#: (``descrgetfunc``: ``PyObject *get(PyObject *descr, PyObject *obj, PyObject *type)``)
GETTERS = ("grad", "dtype", "nbytes")
HEADER_WORDS = 2 * len(SECTIONS) + len(OBJECTS) + len(GETTERS)


def entry_words(fields: str) -> int:
    """Words per entry of a section with these fields."""
    return len(fields) + fields.count("L")


def steady_entry_ir() -> str:
    """The LLVM IR of the entry (``PyObject *f(PyObject *self, PyObject *unused)``),
    emitted by :mod:`.steady_ir`.  The runtime reads the layout above whenever it is
    imported; the emitter is imported only here, when a process first makes a
    steady step (the IR's digest names the cached object)."""
    from .steady_ir import emit
    return emit()
