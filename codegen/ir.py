"""Kernel IR: one spec, one flag variant, one dtype -> an ordered list of
per-element assignments over named inputs, ready for lowering.

Passes (each pure, each followed by :func:`verify` in tests and under
``ODYSSEY_VERIFY_IR=1``):

1. :func:`resolve_variant` keeps the statements and state buffers whose flag
   conditions hold, folds ``a if flag else b`` and ``where(flag, a, b)``,
   substitutes the per-step scalars, rewrites ``init = "grad"`` buffers and
   prepends the clip scale;
2. :func:`inline_uniform_locals` substitutes locals that only depend on
   per-step scalars, so every uniform subexpression is visible to the lowering,
   which computes it once per call in float64.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, NamedTuple

from .expr import (Binary, BoolOp, Call, Compare, IfElse, Name, Node, Not, Num, Unary,
                   children, evaluate, names_in, render)
from .spec import GRAD, PARAM, STEP, Spec, SpecError

__all__ = ["Assign", "KernelIR", "map_children", "uniform_slots", "resolve_variant", "inline_uniform_locals",
           "verify", "build_ir", "IRError", "is_uniform", "DTYPES"]

DTYPES = ("float32", "float64")
FIRST_STEP, GRAD_SCALE = "first_step", "grad_scale"


class IRError(SpecError):
    """The IR of a variant is inconsistent (raised by :func:`verify`)."""


class Assign(NamedTuple):
    target: str
    expr: Node
    text: str = ""
    line: int | None = None


@dataclass(frozen=True)
class KernelIR:
    """A lowered-ready kernel.  Row layout of the pointer table:
    ``[n, scalars*, p*, g*, state*...]`` with ``states`` in this order."""
    spec_name: str
    path: str
    dtype: str
    variant: tuple[tuple[str, bool], ...]
    slots: tuple[str, ...]        # names of the float64 scalar vector, in order
    states: tuple[str, ...]       # active state buffers
    body: tuple[Assign, ...]
    stores: tuple[str, ...]       # p and/or state buffers written back

    @property
    def row_width(self) -> int:
        """Number of i64 words in one table row."""
        return 4 + len(self.states)

    def text(self) -> str:
        """Canonical text (part of the cache key and of ``show --ir``)."""
        lines = [f"kernel {self.spec_name} dtype={self.dtype} "
                 + " ".join(f"{k}={int(v)}" for k, v in self.variant),
                 "slots " + " ".join(self.slots), "states " + " ".join(self.states)]
        lines += [f"  {a.target} = {render(a.expr)}" for a in self.body]
        lines.append("stores " + " ".join(self.stores))
        return "\n".join(lines)


def uniform_slots(spec: Spec) -> tuple[str, ...]:
    """The per-call float64 scalar vector: hypers, then the builtins.  Per-step
    scalars are not slots: they are substituted into the statements and computed
    in float64 once per row by the kernel (the same libm math as Python's)."""
    return spec.hyper_names + (STEP, FIRST_STEP, GRAD_SCALE)


def is_uniform(node: Node, slots: set[str]) -> bool:
    """True when ``node`` depends on per-call scalars only (same value for every element)."""
    return names_in(node) <= slots


def _fold_flags(node: Node, flags: Mapping[str, bool]) -> Node:
    """Replace flag-only conditions in ``a if c else b`` / ``where(c, a, b)``."""
    def flag_only(n: Node) -> bool:
        names = names_in(n)
        return bool(names) and names <= set(flags)

    if isinstance(node, IfElse) and flag_only(node.cond):
        chosen = node.then if evaluate(node.cond, flags) else node.orelse
        return _fold_flags(chosen, flags)
    if isinstance(node, Call) and node.func in ("where", "select") and flag_only(node.args[0]):
        chosen = node.args[1] if evaluate(node.args[0], flags) else node.args[2]
        return _fold_flags(chosen, flags)
    return map_children(node, lambda c: _fold_flags(c, flags))


def map_children(node: Node, f) -> Node:
    """``node`` with every direct child ``c`` replaced by ``f(c)``."""
    if isinstance(node, Unary):
        return Unary(node.op, f(node.operand))
    if isinstance(node, Not):
        return Not(f(node.operand))
    if isinstance(node, (Binary, Compare, BoolOp)):
        return type(node)(node.op, f(node.left), f(node.right))
    if isinstance(node, Call):
        return Call(node.func, tuple(f(a) for a in node.args))
    if isinstance(node, IfElse):
        return IfElse(f(node.cond), f(node.then), f(node.orelse))
    return node


def _substitute(node: Node, values: Mapping[str, Node]) -> Node:
    if isinstance(node, Name) and node.id in values:
        return values[node.id]
    return map_children(node, lambda c: _substitute(c, values))


def resolve_variant(spec: Spec, flags: Mapping[str, bool], dtype: str,
                    scale_grad: bool = False) -> KernelIR:
    """Select the statements and buffers of one variant (see module doc)."""
    missing = [f.name for f in spec.flags if f.name not in flags]
    if missing:
        raise ValueError(f"{spec.name}: variant lacks flag(s) {', '.join(missing)}")
    if dtype not in DTYPES:
        raise ValueError(f"unsupported dtype {dtype!r} (expected one of {', '.join(DTYPES)})")
    flags = {k: bool(v) for k, v in flags.items()}
    states = tuple(b for b in spec.state if b.when is None or evaluate(b.when, flags))
    body: list[Assign] = []
    if scale_grad:
        body.append(Assign(GRAD, Binary("*", Name(GRAD), Name(GRAD_SCALE)), "g = g * grad_scale"))
    first_assigned: set[str] = set()
    grad_init = {b.name for b in states if b.init == "grad"}
    scalars: dict[str, Node] = {}
    for sc in spec.scalars:
        scalars[sc.name] = _substitute(sc.expr, scalars)
    for st in spec.statements:
        if st.cond is not None and not evaluate(st.cond, flags):
            continue
        expr = _substitute(_fold_flags(st.expr, flags), scalars)
        if st.target in grad_init and st.target not in first_assigned:
            # init = "grad": on a tensor's first step the buffer takes the current g
            expr = IfElse(Compare("!=", Name(FIRST_STEP), Num(0.0)), Name(GRAD), expr)
        first_assigned.add(st.target)
        body.append(Assign(st.target, expr, st.text, st.line))
    stored = {a.target for a in body} & ({PARAM} | {b.name for b in states})
    stores = tuple(n for n in (PARAM,) + tuple(b.name for b in states) if n in stored)
    return KernelIR(spec.name, spec.path, dtype, tuple(sorted(flags.items())),
                    uniform_slots(spec), tuple(b.name for b in states), tuple(body), stores)


def inline_uniform_locals(ir: KernelIR) -> KernelIR:
    """Substitute locals whose value is uniform into their uses, and drop them."""
    slots = set(ir.slots)
    fixed = {PARAM, GRAD} | set(ir.states)
    values: dict[str, Node] = {}
    body = []
    for a in ir.body:
        expr = _substitute(a.expr, values)
        if a.target not in fixed and is_uniform(expr, slots):
            values[a.target] = expr
            continue
        values.pop(a.target, None)
        body.append(Assign(a.target, expr, a.text, a.line))
    return KernelIR(ir.spec_name, ir.path, ir.dtype, ir.variant, ir.slots, ir.states,
                    tuple(body), ir.stores)


def _kind(node: Node, defined: set[str], flags: set[str], err) -> str:
    """Type of ``node``: "float" or "bool"; raises through ``err`` on misuse."""
    if isinstance(node, Num):
        return "float"
    if isinstance(node, Name):
        if node.id in flags:
            raise err(f"flag {node.id!r} used as a value (flags only select statements)", node.id)
        if node.id not in defined:
            raise err(f"{node.id!r} is not defined in this variant", node.id)
        return "float"
    kinds = [_kind(c, defined, flags, err) for c in children(node)]
    if isinstance(node, (Compare,)):
        if kinds != ["float", "float"]:
            raise err("comparison of non-numbers", render(node))
        return "bool"
    if isinstance(node, (BoolOp, Not)):
        if any(k != "bool" for k in kinds):
            raise err("and/or/not need conditions", render(node))
        return "bool"
    if isinstance(node, IfElse) or (isinstance(node, Call) and node.func in ("where", "select")):
        cond, a, b = kinds
        if cond != "bool" or a != "float" or b != "float":
            raise err("select needs (condition, number, number)", render(node))
        return "float"
    if any(k != "float" for k in kinds):
        raise err("arithmetic on a condition", render(node))
    return "float"


def verify(ir: KernelIR, spec: Spec | None = None) -> KernelIR:
    """Check that every name is defined before use, that targets are writable
    and that values and conditions are not mixed.  Returns ``ir`` unchanged."""
    flags = {k for k, _ in ir.variant}
    defined = set(ir.slots) | {PARAM, GRAD} | set(ir.states)
    if len(set(ir.slots)) != len(ir.slots):
        raise IRError(ir.path, None, "duplicate scalar slot", " ".join(ir.slots))
    for a in ir.body:
        def err(message: str, text: str, a=a) -> IRError:
            return IRError(ir.path, a.line, f"{message} (in {a.text or a.target})", text)
        if a.target in ir.slots:
            raise err("assignment to a per-step scalar", a.target)
        if a.target in flags:
            raise err("assignment to a flag", a.target)
        if _kind(a.expr, defined, flags, err) != "float":
            raise err("a statement must produce a number, not a condition", render(a.expr))
        defined.add(a.target)
    for name in ir.stores:
        if name != PARAM and name not in ir.states:
            raise IRError(ir.path, None, "store of an inactive buffer", name)
    return ir


def build_ir(spec: Spec, flags: Mapping[str, bool], dtype: str,
             scale_grad: bool = False, check: bool = True) -> KernelIR:
    """All passes, with the verifier after each when ``check``."""
    ir = resolve_variant(spec, flags, dtype, scale_grad)
    if check:
        verify(ir)
    ir = inline_uniform_locals(ir)
    if check:
        verify(ir)
    return ir
