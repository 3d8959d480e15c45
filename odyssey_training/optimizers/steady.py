"""``SteadyStep``: a one-group optimizer's last step, ready to run again.

A training loop steps the same group with the same values, over and over, with new
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
    plans, ``repeats`` what repeats their steps once every plan is re-pointed
    (:meth:`KernelPlan.steady_record`), ``skipped`` its params without a gradient and
    ``threads`` its thread count."""
    run: Callable[[], bool]
    plans: list
    repeats: list[tuple]
    skipped: list
    threads: int


def steady_step(opt: Any) -> SteadyStep | None:
    """After a full step of the one-group optimizer ``opt`` without clipping: its
    SteadyStep, whose ``run`` repeats the step while what a user can change is
    unchanged (the groups list, the group's values and params list,
    ``num_threads``; params without a gradient still without one; every
    gradient re-pointed by its plan's ``refresh``); None when ``opt`` is not in
    that state."""
    groups, last, settings = opt.param_groups, opt._last.get(0), opt._settings.get(0)
    if (len(groups) != 1 or last is None or settings is None or settings.clip is not None
            or last.params is not groups[0]["params"]):
        return None
    group = groups[0]
    params = last.params
    repeats = [plan.steady_record(settings.hypers) for plan in last.plans]

    # what run() reads is bound as default arguments (found in its frame), not closure
    # cells (each a separate object to fetch after a backward pass has emptied the caches)
    def run(opt=opt, groups=groups, group=group, params=params, members=last.members,
            fingerprint=opt._fingerprint, settled=opt._settings, threads=last.threads,
            skipped=last.skipped, plans=last.plans, repeats=repeats) -> bool:
        if (len(groups) != 1 or groups[0] is not group or group["params"] is not params
                or opt.num_threads != threads or params != members):
            return False
        values = fingerprint(group)
        if values != settled[0].fingerprint and not opt._revalue(0, values):
            return False        # new values that need a full step (a scheduler's lr does not)
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
    return SteadyStep(run, last.plans, repeats, last.skipped, last.threads)
