"""The spec expression language: a whitelist parser and a reference interpreter.

Expressions are parsed with :func:`ast.parse` in ``eval`` mode and then walked by
a strict visitor that accepts only the constructs listed below and converts them
into the small, frozen node types of this module.  Nothing from a spec is ever
passed to ``eval``/``exec``.

Grammar (Python syntax, restricted):

* numbers (``1``, ``1e-8``), ``true``/``false`` (also ``True``/``False``), names;
* ``+ - * / **`` and unary ``-``/``+``;
* one comparison ``< <= > >= == !=``; ``and``, ``or``, ``not``;
* ``a if cond else b``;
* calls of the built-in functions in :data:`FUNCTIONS`.

Limits (:mod:`odyssey_codegen.limits`), each an :class:`ExprError` naming it: the
text's length, bracket depth and number lengths are checked before ``ast.parse``
sees it, the parsed tree's depth before it is converted, and every number must be
finite and at most ``MAX_MAGNITUDE`` in size.
"""

from __future__ import annotations

import ast
import math
import operator
import warnings
from typing import Any, Callable, Mapping, NamedTuple, Union

from .limits import MAX_EXPR_DEPTH, check_magnitude, expr_text_violation, tree_depth

__all__ = [
    "Node", "Num", "Name", "Unary", "Binary", "Compare", "BoolOp", "Not", "Call",
    "IfElse", "FUNCTIONS", "ExprError", "parse_expr", "names_in", "evaluate",
    "render", "PythonMath", "to_function", "expanded_size",
]


class ExprError(ValueError):
    """An expression is not in the language; ``text`` is the offending part."""

    def __init__(self, message: str, text: str):
        super().__init__(message)
        self.text = text


# Nodes are immutable named tuples (cheap to create at import and to hash);
# ``Node`` is their union, for annotations.
class Num(NamedTuple):
    value: float


class Name(NamedTuple):
    id: str


class Unary(NamedTuple):
    op: str  # "-"
    operand: "Node"


class Binary(NamedTuple):
    op: str  # + - * / **
    left: "Node"
    right: "Node"


class Compare(NamedTuple):
    op: str  # < <= > >= == !=
    left: "Node"
    right: "Node"


class BoolOp(NamedTuple):
    op: str  # and / or
    left: "Node"
    right: "Node"


class Not(NamedTuple):
    operand: "Node"


class Call(NamedTuple):
    func: str
    args: tuple["Node", ...]


class IfElse(NamedTuple):
    cond: "Node"
    then: "Node"
    orelse: "Node"


Node = Union[Num, Name, Unary, Binary, Compare, BoolOp, Not, Call, IfElse]


#: built-in functions: name -> number of arguments
FUNCTIONS: dict[str, int] = {
    "sqrt": 1, "abs": 1, "sign": 1, "exp": 1, "log": 1,
    "min": 2, "max": 2,
    "where": 3, "select": 3, "clip": 3, "lerp": 3,
}

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_CMPOPS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
_CONSTANT_NAMES = {"true": True, "false": False, "True": True, "False": False}


def parse_expr(text: str) -> Node:
    """Parse ``text`` into a :class:`Node` tree, or raise :class:`ExprError`
    (also when it exceeds a limit of :mod:`odyssey_codegen.limits`)."""
    problem = expr_text_violation(text)
    if problem:
        raise ExprError(problem, text)
    try:
        with warnings.catch_warnings():   # "invalid decimal literal" in '1if': an error below
            warnings.simplefilter("ignore", SyntaxWarning)
            tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError) as exc:   # ValueError: a NUL byte, on some Pythons
        raise ExprError(f"syntax error: {getattr(exc, 'msg', exc)}", text) from None
    depth = tree_depth(tree.body)
    if depth > MAX_EXPR_DEPTH:
        raise ExprError(f"expression nests {depth} deep; the limit is {MAX_EXPR_DEPTH} "
                        "(MAX_EXPR_DEPTH)", text)
    return _convert(tree.body, text)


def _number(value: int | float, segment: object) -> Num:
    try:
        value = float(value)
    except OverflowError:
        value = math.inf
    problem = check_magnitude(value)
    if problem:
        raise ExprError(problem, str(segment))
    return Num(value)


