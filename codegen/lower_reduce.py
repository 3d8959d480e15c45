"""Lowering of the built-in reduction kernels (no spec needed).

``sumsq``: ``void f(i64* table, i64 first_row, i64 end_row, double* out)`` with
rows ``[n, x*]``; ``out[row] = sum(x[i]**2)`` accumulated in float64: the row
is read as :data:`STREAMS` interleaved parts with one ``W``-lane accumulator
each (more loads in flight than one stream), then the remainder, then the lanes
are summed in order.  The result depends on the row split, never on the
thread that ran the row.
"""

from __future__ import annotations

from llvmlite import ir

from .lower_llvm import I64, LLVM_TYPES, PTR

__all__ = ["lower_sumsq", "SUMSQ_ROW_WIDTH"]

SUMSQ_ROW_WIDTH = 2
STREAMS = 4
_FLAGS = ("contract",)


def lower_sumsq(dtype: str, width: int, symbol: str) -> str:
    if width < 1 or width & (width - 1):
        raise ValueError(f"SIMD width must be a power of two, got {width}")
    module = ir.Module(name=symbol)
    f64 = ir.DoubleType()
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), (PTR, I64, I64, PTR)), symbol)
    fn.attributes.add("nounwind")
    table, first, last, out = fn.args
    elem = LLVM_TYPES[dtype]
    itemsize = 4 if dtype == "float32" else 8
    vec_in, vec_acc = ir.VectorType(elem, width), ir.VectorType(f64, width)

    entry, head, body = (fn.append_basic_block(n) for n in ("entry", "row_head", "row_body"))
    qhead, qbody, qexit = (fn.append_basic_block(n) for n in ("quad_head", "quad_body",
                                                               "quad_exit"))
    vhead, vbody, vexit, thead, tbody, latch, done = (fn.append_basic_block(n) for n in (
        "vec_head", "vec_body", "vec_exit", "tail_head", "tail_body", "row_latch", "done"))
    ir.IRBuilder(entry).branch(head)

    b = ir.IRBuilder(head)
    row = b.phi(I64, "row")
    row.add_incoming(first, entry)
    b.cbranch(b.icmp_signed("<", row, last), body, done)

    b = ir.IRBuilder(body)
    base = b.mul(row, ir.Constant(I64, SUMSQ_ROW_WIDTH))
    n = b.load(b.gep(table, [base], source_etype=I64), typ=I64)
    x = b.inttoptr(b.load(b.gep(table, [b.add(base, ir.Constant(I64, 1))], source_etype=I64),
                          typ=I64), PTR)
    # STREAMS interleaved parts of the row, each with its own accumulator: one
    # stream alone cannot keep enough loads in flight to reach memory bandwidth
    part = b.mul(b.sdiv(n, ir.Constant(I64, STREAMS * width)), ir.Constant(I64, width))
    b.branch(qhead)
    zero = ir.Constant(vec_acc, [0.0] * width)

    b = ir.IRBuilder(qhead)
    qi = b.phi(I64, "qi")
    qi.add_incoming(ir.Constant(I64, 0), body)
    accs = [b.phi(vec_acc, f"acc{k}") for k in range(STREAMS)]
    for a in accs:
        a.add_incoming(zero, body)
    b.cbranch(b.icmp_signed("<=", b.add(qi, ir.Constant(I64, width)), part), qbody, qexit)

    b = ir.IRBuilder(qbody)
    for k, a in enumerate(accs):
        offset = b.add(qi, b.mul(part, ir.Constant(I64, k)))
        v = b.load(b.gep(x, [offset], source_etype=elem), typ=vec_in, align=itemsize)
        if dtype == "float32":
            v = b.fpext(v, vec_acc)
        a.add_incoming(b.fadd(a, b.fmul(v, v, flags=_FLAGS), flags=_FLAGS), qbody)
    qi.add_incoming(b.add(qi, ir.Constant(I64, width)), qbody)
    b.branch(qhead)

    b = ir.IRBuilder(qexit)
    quad_total = accs[0]
    for a in accs[1:]:
        quad_total = b.fadd(quad_total, a)
    quad_end = b.mul(part, ir.Constant(I64, STREAMS))
    b.branch(vhead)

    b = ir.IRBuilder(vhead)
    i = b.phi(I64, "i")
    acc = b.phi(vec_acc, "acc")
    i.add_incoming(quad_end, qexit)
    acc.add_incoming(quad_total, qexit)
    b.cbranch(b.icmp_signed("<=", b.add(i, ir.Constant(I64, width)), n), vbody, vexit)

    b = ir.IRBuilder(vbody)
    v = b.load(b.gep(x, [i], source_etype=elem), typ=vec_in, align=itemsize)
    if dtype == "float32":
        v = b.fpext(v, vec_acc)
    acc_next = b.fadd(acc, b.fmul(v, v, flags=_FLAGS), flags=_FLAGS)
    i_next = b.add(i, ir.Constant(I64, width))
    b.branch(vhead)
    i.add_incoming(i_next, vbody)
    acc.add_incoming(acc_next, vbody)

    b = ir.IRBuilder(vexit)
    lanes = [b.extract_element(acc, ir.Constant(I64, k)) for k in range(width)]
    total = lanes[0]
    for lane in lanes[1:]:
        total = b.fadd(total, lane)
    b.branch(thead)

    b = ir.IRBuilder(thead)
    j = b.phi(I64, "j")
    s = b.phi(f64, "s")
    j.add_incoming(i, vexit)
    s.add_incoming(total, vexit)
    b.cbranch(b.icmp_signed("<", j, n), tbody, latch)

    b = ir.IRBuilder(tbody)
    e = b.load(b.gep(x, [j], source_etype=elem), typ=elem, align=itemsize)
    if dtype == "float32":
        e = b.fpext(e, f64)
    s_next = b.fadd(s, b.fmul(e, e, flags=_FLAGS), flags=_FLAGS)
    j_next = b.add(j, ir.Constant(I64, 1))
    b.branch(thead)
    j.add_incoming(j_next, tbody)
    s.add_incoming(s_next, tbody)

    b = ir.IRBuilder(latch)
    b.store(s, b.gep(out, [row], source_etype=f64))
    row_next = b.add(row, ir.Constant(I64, 1))
    b.branch(head)
    row.add_incoming(row_next, latch)
    ir.IRBuilder(done).ret_void()
    return str(module)
