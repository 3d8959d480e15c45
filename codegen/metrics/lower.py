"""Lowering of metric specs (:mod:`odyssey_codegen.metrics.spec`) to LLVM IR (llvmlite.ir).

ABI of every metric kernel::

    void kernel(i64* args, i64 first_row, i64 end_row, i64* status)

``args`` (one i64 word each, shared by all threads of a call):

====  =========  ==============================================================
word  name       meaning
====  =========  ==============================================================
0     preds      address of row 0 of the predictions, ``(N, C)`` or ``(N,)``
1     targets    address of the ``(N,)`` target labels
2     C          number of classes (2 for ``threshold``); ``1 <= C < 2**31``
3     counts     address of the int64 ``(C, C)`` counts (``confusion`` only)
4     delta      +1 counts a row, -1 removes it again (an exact undo)
5     mode       0: plain adds into ``counts``; 1: atomic adds; 2: count into a
                 stack buffer, then add the buffer atomically (``C*C <= LOCAL_MAX``)
6     k          top-k size (``topk`` only)
7     threshold  float64 bit pattern (``threshold`` only)
====  =========  ==============================================================

``status`` (this call's own three words, stored at the end): bad rows (target
or label prediction outside ``[0, C)``, skipped), NaN rows (rows with a NaN
score; counted as usual, NaN being the largest value) and hits (rows whose
prediction equals the target, or ``topk`` hits; both sinks count them).  Rows ``[first_row, end_row)`` are processed; threads take disjoint ranges.

Per row: load the target, skip the row as bad when it is outside ``[0, C)``,
predict (:mod:`odyssey_codegen.metrics.rows`, :mod:`odyssey_codegen.metrics.argmax`), then the sink.  ``confusion`` adds
``delta`` into ``counts[t*C + ŷ]`` (mode 0/1/2 above); a kernel whose class count
is only known at run time prefetches the cell and adds it one row later, so a
cache miss in a large matrix overlaps the next row instead of stalling.  A
kernel compiled with ``classes > 0`` ignores word 2 and has the class loop fully
unrolled.
"""

from __future__ import annotations

from llvmlite import ir

from ..emitter import I1, I32, I64, PTR
from .argmax import ArgmaxLowering
from .spec import MetricSpec

__all__ = ["lower_metric", "LOCAL_MAX", "ARGS_WORDS", "STATUS_WORDS", "ARG_INDEX"]

#: largest C*C that mode 2 counts in a stack buffer (32 KiB)
LOCAL_MAX = 4096
ARG_INDEX = {"preds": 0, "targets": 1, "C": 2, "counts": 3, "delta": 4, "mode": 5, "k": 6,
             "threshold": 7}
ARGS_WORDS, STATUS_WORDS = len(ARG_INDEX), 3


