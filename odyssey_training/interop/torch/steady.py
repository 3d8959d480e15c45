"""The torch optimizer's steady-state step: a training loop's ``step()`` in one frame.

A training loop calls ``step()`` with the same group, tensors and values each
time, and new ``.grad`` tensors.  Right after a backward pass every interpreter
step and every object touched costs cache misses, so this closure makes the
checks of the full path (no step hooks and no profiler to serve, torch's group,
its tensors and values unchanged since the engine's groups were synced from
them) and then repeats the engine's last step through that step's own plans,
while the engine's :class:`~odyssey_training.optimizers.steady.SteadyStep` is
the one it was made from (the engine drops it before its records change).  The
engine's groups belong to the torch optimizer, which writes them only while
syncing, so the engine's own checks of them are not repeated here.

What the closure reads is bound as default arguments, which the call finds in
its frame, rather than as closure cells, each a separate object to fetch: right
after a backward pass that alone saves about 6 µs of a LeNet-5 step.
"""

from __future__ import annotations

import operator
from typing import Any, Callable

from .plan import point_grads

__all__ = ["steady_step"]


def steady_step(opt: Any, hooks: tuple, profiler: Any, compiler: Any) -> Callable[[], bool] | None:
    """After a full step of the one-group torch optimizer ``opt`` with plain
    values: a closure that repeats it (returning True) while nothing it was made
    from changed, or returns False having updated nothing (the full path then
    runs); None when ``opt`` is not in that state.  ``hooks`` are torch's global
    step pre- and post-hook registries, ``profiler`` and ``compiler`` the modules
    whose ``_is_profiler_enabled`` and ``_is_compiling_flag`` say a step must go
    through torch's wrapper or run eagerly outside a compiled graph."""
    groups, engine = opt.param_groups, opt._engine
    steady = engine._steady
    if len(groups) != 1 or opt._synced[0].dynamic or steady is None:
        return None
    group = groups[0]
    tensors = group["params"]

    def again(opt=opt, pre=opt._optimizer_step_pre_hooks, post=opt._optimizer_step_post_hooks,
              global_pre=hooks[0], global_post=hooks[1], profiler=profiler, compiler=compiler,
              groups=groups, group=group, values_of=opt._values_of, synced=opt._synced[0],
              mirror=engine.param_groups[0], keys=opt._engine_keys,
              engine=engine, steady=steady, threads=steady.threads, tensors=tensors,
              count=len(tensors), expected=list(tensors), is_=operator.is_,
              skipped=[p.tensor for p in steady.skipped], point=point_grads,
              records=[r for plan in steady.plans for r in plan.grad_records],
              repeats=steady.repeats) -> bool:
        if (pre or post or global_pre or global_post or profiler._is_profiler_enabled
                or compiler._is_compiling_flag or opt.param_groups is not groups
                or len(groups) != 1 or groups[0] is not group
                or engine._steady is not steady or engine.num_threads != threads
                or len(tensors) != count or not all(map(is_, tensors, expected))):
            return False
        values = values_of(group)
        if values != synced.values:         # e.g. a scheduler's lr: taken here when the
            if not engine._revalue(0, values):  # engine keeps its kernels (plain numbers)
                return False
            mirror.update(zip(keys, values))    # the engine's group, as _sync_groups writes it
            synced.values = values
        # the same tail as the engine's SteadyStep.run: calling that instead would
        # re-check the engine's own groups and cost one more frame on the hot path
        for tensor in skipped:
            if tensor.grad is not None:
                return False
        if not point(records):      # every plan's TensorPlan.refresh, in one call
            return False
        for states, words, k, run in repeats:
            if words is None:       # tensors at different steps: the plan's own step
                run()
                continue
            step = states[0]["step"] + 1
            words[k] = step
            words[k + 1] = 0.0
            words[k + 2] = 1.0
            run()
            for state in states:
                state["step"] = step
        return True
    return again
