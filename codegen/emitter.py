"""The shared emitter: the one place that writes loops, memory accesses and
horizontal reductions in LLVM IR (llvmlite).  Optimizer lowering
(:mod:`odyssey_codegen.lower.optimizer`), the norm pass
(:mod:`odyssey_codegen.lower.norm`) and metric lowering
(:mod:`odyssey_codegen.metrics.lower`) build their kernels from it.

* **Loops**: :meth:`Emitter.loop` is the single counted loop (``while c + stride
  <= limit``) with loop-carried state; :meth:`Emitter.strips` chains the
  row-sweeping shape every element-wise kernel uses: a main loop of ``unroll``
  vectors per iteration, a one-vector loop, and a scalar tail, each starting
  where the previous one stopped.
* **Memory**: :class:`Storage` says how an array's elements are stored and
  computed with; :meth:`Emitter.load` / :meth:`Emitter.store` read and write a
  scalar or a ``<W x T>`` vector of it (element alignment, so any address is
  valid; streaming stores carry ``!nontemporal`` and need vector alignment),
  :meth:`Emitter.prefetch` asks for a line ahead, :meth:`Emitter.masked_load`
  reads a partial vector.
* **Reductions**: :meth:`Emitter.reduce` (LLVM's ``vector.reduce``, any order)
  and :meth:`Emitter.sum_lanes` (lane 0 + lane 1 + ... in that order, for
  results that must not depend on the lowering).

Every method emits at ``self.b`` unless given another builder ``b``: the
optimizer lowering keeps a second builder on the row prologue while it builds
the loops, so per-row values can still be added there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from llvmlite import ir

__all__ = ["Emitter", "Storage", "STORAGE", "I1", "I8", "I32", "I64", "PTR", "F32", "F64",
           "check_width", "splat"]

I1, I8, I32, I64 = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)
F32, F64 = ir.FloatType(), ir.DoubleType()
PTR = ir.PointerType()


@dataclass(frozen=True)
class Storage:
    """How the elements of one array are stored (``mem``, ``itemsize`` bytes) and
    which type arithmetic on them uses (``compute``; the same for every dtype
    so far: a narrower storage dtype would widen on load and round on store)."""
    name: str
    mem: ir.Type
    itemsize: int

    @property
    def compute(self) -> ir.Type:
        return self.mem


STORAGE = {name: Storage(name, ty, size) for name, ty, size in (
    ("float32", F32, 4), ("float64", F64, 8), ("int32", I32, 4), ("int64", I64, 8))}

State = dict[str, ir.Value]


def splat(b: ir.IRBuilder, value: ir.Value, lanes: int, index: ir.Type = I32) -> ir.Value:
    """``<lanes x T>`` with ``value`` in every lane (insert into lane 0, shuffle)."""
    vec_ty = ir.VectorType(value.type, lanes)
    vec = b.insert_element(ir.Constant(vec_ty, ir.Undefined), value, ir.Constant(index, 0))
    return b.shuffle_vector(vec, ir.Constant(vec_ty, ir.Undefined),
                            ir.Constant(ir.VectorType(I32, lanes), [0] * lanes))


def check_width(width: int) -> None:
    if width < 1 or width & (width - 1):
        raise ValueError(f"SIMD width must be a power of two, got {width}")


class Emitter:
    """One function under construction: ``void symbol(*arg_types)`` in its own
    module, with a builder ``b`` at the end of its ``entry`` block."""

    def __init__(self, symbol: str, arg_types: tuple[ir.Type, ...], triple: str = "",
                 datalayout: str = ""):
        self.module = ir.Module(name=symbol)
        if triple or datalayout:
            self.module.triple, self.module.data_layout = triple, datalayout
        self.fn = ir.Function(self.module, ir.FunctionType(ir.VoidType(), arg_types), symbol)
        self.fn.attributes.add("nounwind")
        self.b = ir.IRBuilder(self.fn.append_basic_block("entry"))

    def text(self) -> str:
        """The module's LLVM IR text."""
        return str(self.module)

    # -- blocks and constants -------------------------------------------------
    def block(self, name: str) -> ir.Block:
        return self.fn.append_basic_block(name)

    def at(self, block: ir.Block) -> None:
        self.b.position_at_end(block)

    @staticmethod
    def i64(value: int) -> ir.Constant:
        return ir.Constant(I64, value)

    @staticmethod
    def const(ty: ir.Type, value: float) -> ir.Constant:
        """``value`` as a scalar of ``ty``, or in every lane of a vector ``ty``."""
        if isinstance(ty, ir.VectorType):
            return ir.Constant(ty, [ir.Constant(ty.element, value)] * ty.count)
        return ir.Constant(ty, value)

    def splat(self, value: ir.Value, lanes: int, b: ir.IRBuilder | None = None,
              index: ir.Type = I32) -> ir.Value:
        """``<lanes x T>`` with ``value`` in every lane."""
        return splat(b or self.b, value, lanes, index)

    # -- intrinsics -----------------------------------------------------------
    def intrinsic(self, name: str, ret: ir.Type, args: tuple[ir.Type, ...]) -> ir.Function:
        """The declaration of ``name`` in this module (declared once)."""
        if name in self.module.globals:
            return self.module.globals[name]
        return ir.Function(self.module, ir.FunctionType(ret, args), name)

    @staticmethod
    def suffix(ty: ir.Type) -> str:
        """LLVM's overload suffix of ``ty``: ``f32``, ``f64``, ``v8f32``, ``v4i64``."""
        elem = ty.element if isinstance(ty, ir.VectorType) else ty
        kind = f"i{elem.width}" if isinstance(elem, ir.IntType) else (
            "f32" if isinstance(elem, ir.FloatType) else "f64")
        return f"v{ty.count}{kind}" if isinstance(ty, ir.VectorType) else kind

    def math(self, name: str, ty: ir.Type, nargs: int = 1) -> ir.Function:
        """An overloaded math intrinsic (``sqrt``, ``fabs``, ``pow``...) at ``ty``."""
        return self.intrinsic(f"llvm.{name}.{self.suffix(ty)}", ty, (ty,) * nargs)

    # -- memory ---------------------------------------------------------------
    def pointer(self, base: ir.Value, index: ir.Value, storage: Storage,
                b: ir.IRBuilder | None = None) -> ir.Value:
        return (b or self.b).gep(base, [index], source_etype=storage.mem)

    def load(self, base: ir.Value, index: ir.Value, storage: Storage, lanes: int = 0,
             b: ir.IRBuilder | None = None, name: str = "") -> ir.Value:
        """Element ``index`` of ``base`` (``lanes > 0``: the ``<lanes x T>`` vector
        starting there), in the compute type."""
        b = b or self.b
        ty = ir.VectorType(storage.mem, lanes) if lanes else storage.mem
        return b.load(self.pointer(base, index, storage, b), typ=ty, align=storage.itemsize,
                      name=name)

    def store(self, value: ir.Value, base: ir.Value, index: ir.Value, storage: Storage,
              b: ir.IRBuilder | None = None, streaming: bool = False) -> None:
        """Store ``value`` (scalar or vector) at element ``index`` of ``base``.
        ``streaming``: a non-temporal store that bypasses the caches; the caller
        guarantees the address is aligned to the vector's size."""
        b = b or self.b
        ptr = self.pointer(base, index, storage, b)
        if not streaming:
            b.store(value, ptr, align=storage.itemsize)
            return
        size = storage.itemsize * (value.type.count if isinstance(value.type, ir.VectorType)
                                   else 1)
        inst = b.store(value, ptr, align=size)
        inst.set_metadata("nontemporal", self.module.add_metadata([ir.Constant(I32, 1)]))

    def prefetch(self, base: ir.Value, index: ir.Value, storage: Storage,
                 b: ir.IRBuilder | None = None) -> None:
        """Prefetch the line holding element ``index`` (read, all cache levels)."""
        b = b or self.b
        fn = self.intrinsic("llvm.prefetch.p0", ir.VoidType(), (PTR, I32, I32, I32))
        b.call(fn, [self.pointer(base, index, storage, b), ir.Constant(I32, 0),
                    ir.Constant(I32, 3), ir.Constant(I32, 1)])

    def fence_streams(self) -> None:
        """``sfence`` (x86): streaming stores before it are visible to other cores
        before any store after it."""
        self.b.call(self.intrinsic("llvm.x86.sse.sfence", ir.VoidType(), ()), [])

    def masked_load(self, ptr: ir.Value, mask: ir.Value, passthru: ir.Value,
                    align: int) -> ir.Value:
        """``<W x T>`` from ``ptr``: lanes where ``mask`` is false are not read
        and take ``passthru``'s value."""
        vec_ty = passthru.type
        fn = self.intrinsic(f"llvm.masked.load.{self.suffix(vec_ty)}.p0", vec_ty,
                            (PTR, I32, mask.type, vec_ty))
        return self.b.call(fn, [ptr, ir.Constant(I32, align), mask, passthru])

    # -- loops ----------------------------------------------------------------
    def loop(self, name: str, start: ir.Value, limit: ir.Value, stride: int, state: State,
             body: Callable[[ir.Value, State], State]) -> tuple[ir.Value, State]:
        """``c = start; while c + stride <= limit: state = body(c, state); c += stride``
        from the current block; returns ``(c, state)`` after the loop, with
        ``self.b`` at the loop's exit (``body`` emits at ``self.b`` and may move it)."""
        b = self.b
        pre, head, loop, done = b.block, self.block(f"{name}_head"), \
            self.block(f"{name}_body"), self.block(f"{name}_done")
        b.branch(head)
        self.at(head)
        c = b.phi(I64, f"{name}_c")
        phis = {key: b.phi(value.type, key) for key, value in state.items()}
        c.add_incoming(start, pre)
        for key, value in state.items():
            phis[key].add_incoming(value, pre)
        b.cbranch(b.icmp_signed("<=", b.add(c, self.i64(stride)), limit), loop, done)
        self.at(loop)
        out = body(c, dict(phis))
        for key, phi in phis.items():
            phi.add_incoming(out[key], b.block)
        c.add_incoming(b.add(c, self.i64(stride)), b.block)
        b.branch(head)
        self.at(done)
        return c, phis

    def rows(self, first: ir.Value, last: ir.Value,
             body: Callable[[ir.Value], None]) -> None:
        """``for row in range(first, last): body(row)`` from the current block, then
        ``ret void``: the row loop of a kernel over a table's rows."""
        b = self.b
        pre, head, loop, done = b.block, self.block("row_head"), self.block("row_body"), \
            self.block("done")
        b.branch(head)
        self.at(head)
        row = b.phi(I64, "row")
        row.add_incoming(first, pre)
        b.cbranch(b.icmp_signed("<", row, last), loop, done)
        self.at(loop)
        body(row)
        row.add_incoming(b.add(row, self.i64(1)), b.block)
        b.branch(head)
        self.at(done)
        b.ret_void()

    def strips(self, name: str, start: ir.Value, n: ir.Value, width: int, unroll: int,
               state: State, body: Callable[..., State],
               head: Callable[[ir.Value, int], None] | None = None,
               streaming: tuple[ir.Value, ...] = (), itemsize: int = 0) -> tuple[ir.Value, State]:
        """Sweep elements ``[start, n)``: a main loop of ``unroll`` vectors of
        ``width`` lanes per iteration (skipped when ``width == 1``), a one-vector
        loop (when ``unroll > 1``), then a scalar tail.  ``body(i, lanes, u, state,
        stream)`` emits one vector (``lanes``; 0 = a scalar) at element ``i``, the
        ``u``-th of its iteration, with streaming stores when ``stream``; ``head(i,
        step)`` runs first in each main-loop iteration (prefetches).

        ``streaming``: pointers of the arrays to store non-temporally (elements of
        ``itemsize`` bytes; stateless sweeps only).  A scalar peel first runs up to the
        first one's vector alignment; when every one of them is aligned there, the
        main loop streams, otherwise (arrays misaligned to each other) the plain
        main loop runs."""
        shapes = [("vec", width, 1)] if width > 1 and unroll > 1 else []
        shapes.append(("tail", 0, 1))
        i = start
        if width > 1 and streaming:
            if state:
                raise ValueError("streaming stores need a stateless sweep")
            i = self._streaming_main(name, start, n, width, unroll, body, head, streaming,
                                     itemsize)
        elif width > 1:
            shapes.insert(0, ("main", width, unroll))
        for tag, lanes, count in shapes:
            i, state = self.loop(f"{name}{tag}" if name else tag, i, n, max(lanes, 1) * count,
                                 state, self._iteration(body, head if tag == "main" else None,
                                                        lanes, count, False))
        return i, state

    def _iteration(self, body: Callable[..., State], head: Callable | None, lanes: int,
                   count: int, stream: bool) -> Callable[[ir.Value, State], State]:
        """One iteration of a strip loop: ``head``, then ``count`` bodies ``lanes`` apart."""
        def iteration(c: ir.Value, st: State) -> State:
            if head is not None:
                head(c, max(lanes, 1) * count)
            for u in range(count):
                at = self.b.add(c, self.i64(u * lanes)) if u else c
                st = body(at, lanes, u, st, stream)
            return st
        return iteration

    def _streaming_main(self, name: str, start: ir.Value, n: ir.Value, width: int,
                        unroll: int, body: Callable[..., State], head: Callable | None,
                        pointers: tuple[ir.Value, ...], itemsize: int) -> ir.Value:
        """Peel to alignment, then the streaming or the plain main loop (see :meth:`strips`)."""
        b, vec_bytes = self.b, width * itemsize
        mask = self.i64(vec_bytes - 1)
        addrs = [b.ptrtoint(p, I64) for p in pointers]
        lead = b.udiv(b.and_(b.sub(self.i64(0), addrs[0]), mask), self.i64(itemsize))
        lead = b.select(b.icmp_signed("<", lead, n), lead, n)
        i, _ = self.loop(f"{name}peel", start, lead, 1, {},
                         self._iteration(body, None, 0, 1, False))
        offset = b.mul(i, self.i64(itemsize))
        aligned = None
        for addr in addrs:
            ok = b.icmp_unsigned("==", b.and_(b.add(addr, offset), mask), self.i64(0))
            aligned = ok if aligned is None else b.and_(aligned, ok)
        nt, plain, join = self.block(f"{name}nt"), self.block(f"{name}plain"), \
            self.block(f"{name}joined")
        b.cbranch(aligned, nt, plain)
        ends = []
        for block, tag, stream in ((nt, "ntmain", True), (plain, "main", False)):
            self.at(block)
            end, _ = self.loop(f"{name}{tag}", i, n, width * unroll, {},
                               self._iteration(body, head, width, unroll, stream))
            ends.append((end, b.block))
            b.branch(join)
        self.at(join)
        end = b.phi(I64, f"{name}main_end")
        for value, block in ends:
            end.add_incoming(value, block)
        return end

    # -- reductions -----------------------------------------------------------
    def reduce(self, op: str, vec: ir.Value) -> ir.Value:
        """``llvm.vector.reduce.<op>`` over the lanes of ``vec`` (``add``, ``umin``,
        ...; for floats LLVM may sum in any order)."""
        name = f"llvm.vector.reduce.{op}.{self.suffix(vec.type)}"
        return self.b.call(self.intrinsic(name, vec.type.element, (vec.type,)), [vec])

    def sum_lanes(self, vec: ir.Value) -> ir.Value:
        """``((lane0 + lane1) + lane2) + ...``: a float sum in a fixed order."""
        b = self.b
        lanes = [b.extract_element(vec, self.i64(k)) for k in range(vec.type.count)]
        total = lanes[0]
        for lane in lanes[1:]:
            total = b.fadd(total, lane)
        return total
