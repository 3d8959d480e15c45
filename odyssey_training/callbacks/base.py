"""``Callback`` and ``CallbackList``: hooks into a training loop, Keras 3's names.

A callback reaches the run through ``self.loop`` (given by :meth:`Callback.set_loop`):
``loop.model``, ``loop.optimizer``, ``loop.scheduler``, ``loop.stop_training``,
``loop.epoch``, ``loop.global_step``, ``loop.history``, ``loop.is_global_zero``;
the logging callbacks also read ``loop.params`` (Keras's: ``epochs``, ``steps``),
``loop.batches_done``, ``loop.metrics``, ``loop.loss_mean`` and ``loop.timings``.
Any object with the attributes a callback reads can drive its hooks by hand (that
is how callbacks are unit-tested; examples/composing_callbacks.py does it).  Every hook is a no-op here; ``CallbackList``
calls only the hooks a callback overrides, in order, and is itself a callback,
so lists compose.

Hook order in a run (``BasicTrainingLoop.fit``)::

    on_train_begin
      on_epoch_begin(epoch)
        on_train_batch_begin(batch) ... on_train_batch_end(batch)     per batch
        on_validation_begin
          on_validation_batch_begin(batch) ... on_validation_batch_end(batch)
        on_validation_end(logs)                                        val_* logs
      on_epoch_end(epoch, logs)                                        the epoch's logs
    on_train_end(logs)                  or, when an exception ends training, on_exception(exc)

At each hook the loop calls its callbacks in their order, then ``History``, then
the callbacks that write checkpoints (:attr:`Callback.writes_checkpoints`); at
``on_train_begin`` those come first, so a state one restores (BackupAndRestore) is
in place for the others.

A callback that holds state a resumed run needs (a best value, a wait count)
implements ``state_dict()`` / ``load_state_dict()`` with JSON-friendly values and
ndarrays; the loop saves it in its own state under the callback's
:attr:`state_key`.
"""

from __future__ import annotations

from typing import Any, Iterable

__all__ = ["Callback", "CallbackList", "HOOKS"]

#: every hook a callback may implement, in the order a run first calls them
HOOKS = ("on_train_begin", "on_epoch_begin", "on_train_batch_begin", "on_train_batch_end",
         "on_validation_begin", "on_validation_batch_begin", "on_validation_batch_end",
         "on_validation_end", "on_epoch_end", "on_train_end", "on_exception")


