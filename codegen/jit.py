"""LLVM IR text -> optimized object code -> a callable address (ORC LLJIT).

Each object is linked once per process into its own JIT library; LLVM code is
never freed, so callers memoize (see :mod:`odyssey_codegen.api`).
"""

from __future__ import annotations

import functools
import itertools
import threading

import llvmlite.binding as llvm

from .target import Target, _init_llvm

__all__ = ["optimize", "emit_object", "emit_assembly", "link_object", "STATS"]

#: per-process counters: kernels compiled to object code, read as object code from
#: the on-disk cache (counted by :func:`odyssey_codegen.api.load_object`), linked into the JIT
STATS = {"compiled": 0, "cached": 0, "linked": 0}
_lock = threading.Lock()
_names = itertools.count()


def optimize(ir_text: str, target: Target) -> "llvm.ModuleRef":
    """Parse, verify and run LLVM's O3 pipeline for ``target``."""
    _init_llvm()
    module = llvm.parse_assembly(ir_text)
    module.verify()
    machine = target.machine()
    module.triple, module.data_layout = target.triple, str(machine.target_data)
    tuning = llvm.create_pipeline_tuning_options(speed_level=3)
    tuning.loop_vectorization = True
    tuning.slp_vectorization = True
    builder = llvm.create_pass_builder(machine, tuning)
    builder.getModulePassManager().run(module, builder)
    return module


def emit_object(ir_text: str, target: Target) -> bytes:
    with _lock:
        obj = target.machine().emit_object(optimize(ir_text, target))
        STATS["compiled"] += 1
    return obj


def emit_assembly(ir_text: str, target: Target) -> str:
    with _lock:
        return target.machine().emit_assembly(optimize(ir_text, target))


@functools.cache
def _lljit(target: Target) -> "llvm.LLJIT":
    _init_llvm()
    return llvm.create_lljit_compiler(target.machine())


_keep_alive: list = []


def link_object(obj: bytes, symbol: str, target: Target) -> int:
    """Load ``obj`` into this process's JIT and return the address of ``symbol``."""
    with _lock:
        tracker = (llvm.JITLibraryBuilder().add_object_img(obj).add_current_process()
                   .export_symbol(symbol).link(_lljit(target), f"odyssey{next(_names)}"))
        _keep_alive.append(tracker)
        STATS["linked"] += 1
        return tracker[symbol]
