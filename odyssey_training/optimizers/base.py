"""The optimizer runtime shared by every spec: param groups, state, step,
torch-compatible ``state_dict``.  No update math lives here: each step calls
the one native kernel that codegen built for the group's (variant, dtype)."""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any, ClassVar, Iterable, Mapping, Sequence

import numpy as np

from odyssey_codegen.api import Spec, SpecProgram, Variant, compile_kernel
from ..clip import GradNormPlan
from ..parameter import Parameter, check_array
from ..threads import default_threads
from .buffers import aligned_copy, aligned_full
from .hyper import (accepted_names, canonical_group, check_number, group_defaults,
                    hyper_values, strip_torch_options, validate_group)
from .plan import KernelPlan
from .settings import Settings, revalued, settle
from .steady import SteadyStep, steady_step

__all__ = ["Optimizer"]

_DTYPE_NAMES = {np.dtype(np.float32): "float32", np.dtype(np.float64): "float64"}
#: widest vector a kernel may be compiled for (LLVM splits vectors wider than the CPU's)
MAX_SIMD_WIDTH = 64


@dataclass
class _LastStep:
    """What a group's last step ran: its params list (and a copy, to notice edits
    in place), kernels, thread count, tensors by dtype, plans, params without grad."""
    params: list
    members: list
    kernels: dict
    threads: int
    live: dict
    plans: list
    skipped: list


