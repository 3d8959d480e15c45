"""Lowering of metric specs (:mod:`codegen.metric_spec`) to LLVM IR (llvmlite.ir).

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
score; counted as usual, NaN being the largest value) and hits (``hits``
sink).  Rows ``[first_row, end_row)`` are processed; threads take disjoint ranges.

``argmax`` and ``topk`` read each row once as explicit ``<W x T>`` vectors with
a masked tail load (never past the row, never past the array): ``argmax``
keeps a running lane-wise maximum and a NaN mask, reduces them, then finds the
first lane equal to the maximum in a second sweep over the (cache-hot) row;
``topk`` counts, lane-wise, the classes that beat the target's score.  Float
compares carry no fast-math flags: the result must be exact.
"""

from __future__ import annotations

import math

from llvmlite import ir

from .metric_spec import MetricSpec

__all__ = ["lower_metric", "LOCAL_MAX", "ARGS_WORDS", "STATUS_WORDS", "ARG_INDEX"]

I1, I32, I64 = ir.IntType(1), ir.IntType(32), ir.IntType(64)
PTR = ir.PointerType()
TYPES = {"float32": ir.FloatType(), "float64": ir.DoubleType(), "int32": I32, "int64": I64}
ITEMSIZE = {"float32": 4, "float64": 8, "int32": 4, "int64": 8}
#: largest C*C that mode 2 counts in a stack buffer (32 KiB)
LOCAL_MAX = 4096
ARG_INDEX = {"preds": 0, "targets": 1, "C": 2, "counts": 3, "delta": 4, "mode": 5, "k": 6,
             "threshold": 7}
ARGS_WORDS, STATUS_WORDS = len(ARG_INDEX), 3
#: independent accumulators of the class sweep over long rows
UNROLL = 4


def _splat(b: ir.IRBuilder, value: ir.Value, lanes: int) -> ir.Value:
    vec_ty = ir.VectorType(value.type, lanes)
    vec = b.insert_element(ir.Constant(vec_ty, ir.Undefined), value, ir.Constant(I32, 0))
    return b.shuffle_vector(vec, ir.Constant(vec_ty, ir.Undefined),
                            ir.Constant(ir.VectorType(I32, lanes), [0] * lanes))


