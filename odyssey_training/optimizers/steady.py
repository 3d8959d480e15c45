"""``steady_step``: a one-group optimizer's last step, ready to run again.

A training loop steps the same group with the same values, over and over, with new
gradient arrays each time.  After such a step :meth:`Optimizer._prepare` would find
its last plans valid again, but it gets there through a dozen lookups, each a few
cache misses right after a backward pass has emptied the caches.  The closure made
here binds them once and makes the same checks.
"""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["steady_step"]


def steady_step(opt: Any) -> Callable[[], bool] | None:
    """After a full step of the one-group optimizer ``opt`` without clipping: a
    closure that runs that step again, with the checks of ``Optimizer._prepare``
    (the group, its values and params list, the settings, the last step and the
    thread count unchanged; params without a gradient still without one; every
    gradient re-pointed by its plan's ``refresh``), or None when ``opt`` is not
    in that state.  The closure returns False, having written nothing, when
    anything changed: the full path then runs."""
    groups, lasts, settings_of = opt.param_groups, opt._last, opt._settings
    last, settings = lasts.get(0), settings_of.get(0)
    if (len(groups) != 1 or last is None or settings is None or settings.clip is not None
            or last.params is not groups[0]["params"]):
        return None
    group = groups[0]
    params, members, skipped, plans = last.params, last.members, last.skipped, last.plans
    fingerprint, hypers, threads = opt._fingerprint, settings.hypers, last.threads

    def again() -> bool:
        if (len(groups) != 1 or groups[0] is not group or group["params"] is not params
                or lasts.get(0) is not last or settings_of.get(0) is not settings
                or fingerprint(group) != settings.fingerprint
                or opt.num_threads != threads or params != members):
            return False
        for p in skipped:
            if p.grad is not None:
                return False
        for plan in plans:
            if not plan.refresh():
                return False
        for plan in plans:
            plan.step(hypers, 1.0)
        return True
    return again
