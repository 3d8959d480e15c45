"""The loader API the runtime uses: specs in, callable kernels out.

Everything here is memoized per process; object code comes from the on-disk
cache when present, so a second process start compiles nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Mapping, TypeVar

from . import cache, jit
from .entry import ENTRY_SYMBOL, entry_ir
from .expr import names_in, to_function
from .ir import KernelIR, build_ir
from .spec import Spec, SpecError, load_spec_file, load_spec_text, standard_spec_dir
from .steady_entry import (GETTERS, HEADER_WORDS, OBJECTS, SECTIONS, STEADY_SYMBOL, entry_words,
                           steady_entry_ir)
from .target import Target, default_target
from .variant import Variant

if TYPE_CHECKING:
    from .tune import Job

#: what identifies the norm pass to the tuner (it has no spec)
SUMSQ_IDENT = "builtin sumsq: out[row] = sum(x**2), float64 accumulation"

__all__ = ["Kernel", "compile_kernel", "kernel_llvm_ir", "kernel_assembly", "kernel_variant",
           "tune_job_for", "SpecProgram", "compile_sumsq", "sumsq_variant", "sumsq_job", "load_object", "memoized", "Spec",
           "SpecError", "load_spec_file", "load_spec_text", "standard_spec_dir", "Target", "Variant",
           "default_target", "STATS", "origin_counts", "compile_entry", "STEADY_LAYOUT",
           "entry_words"]

STATS = jit.STATS
_memo: dict[tuple, object] = {}
_T = TypeVar("_T")
_memo_lock = threading.Lock()
os.register_at_fork(after_in_child=lambda: globals().update(_memo_lock=threading.Lock()))


@dataclass(frozen=True)
class Kernel:
    """A loaded kernel: ``void f(int64* table, int64 first_row, int64 end_row)``."""
    address: int
    symbol: str
    dtype: str
    width: int
    row_width: int
    states: tuple[str, ...]       # state buffers, in table-row order after p and g
    slots: tuple[str, ...]        # names of the float64 scalar vector
    variant: Variant              # its shape (width, unroll, prefetch, ...; chunk: rows)
    why: str = ""                 # why this variant runs (wisdom, default, an override)


def _ir(spec: Spec, flags: Mapping[str, bool], dtype: str, scale_grad: bool) -> KernelIR:
    return build_ir(spec, flags, dtype, scale_grad,
                    check=os.environ.get("ODYSSEY_VERIFY_IR", "") not in ("", "0"))


def kernel_variant(spec: Spec, flags: Mapping[str, bool], dtype: str, *,
                   width: int | None = None, scale_grad: bool = False,
                   target: Target | None = None, elements: int = 0) -> tuple[Variant, str]:
    """Which variant of this kernel runs for a group of ``elements`` values, and
    why (see :func:`odyssey_codegen.tune.choose`: an explicit ``width``, the
    default shape, or this machine's measured wisdom)."""
    from .tune import choose
    target = target or default_target()
    kir = _ir(spec, flags, dtype, scale_grad)
    footprint = elements * (2 + len(kir.states)) * (4 if dtype == "float32" else 8)
    return choose(kir.text(), "update", dtype, target, width, elements, footprint,
                  lambda: tune_job_for(spec, flags, dtype, scale_grad, target))


def tune_job_for(spec: Spec, flags: Mapping[str, bool], dtype: str, scale_grad: bool = False,
                 target: Target | None = None) -> "Job":
    """What the tuner needs to time this kernel's candidates (see
    :mod:`odyssey_codegen.tune`): p = 1, g = 1e-3, state buffers 1e-3 (finite,
    normal numbers for every candidate), the spec's default hyperparameters at
    step 10 (not the first), no clipping (scale 1)."""
    from .tune import Job, divides_by_uniform
    target = target or default_target()
    kir = _ir(spec, flags, dtype, scale_grad)
    values = {h.name: float(h.default) for h in spec.hypers}
    values.update({"step": 10.0, "first_step": 0.0, "grad_scale": 1.0})
    return Job(kir.text(), "update", dtype, target,
               lambda v: compile_kernel(spec, flags, dtype, scale_grad=scale_grad,
                                        target=target, variant=v),
               fills=(1.0,) + (1e-3,) * (1 + len(kir.states)),
               scalars=tuple(values.get(name, 0.0) for name in kir.slots),
               divides=divides_by_uniform(kir))


def _symbol(kir: KernelIR, variant: Variant, target: Target) -> tuple[str, str]:
    if variant.streaming and not target.triple.startswith(("x86_64", "i386", "i686")):
        raise ValueError(f"streaming stores need an x86 target (sfence), not {target.triple}")
    digest = hashlib.sha256(f"{kir.text()}\nvariant={variant.tag()}\n{target.key()}"
                            .encode()).hexdigest()
    return digest, f"ody_{kir.spec_name}_{kir.dtype}_w{variant.width}_{digest[:16]}"


def kernel_llvm_ir(spec: Spec, flags: Mapping[str, bool], dtype: str, *, width: int | None = None,
                   scale_grad: bool = False, target: Target | None = None,
                   optimized: bool = True, variant: Variant | None = None) -> str:
    """The LLVM IR a kernel becomes (after LLVM's O3 pipeline when ``optimized``)."""
    target = target or default_target()
    variant = variant or kernel_variant(spec, flags, dtype, width=width, scale_grad=scale_grad,
                                        target=target)[0]
    kir = _ir(spec, flags, dtype, scale_grad)
    text = _lower(kir, variant, _symbol(kir, variant, target)[1])
    return str(jit.optimize(text, target)) if optimized else text


def kernel_assembly(spec: Spec, flags: Mapping[str, bool], dtype: str, *,
                    width: int | None = None, scale_grad: bool = False,
                    target: Target | None = None, variant: Variant | None = None) -> str:
    """The machine code a kernel becomes, as assembly text."""
    target = target or default_target()
    variant = variant or kernel_variant(spec, flags, dtype, width=width, scale_grad=scale_grad,
                                        target=target)[0]
    kir = _ir(spec, flags, dtype, scale_grad)
    return jit.emit_assembly(_lower(kir, variant, _symbol(kir, variant, target)[1]), target)


# The lowering modules (and llvmlite.ir) are imported only on a cache miss, so a
# warm start pays for neither.
def _lower(kir: KernelIR, variant: Variant, symbol: str) -> str:
    from .lower.optimizer import lower_kernel
    return lower_kernel(kir, variant, symbol)


def _lower_sumsq(dtype: str, variant: Variant, symbol: str) -> str:
    from .lower.norm import lower_sumsq
    return lower_sumsq(dtype, variant, symbol)


def load_object(digest: str, symbol: str, render: Callable[[], str], target: Target) -> int:
    """Address of ``symbol`` from object code cached under ``digest``; on a miss (or
    a corrupt entry) ``render()`` gives the LLVM IR, which is compiled and cached."""
    obj = cache.read(digest)
    if obj is not None:
        STATS["cached"] += 1
    else:
        obj = jit.emit_object(render(), target)
        try:
            cache.write(digest, obj)
        except OSError:
            pass  # a read-only or full cache directory only costs a recompile next time
    return jit.link_object(obj, symbol, target)


def origin_counts(before: Mapping[str, int], total: int) -> str:
    """Where ``total`` kernels loaded since the :data:`STATS` snapshot ``before`` came
    from: compiled now, read from the cache, or already loaded in this process."""
    compiled = STATS["compiled"] - before["compiled"]
    cached = STATS["cached"] - before["cached"]
    loaded = total - compiled - cached
    return (f"{compiled} compiled, {cached} from the cache"
            + (f", {loaded} already loaded" if loaded else ""))


def memoized(key: tuple, build: Callable[[], _T]) -> _T:
    """``build()`` once per process per ``key`` (LLVM code is never freed)."""
    kernel = _memo.get(key)
    if kernel is None:
        with _memo_lock:
            kernel = _memo.get(key)
            if kernel is None:
                kernel = _memo[key] = build()
    return kernel


def compile_kernel(spec: Spec, flags: Mapping[str, bool], dtype: str, *,
                   width: int | None = None, scale_grad: bool = False,
                   target: Target | None = None, variant: Variant | None = None,
                   elements: int = 0) -> Kernel:
    """The loaded kernel for one (spec, flag variant, dtype, target), shaped as
    ``variant`` or as :func:`kernel_variant` chooses for a group of ``elements``."""
    target = target or default_target()
    why = "given"
    if variant is None:
        variant, why = kernel_variant(spec, flags, dtype, width=width, scale_grad=scale_grad,
                                      target=target, elements=elements)

    def build() -> Kernel:
        kir = _ir(spec, flags, dtype, scale_grad)
        digest, symbol = _symbol(kir, variant, target)
        address = load_object(digest, symbol, lambda: _lower(kir, variant, symbol), target)
        return Kernel(address, symbol, dtype, variant.width, kir.row_width, kir.states,
                      kir.slots, variant, why)

    kernel = memoized((spec.source, spec.path, tuple(sorted(flags.items())), dtype, variant,
                       scale_grad, target), build)
    return kernel if kernel.why == why else dataclasses.replace(kernel, why=why)


class SpecProgram:
    """The Python side of a spec, compiled once into closures: derived flags and
    ``[[checks]]`` (per-step scalars are computed inside the kernels)."""

    def __init__(self, spec: Spec):
        self.spec = spec
        self._user_flags = [(f.name, f.default) for f in spec.user_flags]
        self._derived = [(f.name, to_function(f.derived)) for f in spec.derived_flags]
        self._checks = [(c.message, to_function(c.expr)) for c in spec.checks]
        #: the names (hyperparameters, flags) that derived flags and checks read: a
        #: change to any other hyperparameter leaves the flags and the checks' verdicts
        self.reads = frozenset().union(*(names_in(f.derived) for f in spec.derived_flags),
                                       *(names_in(c.expr) for c in spec.checks))

    def flags(self, values: Mapping[str, object]) -> dict[str, bool]:
        """Flag values: user flags from ``values`` (or defaults), derived flags computed."""
        flags = {name: bool(values.get(name, default)) for name, default in self._user_flags}
        for name, fn in self._derived:
            flags[name] = bool(fn(values))
        return flags

    def failed_checks(self, values: Mapping[str, object]) -> list[str]:
        """Messages of the ``[[checks]]`` that ``values`` violate."""
        return [message for message, fn in self._checks if not fn(values)]


def sumsq_variant(dtype: str, *, width: int | None = None, target: Target | None = None,
                  elements: int = 0) -> tuple[Variant, str]:
    """Which variant of the norm pass runs, and why (as :func:`kernel_variant`)."""
    from .tune import choose
    target = target or default_target()
    itemsize = 4 if dtype == "float32" else 8
    return choose(SUMSQ_IDENT, "sumsq", dtype, target, width, elements, elements * itemsize,
                  lambda: sumsq_job(dtype, target))


def sumsq_job(dtype: str, target: Target | None = None) -> "Job":
    """What the tuner needs to time the norm pass's candidates (x = 1e-3)."""
    from .tune import Job
    target = target or default_target()
    return Job(SUMSQ_IDENT, "sumsq", dtype, target,
               lambda v: compile_sumsq(dtype, target=target, variant=v), fills=(1e-3,))


def compile_sumsq(dtype: str, *, width: int | None = None, target: Target | None = None,
                  variant: Variant | None = None, elements: int = 0) -> Kernel:
    """The built-in sum-of-squares reduction (gradient norms); see lower.norm."""
    target = target or default_target()
    why = "given"
    if variant is None:
        variant, why = sumsq_variant(dtype, width=width, target=target, elements=elements)

    def build() -> Kernel:
        digest = hashlib.sha256(f"sumsq {dtype} {variant.tag()}\n{target.key()}"
                                .encode()).hexdigest()
        symbol = f"ody_sumsq_{dtype}_w{variant.width}_{digest[:16]}"
        address = load_object(digest, symbol, lambda: _lower_sumsq(dtype, variant, symbol),
                              target)
        return Kernel(address, symbol, dtype, variant.width, 2, (), (), variant, why)

    kernel = memoized(("sumsq", dtype, variant, target), build)
    return kernel if kernel.why == why else dataclasses.replace(kernel, why=why)


#: the CPython entry points, by name: (symbol, IR)
_ENTRIES = {"row_call": (ENTRY_SYMBOL, entry_ir), "steady_call": (STEADY_SYMBOL, steady_entry_ir)}
#: the layout of a ``steady_call`` record (see :mod:`.steady_entry`)
STEADY_LAYOUT = {"sections": SECTIONS, "objects": OBJECTS, "getters": GETTERS,
                 "header_words": HEADER_WORDS}


def compile_entry(target: Target | None = None, name: str = "row_call") -> int:
    """Address of the CPython entry point ``name`` (``"row_call"``, a kernel call, see
    :mod:`.entry`; ``"steady_call"``, a steady-state step, see
    :mod:`.steady_entry`), compiled for ``target`` (default: this machine, where it runs)."""
    target = target or default_target()
    symbol, render = _ENTRIES[name]

    def build() -> int:
        text = render()
        digest = hashlib.sha256(f"{text}\n{target.key()}".encode()).hexdigest()
        return load_object(digest, symbol, lambda: text, target)

    return memoized(("entry", name, target), build)
