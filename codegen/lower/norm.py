"""The norm pass: the built-in sum-of-squares reduction (no spec needed), on the
shared :class:`~odyssey_codegen.emitter.Emitter`.

``sumsq``: ``void f(i64* table, i64 first_row, i64 end_row, double* out)`` with
rows ``[n, x*]``; ``out[row] = sum(x[i]**2)`` accumulated in float64: the row
is read as ``variant.unroll`` interleaved parts with one ``W``-lane accumulator
each (more loads in flight than one stream; each part prefetched
``variant.prefetch`` bytes ahead), then the remainder, then the lanes are summed
in order.  The result depends on the row split and the variant, never on the
thread that ran the row.
"""

from __future__ import annotations

from llvmlite import ir

from ..emitter import F64, I64, PTR, STORAGE, Emitter, check_width
from ..variant import Variant

__all__ = ["lower_sumsq", "SUMSQ_ROW_WIDTH"]

SUMSQ_ROW_WIDTH = 2
_FLAGS = ("contract",)


def lower_sumsq(dtype: str, variant: Variant, symbol: str) -> str:
    width, streams = variant.width, variant.unroll
    check_width(width)
    em = Emitter(symbol, (PTR, I64, I64, PTR))
    table, first, last, out = em.fn.args
    storage = STORAGE[dtype]
    vec_acc = ir.VectorType(F64, width)

    def square_add(acc: ir.Value, v: ir.Value) -> ir.Value:
        b = em.b
        if dtype == "float32":
            v = b.fpext(v, vec_acc if isinstance(v.type, ir.VectorType) else F64)
        return b.fadd(acc, b.fmul(v, v, flags=_FLAGS), flags=_FLAGS)

    def row_body(row: ir.Value) -> None:
        b = em.b
        base = b.mul(row, em.i64(SUMSQ_ROW_WIDTH))
        n = b.load(b.gep(table, [base], source_etype=I64), typ=I64)
        x = b.inttoptr(b.load(b.gep(table, [b.add(base, em.i64(1))], source_etype=I64),
                              typ=I64), PTR)
        # interleaved parts of the row, each with its own accumulator: one stream
        # alone cannot keep enough loads in flight to reach memory bandwidth
        part = b.mul(b.sdiv(n, em.i64(streams * width)), em.i64(width))
        zero = ir.Constant(vec_acc, [0.0] * width)

        def quad(qi: ir.Value, accs: dict) -> dict:
            starts = [em.b.add(qi, em.b.mul(part, em.i64(k))) for k in range(streams)]
            if variant.prefetch:
                for at in starts:
                    em.prefetch(x, em.b.add(at, em.i64(variant.prefetch // storage.itemsize)),
                                storage)
            return {f"acc{k}": square_add(acc, em.load(x, at, storage, width))
                    for k, (at, acc) in enumerate(zip(starts, accs.values()))}

        _, accs = em.loop("quad", em.i64(0), part, width,
                          {f"acc{k}": zero for k in range(streams)}, quad)
        accs = list(accs.values())
        total = accs[0]
        for acc in accs[1:]:
            total = em.b.fadd(total, acc)
        quad_end = em.b.mul(part, em.i64(streams))
        i, vec = em.loop("vec", quad_end, n, width, {"acc": total},
                         lambda i, st: {"acc": square_add(st["acc"], em.load(x, i, storage,
                                                                              width))})
        _, tail = em.loop("tail", i, n, 1, {"s": em.sum_lanes(vec["acc"])},
                          lambda j, st: {"s": square_add(st["s"], em.load(x, j, storage))})
        em.b.store(tail["s"], em.b.gep(out, [row], source_etype=F64))

    em.rows(first, last, row_body)
    return em.text()
