"""Losses for the training loops: ``loss(outputs, targets) -> (value, grad_outputs)``.

Each loss takes torch's constructor arguments and returns torch's value and
gradient (``torch.nn.functional`` + autograd), computed in NumPy in the
outputs' dtype with the numerically stable forms (log-sum-exp, softplus).

>>> import numpy as np
>>> from odyssey_training.losses import CrossEntropyLoss
>>> value, grad = CrossEntropyLoss()(np.zeros((2, 4)), np.array([1, 3]))
>>> round(value, 6), grad.shape
(1.386294, (2, 4))
"""

from .base import Loss
from .bce import BCEWithLogitsLoss
from .cross_entropy import CrossEntropyLoss
from .mse import MSELoss

__all__ = ["Loss", "CrossEntropyLoss", "MSELoss", "BCEWithLogitsLoss"]
