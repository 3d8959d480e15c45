"""Training loops over the Model protocol (``parameters``, ``forward``, ``backward``).

``BasicTrainingLoop`` trains with metrics, validation, callbacks, gradient
accumulation, clipping and schedulers and resumes exactly from a checkpoint;
``ValidationLoop`` is the same loop with validation required; ``evaluate``
measures a model on data.  The original library's custom-loop style,
``opt.step(model.parameters(), grads)`` in a loop of your own, works as well.
"""

from .base import Model, Timings
from .basic import BasicTrainingLoop, seed_everything
from .evaluate import evaluate
from .validation import ValidationLoop

__all__ = ["BasicTrainingLoop", "ValidationLoop", "evaluate", "Model", "Timings",
           "seed_everything"]
