"""Row predictors of the metric kernels: how one row of ``preds`` becomes a
prediction, lowered with llvmlite (see :mod:`codegen.lower_metric` for the ABI).

* ``labels``/``threshold`` read one value per row;
* ``argmax`` with a compile-time class count and short rows takes ``W`` rows at
  once (:meth:`RowLowering.block_argmax`: rows transposed in registers, one
  vector per class, a lane per row);
* ``argmax``/``topk`` otherwise sweep the row's classes as explicit ``<W x T>`` vectors
  (:meth:`RowLowering.sweep`): full vectors, then one masked load for the tail,
  so nothing past the row (or the array) is read.  Long rows keep ``UNROLL``
  independent lane states, so the loop is not one long dependency chain.
  ``argmax`` keeps, per lane, the first maximum and its class, then takes the
  smallest class among the lanes holding the overall maximum (a butterfly max
  and an unsigned-min reduction); ``topk`` counts, per lane, the classes that
  beat the target's score.

Float compares carry no fast-math flags: the result must be exact.
"""

from __future__ import annotations

import math

from llvmlite import ir

from .metric_spec import MetricSpec

__all__ = ["RowLowering", "I1", "I32", "I64", "PTR", "TYPES", "ITEMSIZE", "UNROLL",
           "BLOCK_MAX_ROW_BYTES"]

I1, I32, I64 = ir.IntType(1), ir.IntType(32), ir.IntType(64)
PTR = ir.PointerType()
TYPES = {"float32": ir.FloatType(), "float64": ir.DoubleType(), "int32": I32, "int64": I64}
ITEMSIZE = {"float32": 4, "float64": 8, "int32": 4, "int64": 8}
#: independent accumulators of the class sweep over long rows
UNROLL = 4
#: rows up to this many bytes use the block (transposed) argmax when it applies
BLOCK_MAX_ROW_BYTES = 96


def _splat(b: ir.IRBuilder, value: ir.Value, lanes: int) -> ir.Value:
    vec_ty = ir.VectorType(value.type, lanes)
    vec = b.insert_element(ir.Constant(vec_ty, ir.Undefined), value, ir.Constant(I32, 0))
    return b.shuffle_vector(vec, ir.Constant(vec_ty, ir.Undefined),
                            ir.Constant(ir.VectorType(I32, lanes), [0] * lanes))


