"""A NumPy interpreter of spec statements, independent of the LLVM lowering:
the second check of the compiler.  Uniform subexpressions (per-step scalars
only) are evaluated in float64 and rounded once to the dtype, as the kernel
documents; everything else runs elementwise in the dtype with NumPy."""

from __future__ import annotations

import numpy as np

from codegen.expr import Node, PythonMath, evaluate, names_in
from codegen.ir import KernelIR


class _ArrayMath:
    """NumPy math for evaluate(): NaN-propagating min/max, sign(0) = 0."""
    sqrt, exp, log, abs, sign = np.sqrt, np.exp, np.log, np.abs, np.sign
    minimum, maximum, where, power = np.minimum, np.maximum, np.where, np.power
    logical_and, logical_or, logical_not = np.logical_and, np.logical_or, np.logical_not


class _Evaluator:
    def __init__(self, env, slots, dtype):
        self.env, self.slots, self.dtype = env, slots, dtype

    def eval(self, node: Node):
        from codegen import expr as E
        if names_in(node) <= set(self.slots) and not isinstance(node, E.Num):
            value = evaluate(node, self.slots, PythonMath)
            return value if isinstance(value, bool) else self.dtype.type(value)
        if isinstance(node, E.Num):
            return self.dtype.type(node.value)
        if isinstance(node, E.Name):
            return self.env[node.id]
        kids = [self.eval(c) for c in E.children(node)]
        sub = {f"_{i}": k for i, k in enumerate(kids)}
        rebuilt = _replace_children(node, [E.Name(f"_{i}") for i in range(len(kids))])
        with np.errstate(all="ignore"):
            out = evaluate(rebuilt, sub, _ArrayMath)
        return out if getattr(out, "dtype", None) == np.bool_ or isinstance(out, bool) \
            else np.asarray(out, dtype=self.dtype)


def _replace_children(node: Node, new):
    from codegen import expr as E
    if isinstance(node, E.Unary):
        return E.Unary(node.op, new[0])
    if isinstance(node, E.Not):
        return E.Not(new[0])
    if isinstance(node, (E.Binary, E.Compare, E.BoolOp)):
        return type(node)(node.op, new[0], new[1])
    if isinstance(node, E.Call):
        return E.Call(node.func, tuple(new))
    if isinstance(node, E.IfElse):
        return E.IfElse(*new)
    return node


def run_ir(kir: KernelIR, arrays: dict[str, np.ndarray], slots: dict[str, float]) -> dict:
    """Apply ``kir`` to copies of ``arrays`` (p, g, states); returns the new arrays."""
    dtype = np.dtype(kir.dtype)
    env = {k: v.astype(dtype, copy=True) for k, v in arrays.items()}
    for a in kir.body:
        value = _Evaluator(env, slots, dtype).eval(a.expr)
        env[a.target] = np.broadcast_to(np.asarray(value, dtype=dtype), env["p"].shape).copy()
    return {k: env[k] for k in arrays}
