"""Lowering: :class:`KernelIR` -> LLVM IR text (llvmlite.ir).

The kernel has the multi-tensor ABI::

    void kernel(i64* table, i64 first_row, i64 end_row)

Each table row is ``[n, scalars, p, g, state_0, ...]`` (pointers as i64,
already offset to the row's first element).  Per row the kernel computes every
uniform subexpression once in float64, converts it to the compute dtype and
splats it, then runs three loops over the same statements: a main loop that
handles one 64-byte cache line of every array per iteration (``U`` vectors of
``<W x T>``, ``U = 64 / (W * itemsize)``, at most 4) and software-prefetches
each array it reads ``prefetch`` bytes ahead, a one-vector loop, and a
scalar tail.  Float instructions carry only the ``contract`` fast-math flag
(FMA formation); never ``fast``/``afn``/``arcp``/``reassoc``.

Why the prefetch: the update is memory-bound, and one core keeps only as many
loads in flight as its reorder window holds; an AdamW iteration is ~20 uops
(a square root, two divides), so fewer iterations fit than for a plain copy
and the hardware prefetcher alone leaves a few % of bandwidth unused.  Asking
for each stream's line 512 bytes ahead (the target's default, see
:mod:`odyssey_codegen.target`) closes that gap (``python -m bench.ablate --prefetch 0
256 512 1024``); farther ahead, the prefetches start to compete with the
hardware prefetcher and slow pure streaming down.
"""

from __future__ import annotations

from typing import Callable

from llvmlite import ir

from .expr import (Binary, BoolOp, Call, Compare, IfElse, Name, Node, Not, Num, Unary, names_in,
                   render)
from .ir import KernelIR, is_uniform
from .spec import GRAD, PARAM

__all__ = ["FASTMATH", "lower_kernel", "ARG_TYPES", "LLVM_TYPES", "unroll_for"]

#: the only fast-math flag optimizer math may carry
FASTMATH = ("contract",)
LLVM_TYPES = {"float32": ir.FloatType(), "float64": ir.DoubleType()}
I64 = ir.IntType(64)
PTR = ir.PointerType()
ARG_TYPES = (PTR, I64, I64)
I32 = ir.IntType(32)
CACHE_LINE = 64


def unroll_for(width: int, itemsize: int) -> int:
    """Vectors per main-loop iteration: one cache line of each array, at most 4."""
    return max(1, min(4, CACHE_LINE // (width * itemsize)))


def _prefetch(module: ir.Module) -> ir.Function:
    name = "llvm.prefetch.p0"
    if name in module.globals:
        return module.globals[name]
    return ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR, I32, I32, I32]), name)


def _intrinsic(module: ir.Module, name: str, ty: ir.Type, nargs: int = 1) -> ir.Function:
    suffix = (f"v{ty.count}f{32 if isinstance(ty.element, ir.FloatType) else 64}"
              if isinstance(ty, ir.VectorType) else ("f32" if isinstance(ty, ir.FloatType) else "f64"))
    full = f"llvm.{name}.{suffix}"
    if full in module.globals:
        return module.globals[full]
    return ir.Function(module, ir.FunctionType(ty, [ty] * nargs), full)


class _Emitter:
    """Emits expressions at one type ``ty`` with builder ``b``; uniform subtrees
    come from ``uniform(node, ty)`` (computed once per row in the prologue)."""

    def __init__(self, module: ir.Module, b: ir.IRBuilder, ty: ir.Type,
                 uniform: Callable[[Node, ir.Type], ir.Value], slots: set[str]):
        self.module, self.b, self.ty, self.uniform, self.slots = module, b, ty, uniform, slots

    def const(self, value: float) -> ir.Value:
        if isinstance(self.ty, ir.VectorType):
            return ir.Constant(self.ty, [ir.Constant(self.ty.element, value)] * self.ty.count)
        return ir.Constant(self.ty, value)

    def emit(self, node: Node, env: dict[str, ir.Value]) -> ir.Value:
        if not isinstance(node, Num) and is_uniform(node, self.slots):
            return self.uniform(node, self.ty)
        return _lower(self, node, env)


