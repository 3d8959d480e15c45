"""The machine's measured memory limit for an optimizer's traffic.

A same-traffic roofline (bench/roofline.py) compiled in one shape only bounds
that one loop.  Here the limit is the best bandwidth any of several streaming
kernels reaches on this machine, each moving the optimizer's own arrays
(``roofline_spec``: ``x = x + 0*g`` for p and every state buffer) at every
vector width, prefetch distance (none / 512 B) and store kind (plain /
non-temporal), and at unrolls 1 and 4, plus a STREAM-style triad
(``p = g + s*c``: two arrays read, one written, bytes counted as STREAM counts
them).  Every kernel runs through the same runtime (pointer table, rows,
threads) on one large group, interleaved, medians.

``ours GB/s / limit GB/s`` then says how close a step comes to memory speed,
and what bounds it: ``bandwidth`` (within :data:`BANDWIDTH_BOUND` of the limit)
or ``arithmetic`` (the update's instructions, not memory, set the pace); a group
small enough to stay in the caches (LeNet-5) is marked ``caches``: memory speed
is not its limit.
"""

from __future__ import annotations

import dataclasses
import functools
import gc

import numpy as np

import odyssey_training as ot
from odyssey_codegen.api import (SpecProgram, Variant, compile_kernel, default_target,
                                 load_spec_text)
from odyssey_codegen.ir import build_ir
from odyssey_codegen.target import vector_bits
from odyssey_codegen.tune import default_for
from odyssey_codegen.variant import unroll_for
from odyssey_training import optimizers as ours_mod
from odyssey_training.optimizers import Optimizer
from odyssey_training.optimizers.plan import KernelPlan

from .roofline import roofline_class, roofline_spec, traffic_bytes

__all__ = ["TRIAD_SPEC", "limit_variants", "measure_limit", "BANDWIDTH_BOUND", "bound",
           "moved_bytes", "limit_contender"]

BANDWIDTH_BOUND = 0.9
#: groups whose arrays fit this many bytes run from the caches (LeNet-5: ~1 MiB)
CACHE_BYTES = 8 << 20
#: elements per array of the limit's group (f32: 128 MiB per array, beyond the LLCs here)
ELEMENTS = 1 << 25
TRIAD_SPEC = """
name = "Triad"
kind = "optimizer"
doc = "STREAM triad through the optimizer runtime: p = g + s * c (reads g, c; writes p)."
[hyper]
lr = { default = 0.0 }
[state]
c = "zeros"
[update]
statements = ["p = g + lr * c"]
"""


@functools.cache
def _triad_spec():
    return load_spec_text(TRIAD_SPEC, path="<triad>")


def limit_variants(dtype: str) -> list[Variant]:
    """Widths x prefetch (none, 512 B) x stores, at the default unroll; unrolls 1
    and 4 at the default width."""
    target = default_target()
    item = np.dtype(dtype).itemsize
    base = default_for("update", dtype, target)
    widest = vector_bits(target.cpu, target.features)[1]
    out = [dataclasses.replace(base, width=bits // (8 * item),
                               unroll=unroll_for(bits // (8 * item), item), prefetch=p,
                               streaming=s)
           for bits in (128, 256, 512) if bits <= widest for p in (0, 512) for s in (False, True)]
    out += [dataclasses.replace(base, unroll=u) for u in (1, 4)]
    return list(dict.fromkeys(out))


def _plan_step(spec, flags: dict, dtype: str, variant: Variant, arrays: dict[str, np.ndarray],
               threads: int, values: dict):
    """One kernel over the shared ``arrays`` (p, g and the state buffers by name)
    through the runtime's plan: rows, threads and all, as an optimizer step."""
    kernel = compile_kernel(spec, flags, dtype, variant=variant)
    param = ot.Parameter(arrays["p"], arrays["g"])
    plan = KernelPlan(kernel, [param], [[arrays[s] for s in kernel.states]], [{"step": 1}],
                      threads, [False])
    hypers = [float(values[name]) for name in spec.hyper_names]
    return lambda: plan.step(hypers, 1.0), (plan, param)


def measure_limit(opt: str, dtype: str, threads: int, time_group, rng,
                  elements: int = ELEMENTS, seconds: float = 8.0) -> dict:
    """Best GB/s of the limit's kernels for ``opt``'s traffic (see the module doc)."""
    from . import contenders as C

    cls_name, kwargs = C.OPTIMIZERS[opt]
    spec = getattr(ours_mod, cls_name).spec
    values = {h.name: h.default for h in spec.hypers} | kwargs
    flags = SpecProgram(spec).flags(values)
    roof, triad = roofline_spec(spec), _triad_spec()
    roof_values = {h.name: h.default for h in roof.hypers} | kwargs
    item = np.dtype(dtype).itemsize
    arrays = {name: np.full(elements, 1e-3, dtype=dtype) for name in ("p", "g")}
    kir_states = build_ir(roof, flags, dtype).states
    arrays.update({name: np.full(elements, 1e-3, dtype=dtype) for name in kir_states})
    arrays["c"] = arrays[kir_states[0]] if kir_states else arrays["g"]
    same = traffic_bytes(spec, flags, elements, item)
    items, nbytes, variants = [], {}, {}
    for v in limit_variants(dtype):
        label = f"same-traffic {v.tag()}"
        step, hold = _plan_step(roof, flags, dtype, v, arrays, threads, roof_values)
        items.append(C.Contender(label, step, [hold]))
        nbytes[label], variants[label] = same, v
        if v.prefetch == 0 and v.unroll == unroll_for(v.width, item):   # width x stores
            label = f"triad {v.tag()}"
            step, hold = _plan_step(triad, {}, dtype, v, arrays, threads, {"lr": 0.0})
            items.append(C.Contender(label, step, [hold]))
            nbytes[label], variants[label] = 3 * elements * item, v
    times = time_group(items, (3, 15, seconds), rng)
    del items, arrays
    gc.collect()
    gbps = {k: nbytes[k] / float(np.median(ts)) / 1e9 for k, ts in times.items()}
    best = max(gbps, key=gbps.get)
    return {"gbps": gbps[best], "kernel": best, "elements": elements, "threads": threads,
            "variant": variants[best].to_dict(), "triad": best.startswith("triad"),
            "candidates": dict(sorted(gbps.items(), key=lambda kv: -kv[1]))}


def moved_bytes(found: dict, traffic: int, n: int, itemsize: int) -> int:
    """Bytes the limit kernel ``found`` moves over ``n`` values (``traffic``: the
    optimizer's own; the triad: three arrays, as STREAM counts them)."""
    return 3 * n * itemsize if found["triad"] else traffic


def limit_contender(found: dict, ours_cls: type, kwargs: dict, params: list, threads: int):
    """The limit kernel ``found`` as an optimizer over ``params`` (the case's shapes)."""
    variant = Variant.from_dict(found["variant"])
    if found["triad"]:
        cls = type("Triad", (Optimizer,), {"spec": _triad_spec(), "__module__": __name__})
        return cls(params, num_threads=threads, variant=variant)
    return roofline_class(ours_cls)(params, num_threads=threads, variant=variant, **kwargs)


def bound(fraction: float, footprint: int = 0) -> str:
    """What limits a step that reaches ``fraction`` of the measured limit; a group
    whose arrays (``footprint`` bytes) fit the caches is not held to memory speed."""
    if 0 < footprint <= CACHE_BYTES:
        return "caches"
    return "bandwidth" if fraction >= BANDWIDTH_BOUND else "arithmetic"
