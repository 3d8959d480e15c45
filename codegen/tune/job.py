"""What the tuner times (a :class:`Job`) and what runs untimed (:func:`default_for`):
the light part of :mod:`odyssey_codegen.tune`, imported on every kernel choice
(the search and its timing harness are imported only to measure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..expr import Binary, Node, children
from ..ir import KernelIR, is_uniform
from ..target import Target
from ..variant import SUMSQ_STREAMS, Variant, default_variant

__all__ = ["Job", "default_for", "divides_by_uniform"]


@dataclass(frozen=True)
class Job:
    """One kernel to tune: ``compile(variant)`` loads a candidate; ``fills`` is the
    value of each pointer column of its rows (p, g, state...; the norm pass: x),
    ``scalars`` its float64 scalar vector; ``divides``: it divides by a per-step
    value (so the ``reciprocal`` form is a real candidate)."""
    ident: str
    kind: str
    dtype: str
    target: Target
    compile: Callable[[Variant], object]
    fills: tuple[float, ...]
    scalars: tuple[float, ...] = ()
    divides: bool = False

    @property
    def itemsize(self) -> int:
        return 4 if self.dtype == "float32" else 8


def divides_by_uniform(kir: KernelIR) -> bool:
    """Whether some per-element expression divides by a per-step value (``x / u``
    with ``u`` uniform, ``x`` not): the ``reciprocal`` form changes that kernel."""
    slots = set(kir.slots)

    def walk(node: Node) -> bool:
        if is_uniform(node, slots):
            return False
        if isinstance(node, Binary) and node.op == "/" and is_uniform(node.right, slots):
            return True
        return any(walk(c) for c in children(node))

    return any(walk(a.expr) for a in kir.body)


def default_for(kind: str, dtype: str, target: Target, width: int | None = None) -> Variant:
    """The untuned variant (what ``ODYSSEY_TUNE=0`` runs)."""
    w = width or target.width(dtype)
    if kind == "sumsq":
        return Variant(w, SUMSQ_STREAMS, 0)
    return default_variant(w, 4 if dtype == "float32" else 8, target.prefetch_bytes)