class Optimizer:
    """Base class of every optimizer; subclasses set :attr:`spec`.

    ``params`` is an iterable of :class:`Parameter`, of param-group dicts
    (``{"params": [...], "lr": ...}``), or None (then ``step(params, grads)``
    supplies arrays, as in the original library).  Hyperparameters are given
    with torch's names (``lr``, ``betas``, ...) or the original library's
    (``learning_rate``, ``beta1``, ``beta2``, ``epsilon``).
    ``max_grad_norm`` clips each group's gradients to that global L2 norm
    inside the update kernel; ``num_threads`` overrides ``ODYSSEY_NUM_THREADS``;
    ``simd_width`` (elements per vector: 1, 2, 4, 8, 16, ...) overrides the
    target's default width (``ODYSSEY_SIMD_BITS`` / the width LLVM prefers for
    the CPU); ``variant`` (an :class:`odyssey_codegen.api.Variant`) runs that
    exact kernel shape instead of the one measured fastest on this machine
    (benchmarks, experiments); results agree across widths and variants to
    rounding.
    """

    spec: ClassVar[Spec]
    #: the pointer-table plan of one group and dtype (interop.torch's re-points from tensors)
    plan_class: ClassVar[type[KernelPlan]] = KernelPlan
    _programs: ClassVar[dict[int, SpecProgram]] = {}

    def __init__(self, params: Iterable[Any] | None = None, *,
                 num_threads: int | None = None, simd_width: int | None = None,
                 variant: Variant | None = None, **hyper: Any) -> None:
        name = type(self).__name__
        hyper = strip_torch_options(hyper, name)   # foreach=, fused=, ...: see hyper.py
        self.defaults = canonical_group(self.spec, group_defaults(self.spec), hyper, name)
        self._check_variant(self.defaults)
        if num_threads is not None and (not isinstance(num_threads, int) or num_threads < 1):
            raise ValueError(f"{name}: num_threads must be a positive integer, got {num_threads!r}")
        self.num_threads = num_threads or default_threads()
        if simd_width is not None and (not isinstance(simd_width, int) or isinstance(
                simd_width, bool) or not 1 <= simd_width <= MAX_SIMD_WIDTH
                or simd_width & (simd_width - 1)):
            raise ValueError(f"{name}: simd_width must be a power of two from 1 to "
                             f"{MAX_SIMD_WIDTH} (elements per vector), got {simd_width!r}")
        if variant is not None and (not isinstance(variant, Variant) or simd_width is not None):
            raise TypeError(f"{name}: variant must be an odyssey_codegen.api.Variant, and not "
                            f"given with simd_width (got {variant!r})")
        self.simd_width, self.variant = simd_width, variant
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[Parameter, dict[str, Any]] = {}
        self.last_grad_norm: float | None = None
        self.skipped_steps = 0
        self._plans: dict[tuple[int, np.dtype], KernelPlan] = {}
        self._settings: dict[int, Settings] = {}
        self._norms: dict[int, GradNormPlan] = {}
        self._last: dict[int, _LastStep] = {}   # per group (see _prepare)
        self._steady: SteadyStep | None = None      # see optimizers.steady
        keys = tuple(group_defaults(self.spec))
        self._fingerprint = operator.itemgetter(*keys) if len(keys) > 1 else (
            lambda group: (group[keys[0]],))
        if params is not None:
            items = list(params)
            if items and isinstance(items[0], Mapping):
                for group in items:
                    self.add_param_group(group)
            elif items:
                self.add_param_group({"params": items})

    # ---- groups -------------------------------------------------------------
    def add_param_group(self, group: Mapping[str, Any]) -> None:
        """Add a group; unset hyperparameters take the constructor's values."""
        if not isinstance(group, Mapping) or "params" not in group:
            raise TypeError("a param group is a dict with a 'params' list")
        params = group["params"]
        params = [params] if isinstance(params, Parameter) else list(params)
        for p in params:
            if not isinstance(p, Parameter):
                raise TypeError(f"params must be odyssey_training.Parameter objects, got "
                                f"{type(p).__name__} (wrap arrays: Parameter(array))")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params) or len({id(p) for p in params}) != len(params):
            raise ValueError("some parameters appear in more than one group")
        accepted = accepted_names(self.spec)
        rest = {k: v for k, v in group.items() if k in accepted}
        canonical = canonical_group(self.spec, self.defaults, rest, type(self).__name__)
        self._check_variant(canonical)
        # other keys (a scheduler's initial_lr, a user's "name") ride along, as in torch
        canonical.update({k: v for k, v in group.items() if k not in accepted and k != "params"})
        canonical["params"] = params
        self._steady = None
        self.param_groups.append(canonical)

    @property
    def program(self) -> SpecProgram:
        """The spec's compiled per-step Python side (flags, checks, scalars)."""
        program = self._programs.get(id(self.spec))
        if program is None or program.spec is not self.spec:
            program = self._programs[id(self.spec)] = SpecProgram(self.spec)
        return program

    def _check_variant(self, group: Mapping[str, Any],
                       values: Mapping[str, float] | None = None) -> dict[str, bool]:
        values = {**(hyper_values(self.spec, group) if values is None else values), **group}
        failed = self.program.failed_checks(values)
        if failed:
            raise ValueError(f"{type(self).__name__}: {failed[0]}")
        return self.program.flags(values)

    # ---- the original library's conveniences --------------------------------
    def get_lr(self) -> float:
        """The learning rate of the first param group."""
        return self.param_groups[0]["lr"] if self.param_groups else self.defaults["lr"]

    def set_lr(self, lr: float) -> None:
        """Set the learning rate of every param group (and the default)."""
        for group in [self.defaults] + self.param_groups:
            validate_group(self.spec, {**group, "lr": lr}, type(self).__name__)
        lr = float(check_number(f"{type(self).__name__}: lr", lr))
        for group in [self.defaults] + self.param_groups:
            group["lr"] = lr

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Every parameter's gradient to None (``set_to_none``, torch's default) or 0."""
        for group in self.param_groups:
            if set_to_none:            # the loop's every step: no call per parameter
                for p in group["params"]:
                    p.grad = None
            else:
                for p in group["params"]:
                    p.zero_grad(False)

    # ---- step ---------------------------------------------------------------
    def step(self, params: Sequence[Any] | None = None,
             grads: Sequence[np.ndarray | None] | None = None) -> None:
        """One update of every parameter that has a gradient.

        ``step()`` reads each ``Parameter.grad``; ``step(params, grads)`` updates
        the given arrays (or Parameters) in place with the given gradients.
        Everything is validated before any array is written.
        """
        if params is not None or grads is not None:
            self._bind(params, grads)
        steady = self._steady
        if steady is not None and steady.run():
            return
        self._steady = None      # dropped before any record changes
        # every group validated (and planned) before any is written
        jobs = [self._prepare(i, g) for i, g in enumerate(self.param_groups)]
        for index, (settings, live, plans) in enumerate(jobs):
            self._run(index, settings, live, plans)
        self._steady = steady_step(self)

    def _bind(self, params: Sequence[Any] | None, grads: Sequence[Any] | None) -> None:
        if params is None or grads is None:
            raise TypeError("step(params, grads) needs both lists")
        params, grads = list(params), list(grads)
        if len(params) != len(grads):
            raise ValueError(f"step got {len(params)} params but {len(grads)} grads")
        arrays = [p.data if isinstance(p, Parameter) else p for p in params]
        for i, (a, g) in enumerate(zip(arrays, grads)):
            check_array(a, f"params[{i}]", writable=True)
            if g is not None:
                _check_grad(a, g, f"grads[{i}]")
        known = {id(p.data): p for grp in self.param_groups for p in grp["params"]}
        if not self.param_groups:
            self.add_param_group({"params": [Parameter(a) for a in arrays]})
            known = {id(p.data): p for p in self.param_groups[0]["params"]}
        elif not all(id(a) in known for a in arrays):
            bound = self.param_groups[0]["params"] if len(self.param_groups) == 1 else []
            if len(bound) != len(arrays) or any(
                    p.data.shape != a.shape or p.data.dtype != a.dtype
                    for p, a in zip(bound, arrays)):
                raise ValueError("step(params, grads): these arrays are not the ones this "
                                 "optimizer holds state for (same count, shapes and dtypes "
                                 "are required to rebind them)")
            for p, a in zip(bound, arrays):
                p.data = a
            known = {id(p.data): p for p in bound}
        for a, g in zip(arrays, grads):
            known[id(a)].grad = g

    def _prepare(self, index: int, group: dict[str, Any]) -> tuple[Settings, dict, list | None]:
        """Validate a group and pick its tensors; writes nothing the user sees.
        Returns (settings, tensors by dtype, plans): ``plans`` are the last step's,
        ready to run, when the kernels, thread count, parameters, their arrays and
        the set of those with gradients are those of the last step (then only the
        gradients are checked and re-pointed: see :meth:`KernelPlan.refresh`)."""
        fingerprint = self._fingerprint(group)   # the group's values, one C-level lookup
        settings = self._settings.get(index)
        if settings is None or settings.fingerprint != fingerprint:
            settings = self._settings[index] = settle(self, group, fingerprint, settings)
        params = group["params"]
        last = self._last.get(index)
        if (last is not None and last.params is params and params == last.members
                and last.kernels is settings.kernels and last.threads == self.num_threads
                and _refreshed(last.plans)
                and (not last.skipped or all(p.grad is None for p in last.skipped))):
            return settings, last.live, last.plans
        self._last.pop(index, None)
        live: dict[np.dtype, list[Parameter]] = {}
        for i, p in enumerate(params):
            g = p.grad
            if g is None:
                continue
            d = p.data
            label = f"param {p.name!r}" if p.name else f"param {i}"
            check_array(d, label, writable=True)
            _check_grad(d, g, f"grad of {label}")
            if d.size:
                live.setdefault(d.dtype, []).append(p)
        return settings, live, None

    def _revalue(self, index: int, fingerprint: tuple) -> bool:
        """Group ``index``'s values became ``fingerprint`` (its values in
        :func:`~.hyper.group_defaults` order) since its last step, and nothing
        else changed: when they keep its kernels and checks
        (:func:`~.hyper.revalidate`, e.g. a scheduler's new lr), settle them and
        give them to the last step's plans (True), so that step can repeat with
        them; else change nothing (False: a full step follows).  A bad new value
        raises as a full step would, before anything changes."""
        last, settings = self._last.get(index), self._settings.get(index)
        settings = None if last is None or settings is None else revalued(
            self, fingerprint, settings)
        if settings is None:
            return False
        self._settings[index] = settings
        for plan in last.plans:
            plan.repack(settings.hypers)
        return True

    def _run(self, index: int, settings: Settings, live: dict[np.dtype, list[Parameter]],
             plans: list | None) -> None:
        """Run the group's kernels: the given ``plans`` (see :meth:`_prepare`), or
        plans found or built for ``live`` and remembered for the next step."""
        if not live:
            return
        scale = 1.0
        clip = settings.clip
        if clip is not None:
            norm_plan = self._norms.setdefault(index, GradNormPlan())
            norm = norm_plan([p.grad for ps in live.values() for p in ps], self.num_threads)
            self.last_grad_norm = norm
            if not np.isfinite(norm):
                self.skipped_steps += 1
                return  # a non-finite gradient: keep parameters and state, report the norm
            scale = min(1.0, clip / (norm + 1e-6))
        if plans is not None:
            for plan in plans:
                plan.step(settings.hypers, scale)
            return
        plans = []
        for dtype, params in live.items():
            kernel = settings.kernels.get(dtype)
            if kernel is None:
                kernel = settings.kernels[dtype] = compile_kernel(
                    self.spec, settings.flags, _DTYPE_NAMES[dtype], width=self.simd_width,
                    variant=self.variant, scale_grad=clip is not None,
                    elements=sum(p.data.size for p in params))
            plan = self._plans.get((index, dtype))
            if plan is None or not plan.bind(kernel, params, self.num_threads):
                first = [self._ensure_state(p, kernel.states, settings.values) for p in params]
                buffers = [[self.state[p][s] for s in kernel.states] for p in params]
                plan = self.plan_class(kernel, params, buffers,
                                       [self.state[p] for p in params], self.num_threads, first)
                self._plans[(index, dtype)] = plan
            plans.append(plan)
            plan.step(settings.hypers, scale)
        group = self.param_groups[index]["params"]
        self._last[index] = _LastStep(group, list(group), settings.kernels, self.num_threads, live,
                                      plans, [p for p in group if p.grad is None])

    def _ensure_state(self, p: Parameter, names: tuple[str, ...], values: Mapping[str, float]) -> bool:
        """Create missing buffers; True when a "grad"-initialised buffer was just made."""
        state = self.state.setdefault(p, {"step": 0})
        fresh = False
        for buf in self.spec.state:
            if buf.name in names and buf.name not in state:
                fill = 0.0 if buf.init in ("zeros", "grad") else (
                    values[buf.init] if buf.init in values else float(buf.init))
                state[buf.name] = aligned_full(p.data.shape, fill, p.data.dtype)
                fresh |= buf.init == "grad"
        return fresh

    # ---- state_dict ---------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """torch.optim layout: ``state`` keyed by parameter index (``step`` as a
        number, buffers as array copies) and ``param_groups`` with ``params``
        as index lists."""
        index, groups, state = 0, [], {}
        for group in self.param_groups:
            ids = []
            for p in group["params"]:
                if p in self.state:
                    entry = self.state[p]
                    state[index] = {k: (float(v) if k == "step" else v.copy())
                                    for k, v in entry.items()}
                ids.append(index)
                index += 1
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": ids})
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` (ours or torch.optim's, arrays as ndarrays).
        Everything is checked before anything changes."""
        name = type(self).__name__
        groups = state_dict.get("param_groups") if isinstance(state_dict, Mapping) else None
        saved_state = state_dict.get("state") if isinstance(state_dict, Mapping) else None
        if not isinstance(groups, list) or not isinstance(saved_state, Mapping):
            raise ValueError(f"{name}.load_state_dict: expected a dict with 'state' and "
                             "'param_groups'")
        if len(groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: {len(groups)} param groups saved, "
                             f"{len(self.param_groups)} here")
        new_groups, by_index = [], {}
        for mine, saved in zip(self.param_groups, groups):
            if len(saved.get("params", ())) != len(mine["params"]):
                raise ValueError(f"{name}.load_state_dict: a saved group has "
                                 f"{len(saved.get('params', ()))} params, this one "
                                 f"{len(mine['params'])}")
            keep = {k: saved[k] for k in self.defaults if k in saved}
            new_group = canonical_group(self.spec, {**self.defaults, **keep}, {}, name)
            self._check_variant(new_group)
            new_group.update({k: v for k, v in saved.items()
                              if k not in self.defaults and k != "params"})
            new_group["params"] = mine["params"]
            new_groups.append(new_group)
            by_index.update(zip(saved["params"], mine["params"]))
        new_state: dict[Parameter, dict[str, Any]] = {}
        known = {b.name for b in self.spec.state}
        for key, entry in saved_state.items():
            p = by_index.get(int(key))
            if p is None:
                raise ValueError(f"{name}.load_state_dict: state for unknown param index {key}")
            restored: dict[str, Any] = {}
            for buf, value in entry.items():
                if buf == "step":
                    step = float(np.asarray(value))
                    if step < 0 or step != int(step):
                        raise ValueError(f"{name}.load_state_dict: bad step {value!r}")
                    restored["step"] = int(step)
                elif buf in known:
                    arr = np.asarray(value)
                    if arr.shape != p.data.shape or arr.dtype != p.data.dtype:
                        raise ValueError(f"{name}.load_state_dict: {buf} of param {key} has "
                                         f"shape {arr.shape} dtype {arr.dtype}; the param has "
                                         f"{p.data.shape} {p.data.dtype}")
                    restored[buf] = aligned_copy(arr, p.data.dtype)
                else:
                    raise ValueError(f"{name}.load_state_dict: unknown state entry {buf!r} "
                                     f"(expected step or {', '.join(sorted(known))})")
            if "step" not in restored:  # torch's SGD keeps no step: a buffer means >= 1 step
                restored["step"] = 1 if len(restored) else 0
            new_state[p] = restored
        self._steady = None
        self.param_groups = new_groups
        self.state = new_state
        self._plans.clear()
        self._settings.clear()
        self._last.clear()

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in group.items() if k != "params"]
        return "\n".join(lines + [")"])


def _refreshed(plans: list[KernelPlan]) -> bool:
    """Every plan re-pointed at its parameters' current gradients (a plain loop:
    after a backward pass has emptied the caches, it runs faster than ``all(map())``)."""
    for plan in plans:
        if not plan.refresh():
            return False
    return True


def _check_grad(data: np.ndarray, grad: Any, what: str) -> None:
    check_array(grad, what, writable=False)
    if grad.dtype != data.dtype:
        raise TypeError(f"{what} has dtype {grad.dtype}, the parameter {data.dtype}")
    if grad.shape != data.shape:
        raise ValueError(f"{what} has shape {grad.shape}, the parameter {data.shape}")
