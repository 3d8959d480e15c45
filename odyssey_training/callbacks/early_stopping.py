"""``EarlyStopping``: stop training when a monitored quantity stops improving
(Keras 3's ``keras.callbacks.EarlyStopping``, the same arguments and rules)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .monitor import MonitorCallback, check_int, check_number, continuing, say

__all__ = ["EarlyStopping"]


class EarlyStopping(MonitorCallback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs.

    At the end of each epoch ``e >= start_from_epoch`` with a monitored value
    ``v`` (Keras 3's order of operations)::

        wait += 1
        if v improves on best (by more than min_delta; any v when best is None):
            best, best_epoch = v, e          (and best_weights = a copy, if restoring)
            if baseline is None or v improves on baseline: wait = 0
        elif wait >= patience and e > 0:
            stopped_epoch = e; loop.stop_training = True

    With ``restore_best_weights`` the model's parameters are copied at each new best
    (and at the first monitored epoch) and copied back **in place** at the end of
    training, whether or not the callback stopped it (Keras 3).

    Args:
        monitor: log key to watch (default ``"val_loss"``).
        min_delta: an improvement must exceed ``|min_delta|``.
        patience: epochs without improvement before stopping.
        verbose: 1 prints when the callback acts.
        mode: ``"auto"``, ``"min"`` or ``"max"``.
        baseline: training stops after ``patience`` epochs unless the monitored value
            beats this value.
        restore_best_weights: put back the best epoch's parameters at the end.
        start_from_epoch: epochs of warm-up that are not monitored.

    Attributes: ``best``, ``best_epoch``, ``wait``, ``stopped_epoch`` (0 when it did
    not stop), ``best_weights``; all kept in ``state_dict()`` so a resumed run goes
    on counting.  ``on_train_begin`` resets them (an instance can serve several
    ``fit`` calls), except when the loop continues a restored state.

    >>> es = EarlyStopping(monitor="loss", patience=1)
    >>> class Loop: stop_training = False
    >>> es.set_loop(Loop()); es.on_train_begin()
    >>> for epoch, loss in enumerate([3.0, 2.0, 2.5]):
    ...     es.on_epoch_end(epoch, {"loss": loss})
    >>> es.loop.stop_training, es.stopped_epoch, es.best, es.best_epoch
    (True, 2, 2.0, 1)
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0, patience: int = 0,
                 verbose: int = 0, mode: str = "auto", baseline: float | None = None,
                 restore_best_weights: bool = False, start_from_epoch: int = 0) -> None:
        super().__init__(monitor, mode, min_delta=min_delta)
        owner = type(self).__name__
        self.patience = check_int(owner, "patience", patience)
        self.verbose = check_int(owner, "verbose", verbose)
        self.baseline = None if baseline is None else check_number(owner, "baseline", baseline)
        if not isinstance(restore_best_weights, bool):
            raise TypeError(f"{owner}: restore_best_weights must be a bool, got "
                            f"{restore_best_weights!r}")
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = check_int(owner, "start_from_epoch", start_from_epoch)
        self._reset()

    def _reset(self) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights: list[np.ndarray] | None = None
        self.best_epoch = 0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if not continuing(self.loop):
            self._reset()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self._get_weights()   # never set: the current ones are best
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self._get_weights()
            # restart the wait only when beating both the baseline and the best
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.loop.stop_training = True

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            say(self.loop, f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                say(self.loop, "Restoring model weights from the end of the best epoch: "
                               f"{self.best_epoch + 1}.")
            self._set_weights(self.best_weights)

    # ---- weights: the model's Parameter arrays -------------------------------
    def _get_weights(self) -> list[np.ndarray]:
        return [p.data.copy() for p in self.model.parameters()]

    def _set_weights(self, weights: list[np.ndarray]) -> None:
        params = self.model.parameters()
        if len(weights) != len(params) or any(
                w.shape != p.data.shape or w.dtype != p.data.dtype
                for w, p in zip(weights, params)):
            raise ValueError("EarlyStopping: the saved best weights do not match the model's "
                             "parameters (count, shapes or dtypes)")
        for w, p in zip(weights, params):
            np.copyto(p.data, w)        # in place: optimizers hold pointers to p.data

    # ---- state a resumed run needs -------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait,
                "stopped_epoch": self.stopped_epoch,
                "best_weights": (None if self.best_weights is None
                                 else [w.copy() for w in self.best_weights])}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        owner = "EarlyStopping state"
        if not isinstance(state, dict):
            raise ValueError(f"{owner} must be a dict, got {type(state).__name__}")
        best = self._load_best(state)
        counts = {k: check_int(owner, k, state.get(k))
                  for k in ("best_epoch", "wait", "stopped_epoch")}
        weights = state.get("best_weights")
        if weights is not None:
            if not isinstance(weights, (list, tuple)) or not all(
                    isinstance(w, np.ndarray) for w in weights):
                raise ValueError(f"{owner}: best_weights must be a list of arrays or None")
            weights = [np.array(w) for w in weights]
        self.best, self.best_weights = best, weights
        self.best_epoch, self.wait = counts["best_epoch"], counts["wait"]
        self.stopped_epoch = counts["stopped_epoch"]
