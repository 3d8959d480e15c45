"""``TorchOptimizer``: a ``torch.optim.Optimizer`` whose step is the odyssey
runtime's.

Each instance drives one *engine*, the NumPy-API optimizer of the same spec
(:class:`odyssey_training.optimizers.Optimizer`), whose param groups hold
:class:`~.tensors.TensorParameter` views of the torch tensors.  So the
kernels, pointer tables, step bookkeeping, fused
``max_grad_norm`` and state are the runtime's own; this class only keeps the
torch side in step:

* ``param_groups`` are torch's (tensors, torch's keys); each step copies the
  values the spec knows (``lr``, ``betas``, flags, ``max_grad_norm``) into the
  engine's groups, so torch's lr schedulers work unchanged;
* ``state`` is torch's layout, built on read from the engine's state: buffers
  are tensors sharing the engine's memory, ``step`` a float tensor as torch
  keeps it (none for SGD, as torch); ``state_dict()`` is torch's own method;
* the engine's plans are TensorPlans (:mod:`.plan`), which re-point the gradient
  column from each ``tensor.grad`` directly (KernelPlan.refresh's checks);
* ``load_state_dict`` is torch's own method (hooks, checks, casts); the state it
  assembles reaches :meth:`__setstate__`, which loads it into the engine
  (validated before anything changes).
"""

from __future__ import annotations

import inspect
import operator
from collections import defaultdict
from typing import Any, Callable, ClassVar

import torch
import torch.compiler as _compiler     # _is_compiling_flag: True while dynamo compiles
                                       # (read directly: a call costs a few µs after a
                                       # backward pass; a torch without it takes the full path)
from torch.autograd import profiler as _profiler
from torch.optim import optimizer as _torch_optimizer

from ...optimizers.base import Optimizer
from ...optimizers.hyper import group_defaults as engine_defaults, hyper_values
from .plan import TensorPlan
from .state import arrays_as_tensors, engine_state_dict, fill_torch_state, plain
from .steady import steady_step
from .tensors import TensorParameter

__all__ = ["TorchOptimizer"]

#: torch.optim's registries of global step hooks, or None if torch no longer has them
#: (or its profiler flag): then every step goes through torch's hook/profiler wrapper
_GLOBAL_HOOKS = ((_torch_optimizer._global_optimizer_pre_hooks,
                  _torch_optimizer._global_optimizer_post_hooks)
                 if hasattr(_torch_optimizer, "_global_optimizer_post_hooks")
                 and hasattr(_profiler, "_is_profiler_enabled") else None)

#: torch options that choose among torch's own implementations: accepted and kept
#: in the groups, whatever their value (ours is always one fused native call)
IMPLEMENTATION_OPTIONS = ("foreach", "fused")


def _holds_tensor(values: tuple) -> bool:
    """Whether a group's values hold a tensor (torch allows one for ``lr`` and ``betas``)."""
    return any(isinstance(v, torch.Tensor) or (
        isinstance(v, tuple) and any(isinstance(x, torch.Tensor) for x in v)) for v in values)


class _GroupSync:
    """What the engine's copy of one torch param group was last built from."""
    __slots__ = ("tensors", "values", "dynamic")

    def __init__(self, tensors: list) -> None:
        self.tensors, self.values, self.dynamic = list(tensors), None, True


