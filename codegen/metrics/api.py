"""The loader API for metric kernels: metric specs in, callable kernels out.

Mirrors :func:`odyssey_codegen.api.compile_sumsq`: the LLVM IR text plus the target
key is hashed into the cache key, object code comes from the on-disk cache
when present, each kernel is linked into the JIT once per process.

The standard metric specs live in ``specs/metrics/`` next to this package;
:func:`standard_metric_spec` loads one by name (memoized).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

from .. import jit
from ..api import load_object, memoized
from ..spec import SpecError, standard_spec_dir
from ..target import Target, default_target
from .lower import ARG_INDEX, ARGS_WORDS, LOCAL_MAX, STATUS_WORDS, lower_metric
from .spec import MetricSpec, load_metric_spec_file, load_metric_spec_text

__all__ = ["MetricKernel", "compile_metric", "metric_llvm_ir", "metric_assembly",
           "standard_metric_spec", "standard_metric_specs", "metric_spec_dir",
           "MetricSpec", "load_metric_spec_file", "load_metric_spec_text", "SpecError",
           "ARG_INDEX", "ARGS_WORDS", "STATUS_WORDS", "LOCAL_MAX", "STATS"]

STATS = jit.STATS


@dataclass(frozen=True)
class MetricKernel:
    """A loaded kernel: ``void f(int64* args, int64 first_row, int64 end_row,
    int64* status)`` (see :mod:`odyssey_codegen.metrics.lower` for the words)."""
    address: int
    symbol: str
    spec_name: str
    preds: str
    targets: str
    width: int
    classes: int = 0              # > 0: specialized for this class count


def metric_spec_dir() -> Path:
    """The standard metric specs (``specs/metrics``)."""
    return standard_spec_dir() / "metrics"


def standard_metric_specs() -> list[Path]:
    return sorted(metric_spec_dir().glob("*.toml"))


@functools.cache
def standard_metric_spec(name: str) -> MetricSpec:
    """The standard metric spec ``specs/metrics/<name>.toml``."""
    path = metric_spec_dir() / f"{name}.toml"
    if not path.is_file():
        names = ", ".join(p.stem for p in standard_metric_specs())
        raise SpecError(str(path), None, "no such standard metric spec", name, names)
    return load_metric_spec_file(path)


def _plan(spec: MetricSpec, preds: str, targets: str, width: int | None, classes: int,
          target: Target) -> tuple[int, str, str]:
    if not width:  # only the argmax/topk sweeps over classes use vectors
        width = target.width(preds) if spec.preds_rank == 2 else 1
    text = lower_metric(spec, preds, targets, width, "ody_metric", classes)
    digest = hashlib.sha256(f"{spec.text()}\n{text}\n{target.key()}".encode()).hexdigest()
    tag = f"_c{classes}" if classes else ""
    return width, digest, (f"ody_metric_{spec.name}_{preds}_{targets}_w{width}{tag}_"
                           f"{digest[:16]}")


def metric_llvm_ir(spec: MetricSpec, preds: str, targets: str, *, width: int | None = None,
                   classes: int = 0, target: Target | None = None,
                   optimized: bool = True) -> str:
    """The LLVM IR a metric kernel becomes (after LLVM's O3 pipeline when ``optimized``)."""
    target = target or default_target()
    width, _, symbol = _plan(spec, preds, targets, width, classes, target)
    text = lower_metric(spec, preds, targets, width, symbol, classes)
    return str(jit.optimize(text, target)) if optimized else text


def metric_assembly(spec: MetricSpec, preds: str, targets: str, *, width: int | None = None,
                    classes: int = 0, target: Target | None = None) -> str:
    """The machine code a metric kernel becomes, as assembly text."""
    target = target or default_target()
    width, _, symbol = _plan(spec, preds, targets, width, classes, target)
    return jit.emit_assembly(lower_metric(spec, preds, targets, width, symbol, classes), target)


def compile_metric(spec: MetricSpec, preds: str, targets: str, *, width: int | None = None,
                   classes: int = 0, target: Target | None = None) -> MetricKernel:
    """The loaded kernel of ``spec`` for one (preds dtype, targets dtype, width, target);
    ``classes > 0`` compiles a variant specialized for that class count (it then
    ignores the C word of its arguments)."""
    if classes < 0:
        raise ValueError(f"classes must be >= 0 (0: any class count), got {classes}")
    target = target or default_target()

    def build() -> MetricKernel:
        w, digest, symbol = _plan(spec, preds, targets, width, classes, target)
        address = load_object(
            digest, symbol, lambda: lower_metric(spec, preds, targets, w, symbol, classes), target)
        return MetricKernel(address, symbol, spec.name, preds, targets, w, classes)

    return memoized(("metric", spec.source, spec.path, preds, targets, width, classes, target),
                    build)
