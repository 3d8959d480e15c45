"""Optimizer lowering: :class:`KernelIR` -> LLVM IR text, on the shared
:class:`~odyssey_codegen.emitter.Emitter`.

The kernel has the multi-tensor ABI::

    void kernel(i64* table, i64 first_row, i64 end_row)

Each table row is ``[n, scalars, p, g, state_0, ...]`` (pointers as i64,
already offset to the row's first element).  Per row the kernel computes every
uniform subexpression once in float64, converts it to the compute dtype and
splats it, then sweeps the row (:meth:`Emitter.strips`): a main loop of
``U`` vectors of ``<W x T>`` per iteration (by default one 64-byte cache line of
every array, ``U = 64 / (W * itemsize)``, at most 4) that software-prefetches
each array it reads ``prefetch`` bytes ahead, a one-vector loop, and a
scalar tail.  The :class:`~odyssey_codegen.variant.Variant` fixes ``W``, ``U``,
the prefetch distance, the division form and streaming stores.  Float
instructions carry only the ``contract`` fast-math flag (FMA formation); never
``fast``/``afn``/``arcp``/``reassoc``: the ``reciprocal`` division form is an
explicit multiplication by a reciprocal computed in float64, not a flag.

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

from llvmlite import ir

from ..emitter import F64, I64, PTR, STORAGE, Emitter, check_width
from ..expr import Name, Node, names_in, render
from ..ir import KernelIR
from ..spec import GRAD, PARAM
from ..variant import Variant
from .exprs import FASTMATH, ExprLowering, UniformLowering, lower_expr

__all__ = ["FASTMATH", "lower_kernel", "ARG_TYPES"]

ARG_TYPES = (PTR, I64, I64)


def lower_kernel(kir: KernelIR, variant: Variant, symbol: str) -> str:
    """LLVM IR text of ``kir`` shaped as ``variant``, exported as ``symbol``."""
    width, prefetch = variant.width, variant.prefetch
    check_width(width)
    em = Emitter(symbol, ARG_TYPES)
    table, first, last = em.fn.args
    storage = STORAGE[kir.dtype]
    elem_ty = storage.compute
    slots = list(kir.slots)
    reads = _read_names(kir)
    names = (PARAM, GRAD) + kir.states

    def row_body(row: ir.Value) -> None:
        # row prologue: the row's words, then (lazily) every uniform value
        pro = ir.IRBuilder(em.b.block)
        base = pro.mul(row, em.i64(kir.row_width))
        words = [pro.load(pro.gep(table, [pro.add(base, em.i64(k))], source_etype=I64), typ=I64)
                 for k in range(kir.row_width)]
        n, scalars = words[0], pro.inttoptr(words[1], PTR, name="scalars")
        arrays = {name: pro.inttoptr(words[2 + k], PTR, name=name) for k, name in enumerate(names)}
        cache: dict[tuple[str, str], ir.Value] = {}

        def uniform(node: Node, ty: ir.Type) -> ir.Value:
            key = (render(node), str(ty))
            if key in cache:
                return cache[key]
            if ty is F64:
                if isinstance(node, Name):
                    slot = em.i64(slots.index(node.id))
                    value = pro.load(pro.gep(scalars, [slot], source_etype=F64), typ=F64,
                                     name=node.id)
                else:
                    value = lower_expr(UniformLowering(em, pro, F64, uniform, set()), node, {})
            else:
                value = uniform(node, F64)
                lanes = ty.count if isinstance(ty, ir.VectorType) else 0
                if isinstance(value.type, ir.DoubleType) and kir.dtype == "float32":
                    value = pro.fptrunc(value, elem_ty)
                if lanes:
                    value = em.splat(value, lanes, pro, index=I64)
            cache[key] = value
            return value

        def body(i: ir.Value, lanes: int, u: int, st: dict, stream: bool) -> dict:
            b = em.b
            ty = ir.VectorType(elem_ty, lanes) if lanes else elem_ty
            env = {name: em.load(arrays[name], i, storage, lanes, name=f"{name}_in")
                   for name in names if name in reads}
            emitter = ExprLowering(em, b, ty, uniform, set(slots), variant.division)
            for a in kir.body:
                env[a.target] = emitter.emit(a.expr, env)
            for name in kir.stores:
                em.store(env[name], arrays[name], i, storage, streaming=stream)
            return st

        def ahead(i: ir.Value, step: int) -> None:  # read, keep in all cache levels, data
            at = em.b.add(i, em.i64(prefetch // storage.itemsize))
            for name in (x for x in names if x in reads):
                em.prefetch(arrays[name], at, storage)

        # the loops go into their own block: building them may still add uniform
        # values to the prologue, which branches to them last
        loops = em.block("loops")
        em.at(loops)
        streams = tuple(arrays[name] for name in kir.stores) if variant.streaming else ()
        em.strips("", em.i64(0), n, width, variant.unroll, {}, body, ahead if prefetch else None,
                  streams, storage.itemsize)
        if streams and width > 1:
            em.fence_streams()
        pro.branch(loops)

    em.rows(first, last, row_body)
    return em.text()


def _read_names(kir: KernelIR) -> set[str]:
    """Arrays the body reads before (or without) assigning them."""
    read: set[str] = set()
    assigned: set[str] = set()
    for a in kir.body:
        read |= names_in(a.expr) - assigned
        assigned.add(a.target)
    return read
