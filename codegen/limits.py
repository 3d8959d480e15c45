"""The limits of the spec language, and the checks that enforce them.

A spec is untrusted input (a file from the internet is the user story), so every
size that could make the compiler slow, deep or large is bounded, and checked
*before* the step it protects: the file's size and encoding before it is decoded,
TOML nesting and number lengths before ``tomllib`` parses it, an expression's length,
bracket depth and number lengths before Python's ``ast`` parses it, the parsed
tree's depth (without recursion) before it is converted, and the size of every
expression once per-step scalars and uniform locals are substituted into it
(what the compiler actually builds) before any IR exists.  A violation is a
:class:`~odyssey_codegen.source.SpecError` naming the file, the line and the limit.

Every standard spec sits far inside these limits (see ``tests/codegen/test_limits.py``,
which also compiles a spec that reaches them).
"""

from __future__ import annotations

import ast
import math
import re

__all__ = ["MAX_SPEC_BYTES", "MAX_TOML_DEPTH", "MAX_NUMBER_CHARS", "MAX_MAGNITUDE",
           "MAX_EXPR_CHARS", "MAX_EXPR_DEPTH", "MAX_EXPANDED_DEPTH", "MAX_EXPANDED_NODES",
           "MAX_STATEMENTS", "MAX_FLAGS", "MAX_ENTRIES", "LimitError", "toml_violation",
           "expr_text_violation", "tree_depth", "check_magnitude", "check_count"]

#: bytes in a spec file (the standard specs are 1-2 KB)
MAX_SPEC_BYTES = 256 * 1024
#: nested TOML arrays / inline tables (``{ aliases = [...] }`` is 2)
MAX_TOML_DEPTH = 8
#: digits (and ``_``) in one number, in TOML or in an expression
MAX_NUMBER_CHARS = 40
#: largest magnitude of a number (a float32 kernel holds it: float32 max is 3.4e38)
MAX_MAGNITUDE = 1e38
#: characters in one expression or statement
MAX_EXPR_CHARS = 1000
#: nesting depth of one expression as written (brackets, operators, calls)
MAX_EXPR_DEPTH = 32
#: depth of an expression after the per-step scalars and uniform locals it reads are
#: substituted into it (the tree the compiler lowers)
MAX_EXPANDED_DEPTH = 96
#: nodes in such a substituted expression (a chain of scalars each reading the
#: previous one twice would otherwise double in size at every step)
MAX_EXPANDED_NODES = 5000
#: statements in ``[update]``
MAX_STATEMENTS = 128
#: flags (user and derived): each doubles the number of kernel variants
MAX_FLAGS = 8
#: entries in ``[hyper]``, ``[state]``, ``[scalars]``, ``[[checks]]``, ``references``
MAX_ENTRIES = 64


class LimitError(ValueError):
    """A limit is exceeded; ``offset`` locates it in the checked text when known."""

    def __init__(self, message: str, offset: int | None = None):
        super().__init__(message)
        self.offset = offset


# TOML strings and comments (whose brackets and digits are text, not structure), the
# brackets that nest values, and over-long runs of digits.
_TOML_TOKENS = re.compile(
    r'"""(?:[^"\\]|\\[\s\S]|"(?!""))*"""'
    r"|'''[\s\S]*?'''"
    r'|"(?:[^"\\\n]|\\.)*"'
    r"|'[^'\n]*'"
    r"|#[^\n]*"
    r"|[\[\]{}]"
    rf"|[0-9_]{{{MAX_NUMBER_CHARS + 1},}}")


def toml_violation(text: str) -> LimitError | None:
    """The first TOML-level limit ``text`` exceeds (nesting depth, number length),
    found by one linear scan that skips strings and comments; None when within."""
    depth = 0
    for match in _TOML_TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > MAX_TOML_DEPTH:
                return LimitError(f"TOML arrays/inline tables nest deeper than the limit of "
                                  f"{MAX_TOML_DEPTH} (MAX_TOML_DEPTH)", match.start())
        elif token in "]}":
            depth = max(0, depth - 1)
        elif token[0] in "0123456789_":
            return LimitError(f"a number of {len(token)} digits is longer than the limit of "
                              f"{MAX_NUMBER_CHARS} (MAX_NUMBER_CHARS)", match.start())
    return None


_DIGIT_RUN = re.compile(rf"[0-9_]{{{MAX_NUMBER_CHARS + 1},}}")


def expr_text_violation(text: str) -> str | None:
    """Why an expression's text is over a limit (length, bracket depth, number
    length), checked before anything parses it; None when within."""
    if len(text) > MAX_EXPR_CHARS:
        return (f"expression is {len(text)} characters long; the limit is {MAX_EXPR_CHARS} "
                "(MAX_EXPR_CHARS)")
    depth = deepest = 0
    for char in text:
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    if deepest > MAX_EXPR_DEPTH:
        return (f"brackets nest {deepest} deep; the limit is {MAX_EXPR_DEPTH} "
                "(MAX_EXPR_DEPTH)")
    run = _DIGIT_RUN.search(text)
    if run:
        return (f"a number of {len(run.group())} digits is longer than the limit of "
                f"{MAX_NUMBER_CHARS} (MAX_NUMBER_CHARS)")
    return None


def tree_depth(tree: ast.AST) -> int:
    """Nesting depth of the expression nodes of a parsed tree, without recursion
    (``a and b and c`` counts as the chain of binary ``and`` it becomes)."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        extra = len(node.values) - 1 if isinstance(node, ast.BoolOp) else 0
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                stack.append((child, depth + 1 + extra))
    return deepest


def check_magnitude(value: float) -> str | None:
    """Why a number is out of range (not finite, or larger than MAX_MAGNITUDE)."""
    if not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
        return (f"number {value!r} is outside the limit |x| <= {MAX_MAGNITUDE:g} "
                "(MAX_MAGNITUDE)")
    return None


def check_count(what: str, count: int, limit: int, limit_name: str) -> str | None:
    """Why a table has too many entries; None when within."""
    if count > limit:
        return f"{what} has {count} entries; the limit is {limit} ({limit_name})"
    return None
