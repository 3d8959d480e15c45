"""PyTorch interop: the generated kernels as ``torch.optim`` optimizers, and
torch modules in the training loops.

>>> import torch
>>> from odyssey_training.interop.torch import AdamW
>>> model = torch.nn.Linear(4, 2)
>>> opt = AdamW(model.parameters(), lr=1e-2)        # torch.optim.AdamW's arguments
>>> model(torch.ones(3, 4)).square().sum().backward()
>>> before = model.weight.data_ptr()
>>> opt.step()                                       # in place, on the tensors' memory
>>> model.weight.data_ptr() == before
True

* ``SGD, Adam, AdamW, RMSprop, Adagrad, Lion`` and every other standard spec:
  ``torch.optim.Optimizer`` subclasses (see :mod:`.classes`); ``from_spec(path)``
  builds one from a user's spec file; ``optimizer_class(cls)`` from an odyssey
  optimizer class.
* :class:`TorchModel` adapts an ``nn.Module`` to the loops' Model protocol.

torch is imported by this subpackage only; ``import odyssey_training`` never
imports it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

try:
    import torch as _torch  # noqa: F401  (fail here, with the extra to install)
except ImportError as err:  # pragma: no cover - exercised without torch installed
    raise ImportError("odyssey_training.interop.torch needs PyTorch: "
                      "pip install 'odyssey-training[torch]'") from err

from ... import optimizers as _optimizers
from .classes import optimizer_class, torch_counterpart
from .model import TorchModel
from .optimizer import TorchOptimizer
from .tensors import TensorParameter

_STANDARD = [n for n in _optimizers.__all__ if n != "Optimizer"]
__all__ = ["TorchOptimizer", "TorchModel", "TensorParameter", "from_spec", "optimizer_class",
           "torch_counterpart", *_STANDARD]


def from_spec(path: str | Path) -> type[TorchOptimizer]:
    """A ``torch.optim.Optimizer`` subclass for the optimizer spec at ``path``
    (compiled on first use; a broken or unsafe spec raises ``SpecError`` here)."""
    from ... import load_spec
    return optimizer_class(load_spec(path))


def __getattr__(name: str) -> Any:
    if name not in _STANDARD:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    cls = optimizer_class(getattr(_optimizers, name))
    globals()[name] = cls
    return cls


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_STANDARD))