def _convert(node: ast.AST, source: str) -> Node:
    segment = _Segment(node, source)
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool):
            return Num(1.0 if node.value else 0.0)
        if isinstance(node.value, (int, float)):
            return _number(node.value, segment)
        raise ExprError("only numeric constants are allowed", str(segment))
    if isinstance(node, ast.Name):
        if node.id in _CONSTANT_NAMES:
            return Num(1.0 if _CONSTANT_NAMES[node.id] else 0.0)
        return Name(node.id)
    if isinstance(node, ast.UnaryOp):
        operand = _convert(node.operand, source)
        if isinstance(node.op, ast.USub):
            return Unary("-", operand)
        if isinstance(node.op, ast.UAdd):
            return operand
        if isinstance(node.op, ast.Not):
            return Not(operand)
        raise ExprError("unsupported unary operator (expected -, + or not)", str(segment))
    if isinstance(node, ast.BinOp):
        op = _BINOPS.get(type(node.op))
        if op is None:
            raise ExprError("unsupported operator (expected + - * / **)", str(segment))
        return Binary(op, _convert(node.left, source), _convert(node.right, source))
    if isinstance(node, ast.Compare):
        if len(node.ops) != 1:
            raise ExprError("chained comparisons are not allowed", str(segment))
        op = _CMPOPS.get(type(node.ops[0]))
        if op is None:
            raise ExprError("unsupported comparison (expected < <= > >= == !=)", str(segment))
        return Compare(op, _convert(node.left, source), _convert(node.comparators[0], source))
    if isinstance(node, ast.BoolOp):
        op = "and" if isinstance(node.op, ast.And) else "or"
        values = [_convert(v, source) for v in node.values]
        result = values[0]
        for value in values[1:]:
            result = BoolOp(op, result, value)
        return result
    if isinstance(node, ast.IfExp):
        return IfElse(_convert(node.test, source), _convert(node.body, source),
                      _convert(node.orelse, source))
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            raise ExprError(f"unknown function (expected one of {', '.join(sorted(FUNCTIONS))})",
                            str(segment))
        if node.keywords:
            raise ExprError("keyword arguments are not allowed", str(segment))
        arity = FUNCTIONS[node.func.id]
        if len(node.args) != arity:
            raise ExprError(f"{node.func.id}() takes {arity} argument(s), got {len(node.args)}",
                            str(segment))
        return Call(node.func.id, tuple(_convert(a, source) for a in node.args))
    raise ExprError(f"'{type(node).__name__}' is not allowed in a spec expression", str(segment))


class _Segment:
    """The source text of an ast node, computed only for an error message."""

    def __init__(self, node: ast.AST, source: str):
        self.node, self.source = node, source

    def __str__(self) -> str:
        return ast.get_source_segment(self.source.strip(), self.node) or self.source


def children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, (Unary, Not)):
        return (node.operand,)
    if isinstance(node, (Binary, Compare, BoolOp)):
        return (node.left, node.right)
    if isinstance(node, Call):
        return node.args
    if isinstance(node, IfElse):
        return (node.cond, node.then, node.orelse)
    return ()


def expanded_size(node: Node, known: Mapping[str, tuple[int, int]]) -> tuple[int, int]:
    """``(depth, nodes)`` of ``node`` once every name in ``known`` is replaced by the
    tree it stands for (whose ``(depth, nodes)`` ``known`` holds)."""
    if isinstance(node, Name):
        return known.get(node.id, (1, 1))
    sizes = [expanded_size(child, known) for child in children(node)]
    return 1 + max((d for d, _ in sizes), default=0), 1 + sum(n for _, n in sizes)


def names_in(node: Node) -> set[str]:
    """Every name an expression reads."""
    if isinstance(node, Name):
        return {node.id}
    found: set[str] = set()
    for child in children(node):
        found |= names_in(child)
    return found


def render(node: Node) -> str:
    """Canonical text of an expression (fully parenthesised)."""
    if isinstance(node, Num):
        return repr(node.value)
    if isinstance(node, Name):
        return node.id
    if isinstance(node, Unary):
        return f"(-{render(node.operand)})"
    if isinstance(node, Not):
        return f"(not {render(node.operand)})"
    if isinstance(node, (Binary, Compare, BoolOp)):
        return f"({render(node.left)} {node.op} {render(node.right)})"
    if isinstance(node, Call):
        return f"{node.func}({', '.join(render(a) for a in node.args)})"
    if isinstance(node, IfElse):
        return f"({render(node.then)} if {render(node.cond)} else {render(node.orelse)})"
    raise TypeError(node)


class PythonMath:
    """Math for :func:`evaluate` on Python floats (used for per-step scalars)."""

    sqrt = staticmethod(math.sqrt)
    exp = staticmethod(math.exp)
    log = staticmethod(math.log)
    abs = staticmethod(abs)

    @staticmethod
    def sign(x: float) -> float:
        return x if x != x or x == 0 else math.copysign(1.0, x)

    @staticmethod
    def minimum(a: float, b: float) -> float:
        return a + b if (a != a or b != b) else min(a, b)

    @staticmethod
    def maximum(a: float, b: float) -> float:
        return a + b if (a != a or b != b) else max(a, b)

    @staticmethod
    def where(c: Any, a: Any, b: Any) -> Any:
        return a if c else b

    @staticmethod
    def power(a: float, b: float) -> float:
        return a ** b


