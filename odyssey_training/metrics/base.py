"""``Metric``: the contract every metric follows.

A metric is a small *state* (sums and counts) plus a pure ``compute`` of the
value from that state:

* ``update(preds, targets)`` folds one batch into the state;
* ``compute()`` returns the value for everything seen since the last ``reset()``;
* ``merge(other)`` adds another metric's state (another data shard, another
  rank) into this one and returns ``self``; ``a.merge(b).compute()`` equals
  the value over the concatenated data;
* ``state_dict()`` / ``load_state_dict(sd)`` round-trip the state: a plain dict
  with ``"metric"`` (the class name), ``"config"`` (the constructor arguments,
  JSON-friendly) and ``"state"`` (ints, floats or int64 ndarrays — never pickle).
  Distributed ranks can sum the ``"state"`` arrays element-wise (except for
  ``LossTracker``, whose state is merged with Chan's formula: use ``merge``).

Metrics are not thread-safe: update one metric from one thread at a time (the
kernels themselves use many threads for a large batch).
"""

from __future__ import annotations

import abc
from typing import Any

__all__ = ["Metric"]


class Metric(abc.ABC):
    """Base class: subclasses implement the five ``_``-prefixed hooks below."""

    #: whether a larger value is better (torchmetrics' name): ``mode="auto"`` of the
    #: monitoring callbacks reads it; None when the value is not a score
    higher_is_better: bool | None = None

    def update(self, preds: Any, targets: Any) -> None:
        """Fold a batch into the state (see the subclass for accepted inputs)."""
        self._update(preds, targets)

    @abc.abstractmethod
    def _update(self, preds: Any, targets: Any) -> None: ...

    @abc.abstractmethod
    def compute(self) -> Any:
        """The metric's value over every batch since the last ``reset()``."""

    @abc.abstractmethod
    def reset(self) -> None:
        """Forget every batch (the configuration stays)."""

    @abc.abstractmethod
    def config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-friendly); equal configs can merge."""

    @abc.abstractmethod
    def _get_state(self) -> dict[str, Any]: ...

    @abc.abstractmethod
    def _set_state(self, state: dict[str, Any]) -> None:
        """Validate and install ``state`` (raise ValueError/TypeError, change nothing)."""

    @abc.abstractmethod
    def _merge_state(self, other: "Metric") -> None: ...

    def merge(self, other: "Metric") -> "Metric":
        """Add ``other``'s state into this metric; returns ``self``."""
        self._check_compatible(other)
        self._merge_state(other)
        return self

    def state_dict(self) -> dict[str, Any]:
        """``{"metric": name, "config": {...}, "state": {...}}`` (a copy)."""
        return {"metric": type(self).__name__, "config": self.config(),
                "state": self._get_state()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`; the metric type and config must match."""
        if not isinstance(state_dict, dict) or not {"metric", "config", "state"} <= set(
                state_dict):
            raise ValueError("a metric state_dict is a dict with 'metric', 'config' and "
                             "'state'")
        if state_dict["metric"] != type(self).__name__:
            raise ValueError(f"state_dict is for {state_dict['metric']!r}, not "
                             f"{type(self).__name__!r}")
        if not isinstance(state_dict["config"], dict) or not self._config_compatible(
                state_dict["config"]):
            raise ValueError(f"state_dict config {state_dict['config']} does not match this "
                             f"metric's {self.config()}")
        if not isinstance(state_dict["state"], dict):
            raise ValueError("state_dict['state'] must be a dict")
        self._set_state(state_dict["state"])
        self._adopt_config(state_dict["config"])

    def _check_compatible(self, other: "Metric") -> None:
        if type(other) is not type(self):
            raise TypeError(f"cannot merge {type(other).__name__} into {type(self).__name__}")
        if not self._config_compatible(other.config()):
            raise ValueError(f"cannot merge metrics with different configs: {self.config()} "
                             f"vs {other.config()}")

    # -- configs that are settled late (a class count taken from the first batch) --------

    def _config_compatible(self, config: dict[str, Any]) -> bool:
        """Whether a state with ``config`` may be merged or loaded into this metric."""
        return self._config_compatible_plain(self.config(), config)

    @staticmethod
    def _config_compatible_plain(mine: dict[str, Any], theirs: dict[str, Any]) -> bool:
        return _jsonish(mine) == _jsonish(theirs)

    def _adopt_config(self, config: dict[str, Any]) -> None:
        """Take what ``config`` settles that this metric left open (a no-op here)."""

    def _snapshot(self) -> Any:
        """Everything an update may change (for an all-or-nothing collection update)."""
        return self._get_state()

    def _restore(self, snapshot: Any) -> None:
        self._set_state(snapshot)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


def _jsonish(value: Any) -> Any:
    """Compare configs as JSON would see them (tuples are lists)."""
    if isinstance(value, dict):
        return {k: _jsonish(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonish(v) for v in value]
    return value
