"""Callbacks for the training loops, with Keras 3's names and hooks.

See :mod:`odyssey_training.callbacks.base` for the hooks and the order a run
calls them in.
"""

from .backup_and_restore import BackupAndRestore
from .base import Callback, CallbackList
from .early_stopping import EarlyStopping
from .history import History
from .model_checkpoint import ModelCheckpoint
from .monitor import MonitorCallback
from .reduce_lr_on_plateau import ReduceLROnPlateau
from .terminate_on_nan import TerminateOnNaN

__all__ = ["BackupAndRestore", "Callback", "CallbackList", "EarlyStopping", "History",
           "ModelCheckpoint", "MonitorCallback", "ReduceLROnPlateau", "TerminateOnNaN"]
