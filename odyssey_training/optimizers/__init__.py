"""Optimizers.  Each standard optimizer is generated from its spec in
``specs/optimizers/`` (see ``generated/``); :class:`Optimizer` is the shared
runtime they all use."""

from .base import Optimizer
from ..generated.sgd import SGD
from ..generated.adam import Adam
from ..generated.adamw import AdamW
from ..generated.rmsprop import RMSprop
from ..generated.adagrad import Adagrad
from ..generated.lion import Lion

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Lion"]
