"""One ``torch.optim.Optimizer`` subclass per spec, built from the spec.

When ``torch.optim`` has an optimizer of the spec's name whose constructor
takes every hyperparameter and flag the spec declares, the class copies that
constructor: its arguments, their order, which are keyword-only, and the keys
of its param groups (torch's defaults, e.g. ``foreach``, ``capturable``).
Torch-only options are kept in the groups; ``foreach`` and ``fused`` take any
value (they choose among torch's implementations), the others only the value
the kernel implements (``differentiable=False``, ``capturable=False``); an option
the spec declares (Adam's ``decoupled_weight_decay``) is the spec's.  A spec torch
does not have gets its hyperparameters (tuples such as ``betas`` as torch
writes them) and flags as arguments, in the spec's order.  Every class also
takes keyword-only ``max_grad_norm``, ``num_threads`` and ``simd_width``.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

from ...optimizers.base import Optimizer
from ...optimizers.hyper import group_defaults
from .optimizer import TorchOptimizer

__all__ = ["optimizer_class", "torch_counterpart"]

#: torch.optim conventions for ``state`` that the spec cannot tell: optimizers
#: that keep no ``step`` count, and those that fill their state at construction
STEPLESS = frozenset({"SGD"})
EAGER_STATE = frozenset({"Adagrad"})

_P = inspect.Parameter
_EXTRAS = [_P("max_grad_norm", _P.KEYWORD_ONLY, default=None),
           _P("num_threads", _P.KEYWORD_ONLY, default=None),
           _P("simd_width", _P.KEYWORD_ONLY, default=None)]
_classes: dict[type, type] = {}


def torch_counterpart(spec: Any) -> type | None:
    """``torch.optim``'s optimizer of the spec's name, when its constructor takes
    every argument the spec declares; else None."""
    cls = getattr(torch.optim, spec.name, None)
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        return None
    names = set(inspect.signature(cls.__init__).parameters)
    return cls if set(group_defaults(spec)) - {"max_grad_norm"} <= names else None


def optimizer_class(engine_class: type[Optimizer]) -> type[TorchOptimizer]:
    """The torch-facing class for an odyssey optimizer class (one per class)."""
    cls = _classes.get(engine_class)
    if cls is None:
        cls = _classes[engine_class] = _build(engine_class)
    return cls


def _build(engine_class: type[Optimizer]) -> type[TorchOptimizer]:
    spec = engine_class.spec
    ours = group_defaults(spec)            # spec keys + max_grad_norm
    counterpart = torch_counterpart(spec)
    if counterpart is not None:
        arguments = [p.replace(default=ours.get(p.name, p.default))
                     for name, p in inspect.signature(counterpart.__init__).parameters.items()
                     if name != "self"]
        theirs = counterpart([torch.zeros(1, requires_grad=True)]).defaults
        defaults = {**theirs, **ours}
        options = {k: v for k, v in theirs.items() if k not in ours}
    else:
        arguments = [_P("params", _P.POSITIONAL_OR_KEYWORD)] + [
            _P(name, _P.POSITIONAL_OR_KEYWORD, default=value)
            for name, value in ours.items() if name != "max_grad_norm"]
        defaults, options = dict(ours), {}
    signature = inspect.Signature(arguments + _EXTRAS)
    name = spec.name
    namespace = {
        "spec": spec, "engine_class": engine_class, "init_signature": signature,
        "group_defaults": defaults, "torch_options": options,
        "stores_step": not (counterpart is not None and name in STEPLESS),
        "eager_state": counterpart is not None and name in EAGER_STATE,
        "__signature__": signature, "__module__": "odyssey_training.interop.torch",
        "__qualname__": name, "__doc__": _doc(spec, signature, counterpart),
    }
    return type(name, (TorchOptimizer,), namespace)


def _doc(spec: Any, signature: inspect.Signature, counterpart: type | None) -> str:
    like = (f"a drop-in for ``torch.optim.{counterpart.__name__}``" if counterpart
            else "a ``torch.optim.Optimizer``")
    return (f"{spec.name}{signature}\n\n{spec.doc}\n\nThis class is {like} whose ``step()`` "
            f"runs the native kernel compiled from ``{spec.path}`` on the CPU tensors' "
            f"memory, in place.  The update rule, symbols and defaults are documented on "
            f"``odyssey_training.optimizers.{spec.name}``; ``max_grad_norm`` clips each "
            "group's gradients to that global L2 norm inside the kernel.")