class _UniformEmitter(_Emitter):
    """The float64 prologue: every subtree is uniform and comes from the cache."""

    def emit(self, node: Node, env: dict[str, ir.Value]) -> ir.Value:
        return self.uniform(node, self.ty)


def _lower(e, node: Node, env: dict[str, ir.Value]) -> ir.Value:
    """Lower ``node`` with builder ``e.b`` at type ``e.ty``; ``e.emit`` recurses
    (it lets uniform subtrees come from the prologue)."""
    b = e.b
    if isinstance(node, Num):
        return e.const(node.value)
    if isinstance(node, Name):
        return env[node.id]
    if isinstance(node, Unary):
        return b.fneg(e.emit(node.operand, env), flags=FASTMATH)
    if isinstance(node, Binary):
        if node.op == "**" and isinstance(node.right, Num) and node.right.value in (0.5, 1.0, 2.0):
            x = e.emit(node.left, env)
            if node.right.value == 2.0:
                return b.fmul(x, x, flags=FASTMATH)
            if node.right.value == 1.0:
                return x
            return b.call(_intrinsic(e.module, "sqrt", e.ty), [x])
        x, y = e.emit(node.left, env), e.emit(node.right, env)
        if node.op == "**":
            return b.call(_intrinsic(e.module, "pow", e.ty, 2), [x, y])
        op = {"+": b.fadd, "-": b.fsub, "*": b.fmul, "/": b.fdiv}[node.op]
        return op(x, y, flags=FASTMATH)
    if isinstance(node, Compare):
        x, y = e.emit(node.left, env), e.emit(node.right, env)
        if node.op == "!=":
            return b.fcmp_unordered("!=", x, y)
        return b.fcmp_ordered(node.op, x, y)
    if isinstance(node, BoolOp):
        x, y = e.emit(node.left, env), e.emit(node.right, env)
        return b.and_(x, y) if node.op == "and" else b.or_(x, y)
    if isinstance(node, Not):
        return b.not_(e.emit(node.operand, env))
    if isinstance(node, IfElse):
        return b.select(e.emit(node.cond, env), e.emit(node.then, env), e.emit(node.orelse, env))
    if isinstance(node, Call):
        return _CALLS[node.func](e, [e.emit(a, env) for a in node.args])
    raise TypeError(f"cannot lower {render(node)}")


def _minmax(e, x: ir.Value, y: ir.Value, op: str) -> ir.Value:
    """NaN-propagating min/max (as torch.minimum/maximum)."""
    b = e.b
    pick = b.select(b.fcmp_ordered(op, x, y), x, y)
    return b.select(b.fcmp_unordered("uno", x, y), b.fadd(x, y, flags=FASTMATH), pick)


def _sign(e, x: ir.Value) -> ir.Value:
    b = e.b
    neg = b.select(b.fcmp_ordered("<", x, e.const(0.0)), e.const(-1.0), x)
    return b.select(b.fcmp_ordered(">", x, e.const(0.0)), e.const(1.0), neg)


def _lerp(e, a: ir.Value, c: ir.Value, w: ir.Value) -> ir.Value:
    """torch.lerp: a + w*(c-a) for |w| < 0.5, else c - (c-a)*(1-w)."""
    b = e.b
    diff = b.fsub(c, a, flags=FASTMATH)
    low = b.fadd(a, b.fmul(w, diff, flags=FASTMATH), flags=FASTMATH)
    high = b.fsub(c, b.fmul(diff, b.fsub(e.const(1.0), w, flags=FASTMATH), flags=FASTMATH),
                  flags=FASTMATH)
    absw = b.call(_intrinsic(e.module, "fabs", e.ty), [w])
    return b.select(b.fcmp_ordered("<", absw, e.const(0.5)), low, high)


