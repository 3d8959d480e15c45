"""Callbacks for the training loops, with Keras 3's names and hooks.

See :mod:`odyssey_training.callbacks.base` for the hooks and the order a run
calls them in.
"""

from .backup_and_restore import BackupAndRestore
from .base import Callback, CallbackList
from .csv_logger import CSVLogger
from .early_stopping import EarlyStopping
from .ema_weights import EMAWeights
from .history import History
from .lambda_callback import LambdaCallback
from .learning_rate_scheduler import LearningRateScheduler
from .lr_scheduler import LRSchedulerCallback
from .model_checkpoint import ModelCheckpoint
from .monitor import MonitorCallback
from .progress_bar import ProgressBar
from .reduce_lr_on_plateau import ReduceLROnPlateau
from .tensorboard_logger import TensorBoardLogger
from .terminate_on_nan import TerminateOnNaN
from .throughput_monitor import ThroughputMonitor
from .timer import Timer

__all__ = ["BackupAndRestore", "Callback", "CallbackList", "CSVLogger", "EarlyStopping",
           "EMAWeights", "History", "LambdaCallback", "LearningRateScheduler",
           "LRSchedulerCallback", "ModelCheckpoint", "MonitorCallback", "ProgressBar",
           "ReduceLROnPlateau", "TensorBoardLogger", "TerminateOnNaN", "ThroughputMonitor",
           "Timer"]