class Callback:
    """Base class: override the hooks you need (all are optional no-ops)."""

    loop: Any = None
    #: a callback that writes checkpoints runs after every other callback (and after
    #: ``History``) at each hook, so what it saves includes their work for that batch
    #: or epoch (ModelCheckpoint, BackupAndRestore; Lightning orders them the same way),
    #: and before them at ``on_train_begin``, so what it restores there is in place
    writes_checkpoints: bool = False

    def set_loop(self, loop: Any) -> None:
        """Called by the loop (or a test) before any hook."""
        self.loop = loop

    @property
    def model(self) -> Any:
        """The loop's model (Keras callbacks reach it as ``self.model``)."""
        return None if self.loop is None else self.loop.model

    @property
    def state_key(self) -> str:
        """Name of this callback's entry in the loop's state (unique per class by
        default; override for several stateful instances of one class)."""
        return type(self).__name__

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Before the first epoch."""

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """After the last epoch (``logs``: the last epoch's)."""

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """At the start of epoch ``epoch`` (counted from 0)."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """At the end of an epoch, after validation; ``logs`` holds ``loss``, the metrics,
        ``lr`` and the ``val_`` values (write into it to add logs)."""

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Before training batch ``batch`` (its index in the epoch)."""

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """After a training batch: ``logs`` holds its ``loss`` and ``size``."""

    def on_validation_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Before validation (EMA weights are swapped in here)."""

    def on_validation_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Before validation batch ``batch``."""

    def on_validation_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """After validation batch ``batch``."""

    def on_validation_end(self, logs: dict[str, Any] | None = None) -> None:
        """After validation, with its ``val_`` logs."""

    def on_exception(self, exception: BaseException) -> None:
        """Training is ending with ``exception`` (raised again after every callback's
        ``on_exception``; ``on_train_end`` does not run), as Lightning's hook: finish
        or release what must not be lost (a checkpoint being written)."""


def _overrides(callback: Callback, hook: str) -> bool:
    """Whether ``callback`` does something at ``hook`` (a method of its class other
    than the base's no-op, or a function set on the instance)."""
    if hook in vars(callback):
        return True
    return getattr(type(callback), hook) is not getattr(Callback, hook)


class CallbackList(Callback):
    """Callbacks called in order; only the hooks each one overrides are called.

    >>> class Count(Callback):
    ...     def __init__(self): self.epochs = 0
    ...     def on_epoch_end(self, epoch, logs=None): self.epochs += 1
    >>> a, b = Count(), Count()
    >>> cbs = CallbackList([a, CallbackList([b])])
    >>> cbs.on_epoch_end(0, {}); cbs.on_epoch_end(1, {})
    >>> a.epochs, b.epochs
    (2, 2)
    """

    def __init__(self, callbacks: Iterable[Callback] = ()) -> None:
        self.callbacks: list[Callback] = []
        self._calls: dict[str, list] = {hook: [] for hook in HOOKS}
        for cb in callbacks:
            self.append(cb)

    def append(self, callback: Callback) -> None:
        """Add a callback at the end (it joins the loop the list is set to)."""
        if not isinstance(callback, Callback):
            raise TypeError(f"callbacks must be Callback instances, got "
                            f"{type(callback).__name__}")
        if any(callback is cb for cb in self.callbacks):
            raise ValueError(f"{type(callback).__name__} is already in this list")
        self.callbacks.append(callback)
        for hook in HOOKS:
            if _overrides(callback, hook):
                self._calls[hook].append(getattr(callback, hook))
        if self.loop is not None:
            callback.set_loop(self.loop)

    def set_loop(self, loop: Any) -> None:
        self.loop = loop
        for cb in self.callbacks:
            cb.set_loop(loop)

    def __iter__(self):
        return iter(self.callbacks)

    def __len__(self) -> int:
        return len(self.callbacks)

    def __repr__(self) -> str:
        return f"CallbackList({self.callbacks!r})"

    def stateful(self) -> list[Callback]:
        """Every callback (nested lists included) that has ``state_dict``."""
        out = []
        for cb in self.callbacks:
            if isinstance(cb, CallbackList):
                out += cb.stateful()
            elif callable(getattr(cb, "state_dict", None)):
                out.append(cb)
        return out

    def on_train_begin(self, logs=None):
        for f in self._calls["on_train_begin"]:
            f(logs)

    def on_train_end(self, logs=None):
        for f in self._calls["on_train_end"]:
            f(logs)

    def on_epoch_begin(self, epoch, logs=None):
        for f in self._calls["on_epoch_begin"]:
            f(epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        for f in self._calls["on_epoch_end"]:
            f(epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        for f in self._calls["on_train_batch_begin"]:
            f(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        for f in self._calls["on_train_batch_end"]:
            f(batch, logs)

    def on_validation_begin(self, logs=None):
        for f in self._calls["on_validation_begin"]:
            f(logs)

    def on_validation_batch_begin(self, batch, logs=None):
        for f in self._calls["on_validation_batch_begin"]:
            f(batch, logs)

    def on_validation_batch_end(self, batch, logs=None):
        for f in self._calls["on_validation_batch_end"]:
            f(batch, logs)

    def on_validation_end(self, logs=None):
        for f in self._calls["on_validation_end"]:
            f(logs)

    def on_exception(self, exception):
        for f in self._calls["on_exception"]:
            f(exception)
