"""``SteadyStep``: an optimizer's last step, ready to run again.

A training loop steps the same groups with the same values, over and over, with new
gradient arrays each time.  After such a step :meth:`Optimizer._prepare` would find
its last plans valid again, but it gets there through a dozen lookups, each a few
cache misses right after a backward pass has emptied the caches.  ``run`` binds
them once and checks only what a user can change between steps.

A SteadyStep is ``opt._steady`` only while the optimizer's own records (settings,
plans, state buffers) are those it was made from: a full step, ``add_param_group``
and ``load_state_dict`` drop it before changing them.  So a wrapper that keeps the
optimizer's groups to itself (:mod:`odyssey_training.interop.torch`) can repeat
the step with its own checks and these plans while ``opt._steady`` is the same
object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["SteadyStep", "steady_step"]


@dataclass(frozen=True)
class SteadyStep:
    """``run()`` repeats the last step and returns True, or returns False having
    run nothing (the full path then runs); ``plans`` are that step's kernel
    plans (every group's, in order), ``repeats`` what repeats their steps once
    every plan is re-pointed (:meth:`KernelPlan.steady_record`), ``skipped`` its
    params without a gradient and ``threads`` its thread count."""
    run: Callable[[], bool]
    plans: list
    repeats: list[tuple]
    skipped: list
    threads: int


def steady_step(opt: Any) -> SteadyStep | None:
    """After a full step of ``opt`` without clipping: its SteadyStep, whose ``run``
    repeats the step while what a user can change is unchanged (the groups list
    and its groups, each group's values and params list, ``num_threads``; params without a
    gradient still without one; every gradient re-pointed by its plan's
    ``refresh``); None when ``opt`` is not in that state."""
    groups = opt.param_groups
    lasts = [opt._last.get(index) for index in range(len(groups))]
    settled = [opt._settings.get(index) for index in range(len(groups))]
    if not groups or any(
            last is None or settings is None or settings.clip is not None
            or last.params is not group["params"]
            for group, last, settings in zip(groups, lasts, settled)):
        return None
    plans = [plan for last in lasts for plan in last.plans]
    repeats = [plan.steady_record(settings.hypers)
               for last, settings in zip(lasts, settled) for plan in last.plans]
    skipped = [p for last in lasts for p in last.skipped]

    # what run() reads is bound as default arguments (found in its frame), not closure
    # cells (each a separate object to fetch after a backward pass has emptied the caches)
    def run(opt=opt, groups=groups, count=len(groups),
            watched=[(g, last.params, last.members) for g, last in zip(groups, lasts)],
            fingerprint=opt._fingerprint, settled=opt._settings, threads=lasts[0].threads,
            skipped=skipped, plans=plans, repeats=repeats) -> bool:
        if opt.param_groups is not groups or len(groups) != count or opt.num_threads != threads:
            return False
        for index, (group, params, members) in enumerate(watched):
            if (groups[index] is not group or group["params"] is not params
                    or params != members):
                return False
            values = fingerprint(group)
            if values != settled[index].fingerprint and not opt._revalue(index, values):
                return False    # new values that need a full step (a scheduler's lr does not)
        for p in skipped:
            if p.grad is not None:
                return False
        for plan in plans:
            if not plan.refresh():
                return False
        # each plan's step again (KernelPlan.steady_record), inline: a closure per
        # plan would be one more cold frame after a backward pass
        for states, words, k, plan_run in repeats:
            if words is None:       # tensors at different steps: the plan's own step
                plan_run()
                continue
            step = states[0]["step"] + 1
            words[k] = step
            words[k + 1] = 0.0
            words[k + 2] = 1.0
            plan_run()
            for state in states:
                state["step"] = step
        return True
    return SteadyStep(run, plans, repeats, skipped, lasts[0].threads)
