"""The torch optimizer's steady-state step: a training loop's ``step()`` in one native call.

A training loop calls ``step()`` with the same groups, tensors and values each
time, and new ``.grad`` tensors.  Right after a backward pass every interpreter
step and every object touched costs cache misses, so the checks of the full
path, the re-pointing of the gradient words and the repeat of the engine's last
step are one program run by native code (:func:`odyssey_training.native.steady_call`,
the program's semantics in :mod:`odyssey_codegen.steady_entry`).  It asks, in
order:

* no step hooks (the optimizer's and torch's global ones), no profiler to serve,
  not inside a torch.compile trace;
* torch's ``param_groups`` the same list of the same groups, each group's
  ``params`` the same list of the same tensors; the engine's steady step
  (:class:`~odyssey_training.optimizers.steady.SteadyStep`) the one this was
  made from (the engine drops it before its records change) and its thread
  count unchanged; params that had no gradient still without one;
* each group's values the objects the engine was last synced with; when one is
  not it returns None, and :meth:`TorchOptimizer.step` hands plain new numbers
  (a scheduler's lr) to the engine (:meth:`Optimizer._revalue`) and calls again;
* each gradient: there, of its parameter's dtype and size, contiguous, and the
  parameter's memory where it was (:func:`.plan.point_grads` asks the same);

then writes each gradient's address into its plan's table and repeats each
plan's step (:meth:`KernelPlan.steady_record`).  Right after a LeNet-5 backward
pass (SGD with momentum, one thread) the step takes 52.5-57.0 µs this way and took
61.6 µs as a Python closure (docs/torch.md).  The engine's groups belong to the torch optimizer,
which writes them only while syncing, so the engine's own checks of them are
not repeated here.
"""

from __future__ import annotations

import inspect
from types import ModuleType
from typing import Any, Callable

import torch

from ...native import steady_call
from ...threads import address

__all__ = ["steady_step"]

#: what the native step calls, by its names for them (see odyssey_codegen.steady_entry)
TORCH_ATTRIBUTES = {"grad": "grad", "data_ptr": "data_ptr", "dtype": "dtype", "nbytes": "nbytes",
                    "contiguous": "is_contiguous"}


def _torch_objects(tensors: list) -> dict[str, object] | None:
    """torch's own descriptors for TORCH_ATTRIBUTES (called directly, they skip the
    attribute lookup), or None when a tensor's type defines one of its own."""
    base = torch._C.TensorBase.__dict__
    objects = {mine: base[theirs] for mine, theirs in TORCH_ATTRIBUTES.items()}
    for kind in {type(t) for t in tensors}:
        if any(inspect.getattr_static(kind, theirs, None) is not objects[mine]
               for mine, theirs in TORCH_ATTRIBUTES.items()):
            return None
    return {**objects, "step": "step"}


def steady_step(opt: Any, hooks: tuple, profiler: ModuleType,
                compiler: ModuleType) -> Callable[[], bool | None] | None:
    """After a full step of the torch optimizer ``opt`` with plain values: a callable
    that repeats it (returning True) while nothing it was made from changed,
    returns None (having run nothing) when only a group's values changed, and
    False (having run nothing, or re-pointed gradients the full path re-points)
    otherwise; None when ``opt`` is not in that state.
    ``hooks`` are torch's global step pre- and post-hook registries, ``profiler`` and
    ``compiler`` the flags that say a step must go through torch's wrapper or run
    eagerly outside a compiled graph."""
    groups, engine = opt.param_groups, opt._engine
    steady = engine._steady
    if steady is None or any(synced.dynamic for synced in opt._synced):
        return None
    params = [group["params"] for group in groups]
    objects = _torch_objects([t for tensors in params for t in tensors])
    if objects is None:
        return None
    point = []
    for plan in steady.plans:
        table = address(plan.table)
        for tensor, data, _words, word, rows, width, row_bytes, nbytes, dtype in plan.grad_records:
            point.append((tensor, data, nbytes, dtype, table + 8 * word, rows, 8 * width,
                          row_bytes))
    plans = [(run, None, 0, 0) if words is None else (run, states, address(plan.scalars), k)
             for plan, (states, words, k, run) in zip(steady.plans, steady.repeats)]
    return steady_call(
        objects,
        empty=[(registry,) for registry in (opt._optimizer_step_pre_hooks,
                                            opt._optimizer_step_post_hooks, *hooks)],
        falsy=[(profiler, "_is_profiler_enabled"), (compiler, "_is_compiling_flag")],
        same=[(opt, "param_groups", groups), (engine, "_steady", steady),
              (engine, "num_threads", steady.threads),
              *((p.tensor, "grad", None) for p in steady.skipped)],
        same_item=[(group, "params", tensors) for group, tensors in zip(groups, params)],
        items=[(groups, list(groups)), *((tensors, list(tensors)) for tensors in params)],
        values=[(group, opt._engine_keys, synced, "values")
                for group, synced in zip(groups, opt._synced)],
        point=point, plans=plans)
