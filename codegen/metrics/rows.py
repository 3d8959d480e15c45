"""Row predictors of the metric kernels: how one row of ``preds`` becomes a
prediction, lowered with llvmlite (see :mod:`odyssey_codegen.metrics.lower` for the ABI;
``argmax`` lives in :mod:`odyssey_codegen.metrics.argmax`).

* ``labels``/``threshold`` read one value per row;
* ``topk`` sweeps the row's classes as explicit ``<W x T>`` vectors
  (:meth:`RowLowering.sweep`: full vectors, then one masked load for the tail, so
  nothing past the row or the array is read; long rows keep ``UNROLL``
  independent lane states, so the loop is not one long dependency chain) and
  counts, per lane, the classes that beat the target's score.

Float compares carry no fast-math flags: the result must be exact.
"""

from __future__ import annotations

import math

from llvmlite import ir

from ..emitter import I1, I32, I64, PTR, STORAGE, Emitter, splat
from .spec import MetricSpec

__all__ = ["RowLowering", "I1", "I32", "I64", "PTR", "TYPES", "ITEMSIZE", "UNROLL", "splat"]

TYPES = {name: s.mem for name, s in STORAGE.items()}
ITEMSIZE = {name: s.itemsize for name, s in STORAGE.items()}
#: independent accumulators of the class sweep over long rows
UNROLL = 4


class RowLowering(Emitter):
    """Builder state shared by the kernel and its predictors, on the shared
    :class:`~odyssey_codegen.emitter.Emitter` (blocks, loops, masked loads,
    reductions); ``self.b`` moves from block to block.  Subclasses set ``preds``,
    ``C`` and ``k`` before predicting."""

    block_rows = 0     # rows one block step predicts at once (see ArgmaxLowering)

    def __init__(self, spec: MetricSpec, preds: str, targets: str, width: int, symbol: str,
                 classes: int = 0):
        super().__init__(symbol, (PTR, I64, I64, PTR))
        self.spec, self.width, self.classes = spec, width, classes
        self.pty, self.tty = TYPES[preds], TYPES[targets]
        self.palign, self.talign = ITEMSIZE[preds], ITEMSIZE[targets]
        self.lane_int = ir.IntType(8 * ITEMSIZE[preds])

    # -- helpers ---------------------------------------------------------------
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

    def class_label(self, base: ir.Value, ty: ir.Type, align: int, row: ir.Value,
                    bad_row: ir.Block, name: str) -> ir.Value:
        """``base[row]`` as an i64 class label; a label outside ``[0, C)`` branches to
        ``bad_row``, the rest continue in a new block ``name``."""
        b = self.b
        label = b.load(b.gep(base, [row], source_etype=ty), typ=ty, align=align)
        label = b.sext(label, I64) if ty is I32 else label
        ok = self.block(name)
        b.cbranch(b.icmp_unsigned("<", label, self.C), ok, bad_row)
        self.at(ok)
        return label

    # -- predictors: each returns (prediction or hit, row has NaN) --------------
    def predict_labels(self, row: ir.Value, t: ir.Value,
                       bad_row: ir.Block) -> tuple[ir.Value, ir.Value]:
        p = self.class_label(self.preds, self.pty, self.palign, row, bad_row, "label_ok")
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
        mask = b.icmp_unsigned("<", iota, splat(b, b.trunc(rem, I32), w))
        return rp, nfull, mask, iota

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
                             mask, neg_inf, self.palign)
        return step(v, nfull, state, mask)

    def lane_index(self, c: ir.Value) -> ir.Value:
        """Class numbers of chunk ``c``'s lanes, as ``<W x lane_int>``."""
        b, w = self.b, self.width
        iota = ir.Constant(ir.VectorType(self.lane_int, w), list(range(w)))
        base = b.mul(c, self.i64(w))
        base = b.trunc(base, self.lane_int) if self.lane_int.width < 64 else base
        return b.add(iota, splat(b, base, w))

    def cttz(self, value: ir.Value) -> ir.Value:
        """Trailing zeros of an integer (its width when zero), as i64."""
        fn = self.intrinsic(f"llvm.cttz.i{value.type.width}", value.type, (value.type, I1))
        return self.b.zext(self.b.call(fn, [value, ir.Constant(I1, 0)]), I64)

    def predict_topk(self, row: ir.Value, t: ir.Value,
                     bad_row: ir.Block) -> tuple[ir.Value, ir.Value]:
        """Rank of the target's score: lanes count the classes that beat it."""
        b, w = self.b, self.width
        cty = ir.VectorType(I32, w)
        rp, nfull, mask, iota = self.row_vectors(row)
        s = b.load(b.gep(rp, [t], source_etype=self.pty), typ=self.pty, align=self.palign)
        s_nan = b.fcmp_unordered("uno", s, s)
        ss, t_lanes = splat(b, s, w), splat(b, b.trunc(t, I32), w)
        s_nan_lanes, s_num_lanes = splat(b, s_nan, w), splat(b, b.not_(s_nan), w)
        tie = "<" if self.spec.ties == "first" else ">"
        init = {"cnt": ir.Constant(cty, [0] * w),
                "na": ir.Constant(ir.VectorType(self.lane_int, w), [0] * w)}

        def step(v, c, st, valid):
            v_nan = b.fcmp_unordered("uno", v, v)
            gt = b.or_(b.fcmp_ordered(">", v, ss), b.and_(v_nan, s_num_lanes))
            eq = b.or_(b.fcmp_ordered("==", v, ss), b.and_(v_nan, s_nan_lanes))
            idx = b.add(iota, splat(b, b.trunc(b.mul(c, self.i64(w)), I32), w))
            beat = b.or_(gt, b.and_(eq, b.icmp_signed(tie, idx, t_lanes)))
            beat = beat if valid is None else b.and_(beat, valid)
            return {"cnt": b.sub(st["cnt"], b.sext(beat, cty)),
                    "na": b.or_(st["na"], self.nan_lanes(v, valid))}

        def merge(p, q):
            return {"cnt": b.add(p["cnt"], q["cnt"]), "na": b.or_(p["na"], q["na"])}

        st = self.sweep(rp, nfull, mask, init, step, merge)
        rank = b.zext(self.reduce("add", st["cnt"]), I64)
        return b.icmp_signed("<", rank, self.k), self.any_lane(st["na"])