def lerp(xp: Any, a: Any, b: Any, w: Any) -> Any:
    """torch.lerp: ``a + w*(b-a)`` for ``|w| < 0.5``, else ``b - (b-a)*(1-w)``."""
    return xp.where(abs(w) < 0.5, a + w * (b - a), b - (b - a) * (1 - w))


def evaluate(node: Node, env: Mapping[str, Any], xp: Any = PythonMath) -> Any:
    """Interpret ``node`` with names from ``env``; ``xp`` supplies the math
    (:class:`PythonMath` for floats, or a NumPy-like namespace)."""
    ev: Callable[[Node], Any] = lambda n: evaluate(n, env, xp)  # noqa: E731
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Name):
        return env[node.id]
    if isinstance(node, Unary):
        return -ev(node.operand)
    if isinstance(node, Not):
        return xp.logical_not(ev(node.operand)) if hasattr(xp, "logical_not") else not ev(node.operand)
    if isinstance(node, Binary):
        a, b = ev(node.left), ev(node.right)
        if node.op == "+":
            return a + b
        if node.op == "-":
            return a - b
        if node.op == "*":
            return a * b
        if node.op == "/":
            return a / b
        return xp.power(a, b)
    if isinstance(node, Compare):
        a, b = ev(node.left), ev(node.right)
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b,
                "==": a == b, "!=": a != b}[node.op]
    if isinstance(node, BoolOp):
        a, b = ev(node.left), ev(node.right)
        if hasattr(xp, "logical_and"):
            return xp.logical_and(a, b) if node.op == "and" else xp.logical_or(a, b)
        return (a and b) if node.op == "and" else (a or b)
    if isinstance(node, IfElse):
        return xp.where(ev(node.cond), ev(node.then), ev(node.orelse))
    if isinstance(node, Call):
        args = [ev(a) for a in node.args]
        f = node.func
        if f in ("sqrt", "exp", "log", "abs", "sign"):
            return getattr(xp, f)(args[0])
        if f == "min":
            return xp.minimum(*args)
        if f == "max":
            return xp.maximum(*args)
        if f in ("where", "select"):
            return xp.where(*args)
        if f == "clip":
            return xp.minimum(xp.maximum(args[0], args[1]), args[2])
        if f == "lerp":
            return lerp(xp, *args)
    raise TypeError(f"cannot evaluate {node!r}")


_PY_BINARY = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
              "**": operator.pow, "<": operator.lt, "<=": operator.le, ">": operator.gt,
              ">=": operator.ge, "==": operator.eq, "!=": operator.ne}
_PY_CALLS: dict[str, Callable[..., Any]] = {
    "sqrt": math.sqrt, "exp": math.exp, "log": math.log, "abs": abs, "sign": PythonMath.sign,
    "min": PythonMath.minimum, "max": PythonMath.maximum,
    "where": PythonMath.where, "select": PythonMath.where,
    "clip": lambda x, lo, hi: PythonMath.minimum(PythonMath.maximum(x, lo), hi),
    "lerp": lambda a, b, w: lerp(PythonMath, a, b, w),
}


def to_function(node: Node) -> Callable[[Mapping[str, Any]], Any]:
    """``node`` as a tree of closures over Python floats: ``f(env) == evaluate(node, env)``,
    built once and cheap to call every step (no eval: the closures are fixed code)."""
    if isinstance(node, Num):
        value = node.value
        return lambda env: value
    if isinstance(node, Name):
        key = node.id
        return lambda env: env[key]
    if isinstance(node, Unary):
        f = to_function(node.operand)
        return lambda env: -f(env)
    if isinstance(node, Not):
        f = to_function(node.operand)
        return lambda env: not f(env)
    if isinstance(node, (Binary, Compare)):
        op, left, right = _PY_BINARY[node.op], to_function(node.left), to_function(node.right)
        return lambda env: op(left(env), right(env))
    if isinstance(node, BoolOp):
        left, right = to_function(node.left), to_function(node.right)
        if node.op == "and":
            return lambda env: left(env) and right(env)
        return lambda env: left(env) or right(env)
    if isinstance(node, IfElse):
        cond, then, orelse = (to_function(n) for n in (node.cond, node.then, node.orelse))
        return lambda env: then(env) if cond(env) else orelse(env)
    if isinstance(node, Call):
        fn, args = _PY_CALLS[node.func], [to_function(a) for a in node.args]
        return lambda env: fn(*(a(env) for a in args))
    raise TypeError(f"cannot compile {node!r}")
