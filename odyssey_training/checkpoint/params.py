"""Which arrays a checkpoint holds for the model: ``Parameter``s by name."""

from __future__ import annotations

from typing import Any, Mapping

from ..parameter import Parameter

__all__ = ["named_parameters"]


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
