"""Callbacks for the training loops, with Keras 3's names and hooks.

See :mod:`odyssey_training.callbacks.base` for the hooks and the order a run
calls them in.
"""

from .base import Callback, CallbackList
from .history import History

__all__ = ["Callback", "CallbackList", "History"]