class RowLowering:
    """Builder state shared by the kernel and its predictors; ``self.b`` moves from
    block to block.  Subclasses set ``preds``, ``C`` and ``k`` before predicting."""

    def __init__(self, spec: MetricSpec, preds: str, targets: str, width: int, symbol: str,
                 classes: int = 0):
        self.spec, self.width, self.classes = spec, width, classes
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

    # -- predictors: each returns (prediction or hit, row has NaN) --------------
    def predict_labels(self, row: ir.Value, t: ir.Value,
                       bad_row: ir.Block) -> tuple[ir.Value, ir.Value]:
        b = self.b
        p = b.load(b.gep(self.preds, [row], source_etype=self.pty), typ=self.pty,
                   align=self.palign)
        p = b.sext(p, I64) if self.pty is I32 else p
        ok = self.block("label_ok")
        b.cbranch(b.icmp_unsigned("<", p, self.C), ok, bad_row)
        self.at(ok)
        return p, ir.Constant(I1, 0)

    def predict_threshold(self, row: ir.Value, t: ir.Value,
                          bad_row: ir.Block) -> tuple[ir.Value, ir.Value]:
        b = self.b
        x = b.load(b.gep(self.preds, [row], source_etype=self.pty), typ=self.pty,
                   align=self.palign)
        pred = b.zext(b.fcmp_unordered(">", x, self.thr), I64)   # NaN > thr: true
        return pred, b.fcmp_unordered("uno", x, x)

    def row_vectors(self, row: ir.Value) -> tuple[ir.Value, ir.Value, ir.Value, ir.Value]:
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

    def predict_argmax(self, row: ir.Value, t: ir.Value,
                       bad_row: ir.Block) -> tuple[ir.Value, ir.Value]:
        """One sweep keeps, per lane, the first maximum and its class; the row's
        argmax is the smallest class among the lanes holding the overall maximum.
        Kernels for a run-time class count (long rows) use :meth:`argmax_two_pass`."""
        if not self.classes:
            return self.argmax_two_pass(row)
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

    def argmax_two_pass(self, row: ir.Value) -> tuple[ir.Value, ir.Value]:
        """Long rows: pass 1 keeps ``UNROLL`` running maxima and sums per lane (a NaN
        makes its sum NaN); pass 2 re-reads the row, now in L1, up to the first
        class equal to the maximum.  A NaN sum sends the row to a scalar scan for
        its first NaN; when that finds none (the sum met ``inf - inf``) pass 2 runs."""
        b, w = self.b, self.width
        rp, nfull, mask, _ = self.row_vectors(row)
        vty = ir.VectorType(self.pty, w)
        zero = ir.Constant(vty, [0.0] * w)
        init = {"mx": ir.Constant(vty, [float("-inf")] * w), "sum": zero}

        def step(v, c, st, valid):
            part = v if valid is None else b.select(valid, v, zero)
            return {"mx": b.select(b.fcmp_ordered(">", v, st["mx"]), v, st["mx"]),
                    "sum": b.fadd(st["sum"], part)}

        def merge(p, q):
            return {"mx": b.select(b.fcmp_ordered(">", q["mx"], p["mx"]), q["mx"], p["mx"]),
                    "sum": b.fadd(p["sum"], q["sum"])}

        st = self.sweep(rp, nfull, mask, init, step, merge)
        best = self.splat_max(st["mx"])
        maybe_nan = self.any_lane(b.sext(b.fcmp_unordered("uno", st["sum"], st["sum"]),
                                         ir.VectorType(self.lane_int, w)))
        swept, scan, find, found = b.block, self.block("nan_scan"), self.block("find"), \
            self.block("argmax")
        b.cbranch(maybe_nan, scan, find)
        results: list[tuple[ir.Value, ir.Value, ir.Block]] = []   # (pred, row has NaN, from)

        self.at(scan)
        j = b.phi(I64, "nan_j")
        j.add_incoming(self.i64(0), swept)
        x = b.load(b.gep(rp, [j], source_etype=self.pty), typ=self.pty, align=self.palign)
        is_nan, j_next = b.fcmp_unordered("uno", x, x), b.add(j, self.i64(1))
        scan_next = self.block("nan_scan_next")
        results.append((j, ir.Constant(I1, 1), scan))
        b.cbranch(is_nan, found, scan_next)
        self.at(scan_next)
        j.add_incoming(j_next, scan_next)
        b.cbranch(b.icmp_signed("<", j_next, self.C), scan, find)

        self.at(find)
        head, body, miss, tail = (self.block(n) for n in ("find_head", "find_body",
                                                          "find_next", "find_tail"))
        b.branch(head)
        self.at(head)
        c = b.phi(I64, "find_c")
        c.add_incoming(self.i64(0), find)
        b.cbranch(b.icmp_signed("<", c, nfull), body, tail)
        self.at(body)
        first = b.mul(c, self.i64(w))
        bits = b.bitcast(b.fcmp_ordered("==", self.load_vec(b.gep(rp, [first],
                                                                  source_etype=self.pty)),
                                        best), ir.IntType(w))
        results.append((b.add(first, self.cttz(bits)), ir.Constant(I1, 0), body))
        b.cbranch(b.icmp_unsigned("!=", bits, ir.Constant(bits.type, 0)), found, miss)
        self.at(miss)
        c.add_incoming(b.add(c, self.i64(1)), miss)
        b.branch(head)
        self.at(tail)
        v = self.masked_load(b.gep(rp, [b.mul(nfull, self.i64(w))], source_etype=self.pty),
                             mask, ir.Constant(vty, [float("-inf")] * w))
        bits = b.bitcast(b.and_(b.fcmp_ordered("==", v, best), mask), ir.IntType(w))
        last = b.add(b.mul(nfull, self.i64(w)), self.cttz(bits))
        # no lane matches only if the row is empty of non-NaN values: impossible here
        results.append((b.select(b.icmp_unsigned("<", last, self.C), last, self.i64(0)),
                        ir.Constant(I1, 0), tail))
        b.branch(found)

        self.at(found)
        pred, row_nan = b.phi(I64, "pred"), b.phi(I1, "row_nan")
        for value, nan, block in results:
            pred.add_incoming(value, block)
            row_nan.add_incoming(nan, block)
        return pred, row_nan

    def cttz(self, value: ir.Value) -> ir.Value:
        """Trailing zeros of an integer (its width when zero), as i64."""
        fn = self.intrinsic(f"llvm.cttz.i{value.type.width}", value.type, (value.type, I1))
        return self.b.zext(self.b.call(fn, [value, ir.Constant(I1, 0)]), I64)

    @property
    def block_rows(self) -> int:
        """Rows per block of :meth:`block_argmax` (0: no block path).  It needs the
        class count at compile time, two 128-bit halves per vector (AVX/AVX2) and
        short rows (measured: it wins up to ~20 float32 / ~12 float64 classes, then
        the per-row sweep is faster)."""
        bits = self.width * self.palign * 8
        short = self.classes * self.palign <= BLOCK_MAX_ROW_BYTES
        return self.width if (self.spec.predict == "argmax" and self.classes and short
                              and bits == 256) else 0

    def block_argmax(self, row0: ir.Value) -> tuple[ir.Value, ir.Value]:
        """Argmax of the ``R = W`` rows from ``row0`` at once, lane ``r`` = row ``row0 + r``.

        Rows are read in pieces of ``L = W/2`` classes (the last piece only as wide as
        the classes left); register ``i`` holds rows ``i`` and ``i + L``, and ``log2 L`` rounds
        of in-lane zips turn ``L`` registers into one vector per class.  A strict
        running maximum over the classes keeps each row's first maximum.  NaN is
        found through the sum of the classes (NaN in, NaN out; an ``inf - inf`` sum
        also reports NaN and only sends the block to the exact row path).
        Returns ``(predictions as <R x lane_int>, block may hold a NaN)``."""
        b, w, C = self.b, self.width, self.classes
        half = w // 2
        piece = ir.VectorType(self.pty, half)
        n = 2 * half
        lo = [h + i + o for h in (0, half) for i in range(half // 2) for o in (0, n)]
        hi = [h + half // 2 + i + o for h in (0, half) for i in range(half // 2)
              for o in (0, n)]
        masks = [ir.Constant(ir.VectorType(I32, n), m) for m in (lo, hi)]
        concat = ir.Constant(ir.VectorType(I32, n), list(range(n)))
        base = b.gep(self.preds, [b.mul(row0, self.i64(C))], source_etype=self.pty)
        lanes = ir.VectorType(self.lane_int, w)
        best = index = probe = None
        for g in range(0, C, half):      # fold each group in at once: few live registers
            valid = min(half, C - g)
            short = ir.VectorType(self.pty, valid)
            widen = ir.Constant(ir.VectorType(I32, half),
                                [i if i < valid else valid for i in range(half)])
            neg_inf = ir.Constant(short, [float("-inf")] * valid)

            def load(r: int) -> ir.Value:
                """Classes ``g .. g+valid`` of row ``r`` (exactly those: never past the row)."""
                ptr = b.gep(base, [self.i64(r * C + g)], source_etype=self.pty)
                if valid == half:
                    return b.load(ptr, typ=piece, align=self.palign)
                return b.shuffle_vector(b.load(ptr, typ=short, align=self.palign), neg_inf,
                                        widen)

            regs = [b.shuffle_vector(load(i), load(i + half), concat) for i in range(half)]
            for _ in range(int(math.log2(half))):
                pairs = [(regs[i], regs[i + half // 2]) for i in range(half // 2)]
                regs = [b.shuffle_vector(x, y, m) for x, y in pairs for m in masks]
            for j, col in enumerate(regs[:valid], g):
                if best is None:
                    best, index, probe = col, ir.Constant(lanes, [0] * w), col
                    continue
                up = b.fcmp_ordered(">", col, best)     # strict: the first maximum stays
                best = b.select(up, col, best)
                index = b.select(up, ir.Constant(lanes, [j] * w), index)
                probe = b.fadd(probe, col)
        return index, self.any_lane(b.sext(b.fcmp_unordered("uno", probe, probe), lanes))

    def predict_topk(self, row: ir.Value, t: ir.Value,
                     bad_row: ir.Block) -> tuple[ir.Value, ir.Value]:
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
