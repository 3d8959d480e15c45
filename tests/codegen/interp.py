"""A NumPy interpreter of spec statements, independent of the LLVM lowering:
the second check of the compiler.  Uniform subexpressions (per-step scalars
only) are evaluated in float64 and rounded once to the dtype, as the kernel
documents; everything else runs elementwise in the dtype with NumPy."""

from __future__ import annotations

import numpy as np

from odyssey_codegen.expr import Name, Node, Num, PythonMath, children, evaluate, names_in
from odyssey_codegen.ir import KernelIR, map_children


class _ArrayMath:
    """NumPy math for evaluate(): NaN-propagating min/max, sign(0) = 0."""
    sqrt, exp, log, abs, sign = np.sqrt, np.exp, np.log, np.abs, np.sign
    minimum, maximum, where, power = np.minimum, np.maximum, np.where, np.power
    logical_and, logical_or, logical_not = np.logical_and, np.logical_or, np.logical_not


class _Evaluator:
    def __init__(self, env, slots, dtype):
        self.env, self.slots, self.dtype = env, slots, dtype

    def value(self, node: Node):
        if names_in(node) <= set(self.slots) and not isinstance(node, Num):
            out = evaluate(node, self.slots, PythonMath)
            return out if isinstance(out, bool) else self.dtype.type(out)
        if isinstance(node, Num):
            return self.dtype.type(node.value)
        if isinstance(node, Name):
            return self.env[node.id]
        # evaluate the children here, then the node itself over their values
        kids = [self.value(c) for c in children(node)]
        names = iter(Name(f"_{i}") for i in range(len(kids)))
        shallow = map_children(node, lambda _child: next(names))
        with np.errstate(all="ignore"):
            out = evaluate(shallow, {f"_{i}": k for i, k in enumerate(kids)}, _ArrayMath)
        return out if getattr(out, "dtype", None) == np.bool_ or isinstance(out, bool) \
            else np.asarray(out, dtype=self.dtype)


def run_ir(kir: KernelIR, arrays: dict[str, np.ndarray], slots: dict[str, float]) -> dict:
    """Apply ``kir`` to copies of ``arrays`` (p, g, states); returns the new arrays."""
    dtype = np.dtype(kir.dtype)
    env = {k: v.astype(dtype, copy=True) for k, v in arrays.items()}
    for a in kir.body:
        value = _Evaluator(env, slots, dtype).value(a.expr)
        env[a.target] = np.broadcast_to(np.asarray(value, dtype=dtype), env["p"].shape).copy()
    return {k: env[k] for k in arrays}
