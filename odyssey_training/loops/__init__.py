"""Training loops over the Model protocol (``parameters``, ``forward``, ``backward``).

``BasicTrainingLoop`` trains with metrics, validation, callbacks, gradient
accumulation, clipping and schedulers and resumes exactly from a checkpoint;
``ValidationLoop`` is the same loop with validation required; ``evaluate``
measures a model on data.  ``DistributedTrainingLoop`` (the ``distributed``
extra) trains over MPI ranks; it is imported from ``odyssey_training.distributed``
on first use, so importing this package never starts MPI.  The original
library's custom-loop style, ``opt.step(model.parameters(), grads)`` in a loop
of your own, works as well.
"""

from .base import Model, Timings
from .basic import BasicTrainingLoop, seed_everything
from .evaluate import evaluate
from .validation import ValidationLoop

# DistributedTrainingLoop is left out of __all__: a star import must not start MPI
__all__ = ["BasicTrainingLoop", "ValidationLoop", "evaluate", "Model", "Timings",
           "seed_everything"]


def __getattr__(name: str):
    if name == "DistributedTrainingLoop":
        from ..distributed import DistributedTrainingLoop
        return DistributedTrainingLoop
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