_CALLS: dict[str, Callable] = {
    "sqrt": lambda e, a: e.b.call(_intrinsic(e.module, "sqrt", e.ty), a),
    "abs": lambda e, a: e.b.call(_intrinsic(e.module, "fabs", e.ty), a),
    "exp": lambda e, a: e.b.call(_intrinsic(e.module, "exp", e.ty), a),
    "log": lambda e, a: e.b.call(_intrinsic(e.module, "log", e.ty), a),
    "sign": lambda e, a: _sign(e, a[0]),
    "min": lambda e, a: _minmax(e, a[0], a[1], "<"),
    "max": lambda e, a: _minmax(e, a[0], a[1], ">"),
    "clip": lambda e, a: _minmax(e, _minmax(e, a[0], a[1], ">"), a[2], "<"),
    "where": lambda e, a: e.b.select(*a),
    "select": lambda e, a: e.b.select(*a),
    "lerp": lambda e, a: _lerp(e, *a),
}


def lower_kernel(kir: KernelIR, width: int, symbol: str, triple: str = "",
                 datalayout: str = "", prefetch: int = 0) -> str:
    """LLVM IR text of ``kir`` at SIMD ``width`` (elements), exported as ``symbol``;
    the main loop prefetches ``prefetch`` bytes ahead (0: no prefetch)."""
    if width < 1 or width & (width - 1):
        raise ValueError(f"SIMD width must be a power of two, got {width}")
    module = ir.Module(name=symbol)
    module.triple, module.data_layout = triple, datalayout
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), ARG_TYPES), symbol)
    fn.attributes.add("nounwind")
    table, first, last = fn.args
    elem_ty = LLVM_TYPES[kir.dtype]
    itemsize = 4 if kir.dtype == "float32" else 8
    f64 = ir.DoubleType()
    slots = list(kir.slots)
    reads = _read_names(kir)

    entry, row_head = fn.append_basic_block("entry"), fn.append_basic_block("row_head")
    row_body = fn.append_basic_block("row_body")
    b = ir.IRBuilder(entry)
    b.branch(row_head)
    b.position_at_end(row_head)
    row = b.phi(I64, "row")
    row.add_incoming(first, entry)
    done = fn.append_basic_block("done")
    b.cbranch(b.icmp_signed("<", row, last), row_body, done)

    # row prologue: the row's words, then (lazily) every uniform value
    pro = ir.IRBuilder(row_body)
    base = pro.mul(row, ir.Constant(I64, kir.row_width))
    words = [pro.load(pro.gep(table, [pro.add(base, ir.Constant(I64, k))], source_etype=I64),
                      typ=I64) for k in range(kir.row_width)]
    n, scalars = words[0], pro.inttoptr(words[1], PTR, name="scalars")
    names = (PARAM, GRAD) + kir.states
    arrays = {name: pro.inttoptr(words[2 + k], PTR, name=name) for k, name in enumerate(names)}

    cache: dict[tuple[str, str], ir.Value] = {}

    def uniform(node: Node, ty: ir.Type) -> ir.Value:
        key = (render(node), str(ty))
        if key in cache:
            return cache[key]
        if ty is f64:
            if isinstance(node, Name):
                slot = ir.Constant(I64, slots.index(node.id))
                value = pro.load(pro.gep(scalars, [slot], source_etype=f64), typ=f64, name=node.id)
            else:
                value = _lower(_UniformEmitter(module, pro, f64, uniform, set()), node, {})
        else:
            value = uniform(node, f64)
            lanes = ty.count if isinstance(ty, ir.VectorType) else 0
            if isinstance(value.type, ir.DoubleType) and kir.dtype == "float32":
                value = pro.fptrunc(value, elem_ty)
            if lanes:
                vec_ty = ir.VectorType(value.type, lanes)
                vec = pro.insert_element(ir.Constant(vec_ty, ir.Undefined), value,
                                         ir.Constant(I64, 0))
                value = pro.shuffle_vector(vec, ir.Constant(vec_ty, ir.Undefined),
                                           ir.Constant(ir.VectorType(ir.IntType(32), lanes),
                                                       [0] * lanes))
        cache[key] = value
        return value

    def loop(tag: str, start: ir.Value, from_block: ir.Block, ty: ir.Type, lanes: int,
             unroll: int = 1, prefetch: int = 0) -> tuple[ir.Block, ir.Block, ir.Value]:
        """``for (i = start; i + lanes*unroll <= n; i += lanes*unroll) body`` with the
        body repeated ``unroll`` times -> (head, exit, i)."""
        step = lanes * unroll
        head, body = fn.append_basic_block(f"{tag}_head"), fn.append_basic_block(f"{tag}_body")
        exit_ = fn.append_basic_block(f"{tag}_exit")
        hb, bb = ir.IRBuilder(head), ir.IRBuilder(body)
        i = hb.phi(I64, f"{tag}_i")
        hb.cbranch(hb.icmp_signed("<=", hb.add(i, ir.Constant(I64, step)), n), body, exit_)
        emitter = _Emitter(module, bb, ty, uniform, set(slots))
        if prefetch:  # read, keep in all cache levels, data cache
            ahead = bb.add(i, ir.Constant(I64, prefetch // itemsize))
            for name in (x for x in names if x in reads):
                bb.call(_prefetch(module), [bb.gep(arrays[name], [ahead], source_etype=elem_ty),
                                            ir.Constant(I32, 0), ir.Constant(I32, 3),
                                            ir.Constant(I32, 1)])
        for u in range(unroll):
            at = bb.add(i, ir.Constant(I64, u * lanes)) if u else i
            env = {name: bb.load(bb.gep(arrays[name], [at], source_etype=elem_ty), typ=ty,
                                 align=itemsize, name=f"{name}_in")
                   for name in names if name in reads}
            for a in kir.body:
                env[a.target] = emitter.emit(a.expr, env)
            for name in kir.stores:
                bb.store(env[name], bb.gep(arrays[name], [at], source_etype=elem_ty),
                         align=itemsize)
        nxt = bb.add(i, ir.Constant(I64, step))
        bb.branch(head)
        i.add_incoming(start, from_block)
        i.add_incoming(nxt, bb.block)
        return head, exit_, i

    # main loop (a cache line per array), one-vector loop, scalar tail; each
    # starts where the previous one stopped.  Branches go in last: building a
    # loop may still add uniform values to the prologue.
    loops, start, from_block = [], ir.Constant(I64, 0), row_body
    if width > 1:
        vec_ty, unroll = ir.VectorType(elem_ty, width), unroll_for(width, itemsize)
        loops.append(loop("main", start, from_block, vec_ty, width, unroll, prefetch))
        start, from_block = loops[-1][2], loops[-1][1]
        if unroll > 1:
            loops.append(loop("vec", start, from_block, vec_ty, width))
            start, from_block = loops[-1][2], loops[-1][1]
    loops.append(loop("tail", start, from_block, elem_ty, 1))
    pro.branch(loops[0][0])
    for (_, exit_, _), (head, _, _) in zip(loops, loops[1:]):
        ir.IRBuilder(exit_).branch(head)
    tail_exit = loops[-1][1]
    latch = ir.IRBuilder(tail_exit)
    next_row = latch.add(row, ir.Constant(I64, 1))
    latch.branch(row_head)
    row.add_incoming(next_row, tail_exit)
    ir.IRBuilder(done).ret_void()
    return str(module)


def _read_names(kir: KernelIR) -> set[str]:
    """Arrays the body reads before (or without) assigning them."""
    read: set[str] = set()
    assigned: set[str] = set()
    for a in kir.body:
        read |= names_in(a.expr) - assigned
        assigned.add(a.target)
    return read
