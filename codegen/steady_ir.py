"""The LLVM IR of the steady-state entry whose program :mod:`.steady_entry` describes:
one llvmlite IR builder over the record's sections, with helpers for CPython's calls
and the exits (False, None, NULL)."""

from __future__ import annotations

from llvmlite import ir

from .steady_entry import GETTERS, OBJECTS, SECTIONS, STEADY_SYMBOL, entry_words

__all__ = ["emit"]

_I64, _I32, _F64 = ir.IntType(64), ir.IntType(32), ir.DoubleType()
_OBJ = ir.IntType(8).as_pointer()
_API = {   # name -> (return type, argument types)
    "PyCapsule_GetPointer": (_OBJ, [_OBJ, _OBJ]),
    "PyObject_GetAttr": (_OBJ, [_OBJ, _OBJ]),
    "PyObject_GetItem": (_OBJ, [_OBJ, _OBJ]),
    "PyObject_IsTrue": (_I32, [_OBJ]),
    "PyObject_CallNoArgs": (_OBJ, [_OBJ]),
    "PyObject_Vectorcall": (_OBJ, [_OBJ, _OBJ.as_pointer(), _I64, _OBJ]),
    "PyObject_Size": (_I64, [_OBJ]),
    "PyList_Size": (_I64, [_OBJ]),
    "PyTuple_Size": (_I64, [_OBJ]),
    "PyTuple_GetItem": (_OBJ, [_OBJ, _I64]),
    "PyDict_GetItemWithError": (_OBJ, [_OBJ, _OBJ]),
    "PyList_GetItem": (_OBJ, [_OBJ, _I64]),
    "PyDict_SetItem": (_I32, [_OBJ, _OBJ, _OBJ]),
    "PyNumber_Add": (_OBJ, [_OBJ, _OBJ]),
    "PyFloat_AsDouble": (_F64, [_OBJ]),
    "PyLong_AsLongLong": (_I64, [_OBJ]),
    "PyBool_FromLong": (_OBJ, [_I64]),
    "PyErr_Clear": (ir.VoidType(), []),
    "Py_IncRef": (ir.VoidType(), [_OBJ]),
    "Py_DecRef": (ir.VoidType(), [_OBJ]),
}


class _Emitter:
    """The function body: one IRBuilder, the exits, and helpers for the sections."""

    def __init__(self, module: ir.Module) -> None:
        self.api = {name: ir.Function(module, ir.FunctionType(ret, args), name)
                    for name, (ret, args) in _API.items()}
        none = ir.GlobalVariable(module, ir.IntType(8), "_Py_NoneStruct")
        true = ir.GlobalVariable(module, ir.IntType(8), "_Py_TrueStruct")
        self.none, self.true = none.bitcast(_OBJ), true.bitcast(_OBJ)
        fn = ir.Function(module, ir.FunctionType(_OBJ, [_OBJ, _OBJ]), STEADY_SYMBOL)
        self.b = ir.IRBuilder(fn.append_basic_block("entry"))
        self.fn = fn
        self.slot = self.b.alloca(_OBJ, name="slot")        # a vectorcall's one argument
        self.fail = fn.append_basic_block("fail")
        self.changed = fn.append_basic_block("changed")
        self.error = fn.append_basic_block("error")

    def call(self, name: str, *args):
        return self.b.call(self.api[name], args)

    def word(self, base, index):
        return self.b.load(self.b.gep(base, [index if isinstance(index, ir.Value)
                                             else ir.Constant(_I64, index)]))

    def obj(self, base, index):
        return self.b.inttoptr(self.word(base, index), _OBJ)

    def fail_if(self, cond) -> None:
        go = self.fn.append_basic_block()
        self.b.cbranch(cond, self.fail, go)
        self.b.position_at_end(go)

    def fail_unless_object(self, value) -> None:
        self.fail_if(self.b.icmp_unsigned("==", value, ir.Constant(_OBJ, None)))

    def error_unless_object(self, value):
        go = self.fn.append_basic_block()
        self.b.cbranch(self.b.icmp_unsigned("==", value, ir.Constant(_OBJ, None)), self.error, go)
        self.b.position_at_end(go)
        return value

    def loop(self, count, body) -> None:
        """``for i in range(count): body(i)`` (body may branch to the exits)."""
        b = self.b
        head, run, done = (self.fn.append_basic_block() for _ in range(3))
        before = b.block
        b.branch(head)
        b.position_at_end(head)
        i = b.phi(_I64)
        i.add_incoming(ir.Constant(_I64, 0), before)
        b.cbranch(b.icmp_signed("<", i, count), run, done)
        b.position_at_end(run)
        body(i)
        i.add_incoming(b.add(i, ir.Constant(_I64, 1)), b.block)
        b.branch(head)
        b.position_at_end(done)

    def section(self, record, index: int, width: int, body) -> None:
        """Run ``body(entry)`` over section ``index``'s entries (``entry``: i64*)."""
        count, offset = self.word(record, 2 * index), self.word(record, 2 * index + 1)
        self.loop(count, lambda i: body(self.b.gep(record, [self.b.add(
            offset, self.b.mul(i, ir.Constant(_I64, width)))])))

    def call_with(self, f, obj):
        """``f(obj)`` (a new reference, or NULL)."""
        self.b.store(obj, self.slot)
        return self.call("PyObject_Vectorcall", f, self.slot, ir.Constant(_I64, 1),
                         ir.Constant(_OBJ, None))

    def read(self, getter, descr, obj):
        """``descr.__get__(obj)`` through ``getter``, its type's C function (a new
        reference, or NULL)."""
        get = self.b.inttoptr(getter, ir.FunctionType(_OBJ, [_OBJ, _OBJ, _OBJ]).as_pointer())
        return self.b.call(get, [descr, obj, ir.Constant(_OBJ, None)])

    def number(self, value):
        """``int(value)`` of a new reference, which it releases; fails on NULL or on
        -1 (no address, size or count here is -1; it is also the error value)."""
        self.fail_unless_object(value)
        number = self.call("PyLong_AsLongLong", value)
        self.call("Py_DecRef", value)
        self.fail_if(self.b.icmp_signed("==", number, ir.Constant(_I64, -1)))
        return number


