"""The scheduler base class: the closed form ``lr_at(step)`` is the truth.

A scheduler works on any object with ``param_groups`` (a list of dicts holding
``"lr"``, and ``"momentum"`` or ``"betas"`` where the optimizer has them): the
odyssey optimizers and ``torch.optim`` optimizers alike.  ``step()`` advances
``last_epoch`` by one and writes ``lr_at(last_epoch)`` into every group, so a
value never depends on how many times, or in what order, earlier values were
computed, and a resumed run continues exactly.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from ._args import check_int

S = TypeVar("S")


class OptimizerLike(Protocol):
    """What a scheduler needs from an optimizer: its parameter groups."""

    param_groups: list[dict[str, Any]]


def param_groups_of(optimizer: Any) -> list[dict[str, Any]]:
    """Return ``optimizer.param_groups``, checked to be a non-empty list of dicts with ``"lr"``."""
    groups = getattr(optimizer, "param_groups", None)
    if (
        not isinstance(groups, list)
        or not groups
        or not all(isinstance(g, MutableMapping) and "lr" in g for g in groups)
    ):
        raise TypeError(
            "optimizer must have param_groups, a non-empty list of dicts with an 'lr' key; "
            f"got {type(optimizer).__name__}"
        )
    return groups


def momentum_key(optimizer: Any) -> str | None:
    """``"betas"`` or ``"momentum"``: what momentum cycling writes (as torch: betas first).

    Looks at ``optimizer.defaults`` when the optimizer has them (torch), else at the first group.
    """
    defaults = getattr(optimizer, "defaults", None)
    keys = defaults if isinstance(defaults, Mapping) else optimizer.param_groups[0]
    if "betas" in keys:
        return "betas"
    if "momentum" in keys:
        return "momentum"
    return None


def write_momenta(groups: list[dict[str, Any]], key: str, values: list[float]) -> None:
    """Write one momentum per group: ``group["momentum"]``, or beta1 of ``group["betas"]``."""
    for group, value in zip(groups, values, strict=True):
        if key == "betas":
            group["betas"] = (value, *tuple(group["betas"])[1:])
        else:
            group["momentum"] = value


def plain(value: Any) -> Any:
    """A JSON-friendly copy: tuples become lists, numbers and strings stay as they are."""
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


class Recurrence(Generic[S]):
    """Memo of a forward recurrence ``x_t = advance(t, x_{t-1})`` with ``x_0 = first()``.

    ``at(t)`` continues from the last step it computed when ``t`` is not behind it,
    otherwise it restarts from ``x_0``; either way the result is the same float
    sequence, so a value is a pure function of ``t``.
    """

    def __init__(self, first: Callable[[], S], advance: Callable[[int, S], S]) -> None:
        self._first = first
        self._advance = advance
        self._t = -1
        self._x: S | None = None

    def at(self, t: int) -> S:
        if self._t < 0 or t < self._t:
            self._t, self._x = 0, self._first()
        while self._t < t:
            self._t += 1
            self._x = self._advance(self._t, self._x)
        return self._x

    def reset(self) -> None:
        self._t, self._x = -1, None


class LRScheduler(ABC):
    """Base class of the step-driven schedulers.

    Args:
        optimizer: any object with ``param_groups``.
        last_epoch: index of the last step taken; ``-1`` starts a new schedule.  A
            value ``k >= 0`` needs ``"initial_lr"`` in every group (as torch) and
            leaves the scheduler at step ``k + 1``, with ``lr_at(k + 1)`` written.

    Subclasses check their arguments, set their fields, then call this ``__init__``,
    and implement ``_lr_at(step)``.  ``_fields`` names the attributes that
    ``state_dict`` saves beside ``last_epoch``, ``base_lrs`` and ``_last_lr``.
    """

    _fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, optimizer: OptimizerLike, last_epoch: int = -1) -> None:
        groups = param_groups_of(optimizer)
        last_epoch = check_int("last_epoch", last_epoch, minimum=-1)
        if last_epoch >= 0:
            missing = [i for i, g in enumerate(groups) if "initial_lr" not in g]
            if missing:
                raise ValueError(
                    f"last_epoch={last_epoch} resumes a schedule, but param_groups {missing} "
                    "have no 'initial_lr'; load the optimizer's state first or use last_epoch=-1"
                )
        self.optimizer = optimizer
        self._prepare_groups(groups, fresh=last_epoch == -1)
        self.base_lrs: list[float] = self._read_base_lrs(groups)
        self.last_epoch = last_epoch
        self._last_lr: list[float] = [float(g["lr"]) for g in groups]
        self.step()

    # -- hooks -----------------------------------------------------------------------------

    def _prepare_groups(self, groups: list[dict[str, Any]], fresh: bool) -> None:
        """Record ``initial_lr`` in each group (kept if already there, as torch)."""
        if fresh:
            for group in groups:
                group.setdefault("initial_lr", float(group["lr"]))

    def _read_base_lrs(self, groups: list[dict[str, Any]]) -> list[float]:
        return [float(g["initial_lr"]) for g in groups]

    @abstractmethod
    def _lr_at(self, step: int) -> list[float]:
        """The learning rate of each group at ``step`` (already checked to be >= 0)."""

    def _momentum_at(self, step: int) -> list[float] | None:
        """The momentum (or beta1) of each group at ``step``; None when not scheduled."""
        return None

    def _on_load(self) -> None:  # noqa: B027 - an optional hook, a no-op unless overridden
        """Rebuild whatever derives from the fields after ``load_state_dict``."""

    # -- chaining (used by SequentialLR and ChainedScheduler) ---------------------------------

    def _recursive_lr(self, step: int, lrs: list[float]) -> list[float]:
        """torch's chainable rule: the lrs after stepping to ``step`` from the current ``lrs``.

        Schedules that torch computes in closed form ignore ``lrs``; multiplicative and
        recursive ones override this to scale ``lrs``, which is how torch composes them.
        """
        return self._lr_at(step)

    def _restart_lr(self, lrs: list[float]) -> list[float]:
        """The lrs when SequentialLR hands over to this scheduler (torch: closed form at 0)."""
        return self._lr_at(0)

    # -- public API ------------------------------------------------------------------------

    def lr_at(self, step: int) -> list[float]:
        """The learning rate of every param group at ``step`` (a pure function of ``step``)."""
        return self._lr_at(check_int("step", step, minimum=0))

    def momentum_at(self, step: int) -> list[float] | None:
        """The momentum (or beta1) of every group at ``step``, or None when not scheduled."""
        return self._momentum_at(check_int("step", step, minimum=0))

    def step(self, epoch: int | None = None) -> None:
        """Advance one step (or jump to ``epoch``) and write the lrs into the optimizer."""
        target = self.last_epoch + 1 if epoch is None else check_int("epoch", epoch, minimum=0)
        self._commit(target, self._lr_at(target), self._momentum_at(target))

    def get_last_lr(self) -> list[float]:
        """The learning rates the last ``step()`` wrote, one per param group."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Explicit, JSON-friendly state: step, base lrs, last lrs and the schedule's fields.

        Callables (``lr_lambda``, ``scale_fn``) are not saved, as in torch: the
        scheduler that loads the state must be constructed with the same functions.
        """
        state: dict[str, Any] = {
            "scheduler": type(self).__name__,
            "last_epoch": self.last_epoch,
            "base_lrs": list(self.base_lrs),
            "_last_lr": list(self._last_lr),
        }
        for name in self._fields:
            state[name] = plain(getattr(self, name))
        return state

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a ``state_dict()`` and write its lrs (and momenta) back into the optimizer."""
        check_state(self, state_dict, ("last_epoch", "base_lrs", "_last_lr", *self._fields))
        self.last_epoch = state_dict["last_epoch"]
        self.base_lrs = [float(v) for v in state_dict["base_lrs"]]
        self._last_lr = [float(v) for v in state_dict["_last_lr"]]
        for name in self._fields:
            value = state_dict[name]
            setattr(self, name, list(value) if isinstance(value, (list, tuple)) else value)
        self._on_load()
        momenta = self._momentum_at(self.last_epoch) if self.last_epoch >= 0 else None
        self._write(self._last_lr, momenta)

    # -- helpers ---------------------------------------------------------------------------

    def _commit(self, step: int, lrs: list[float], momenta: list[float] | None) -> None:
        self.last_epoch = step
        self._write(lrs, momenta)
        self._last_lr = list(lrs)

    def _write(self, lrs: list[float], momenta: list[float] | None) -> None:
        groups = self.optimizer.param_groups
        if len(lrs) != len(groups):
            raise ValueError(
                f"the optimizer has {len(groups)} param groups but the schedule has {len(lrs)}"
            )
        for group, lr in zip(groups, lrs):
            group["lr"] = lr
        if momenta is not None:
            key = momentum_key(self.optimizer)
            if key is not None:
                write_momenta(groups, key, momenta)


def check_state(owner: object, state_dict: Mapping[str, Any], required: tuple[str, ...]) -> None:
    """Check a state dict names ``owner``'s class (when it names one) and has every required key."""
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be a mapping, got {type(state_dict).__name__}")
    kind = state_dict.get("scheduler", type(owner).__name__)
    if kind != type(owner).__name__:
        raise ValueError(f"state_dict is for a {kind}, not a {type(owner).__name__}")
    missing = [key for key in required if key not in state_dict]
    if missing:
        raise ValueError(f"state_dict is missing {missing}")
