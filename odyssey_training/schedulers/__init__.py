"""Learning-rate schedules with torch.optim.lr_scheduler's arguments and lr sequences.

Every step-driven schedule exposes its value as a pure function of the step,
``lr_at(step)`` (one lr per param group); ``step()`` writes that value into the
optimizer's ``param_groups``.  They work on any optimizer with ``param_groups``:
the odyssey optimizers, optimizers compiled from a user spec, and torch's.
"""

from .base import LRScheduler
from .composite import ChainedScheduler, SequentialLR
from .cosine import CosineAnnealingLR, CosineAnnealingWarmRestarts, WarmupCosine
from .cyclic import CyclicLR, OneCycleLR
from .decay import ConstantLR, ExponentialLR, LinearLR, MultiStepLR, PolynomialLR, StepLR
from .functional import LambdaLR, MultiplicativeLR
from .plateau import ReduceLROnPlateau

__all__ = [
    "LRScheduler",
    "StepLR",
    "MultiStepLR",
    "ConstantLR",
    "LinearLR",
    "ExponentialLR",
    "PolynomialLR",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "OneCycleLR",
    "CyclicLR",
    "LambdaLR",
    "MultiplicativeLR",
    "ReduceLROnPlateau",
    "SequentialLR",
    "ChainedScheduler",
    "WarmupCosine",
]
