"""Optimizers.  Each standard optimizer is generated from its spec in
``specs/optimizers/`` into ``odyssey_training.generated`` and imported from
there on first use; :class:`Optimizer` is the runtime they all share."""

from importlib import import_module
from typing import Any

from ..generated import MODULES
from .base import Optimizer

_CLASSES = {cls: module for module, cls in MODULES.items()}
__all__ = ["Optimizer", *sorted(_CLASSES)]


def __getattr__(name: str) -> Any:
    module = _CLASSES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    cls = getattr(import_module(f"odyssey_training.generated.{module}"), name)
    globals()[name] = cls
    return cls


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_CLASSES))
