"""Global gradient-norm clipping.

``clip_grad_norm_`` is torch.nn.utils.clip_grad_norm_ for ndarrays and
Parameters: ``total = ||(||g_1||, ..., ||g_k||)||``, then every gradient is
multiplied by ``min(1, max_norm / (total + 1e-6))``.  The L2 norm is one
native pass (float64 accumulation, fixed row split, so the value does not
depend on the thread count).  Optimizers with ``max_grad_norm`` use the same
norm and fold the scale into their update kernel instead of rewriting grads.
"""

from __future__ import annotations

import math
from typing import Iterable

import cffi
import numpy as np

from odyssey_codegen.api import compile_sumsq
from .parameter import Parameter, check_array
from .threads import (address, default_threads, plan_tasks, point_rows, pointer_slots,
                      run_rows)

__all__ = ["clip_grad_norm_", "group_grad_norm", "grad_norm", "GradNormPlan"]

_ffi = cffi.FFI()


class GradNormPlan:
    """The L2 norm of a list of gradients in one native pass per dtype; the
    pointer tables are built once and reused while gradients of the same dtypes
    and sizes come back (re-pointed at the arrays of each call: an optimizer keeps
    one plan per param group, so clipping allocates nothing per step)."""

    def __init__(self) -> None:
        self._layout: list[tuple[np.dtype, int]] = []   # (dtype, size) per gradient
        self._rows: list[tuple | None] = []   # per gradient: slots, first word, rows, row width, chunk
        self._threads = 0
        self._parts: list[tuple] = []

    def _build(self, grads: list[np.ndarray], threads: int) -> None:
        self._layout = [(g.dtype, g.size) for g in grads]
        self._threads = threads
        self._parts = []
        self._rows = [None] * len(grads)
        for dtype in sorted({g.dtype.name for g in grads}):
            members = [i for i, g in enumerate(grads) if g.dtype.name == dtype and g.size]
            if not members:
                continue
            kernel = compile_sumsq(dtype, elements=sum(grads[i].size for i in members))
            chunk = kernel.variant.chunk              # rows: [n, x*] of at most chunk
            rows, spans = [], {}
            for i in members:
                g = grads[i]
                spans[i] = (len(rows), -(-g.size // chunk))
                rows += [[min(chunk, g.size - b), address(g) + b * g.itemsize]
                         for b in range(0, g.size, chunk)]
            table = np.array(rows, dtype=np.int64)
            slots = pointer_slots(table)
            for i, (first, count) in spans.items():
                self._rows[i] = (slots, first * kernel.row_width + 1, count, kernel.row_width,
                                 chunk)
            out = np.zeros(len(rows), dtype=np.float64)
            fn = _ffi.cast("void(*)(int64_t *, int64_t, int64_t, double *)", kernel.address)
            tp, op = _ffi.cast("int64_t *", address(table)), _ffi.cast("double *", address(out))
            call = (lambda fn, tp, op: lambda a, b: fn(tp, a, b, op))(fn, tp, op)
            self._parts.append((table, out, call, *plan_tasks(table[:, 0], threads)))

    def _point(self, grads: list[np.ndarray], threads: int) -> bool:
        """Point the tables at ``grads``; False when their layout differs."""
        if threads != self._threads or len(grads) != len(self._layout):
            return False
        for g, (dtype, size), row in zip(grads, self._layout, self._rows):
            if g.dtype != dtype or g.size != size:
                return False
            if row is not None:
                slots, word, count, width, chunk = row
                point_rows(slots, word, count, width, g, chunk)
        return True

    def __call__(self, grads: list[np.ndarray], threads: int | None = None) -> float:
        threads = threads or default_threads()
        if not self._parts or not self._point(grads, threads):
            self._build(grads, threads)
        total = 0.0
        for _table, out, call, tasks, workers in self._parts:
            run_rows(call, tasks, workers)
            total += float(out.sum())
        return math.sqrt(total)


def group_grad_norm(grads: list[np.ndarray], threads: int | None = None) -> float:
    """L2 norm of all ``grads`` together (float64 accumulation), computed natively."""
    return GradNormPlan()(grads, threads)


def grad_norm(grads: list[np.ndarray], norm_type: float = 2.0) -> float:
    """The ``norm_type`` norm of all ``grads`` together (as torch)."""
    if norm_type == 2.0:
        return group_grad_norm(grads)
    if norm_type == math.inf:
        return max((float(np.max(np.abs(g))) for g in grads if g.size), default=0.0)
    per_tensor = [float(np.linalg.norm(g.ravel(), norm_type)) for g in grads]
    return float(np.linalg.norm(np.array(per_tensor), norm_type)) if per_tensor else 0.0


def clip_grad_norm_(params: Iterable[Parameter | np.ndarray] | Parameter, max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False) -> float:
    """Scale the gradients in place so their global norm is at most ``max_norm``;
    returns the norm before clipping.  ``params``: Parameters (their ``.grad``
    is clipped; None grads are skipped) or the gradient arrays themselves."""
    items = [params] if isinstance(params, (Parameter, np.ndarray)) else list(params)
    grads = [p.grad if isinstance(p, Parameter) else p for p in items]
    grads = [check_array(g, "gradient", writable=True) for g in grads if g is not None]
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not max_norm > 0 or math.isnan(max_norm):
        raise ValueError(f"max_norm must be > 0, got {max_norm}")
    if not norm_type > 0:
        raise ValueError(f"norm_type must be > 0 (or inf), got {norm_type}")
    total = grad_norm(grads, norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"the total norm of order {norm_type} of the gradients is "
                           f"non-finite ({total}); pass error_if_nonfinite=False to clip anyway")
    coef = min(1.0, max_norm / (total + 1e-6))
    for g in grads:
        g *= g.dtype.type(coef)
    return total
