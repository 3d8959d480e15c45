"""Callbacks for the training loops, with Keras 3's names and hooks.

See :mod:`odyssey_training.callbacks.base` for the hooks and the order a run
calls them in.
"""

from .base import Callback, CallbackList
from .early_stopping import EarlyStopping
from .history import History
from .monitor import MonitorCallback
from .reduce_lr_on_plateau import ReduceLROnPlateau
from .terminate_on_nan import TerminateOnNaN

__all__ = ["Callback", "CallbackList", "EarlyStopping", "History", "MonitorCallback",
           "ReduceLROnPlateau", "TerminateOnNaN"]
