"""Per-element kernels that are not optimizers, from the specs in ``specs/kernels/``.

Such a spec is written in the optimizer spec language: its update assigns ``p``
(the *target* array, written in place) from ``p``, ``g`` (the *source* array,
read only) and run-time hyperparameters.  :class:`ElementwiseKernel` runs it
over lists of (target, source) arrays with the optimizers' machinery: one
native call per dtype over a pointer table, large lists shared by the thread
pool.  ``clip_grad_value_`` and the ``EMAWeights`` callback are built on it.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from odyssey_codegen.api import compile_kernel, load_spec_file, standard_spec_dir
from .optimizers.hyper import check_number
from .optimizers.plan import KernelPlan
from .parameter import Parameter, check_array
from .threads import default_threads

__all__ = ["ElementwiseKernel", "clip_grad_value_"]

_DTYPE_NAMES = {np.dtype(np.float32): "float32", np.dtype(np.float64): "float64"}


class ElementwiseKernel:
    """``kernel(targets, sources, **hypers)`` runs ``specs/kernels/<name>.toml`` over
    each pair ``(targets[i], sources[i])`` (same shape and dtype; ``sources=None``
    reads the targets themselves).  The pointer tables are reused while the same
    target arrays come back (the source column is re-pointed each call)."""

    def __init__(self, name: str, num_threads: int | None = None) -> None:
        self.spec = load_spec_file(standard_spec_dir() / "kernels" / f"{name}.toml")
        self.num_threads = num_threads or default_threads()
        self._plans: dict[np.dtype, KernelPlan] = {}

    def __call__(self, targets: Sequence[np.ndarray], sources: Sequence[np.ndarray] | None = None,
                 **hypers: float) -> None:
        name = self.spec.name
        sources = targets if sources is None else sources
        if len(sources) != len(targets):
            raise ValueError(f"{name}: {len(targets)} targets but {len(sources)} sources")
        values = []
        for h in self.spec.hypers:
            value = check_number(h.name, hypers.pop(h.name, h.default))
            if h.violates(value):
                raise ValueError(f"{name}: {h.name}={value} is not {h.constraint_text()}")
            values.append(value)
        if hypers:
            raise TypeError(f"{name}: unknown argument(s) {', '.join(sorted(hypers))}")
        by_dtype: dict[np.dtype, list[tuple[np.ndarray, np.ndarray]]] = {}
        for i, (t, s) in enumerate(zip(targets, sources)):
            check_array(t, f"{name} target {i}", writable=True)
            check_array(s, f"{name} source {i}", writable=False)
            if s.shape != t.shape or s.dtype != t.dtype:
                raise ValueError(f"{name}: source {i} is {s.shape} {s.dtype}, its target "
                                 f"{t.shape} {t.dtype}")
            if t.size:
                by_dtype.setdefault(t.dtype, []).append((t, s))
        for dtype, pairs in by_dtype.items():
            self._plan(dtype, pairs).step(values, 1.0)

    def _plan(self, dtype: np.dtype, pairs: list[tuple[np.ndarray, np.ndarray]]) -> KernelPlan:
        plan = self._plans.get(dtype)
        if plan is not None and len(plan.params) == len(pairs) and all(
                p.data is t for p, (t, _) in zip(plan.params, pairs)):
            for p, (_, s) in zip(plan.params, pairs):
                p.grad = s
            if plan.refresh():
                return plan
        kernel = compile_kernel(self.spec, {}, _DTYPE_NAMES[dtype])
        params = [Parameter(t, grad=s) for t, s in pairs]
        plan = KernelPlan(kernel, params, [[] for _ in params], [{"step": 0} for _ in params],
                          self.num_threads, [False] * len(params))
        self._plans[dtype] = plan
        return plan


_clip_kernel: ElementwiseKernel | None = None


def clip_grad_value_(params: Iterable[Parameter | np.ndarray] | Parameter,
                     clip_value: float) -> None:
    """Clamp every gradient element to ``[-clip_value, clip_value]`` in place, as
    ``torch.nn.utils.clip_grad_value_`` (NaN stays NaN); ``params``: Parameters
    (their ``.grad``; None grads are skipped) or gradient arrays.  One native pass
    (``specs/kernels/clip_value.toml``)."""
    global _clip_kernel
    items = [params] if isinstance(params, (Parameter, np.ndarray)) else list(params)
    grads = [p.grad if isinstance(p, Parameter) else p for p in items]
    grads = [g for g in grads if g is not None]
    clip_value = check_number("clip_value", clip_value)
    if clip_value < 0:
        raise ValueError(f"clip_value must be >= 0, got {clip_value}")
    if _clip_kernel is None:
        _clip_kernel = ElementwiseKernel("clip_value")
    _clip_kernel(grads, clip_value=clip_value)
