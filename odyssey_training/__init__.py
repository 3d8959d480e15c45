"""odyssey-training: optimizers, schedulers, metrics and training loops whose
per-element math is compiled from declarative specs into native kernels.

>>> import numpy as np, odyssey_training as ot
>>> from odyssey_training.optimizers import SGD
>>> w = ot.Parameter(np.array([3.0]))
>>> opt = SGD([w], lr=0.25)
>>> w.grad = 2 * w.data
>>> opt.step()
>>> w.data
array([1.5])
"""

from __future__ import annotations

from pathlib import Path

from .clip import clip_grad_norm_
from .parameter import Parameter

__version__ = "0.1.0"
__all__ = ["Parameter", "load_spec", "clip_grad_norm_", "SpecError", "__version__"]

from odyssey_codegen.api import SpecError  # noqa: E402  (re-exported: what load_spec raises)


def load_spec(path: str | Path) -> type:
    """Compile a user's optimizer spec at run time: returns an Optimizer subclass
    named after the spec.  A broken or unsafe spec raises :class:`SpecError`
    here; kernels compile on first use (and are cached on disk)."""
    from odyssey_codegen.api import load_spec_file
    from .optimizers.base import Optimizer

    spec = load_spec_file(path)
    doc = f"{spec.doc}\n\nCompiled at run time from {spec.path}."
    return type(spec.name, (Optimizer,), {"spec": spec, "__doc__": doc,
                                          "__module__": "odyssey_training.user_specs"})
