"""Which arrays a checkpoint holds for the model: ``Parameter``s by name, and the
model's buffers (non-trainable state such as BatchNorm's running statistics)
when it has ``buffers()``, the Model protocol's optional method."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ..parameter import Parameter

__all__ = ["named_parameters", "model_buffers"]


def named_parameters(model: Any = None, params: Any = None) -> dict[str, Parameter] | None:
    """``{key: Parameter}`` in order, or None when neither is given.

    ``model`` is anything with ``parameters() -> list[Parameter]``; ``params`` a
    list of Parameters or a dict name -> Parameter.  A Parameter's key is its
    dict key, else its ``name``, else its position (``"0"``, ``"1"``, ...);
    a key used twice is a ValueError.
    """
    if model is not None and params is not None:
        raise ValueError("checkpoint: pass model= or params=, not both")
    if model is not None:
        if not callable(getattr(model, "parameters", None)):
            raise TypeError(f"checkpoint: model must have a parameters() method, got "
                            f"{type(model).__name__}")
        params = list(model.parameters())
    if params is None:
        return None
    if isinstance(params, Parameter):
        params = [params]
    if isinstance(params, Mapping):
        items = list(params.items())
        for key, _ in items:
            if not isinstance(key, str):
                raise TypeError(f"checkpoint: params keys must be str, got {key!r}")
    else:
        items = [(p.name if isinstance(p, Parameter) and p.name else str(i), p)
                 for i, p in enumerate(params)]
    named: dict[str, Parameter] = {}
    for key, p in items:
        if not isinstance(p, Parameter):
            raise TypeError(f"checkpoint: {key!r} is a {type(p).__name__}, not an "
                            "odyssey_training.Parameter")
        if key in named:
            raise ValueError(f"checkpoint: two parameters are named {key!r}; names must be "
                             "unique (or leave them unnamed to key them by position)")
        named[key] = p
    return named


def model_buffers(model: Any) -> dict[str, np.ndarray] | None:
    """``model.buffers()`` (``{name: ndarray}``: arrays the model updates in place and
    a checkpoint restores in place), or None when the model has no such method."""
    method = getattr(model, "buffers", None)
    if model is None or not callable(method):
        return None
    buffers = method()
    if not isinstance(buffers, Mapping):
        raise TypeError(f"checkpoint: {type(model).__name__}.buffers() must return a dict "
                        f"name -> ndarray, got {type(buffers).__name__}")
    for key, arr in buffers.items():
        if not isinstance(key, str) or not isinstance(arr, np.ndarray):
            raise TypeError(f"checkpoint: buffer {key!r} of {type(model).__name__} must be an "
                            f"ndarray under a str name, got {type(arr).__name__}")
    return dict(buffers)