class _Kernel(ArgmaxLowering):
    """The row loop and the sinks around the predictors."""

    def __init__(self, spec: MetricSpec, preds: str, targets: str, width: int, symbol: str,
                 classes: int = 0):
        super().__init__(spec, preds, targets, width, symbol, classes)
        # large matrices (class count known only at run time): defer each increment
        self.defer = spec.count == "confusion" and spec.preds_rank == 2 and not classes

    # -- the kernel ------------------------------------------------------------
    def build(self) -> str:
        b, spec = self.b, self.spec
        args, first, last, status = self.fn.args
        word = {name: b.load(b.gep(args, [self.i64(k)], source_etype=I64), typ=I64, name=name)
                for name, k in ARG_INDEX.items()}
        self.preds = b.inttoptr(word["preds"], PTR, name="preds_ptr")
        self.targets = b.inttoptr(word["targets"], PTR, name="targets_ptr")
        self.C, self.delta, self.k = word["C"], word["delta"], word["k"]
        if self.classes:  # a kernel specialized for one class count ignores word 2
            self.C = self.i64(self.classes)
        thr = b.bitcast(word["threshold"], ir.DoubleType())
        self.thr = b.fptrunc(thr, self.pty) if isinstance(self.pty, ir.FloatType) else thr
        if spec.count == "confusion":
            self.setup_counts(word["counts"], word["mode"])
        entry = b.block
        head, body, latch, bad_row, done = (self.block(n) for n in (
            "row_head", "row_body", "row_latch", "row_bad", "done"))
        self.latch = latch
        b.branch(head)

        self.at(head)
        row = b.phi(I64, "row")
        names = ["bad", "nan", "hits"] + ["pending"] * self.defer + ["solo"] * bool(
            self.block_rows)
        acc = {name: b.phi(I64, name) for name in names}
        row.add_incoming(first, entry)
        for name, phi in acc.items():
            phi.add_incoming(self.i64(-1 if name == "pending" else 0), entry)
        exits: list[tuple[ir.Block, dict[str, ir.Value], ir.Value]] = []
        if self.block_rows:
            dispatch = self.block("dispatch")
            b.cbranch(b.icmp_signed("<", row, last), dispatch, done)
            self.at(dispatch)
            into_body = self.block_path(row, last, acc, body, exits)
        else:
            b.cbranch(b.icmp_signed("<", row, last), body, done)

        self.at(body)
        one_row = dict(acc)
        if self.block_rows:
            one_row["solo"] = b.phi(I64, "solo_row")
            for block, value in into_body:
                one_row["solo"].add_incoming(value, block)
        row_next = b.add(row, self.i64(1))
        t = self.class_label(self.targets, self.tty, self.talign, row, bad_row, "predict")
        pred, row_nan = getattr(self, f"predict_{spec.predict}")(row, t, bad_row)
        hit = self.sink(pred, t, one_row)
        good = {**one_row, "nan": b.add(acc["nan"], b.zext(row_nan, I64)),
                "hits": b.add(acc["hits"], b.zext(hit, I64))}
        if self.defer:
            good["pending"] = self.new_pending
        exits.append((b.block, good, row_next))
        b.branch(latch)
        self.at(bad_row)
        exits.append((bad_row, {**one_row, "bad": b.add(acc["bad"], self.i64(1))}, row_next))
        b.branch(latch)

        self.at(latch)
        for name in names:
            nxt = b.phi(I64, f"{name}_next")
            for block, values, _ in exits:
                nxt.add_incoming(values[name], block)
            acc[name].add_incoming(nxt, latch)
        nxt = b.phi(I64, "row_next")
        for block, _, value in exits:
            nxt.add_incoming(value, block)
        row.add_incoming(nxt, latch)
        b.branch(head)

        self.at(done)
        if self.defer:
            self.bump_pending(acc["pending"])
        if spec.count == "confusion":
            self.flush()
        for k, name in enumerate(("bad", "nan", "hits")):
            b.store(acc[name], b.gep(status, [self.i64(k)], source_etype=I64))
        b.ret_void()
        return str(self.module)

    def block_path(self, row: ir.Value, last: ir.Value, acc: dict[str, ir.Value],
                   body: ir.Block, exits: list) -> list[tuple[ir.Block, ir.Value]]:
        """``R`` rows at once (:meth:`ArgmaxLowering.block_argmax`) when all ``R`` targets
        are valid, no score is NaN and adds need not be atomic; otherwise the next
        ``R`` rows go through the exact one-row path (``acc["solo"]`` marks where the
        block path may resume).  Returns the edges into ``body`` with their
        ``solo`` values; the block's own exit is appended to ``exits``."""
        b, R = self.b, self.block_rows
        dispatch = b.block
        can = b.and_(b.icmp_signed("<=", b.add(row, self.i64(R)), last),
                     b.icmp_signed(">=", row, acc["solo"]))
        if self.spec.count == "confusion":
            can = b.and_(can, b.not_(self.atomic))
        start, compute, solo, commit = (self.block(n) for n in (
            "block", "block_compute", "block_solo", "block_commit"))
        b.cbranch(can, start, body)
        self.at(start)
        tv = b.load(b.gep(self.targets, [row], source_etype=self.tty),
                    typ=ir.VectorType(self.tty, R), align=self.talign)
        valid = b.icmp_unsigned("<", tv, ir.Constant(tv.type, [self.classes] * R))
        all_valid = b.icmp_signed("==", b.bitcast(valid, ir.IntType(R)),
                                  ir.Constant(ir.IntType(R), -1))
        b.cbranch(all_valid, compute, solo)
        self.at(compute)
        pred, maybe_nan = self.block_argmax(row)
        b.cbranch(maybe_nan, solo, commit)
        self.at(solo)
        resume = b.add(row, self.i64(R))
        b.branch(body)

        self.at(commit)
        lanes = pred.type
        if self.tty.width > self.lane_int.width:
            t = b.trunc(tv, lanes)
        elif self.tty.width < self.lane_int.width:
            t = b.sext(tv, lanes)
        else:
            t = tv
        bits = b.bitcast(b.icmp_signed("==", pred, t), ir.IntType(R))
        ctpop = self.intrinsic(f"llvm.ctpop.i{R}", bits.type, (bits.type,))
        values = {**acc, "hits": b.add(acc["hits"], b.zext(b.call(ctpop, [bits]), I64))}
        if self.spec.count == "confusion":
            cells = b.add(b.mul(t, ir.Constant(lanes, [self.classes] * R)), pred)
            for r in range(R):
                cell = b.extract_element(cells, ir.Constant(I32, r))
                cell = b.zext(cell, I64) if self.lane_int.width < 64 else cell
                ptr = b.gep(self.dest, [cell], source_etype=I64)
                b.store(b.add(b.load(ptr, typ=I64, align=8), self.delta), ptr, align=8)
        exits.append((b.block, values, b.add(row, self.i64(R))))
        b.branch(self.latch)
        return [(dispatch, acc["solo"]), (solo, resume)]

    # -- sinks -----------------------------------------------------------------
    def setup_counts(self, counts_word: ir.Value, mode: ir.Value) -> None:
        b = self.b
        self.counts = b.inttoptr(counts_word, PTR, name="counts_ptr")
        local = b.alloca(I64, size=self.i64(LOCAL_MAX), name="local")
        self.cells = b.mul(self.C, self.C, name="cells")
        self.use_local = b.and_(b.icmp_signed("==", mode, self.i64(2)),
                                b.icmp_signed("<=", self.cells, self.i64(LOCAL_MAX)))
        self.atomic = b.icmp_signed("==", mode, self.i64(1))
        self.dest = b.select(self.use_local, local, self.counts, name="dest")
        self.local = local
        zero, go = self.block("zero_local"), self.block("start")
        b.cbranch(self.use_local, zero, go)
        self.at(zero)
        memset = self.intrinsic("llvm.memset.p0.i64", ir.VoidType(), (PTR, ir.IntType(8), I64, I1))
        b.call(memset, [local, ir.Constant(ir.IntType(8), 0), b.mul(self.cells, self.i64(8)),
                        ir.Constant(I1, 0)])
        b.branch(go)
        self.at(go)

    def sink(self, pred: ir.Value, t: ir.Value, acc: dict[str, ir.Value]) -> ir.Value:
        """Count the row; returns its hit bit (prediction = target; for ``topk``:
        target among the top k), which both sinks add to ``status[2]``.  With
        ``self.defer`` the row's cell is prefetched and incremented one good row
        later (``acc["pending"]``), so a cache miss on a large matrix overlaps
        the next row's sweep instead of stalling it."""
        b = self.b
        hit = pred if self.spec.predict == "topk" else b.icmp_signed("==", pred, t)
        if self.spec.count == "hits":
            return hit
        cell = b.add(b.mul(t, self.C), pred)
        if not self.defer:
            self.bump(cell)
            return hit
        prefetch = self.intrinsic("llvm.prefetch.p0", ir.VoidType(), (PTR, I32, I32, I32))
        b.call(prefetch, [b.gep(self.dest, [cell], source_etype=I64), ir.Constant(I32, 1),
                          ir.Constant(I32, 3), ir.Constant(I32, 1)])
        self.bump_pending(acc["pending"])
        self.new_pending = cell
        return hit

    def bump_pending(self, pending: ir.Value) -> None:
        b = self.b
        go, done = self.block("pending_bump"), self.block("pending_done")
        b.cbranch(b.icmp_signed(">=", pending, self.i64(0)), go, done)
        self.at(go)
        self.bump(pending)
        b.branch(done)
        self.at(done)

    def bump(self, cell: ir.Value) -> None:
        """``dest[cell] += delta``, atomically in mode 1."""
        b = self.b
        ptr = b.gep(self.dest, [cell], source_etype=I64)
        atomic, plain, joined = self.block("inc_atomic"), self.block("inc_plain"), \
            self.block("inc_done")
        b.cbranch(self.atomic, atomic, plain)
        self.at(atomic)
        b.atomic_rmw("add", ptr, self.delta, "monotonic")
        b.branch(joined)
        self.at(plain)
        b.store(b.add(b.load(ptr, typ=I64, align=8), self.delta), ptr, align=8)
        b.branch(joined)
        self.at(joined)

    def flush(self) -> None:
        """Mode 2: add the stack buffer into ``counts`` (atomically, skipping zeros)."""
        b = self.b
        go, skip = self.block("flush"), self.block("flushed")
        b.cbranch(self.use_local, go, skip)
        self.at(go)

        def add_cell(c: ir.Value, state: dict) -> dict:
            v = b.load(b.gep(self.local, [c], source_etype=I64), typ=I64, align=8)
            add, next_ = self.block("flush_add"), self.block("flush_next")
            b.cbranch(b.icmp_signed("!=", v, self.i64(0)), add, next_)
            self.at(add)
            b.atomic_rmw("add", b.gep(self.counts, [c], source_etype=I64), v, "monotonic")
            b.branch(next_)
            self.at(next_)
            return state

        self.loop("flush", self.i64(0), self.cells, 1, {}, add_cell)
        b.branch(skip)
        self.at(skip)


def lower_metric(spec: MetricSpec, preds: str, targets: str, width: int, symbol: str,
                 classes: int = 0) -> str:
    """LLVM IR text of ``spec``'s kernel for (``preds``, ``targets``) dtypes at SIMD
    ``width`` (elements of ``preds``), exported as ``symbol``; ``classes > 0``
    specializes it for that many classes (a compile-time constant)."""
    if width < 1 or width & (width - 1):
        raise ValueError(f"SIMD width must be a power of two, got {width}")
    if preds not in spec.preds or targets not in spec.targets:
        raise ValueError(f"{spec.name} has no kernel for preds={preds}, targets={targets} "
                         f"(spec lists preds {spec.preds}, targets {spec.targets})")
    return _Kernel(spec, preds, targets, width, symbol, classes).build()