def emit() -> str:
    """The LLVM IR of the entry (``PyObject *f(PyObject *self, PyObject *unused)``)."""
    module = ir.Module(name="odyssey_steady_call")
    e = _Emitter(module)
    b = e.b
    record = b.bitcast(e.call("PyCapsule_GetPointer", e.fn.args[0], ir.Constant(_OBJ, None)),
                       _I64.as_pointer())
    no_record = e.fn.append_basic_block("no_record")
    go = e.fn.append_basic_block()
    b.cbranch(b.icmp_unsigned("==", record, ir.Constant(_I64.as_pointer(), None)), no_record, go)
    b.position_at_end(go)
    first = 2 * len(SECTIONS)
    names = {n: e.obj(record, first + i) for i, n in enumerate(OBJECTS)}
    getters = {n: e.word(record, first + len(OBJECTS) + i) for i, n in enumerate(GETTERS)}

    def attr(name, obj):
        return e.read(getters[name], names[name], obj)

    def falsy(entry):
        value = e.call("PyObject_GetAttr", e.obj(entry, 0), e.obj(entry, 1))
        e.fail_unless_object(value)
        truth = e.call("PyObject_IsTrue", value)
        e.call("Py_DecRef", value)
        e.fail_if(b.icmp_signed("!=", truth, ir.Constant(_I32, 0)))

    def same(getter):
        def check(entry):
            value = e.call(getter, e.obj(entry, 0), e.obj(entry, 1))
            e.fail_unless_object(value)
            e.call("Py_DecRef", value)
            e.fail_if(b.icmp_unsigned("!=", value, e.obj(entry, 2)))
        return check

    def items(entry):
        seq, n, at = e.obj(entry, 0), e.word(entry, 1), e.word(entry, 2)
        e.fail_if(b.icmp_signed("!=", e.call("PyList_Size", seq), n))
        e.loop(n, lambda i: e.fail_if(b.icmp_unsigned(
            "!=", e.call("PyList_GetItem", seq, i), e.obj(record, b.add(at, i)))))

    def empty(entry):
        e.fail_if(b.icmp_signed("!=", e.call("PyObject_Size", e.obj(entry, 0)),
                                ir.Constant(_I64, 0)))

    def values(entry):
        group, n, at = e.obj(entry, 0), e.word(entry, 1), e.word(entry, 2)
        seen = e.call("PyObject_GetAttr", e.obj(entry, 3), e.obj(entry, 4))
        e.fail_unless_object(seen)
        here, differs = b.block, e.fn.append_basic_block()
        b.position_at_end(differs)              # a value is not the one last seen
        e.call("Py_DecRef", seen)
        b.branch(e.changed)
        b.position_at_end(here)
        with b.if_then(b.icmp_signed("!=", e.call("PyTuple_Size", seen), n), likely=False):
            e.call("Py_DecRef", seen)
            b.branch(e.fail)

        def same_value(i):
            now = e.call("PyDict_GetItemWithError", group, e.obj(record, b.add(at, i)))
            go = e.fn.append_basic_block()
            b.cbranch(b.icmp_unsigned("!=", now, e.call("PyTuple_GetItem", seen, i)), differs, go)
            b.position_at_end(go)
        e.loop(n, same_value)
        e.call("Py_DecRef", seen)

    def point(entry):
        tensor = e.obj(entry, 0)
        grad = attr("grad", tensor)
        e.fail_unless_object(grad)
        with b.if_then(b.icmp_unsigned("==", grad, e.none), likely=False):
            e.call("Py_DecRef", grad)
            b.branch(e.fail)
        checks = e.fn.append_basic_block()
        bad = e.fn.append_basic_block()
        b.branch(checks)
        b.position_at_end(bad)                 # a check failed: release the gradient
        e.call("Py_DecRef", grad)
        b.branch(e.fail)
        b.position_at_end(checks)

        def check(cond):
            go = e.fn.append_basic_block()
            b.cbranch(cond, bad, go)
            b.position_at_end(go)

        def new(value):
            check(b.icmp_unsigned("==", value, ir.Constant(_OBJ, None)))
            return value

        here = new(e.call_with(names["data_ptr"], tensor))
        address = e.call("PyLong_AsLongLong", here)
        e.call("Py_DecRef", here)
        check(b.icmp_signed("!=", address, e.word(entry, 1)))
        dtype = new(attr("dtype", grad))
        e.call("Py_DecRef", dtype)
        check(b.icmp_unsigned("!=", dtype, e.obj(entry, 3)))
        nbytes = new(attr("nbytes", grad))
        size = e.call("PyLong_AsLongLong", nbytes)
        e.call("Py_DecRef", nbytes)
        check(b.icmp_signed("!=", size, e.word(entry, 2)))
        dense = new(e.call_with(names["contiguous"], grad))
        e.call("Py_DecRef", dense)
        check(b.icmp_unsigned("!=", dense, e.true))
        data = e.call_with(names["data_ptr"], grad)
        e.call("Py_DecRef", grad)
        base = e.number(data)
        word, stride, row_bytes = e.word(entry, 4), e.word(entry, 6), e.word(entry, 7)

        def row(k):
            at = b.inttoptr(b.add(word, b.mul(k, stride)), _I64.as_pointer())
            b.store(b.add(base, b.mul(k, row_bytes)), at)
        e.loop(e.word(entry, 5), row)

    def plan(entry):
        run, states = e.obj(entry, 0), e.word(entry, 1)
        shared = e.fn.append_basic_block()
        alone = e.fn.append_basic_block()
        after = e.fn.append_basic_block()
        b.cbranch(b.icmp_signed("==", states, ir.Constant(_I64, 0)), alone, shared)
        b.position_at_end(alone)
        ran = e.call("PyObject_CallNoArgs", run)
        with b.if_then(b.icmp_unsigned("==", ran, ir.Constant(_OBJ, None)), likely=False):
            b.branch(e.error)
        e.call("Py_DecRef", ran)
        b.branch(after)

        b.position_at_end(shared)
        states = b.inttoptr(states, _OBJ)
        # from here on an earlier plan may have run: a failure raises, as Python's would
        first = e.error_unless_object(e.call("PyList_GetItem", states, ir.Constant(_I64, 0)))
        last = e.error_unless_object(e.call("PyObject_GetItem", first, names["step"]))
        step = e.call("PyNumber_Add", last, names["one"])
        e.call("Py_DecRef", last)
        e.error_unless_object(step)
        value = e.call("PyFloat_AsDouble", step)
        with b.if_then(b.fcmp_ordered("==", value, ir.Constant(_F64, -1.0)), likely=False):
            e.call("Py_DecRef", step)          # -1.0 is PyFloat_AsDouble's error value
            b.branch(e.error)
        words = b.inttoptr(e.word(entry, 2), _F64.as_pointer())
        k = e.word(entry, 3)
        for j, v in enumerate((value, ir.Constant(_F64, 0.0), ir.Constant(_F64, 1.0))):
            b.store(v, b.gep(words, [b.add(k, ir.Constant(_I64, j))]))
        ran = e.call("PyObject_CallNoArgs", run)
        with b.if_then(b.icmp_unsigned("==", ran, ir.Constant(_OBJ, None)), likely=False):
            e.call("Py_DecRef", step)
            b.branch(e.error)
        e.call("Py_DecRef", ran)

        def store(i):
            state = e.call("PyList_GetItem", states, i)
            stored = e.call("PyDict_SetItem", state, names["step"], step)
            with b.if_then(b.icmp_signed("!=", stored, ir.Constant(_I32, 0)), likely=False):
                e.call("Py_DecRef", step)
                b.branch(e.error)
        e.loop(e.call("PyList_Size", states), store)
        e.call("Py_DecRef", step)
        b.branch(after)
        b.position_at_end(after)

    bodies = {"empty": empty, "falsy": falsy, "same": same("PyObject_GetAttr"),
              "same_item": same("PyObject_GetItem"), "items": items, "values": values,
              "point": point, "plans": plan}
    for i, (section, fields) in enumerate(SECTIONS.items()):
        e.section(record, i, entry_words(fields), bodies[section])
    b.ret(e.call("PyBool_FromLong", ir.Constant(_I64, 1)))

    b.position_at_end(e.fail)
    e.call("PyErr_Clear")
    b.ret(e.call("PyBool_FromLong", ir.Constant(_I64, 0)))
    b.position_at_end(e.changed)
    e.call("PyErr_Clear")                 # a missing key: the caller's lookup raises it
    e.call("Py_IncRef", e.none)
    b.ret(e.none)
    b.position_at_end(no_record)
    b.ret(ir.Constant(_OBJ, None))
    b.position_at_end(e.error)
    b.ret(ir.Constant(_OBJ, None))
    return str(module)
