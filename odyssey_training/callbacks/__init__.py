"""Callbacks for the training loops, with Keras 3's names and hooks.

See :mod:`odyssey_training.callbacks.base` for the hooks and the order a run
calls them in.
"""

from .base import Callback, CallbackList
from .csv_logger import CSVLogger
from .ema_weights import EMAWeights
from .history import History
from .lambda_callback import LambdaCallback
from .learning_rate_scheduler import LearningRateScheduler
from .lr_scheduler import LRSchedulerCallback
from .progress_bar import ProgressBar
from .tensorboard_logger import TensorBoardLogger
from .throughput_monitor import ThroughputMonitor
from .timer import Timer

__all__ = ["Callback", "CallbackList", "CSVLogger", "EMAWeights", "History", "LambdaCallback",
           "LearningRateScheduler", "LRSchedulerCallback", "ProgressBar", "TensorBoardLogger",
           "ThroughputMonitor", "Timer"]
