"""The loader API the runtime uses: specs in, callable kernels out.

Everything here is memoized per process; object code comes from the on-disk
cache when present, so a second process start compiles nothing.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from typing import Callable, Mapping

from . import cache, jit
from .expr import to_function
from .ir import KernelIR, build_ir
from .spec import Spec, SpecError, load_spec_file, load_spec_text, standard_spec_dir
from .target import Target, default_target

__all__ = ["Kernel", "compile_kernel", "kernel_llvm_ir", "kernel_assembly", "SpecProgram",
           "compile_sumsq", "load_object", "memoized", "Spec", "SpecError", "load_spec_file",
           "load_spec_text", "standard_spec_dir", "Target", "default_target", "STATS",
           "origin_counts"]

STATS = jit.STATS
_memo: dict[tuple, "Kernel"] = {}
_memo_lock = threading.Lock()


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


def _plan(spec: Spec, flags: Mapping[str, bool], dtype: str, width: int | None,
          scale_grad: bool, target: Target) -> tuple[KernelIR, int, str, str]:
    kir = build_ir(spec, flags, dtype, scale_grad,
                   check=os.environ.get("ODYSSEY_VERIFY_IR", "") not in ("", "0"))
    width = width or target.width(dtype)
    digest = hashlib.sha256(f"{kir.text()}\nwidth={width}\n{target.key()}".encode()).hexdigest()
    return kir, width, digest, f"ody_{spec.name}_{dtype}_w{width}_{digest[:16]}"


def kernel_llvm_ir(spec: Spec, flags: Mapping[str, bool], dtype: str, *, width: int | None = None,
                   scale_grad: bool = False, target: Target | None = None,
                   optimized: bool = True) -> str:
    """The LLVM IR a kernel becomes (after LLVM's O3 pipeline when ``optimized``)."""
    target = target or default_target()
    kir, width, _, symbol = _plan(spec, flags, dtype, width, scale_grad, target)
    text = _lower(kir, width, symbol, target)
    return str(jit.optimize(text, target)) if optimized else text


def kernel_assembly(spec: Spec, flags: Mapping[str, bool], dtype: str, *,
                    width: int | None = None, scale_grad: bool = False,
                    target: Target | None = None) -> str:
    """The machine code a kernel becomes, as assembly text."""
    target = target or default_target()
    kir, width, _, symbol = _plan(spec, flags, dtype, width, scale_grad, target)
    return jit.emit_assembly(_lower(kir, width, symbol, target), target)


# The lowering modules (and llvmlite.ir) are imported only on a cache miss, so a
# warm start pays for neither.
def _lower(kir: KernelIR, width: int, symbol: str, target: Target) -> str:
    from .lower_llvm import lower_kernel
    return lower_kernel(kir, width, symbol, prefetch=target.prefetch_bytes)


def _lower_sumsq(dtype: str, width: int, symbol: str) -> str:
    from .lower_reduce import lower_sumsq
    return lower_sumsq(dtype, width, symbol)


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


def memoized(key: tuple, build: Callable[[], Kernel]) -> Kernel:
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
                   target: Target | None = None) -> Kernel:
    """The loaded kernel for one (spec, variant, dtype, width, target)."""
    target = target or default_target()

    def build() -> Kernel:
        kir, w, digest, symbol = _plan(spec, flags, dtype, width, scale_grad, target)
        address = load_object(digest, symbol, lambda: _lower(kir, w, symbol, target), target)
        return Kernel(address, symbol, dtype, w, kir.row_width, kir.states, kir.slots)

    return memoized((spec.source, spec.path, tuple(sorted(flags.items())), dtype, width,
                     scale_grad, target), build)


class SpecProgram:
    """The Python side of a spec, compiled once into closures: derived flags and
    ``[[checks]]`` (per-step scalars are computed inside the kernels)."""

    def __init__(self, spec: Spec):
        self.spec = spec
        self._user_flags = [(f.name, f.default) for f in spec.user_flags]
        self._derived = [(f.name, to_function(f.derived)) for f in spec.derived_flags]
        self._checks = [(c.message, to_function(c.expr)) for c in spec.checks]

    def flags(self, values: Mapping[str, object]) -> dict[str, bool]:
        """Flag values: user flags from ``values`` (or defaults), derived flags computed."""
        flags = {name: bool(values.get(name, default)) for name, default in self._user_flags}
        for name, fn in self._derived:
            flags[name] = bool(fn(values))
        return flags

    def failed_checks(self, values: Mapping[str, object]) -> list[str]:
        """Messages of the ``[[checks]]`` that ``values`` violate."""
        return [message for message, fn in self._checks if not fn(values)]


def compile_sumsq(dtype: str, *, width: int | None = None,
                  target: Target | None = None) -> Kernel:
    """The built-in sum-of-squares reduction (gradient norms); see lower_reduce."""
    target = target or default_target()
    width = width or target.width(dtype)

    def build() -> Kernel:
        digest = hashlib.sha256(f"sumsq {dtype} {width}\n{target.key()}".encode()).hexdigest()
        symbol = f"ody_sumsq_{dtype}_w{width}_{digest[:16]}"
        address = load_object(digest, symbol, lambda: _lower_sumsq(dtype, width, symbol), target)
        return Kernel(address, symbol, dtype, width, 2, (), ())  # rows: [n, x*]

    return memoized(("sumsq", dtype, width, target), build)
