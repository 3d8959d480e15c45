"""Spec expressions -> LLVM values (llvmlite), at one type (a float scalar or a
``<W x T>`` vector).  Float instructions carry only the ``contract`` fast-math
flag (FMA formation), never ``fast``/``afn``/``arcp``/``reassoc``: square roots
and divisions stay exact, as torch's."""

from __future__ import annotations

from typing import Callable

from llvmlite import ir

from ..emitter import Emitter
from ..expr import Binary, BoolOp, Call, Compare, IfElse, Name, Node, Not, Num, Unary, render
from ..ir import is_uniform

__all__ = ["FASTMATH", "ExprLowering", "UniformLowering", "lower_expr"]

#: the only fast-math flag optimizer math may carry
FASTMATH = ("contract",)


class ExprLowering:
    """Emits expressions at type ``ty`` with builder ``b`` into ``em``'s module;
    uniform subtrees come from ``uniform(node, ty)`` (computed once per row in the
    prologue).  ``division="reciprocal"``: ``x / u`` with ``u`` uniform becomes
    ``x * (1 / u)``, the reciprocal computed once per row in float64."""

    def __init__(self, em: Emitter, b: ir.IRBuilder, ty: ir.Type,
                 uniform: Callable[[Node, ir.Type], ir.Value], slots: set[str],
                 division: str = "exact"):
        self.em, self.b, self.ty, self.uniform, self.slots = em, b, ty, uniform, slots
        self.reciprocal = division == "reciprocal"

    def const(self, value: float) -> ir.Value:
        return Emitter.const(self.ty, value)

    def call(self, name: str, args: list[ir.Value]) -> ir.Value:
        return self.b.call(self.em.math(name, self.ty, len(args)), args)

    def emit(self, node: Node, env: dict[str, ir.Value]) -> ir.Value:
        if not isinstance(node, Num) and is_uniform(node, self.slots):
            return self.uniform(node, self.ty)
        return lower_expr(self, node, env)


class UniformLowering(ExprLowering):
    """The float64 prologue: every subtree is uniform and comes from the cache."""

    def emit(self, node: Node, env: dict[str, ir.Value]) -> ir.Value:
        return self.uniform(node, self.ty)


def lower_expr(e: ExprLowering, node: Node, env: dict[str, ir.Value]) -> ir.Value:
    """Lower ``node`` with builder ``e.b`` at type ``e.ty``; ``e.emit`` recurses
    (it lets uniform subtrees come from the prologue)."""
    b = e.b
    if isinstance(node, Num):
        return e.const(node.value)
    if isinstance(node, Name):
        return env[node.id]
    if isinstance(node, Unary):
        return b.fneg(e.emit(node.operand, env), flags=FASTMATH)
    if isinstance(node, Binary):
        if node.op == "**" and isinstance(node.right, Num) and node.right.value in (0.5, 1.0, 2.0):
            x = e.emit(node.left, env)
            if node.right.value == 2.0:
                return b.fmul(x, x, flags=FASTMATH)
            if node.right.value == 1.0:
                return x
            return e.call("sqrt", [x])
        if node.op == "/" and e.reciprocal and is_uniform(node.right, e.slots):
            inverse = e.uniform(Binary("/", Num(1.0), node.right), e.ty)
            return b.fmul(e.emit(node.left, env), inverse, flags=FASTMATH)
        x, y = e.emit(node.left, env), e.emit(node.right, env)
        if node.op == "**":
            return e.call("pow", [x, y])
        op = {"+": b.fadd, "-": b.fsub, "*": b.fmul, "/": b.fdiv}[node.op]
        return op(x, y, flags=FASTMATH)
    if isinstance(node, Compare):
        x, y = e.emit(node.left, env), e.emit(node.right, env)
        if node.op == "!=":
            return b.fcmp_unordered("!=", x, y)
        return b.fcmp_ordered(node.op, x, y)
    if isinstance(node, BoolOp):
        x, y = e.emit(node.left, env), e.emit(node.right, env)
        return b.and_(x, y) if node.op == "and" else b.or_(x, y)
    if isinstance(node, Not):
        return b.not_(e.emit(node.operand, env))
    if isinstance(node, IfElse):
        return b.select(e.emit(node.cond, env), e.emit(node.then, env), e.emit(node.orelse, env))
    if isinstance(node, Call):
        return _CALLS[node.func](e, [e.emit(a, env) for a in node.args])
    raise TypeError(f"cannot lower {render(node)}")


def _minmax(e: ExprLowering, x: ir.Value, y: ir.Value, op: str) -> ir.Value:
    """NaN-propagating min/max (as torch.minimum/maximum)."""
    b = e.b
    pick = b.select(b.fcmp_ordered(op, x, y), x, y)
    return b.select(b.fcmp_unordered("uno", x, y), b.fadd(x, y, flags=FASTMATH), pick)


def _sign(e: ExprLowering, x: ir.Value) -> ir.Value:
    b = e.b
    neg = b.select(b.fcmp_ordered("<", x, e.const(0.0)), e.const(-1.0), x)
    return b.select(b.fcmp_ordered(">", x, e.const(0.0)), e.const(1.0), neg)


def _lerp(e: ExprLowering, a: ir.Value, c: ir.Value, w: ir.Value) -> ir.Value:
    """torch.lerp: a + w*(c-a) for |w| < 0.5, else c - (c-a)*(1-w)."""
    b = e.b
    diff = b.fsub(c, a, flags=FASTMATH)
    low = b.fadd(a, b.fmul(w, diff, flags=FASTMATH), flags=FASTMATH)
    high = b.fsub(c, b.fmul(diff, b.fsub(e.const(1.0), w, flags=FASTMATH), flags=FASTMATH),
                  flags=FASTMATH)
    absw = e.call("fabs", [w])
    return b.select(b.fcmp_ordered("<", absw, e.const(0.5)), low, high)


_CALLS: dict[str, Callable] = {
    "sqrt": lambda e, a: e.call("sqrt", a),
    "abs": lambda e, a: e.call("fabs", a),
    "exp": lambda e, a: e.call("exp", a),
    "log": lambda e, a: e.call("log", a),
    "sign": lambda e, a: _sign(e, a[0]),
    "min": lambda e, a: _minmax(e, a[0], a[1], "<"),
    "max": lambda e, a: _minmax(e, a[0], a[1], ">"),
    "clip": lambda e, a: _minmax(e, _minmax(e, a[0], a[1], ">"), a[2], "<"),
    "where": lambda e, a: e.b.select(*a),
    "select": lambda e, a: e.b.select(*a),
    "lerp": lambda e, a: _lerp(e, *a),
}
