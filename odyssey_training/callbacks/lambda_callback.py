"""``LambdaCallback``: a callback made of plain functions, as Keras 3's."""

from __future__ import annotations

from typing import Any, Callable

from .base import HOOKS, Callback

__all__ = ["LambdaCallback"]

Hook = Callable[..., Any]


class LambdaCallback(Callback):
    """Run the given functions at their hooks; the other hooks do nothing.

    The functions take the hook's arguments: ``on_epoch_begin(epoch, logs)``,
    ``on_epoch_end(epoch, logs)``, ``on_train_begin(logs)``, ``on_train_end(logs)``,
    ``on_train_batch_begin(batch, logs)``, ``on_train_batch_end(batch, logs)``, and
    through ``**kwargs`` the remaining hooks (``on_validation_begin(logs)``,
    ``on_validation_end(logs)``, ``on_validation_batch_begin/end(batch, logs)``).
    As in Keras a keyword names a hook; unlike Keras an unknown keyword (a typo such as
    ``on_epoch_ends``) is a TypeError rather than a silently unused attribute.

    >>> losses = []
    >>> cb = LambdaCallback(on_epoch_end=lambda epoch, logs: losses.append(logs["loss"]))
    >>> cb.on_epoch_end(0, {"loss": 0.5}); losses
    [0.5]
    """

    def __init__(self, on_epoch_begin: Hook | None = None, on_epoch_end: Hook | None = None,
                 on_train_begin: Hook | None = None, on_train_end: Hook | None = None,
                 on_train_batch_begin: Hook | None = None,
                 on_train_batch_end: Hook | None = None, **kwargs: Hook | None) -> None:
        unknown = sorted(k for k in kwargs if k not in HOOKS)
        if unknown:
            raise TypeError(f"LambdaCallback got unknown hook(s) {', '.join(unknown)}; the "
                            f"hooks are {', '.join(HOOKS)}")
        given = {"on_epoch_begin": on_epoch_begin, "on_epoch_end": on_epoch_end,
                 "on_train_begin": on_train_begin, "on_train_end": on_train_end,
                 "on_train_batch_begin": on_train_batch_begin,
                 "on_train_batch_end": on_train_batch_end, **kwargs}
        for hook, function in given.items():
            if function is None:
                continue
            if not callable(function):
                raise TypeError(f"{hook} must be callable, got {type(function).__name__}")
            setattr(self, hook, function)    # an instance attribute: CallbackList calls it