class TorchOptimizer(torch.optim.Optimizer):
    """Base of the torch-facing optimizers (see :func:`~.classes.optimizer_class`).

    Class attributes set per spec: ``engine_class`` (the NumPy-API optimizer),
    ``spec``, ``init_signature`` (torch's constructor arguments plus
    ``max_grad_norm``, ``num_threads``, ``simd_width``), ``group_defaults`` (a
    param group's keys in torch's order), ``torch_options`` (torch-only options
    and the one value the kernels implement), ``stores_step`` and
    ``eager_state`` (torch's conventions for ``state``).
    """

    engine_class: ClassVar[type[Optimizer]]
    spec: ClassVar[Any]
    init_signature: ClassVar[inspect.Signature]
    group_defaults: ClassVar[dict[str, Any]]
    torch_options: ClassVar[dict[str, Any]]
    stores_step: ClassVar[bool] = True
    eager_state: ClassVar[bool] = False

    def __init__(self, params: Any, *args: Any, **kwargs: Any) -> None:
        bound = self.init_signature.bind(params, *args, **kwargs)
        bound.apply_defaults()
        values = dict(bound.arguments)
        params = values.pop("params")
        threads, width = values.pop("num_threads"), values.pop("simd_width")
        defaults = {**self.group_defaults, **values}
        self._check_options(defaults)
        self._engine_keys = tuple(engine_defaults(self.spec))
        self._engine = self.engine_class(None, num_threads=threads, simd_width=width,
                                         **self._engine_values(defaults))
        self._engine.plan_class = TensorPlan    # re-points gradients from the tensors
        self._members: dict[int, TensorParameter] = {}
        self._synced: list[_GroupSync] = []
        self._values_of = operator.itemgetter(*self._engine_keys)
        self._again: Callable[[], bool | None] | None = None    # see .steady
        super().__init__(params, defaults)

    # ---- what the engine reports ---------------------------------------------
    @property
    def engine(self) -> Optimizer:
        """The NumPy-API optimizer running the kernels on the tensors' memory."""
        return self._engine

    @property
    def last_grad_norm(self) -> float | None:
        """The last clipped group's gradient norm (``max_grad_norm``), as the engine's."""
        return self._engine.last_grad_norm

    @property
    def skipped_steps(self) -> int:
        """Group steps skipped for a non-finite gradient norm (``max_grad_norm``)."""
        return self._engine.skipped_steps

    # ---- param groups ---------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """torch's ``add_param_group``; the tensors and values are checked (and the
        group is dropped again on an error) before the engine gets the group."""
        super().add_param_group(param_group)
        index = len(self.param_groups) - 1
        group = self.param_groups[index]
        try:
            self._check_options(group)
            members = self._wrap(index, group)
            self._engine.add_param_group({"params": members, **self._engine_values(group)})
        except BaseException:
            self.param_groups.pop()
            raise
        self._synced.append(_GroupSync(group["params"]))
        if self.eager_state:
            self._create_state(index)

    def _engine_values(self, group: dict[str, Any]) -> dict[str, Any]:
        return {k: plain(group[k]) for k in self._engine_keys}

    def _check_options(self, group: dict[str, Any]) -> None:
        name = type(self).__name__
        for key, only in self.torch_options.items():
            value = group.get(key, only)
            if key in IMPLEMENTATION_OPTIONS:
                if value is not None and not isinstance(value, bool):
                    raise TypeError(f"{name}: {key} must be None, True or False, got {value!r}")
            elif value != only:
                raise ValueError(f"{name}: {key}={value!r} is not supported: the odyssey "
                                 f"kernel implements {key}={only!r}")

    def _wrap(self, index: int, group: dict[str, Any]) -> list[TensorParameter]:
        """The group's tensors as TensorParameters (one per tensor, reused)."""
        names = group.get("param_names")
        members = []
        for i, tensor in enumerate(group["params"]):
            member = self._members.get(id(tensor))
            if member is None or member.tensor is not tensor:
                name = names[i] if names else f"{i} of param group {index}"
                member = TensorParameter(tensor, str(name))
            members.append(member)
        for member in members:
            self._members[id(member.tensor)] = member
        return members

    def _create_state(self, index: int) -> None:
        """torch's Adagrad fills its state at construction: do the same."""
        from odyssey_codegen.api import compile_kernel
        engine = self._engine
        group = engine.param_groups[index]
        flags = engine._check_variant(group)
        values = {k: float(v) for k, v in hyper_values(self.spec, group).items()}
        for p in group["params"]:
            kernel = compile_kernel(self.spec, flags, p.data.dtype.name, width=engine.simd_width)
            engine._ensure_state(p, kernel.states, values)

    def _sync_groups(self) -> None:
        """Bring the engine's groups up to date with torch's (values a scheduler
        wrote, tensors put into ``group["params"]``)."""
        mine = self._engine.param_groups
        if len(self.param_groups) != len(mine):
            raise RuntimeError(f"{type(self).__name__}: param_groups was changed in place; "
                               "add groups with add_param_group()")
        for index, (group, engine_group, seen) in enumerate(zip(self.param_groups, mine,
                                                               self._synced)):
            tensors = group["params"]
            if len(tensors) != len(seen.tensors) or not all(
                    map(operator.is_, tensors, seen.tensors)):
                engine_group["params"] = self._wrap(index, group)
                seen.tensors = list(tensors)
            values = self._values_of(group)
            if seen.dynamic or values != seen.values:
                engine_group.update(zip(self._engine_keys, map(plain, values)))
                seen.values = values
                seen.dynamic = _holds_tensor(values)

    # ---- step -------------------------------------------------------------------
    def step(self, *args: Any, **kwargs: Any) -> Any:
        """``step(closure=None)``: one update of every tensor that has a ``.grad``,
        in place, by the spec's native kernel.  ``closure`` (re-evaluates the model
        and returns the loss) runs first, with gradients enabled; its loss is
        returned.  Step hooks (the optimizer's and the global ones) and the
        profiler range run as torch.optim's: through torch's own wrapper, which
        is skipped when there are no hooks and no profiler to serve."""
        again = self._again                 # step(): the common case, in one native call
        if again is not None and not args and not kwargs:
            done = again()
            if done is None:                # a group's values changed (a scheduler's lr)
                done = self._take_values() and again()
            if done:
                return None
        if (args or kwargs or self._optimizer_step_pre_hooks
                or self._optimizer_step_post_hooks or _GLOBAL_HOOKS is None or _GLOBAL_HOOKS[0]
                or _GLOBAL_HOOKS[1] or _profiler._is_profiler_enabled):
            return self._step_with_hooks(*args, **kwargs)
        self._update()
        return None

    # torch wraps a subclass's step in its hook/profiler wrapper unless marked so
    step.hooked = True  # type: ignore[attr-defined]

    def _step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._update()
        return loss

    _step_with_hooks = torch.optim.Optimizer.profile_hook_step(_step)

    def _update(self) -> None:
        """Sync the groups and run the engine's step.  Under torch.compile this goes
        through a ``torch.compiler.disable``d twin (a graph break: the step runs
        eagerly); eagerly it skips that wrapper's cost."""
        if torch.compiler.is_compiling():
            self._eager_update()
            return
        self._sync_groups()
        self._engine.step()
        self._again = (steady_step(self, _GLOBAL_HOOKS, _profiler, _compiler)
                       if _GLOBAL_HOOKS is not None and hasattr(_compiler, "_is_compiling_flag")
                       else None)

    def _take_values(self) -> bool:
        """For the steady step: hand each group's new values to the engine's last
        plans when they keep its kernels (plain numbers, as a scheduler's lr), as
        :meth:`_sync_groups` would before a full step; False when they need one
        (a tensor value among them, too: :func:`~...optimizers.hyper.revalidate`
        takes only plain numbers, as a tensor can change in place)."""
        engine = self._engine
        for index, (group, synced) in enumerate(zip(self.param_groups, self._synced)):
            values = self._values_of(group)
            if all(map(operator.is_, values, synced.values)):
                continue
            if not engine._revalue(index, values):
                return False
            engine.param_groups[index].update(zip(self._engine_keys, values))
            synced.values = values
        return True

    @torch.compiler.disable
    def _eager_update(self) -> None:
        self._sync_groups()
        self._engine.step()

    # ---- state, in torch's layout -------------------------------------------------
    @property
    def state(self) -> defaultdict:
        """torch's ``state``: per tensor, the engine's buffers as tensors sharing
        their memory, and ``step`` as a float tensor (as torch keeps it)."""
        view = self.__dict__["_state_view"]
        if "_engine" in self.__dict__:
            fill_torch_state(view, self._engine.state, self.stores_step)
        return view

    @state.setter
    def state(self, value: defaultdict) -> None:
        self.__dict__["_state_view"] = value

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """torch's ``load_state_dict``; state arrays may also be ndarrays (as a
        checkpoint file brings them back): they are taken as tensors."""
        state_dict = arrays_as_tensors(state_dict)
        super().load_state_dict(state_dict)

    def __getstate__(self) -> dict[str, Any]:
        return {**super().__getstate__(), "num_threads": self._engine.num_threads,
                "simd_width": self._engine.simd_width}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """The end of torch's ``load_state_dict`` (and of unpickling or
        ``copy.deepcopy``): load ``state["state"]`` (keyed by tensor, already cast
        by torch) and ``state["param_groups"]`` into the engine, checked first."""
        if "_engine" not in self.__dict__:
            self._unpickle(state)
            return
        groups = state["param_groups"]
        for group in groups:
            self._check_options(group)
        self._engine.load_state_dict(engine_state_dict(groups, state["state"],
                                                       self._engine_keys, type(self).__name__))
        for group in groups:
            for key, value in self.defaults.items():
                group.setdefault(key, value)
        self.__dict__["_state_view"] = defaultdict(dict)
        super().__setstate__({"param_groups": groups})
        self._synced = [_GroupSync(g["params"]) for g in groups]

    def _unpickle(self, state: dict[str, Any]) -> None:
        defaults = state["defaults"]
        names = [n for n in self.init_signature.parameters if n in defaults]
        groups = [dict(g) for g in state["param_groups"]]
        TorchOptimizer.__init__(self, groups, **{n: defaults[n] for n in names},
                                num_threads=state.get("num_threads"),
                                simd_width=state.get("simd_width"))
        self.__setstate__({"state": state["state"], "param_groups": self.param_groups})
