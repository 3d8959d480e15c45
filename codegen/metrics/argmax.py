"""The ``argmax`` predictor of the metric kernels (llvmlite).

Three shapes of the same rule — the first maximum of the row, NaN the largest
value (so a row with NaNs predicts its first NaN), exact float compares:

* :meth:`ArgmaxLowering.block_argmax` — class count known at compile time, short
  rows, 256-bit vectors: ``W`` rows at once, transposed in registers into one
  vector per class with a lane per row, then a strict running maximum;
* :meth:`ArgmaxLowering.predict_argmax` — class count known at compile time:
  one sweep keeping, per lane, the first maximum and its class;
* :meth:`ArgmaxLowering.argmax_two_pass` — class count known only at run time
  (long rows): running maxima and NaN-probing sums, then a first-match re-read.
"""

from __future__ import annotations

import math

from llvmlite import ir

from .rows import I1, I32, I64, RowLowering

__all__ = ["ArgmaxLowering", "BLOCK_MAX_ROW_BYTES"]

#: rows up to this many bytes use the block (transposed) argmax when it applies
BLOCK_MAX_ROW_BYTES = 96


class ArgmaxLowering(RowLowering):
    """:class:`RowLowering` plus the argmax predictors."""

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
                             mask, ir.Constant(vty, [float("-inf")] * w), self.palign)
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