class _Kernel:
    """Builds one kernel; ``self.b`` moves from block to block."""

    def __init__(self, spec: MetricSpec, preds: str, targets: str, width: int, symbol: str,
                 classes: int = 0):
        self.spec, self.width, self.classes = spec, width, classes
        # large matrices (class count known only at run time): defer each increment
        self.defer = spec.count == "confusion" and spec.preds_rank == 2 and not classes
        self.pty, self.tty = TYPES[preds], TYPES[targets]
        self.palign, self.talign = ITEMSIZE[preds], ITEMSIZE[targets]
        self.lane_int = ir.IntType(8 * ITEMSIZE[preds])
        self.module = ir.Module(name=symbol)
        fn_ty = ir.FunctionType(ir.VoidType(), (PTR, I64, I64, PTR))
        self.fn = ir.Function(self.module, fn_ty, symbol)
        self.fn.attributes.add("nounwind")
        self.b = ir.IRBuilder(self.fn.append_basic_block("entry"))

    # -- helpers ---------------------------------------------------------------
    def block(self, name: str) -> ir.Block:
        return self.fn.append_basic_block(name)

    def at(self, block: ir.Block) -> None:
        self.b.position_at_end(block)

    def i64(self, value: int) -> ir.Constant:
        return ir.Constant(I64, value)

    def intrinsic(self, name: str, ret: ir.Type, args: tuple[ir.Type, ...]) -> ir.Function:
        if name in self.module.globals:
            return self.module.globals[name]
        return ir.Function(self.module, ir.FunctionType(ret, args), name)

    def vec_suffix(self, ty: ir.VectorType) -> str:
        elem = ty.element
        kind = f"i{elem.width}" if isinstance(elem, ir.IntType) else (
            "f32" if isinstance(elem, ir.FloatType) else "f64")
        return f"v{ty.count}{kind}"

    def reduce(self, op: str, vec: ir.Value) -> ir.Value:
        name = f"llvm.vector.reduce.{op}.{self.vec_suffix(vec.type)}"
        return self.b.call(self.intrinsic(name, vec.type.element, (vec.type,)), [vec])

    def cttz(self, value: ir.Value) -> ir.Value:
        name = f"llvm.cttz.i{value.type.width}"
        fn = self.intrinsic(name, value.type, (value.type, I1))
        return self.b.zext(self.b.call(fn, [value, ir.Constant(I1, 0)]), I64)

    def masked_load(self, ptr: ir.Value, mask: ir.Value, passthru: ir.Value) -> ir.Value:
        vec_ty = passthru.type
        name = f"llvm.masked.load.{self.vec_suffix(vec_ty)}.p0"
        fn = self.intrinsic(name, vec_ty, (PTR, I32, mask.type, vec_ty))
        return self.b.call(fn, [ptr, ir.Constant(I32, self.palign), mask, passthru])

    def nan_lanes(self, v: ir.Value, valid: ir.Value | None = None) -> ir.Value:
        """All-ones integer lanes where ``v`` is NaN (kept in integer registers,
        not as an ``<W x i1>`` mask, so or-accumulating them stays one instruction)."""
        nan = self.b.fcmp_unordered("uno", v, v)
        nan = nan if valid is None else self.b.and_(nan, valid)
        return self.b.sext(nan, ir.VectorType(self.lane_int, self.width))

    def any_lane(self, lanes: ir.Value) -> ir.Value:
        """True when any lane is non-zero (one movmsk + test on x86)."""
        w = lanes.type.count
        nonzero = self.b.icmp_unsigned("!=", lanes, ir.Constant(lanes.type, [0] * w))
        return self.b.icmp_unsigned("!=", self.b.bitcast(nonzero, ir.IntType(w)),
                                    ir.Constant(ir.IntType(w), 0))

    def splat_max(self, v: ir.Value) -> ir.Value:
        """Butterfly maximum of NaN-free lanes: every lane ends up holding the max."""
        b, w = self.b, self.width
        step = w // 2
        while step:
            perm = [lane ^ step for lane in range(w)]
            other = b.shuffle_vector(v, ir.Constant(v.type, ir.Undefined),
                                     ir.Constant(ir.VectorType(I32, w), perm))
            v = b.select(b.fcmp_ordered(">", other, v), other, v)
            step //= 2
        return v

    def load_vec(self, ptr: ir.Value) -> ir.Value:
        return self.b.load(ptr, typ=ir.VectorType(self.pty, self.width), align=self.palign)

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
        b.branch(head)

        self.at(head)
        row = b.phi(I64, "row")
        names = ("bad", "nan", "hits") + (("pending",) if self.defer else ())
        acc = {name: b.phi(I64, name) for name in names}
        row.add_incoming(first, entry)
        for name, phi in acc.items():
            phi.add_incoming(self.i64(-1 if name == "pending" else 0), entry)
        b.cbranch(b.icmp_signed("<", row, last), body, done)

        self.at(body)
        t = b.load(b.gep(self.targets, [row], source_etype=self.tty), typ=self.tty,
                   align=self.talign)
        t = b.sext(t, I64) if self.tty is I32 else t
        predict = self.block("predict")
        b.cbranch(b.icmp_unsigned("<", t, self.C), predict, bad_row)
        self.at(predict)
        pred, row_nan = getattr(self, f"predict_{spec.predict}")(row, t, bad_row)
        hit = self.sink(pred, t, acc)
        nan_inc = b.add(acc["nan"], b.zext(row_nan, I64))
        hit_inc = b.add(acc["hits"], b.zext(hit, I64))
        good_end = b.block
        b.branch(latch)
        self.at(bad_row)
        bad_inc = b.add(acc["bad"], self.i64(1))
        b.branch(latch)

        self.at(latch)
        incoming = {"bad": (acc["bad"], bad_inc), "nan": (nan_inc, acc["nan"]),
                    "hits": (hit_inc, acc["hits"])}
        if self.defer:
            incoming["pending"] = (self.new_pending, acc["pending"])
        for name, (from_good, from_bad) in incoming.items():
            nxt = b.phi(I64, f"{name}_next")
            nxt.add_incoming(from_good, good_end)
            nxt.add_incoming(from_bad, bad_row)
            acc[name].add_incoming(nxt, latch)
        row.add_incoming(b.add(row, self.i64(1)), latch)
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
        """Count the row; returns the hit bit (``hits`` sink) or false.  With
        ``self.defer`` the row's cell is prefetched and incremented one good row
        later (``acc["pending"]``), so a cache miss on a large matrix overlaps
        the next row's sweep instead of stalling it."""
        b = self.b
        if self.spec.count == "hits":
            return pred if self.spec.predict == "topk" else b.icmp_signed("==", pred, t)
        cell = b.add(b.mul(t, self.C), pred)
        if not self.defer:
            self.bump(cell)
            return ir.Constant(I1, 0)
        prefetch = self.intrinsic("llvm.prefetch.p0", ir.VoidType(), (PTR, I32, I32, I32))
        b.call(prefetch, [b.gep(self.dest, [cell], source_etype=I64), ir.Constant(I32, 1),
                          ir.Constant(I32, 3), ir.Constant(I32, 1)])
        self.bump_pending(acc["pending"])
        self.new_pending = cell
        return ir.Constant(I1, 0)

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

    # -- predictors: each returns (prediction or hit, row has NaN) --------------
    def predict_labels(self, row, t, bad_row):
        b = self.b
        p = b.load(b.gep(self.preds, [row], source_etype=self.pty), typ=self.pty,
                   align=self.palign)
        p = b.sext(p, I64) if self.pty is I32 else p
        ok = self.block("label_ok")
        b.cbranch(b.icmp_unsigned("<", p, self.C), ok, bad_row)
        self.at(ok)
        return p, ir.Constant(I1, 0)

    def predict_threshold(self, row, t, bad_row):
        b = self.b
        x = b.load(b.gep(self.preds, [row], source_etype=self.pty), typ=self.pty,
                   align=self.palign)
        pred = b.zext(b.fcmp_unordered(">", x, self.thr), I64)   # NaN > thr: true
        return pred, b.fcmp_unordered("uno", x, x)

    def row_vectors(self, row):
        """Row pointer, full-vector count, tail mask, lane indices (i32)."""
        b, w = self.b, self.width
        rp = b.gep(self.preds, [b.mul(row, self.C)], source_etype=self.pty)
        nfull = b.lshr(self.C, self.i64(int(math.log2(w))))
        rem = b.and_(self.C, self.i64(w - 1))
        iota = ir.Constant(ir.VectorType(I32, w), list(range(w)))
        mask = b.icmp_unsigned("<", iota, _splat(b, b.trunc(rem, I32), w))
        return rp, nfull, mask, iota

    def loop(self, name: str, start: ir.Value, limit: ir.Value, stride: int,
             state: dict[str, ir.Value], body) -> tuple[ir.Value, dict[str, ir.Value]]:
        """``while c + stride <= limit: state = body(c, state); c += stride``;
        returns ``(c, state)`` after the loop."""
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

    def sweep(self, rp: ir.Value, nfull: ir.Value, mask: ir.Value, init: dict[str, ir.Value],
              step, merge) -> dict[str, ir.Value]:
        """Fold ``step(v, c, state, valid) -> state`` over the row's full vectors
        (``valid`` None), then over its masked tail (lanes past the row read -inf).
        Long rows run ``UNROLL`` independent states (``merge(a, b)`` joins them), so
        the loop is not one long dependency chain."""
        b, w = self.b, self.width

        def chunk(c: ir.Value) -> ir.Value:
            return self.load_vec(b.gep(rp, [b.mul(c, self.i64(w))], source_etype=self.pty))

        c, state = self.i64(0), init
        if not self.classes or self.classes >= UNROLL * w:
            def body(c, st):
                out = {}
                for u in range(UNROLL):
                    cu = b.add(c, self.i64(u))
                    part = step(chunk(cu), cu, {k: st[f"{k}_{u}"] for k in init}, None)
                    out.update({f"{k}_{u}": v for k, v in part.items()})
                return out

            flat = {f"{k}_{u}": v for u in range(UNROLL) for k, v in init.items()}
            c, st = self.loop("sweep4", c, nfull, UNROLL, flat, body)
            state = {k: st[f"{k}_0"] for k in init}
            for u in range(1, UNROLL):
                state = merge(state, {k: st[f"{k}_{u}"] for k in init})
        c, state = self.loop("sweep", c, nfull, 1, state,
                             lambda c, st: step(chunk(c), c, st, None))
        neg_inf = ir.Constant(ir.VectorType(self.pty, w), [float("-inf")] * w)
        v = self.masked_load(b.gep(rp, [b.mul(nfull, self.i64(w))], source_etype=self.pty),
                             mask, neg_inf)
        return step(v, nfull, state, mask)

    def lane_index(self, c: ir.Value) -> ir.Value:
        """Class numbers of chunk ``c``'s lanes, as ``<W x lane_int>``."""
        b, w = self.b, self.width
        iota = ir.Constant(ir.VectorType(self.lane_int, w), list(range(w)))
        base = b.mul(c, self.i64(w))
        base = b.trunc(base, self.lane_int) if self.lane_int.width < 64 else base
        return b.add(iota, _splat(b, base, w))

    def predict_argmax(self, row, t, bad_row):
        """One sweep keeps, per lane, the first maximum and its class; the row's
        argmax is the smallest class among the lanes holding the overall maximum."""
        b, w = self.b, self.width
        rp, nfull, mask, _ = self.row_vectors(row)
        lanes = ir.VectorType(self.lane_int, w)
        init = {"mx": ir.Constant(ir.VectorType(self.pty, w), [float("-inf")] * w),
                "ix": ir.Constant(lanes, list(range(w))), "na": ir.Constant(lanes, [0] * w)}

        def step(v, c, st, valid):
            gt = b.fcmp_ordered(">", v, st["mx"])     # strict: the first maximum stays
            return {"mx": b.select(gt, v, st["mx"]),
                    "ix": b.select(gt, self.lane_index(c), st["ix"]),
                    "na": b.or_(st["na"], self.nan_lanes(v, valid))}

        def merge(p, q):
            take = b.or_(b.fcmp_ordered(">", q["mx"], p["mx"]),
                         b.and_(b.fcmp_ordered("==", q["mx"], p["mx"]),
                                b.icmp_unsigned("<", q["ix"], p["ix"])))
            return {"mx": b.select(take, q["mx"], p["mx"]),
                    "ix": b.select(take, q["ix"], p["ix"]), "na": b.or_(p["na"], q["na"])}

        st = self.sweep(rp, nfull, mask, init, step, merge)
        at_max = b.fcmp_ordered("==", st["mx"], self.splat_max(st["mx"]))
        big = ir.Constant(lanes, [(1 << self.lane_int.width) - 1] * w)
        first = self.reduce("umin", b.select(at_max, st["ix"], big))
        first = b.zext(first, I64) if self.lane_int.width < 64 else first
        has_nan = self.any_lane(st["na"])
        sweep_end, nan_scan, found = b.block, self.block("nan_scan"), self.block("argmax")
        b.cbranch(has_nan, nan_scan, found)

        # a NaN row predicts its first NaN (NaN is the largest value)
        self.at(nan_scan)
        j = b.phi(I64, "nan_j")
        j.add_incoming(self.i64(0), sweep_end)
        x = b.load(b.gep(rp, [j], source_etype=self.pty), typ=self.pty, align=self.palign)
        j_next = b.add(j, self.i64(1))
        j.add_incoming(j_next, nan_scan)
        stop = b.or_(b.fcmp_unordered("uno", x, x), b.icmp_signed(">=", j_next, self.C))
        b.cbranch(stop, found, nan_scan)

        self.at(found)
        pred = b.phi(I64, "pred")
        pred.add_incoming(first, sweep_end)
        pred.add_incoming(j, nan_scan)
        return pred, has_nan

    def predict_topk(self, row, t, bad_row):
        """Rank of the target's score: lanes count the classes that beat it."""
        b, w = self.b, self.width
        cty = ir.VectorType(I32, w)
        rp, nfull, mask, iota = self.row_vectors(row)
        s = b.load(b.gep(rp, [t], source_etype=self.pty), typ=self.pty, align=self.palign)
        s_nan = b.fcmp_unordered("uno", s, s)
        ss, t_lanes = _splat(b, s, w), _splat(b, b.trunc(t, I32), w)
        s_nan_lanes, s_num_lanes = _splat(b, s_nan, w), _splat(b, b.not_(s_nan), w)
        tie = "<" if self.spec.ties == "first" else ">"
        init = {"cnt": ir.Constant(cty, [0] * w),
                "na": ir.Constant(ir.VectorType(self.lane_int, w), [0] * w)}

        def step(v, c, st, valid):
            v_nan = b.fcmp_unordered("uno", v, v)
            gt = b.or_(b.fcmp_ordered(">", v, ss), b.and_(v_nan, s_num_lanes))
            eq = b.or_(b.fcmp_ordered("==", v, ss), b.and_(v_nan, s_nan_lanes))
            idx = b.add(iota, _splat(b, b.trunc(b.mul(c, self.i64(w)), I32), w))
            beat = b.or_(gt, b.and_(eq, b.icmp_signed(tie, idx, t_lanes)))
            beat = beat if valid is None else b.and_(beat, valid)
            return {"cnt": b.sub(st["cnt"], b.sext(beat, cty)),
                    "na": b.or_(st["na"], self.nan_lanes(v, valid))}

        def merge(p, q):
            return {"cnt": b.add(p["cnt"], q["cnt"]), "na": b.or_(p["na"], q["na"])}

        st = self.sweep(rp, nfull, mask, init, step, merge)
        rank = b.zext(self.reduce("add", st["cnt"]), I64)
        return b.icmp_signed("<", rank, self.k), self.any_lane(st["na"])


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
