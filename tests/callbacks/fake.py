"""A stand-in for a training loop: the attributes a callback may use, set by hand
(DESIGN.md: driving a callback's hooks with any object that has them works)."""

from __future__ import annotations

from odyssey_training.callbacks import History
from odyssey_training.loops.base import Timings
from odyssey_training.metrics import LossTracker, MetricCollection


class FakeOptimizer:
    def __init__(self, lr: float = 0.1, groups: int = 1) -> None:
        self.param_groups = [{"lr": lr} for _ in range(groups)]


class FakeLoop:
    def __init__(self, model=None, optimizer=None, epochs=None, steps=None, metrics=None):
        self.model = model
        self.optimizer = optimizer if optimizer is not None else FakeOptimizer()
        self.scheduler = None
        self.stop_training = False
        self.epoch = 0
        self.global_step = 0
        self.batches_done = 0
        self.history = History()
        self.metrics = metrics if metrics is not None else MetricCollection({})
        self.loss_mean = LossTracker()
        self.params = {"epochs": epochs, "steps": steps, "max_steps": None}
        self.timings = Timings()
        self.is_global_zero = True


def attach(callback, loop=None, **kwargs):
    """``callback`` set to ``loop`` (a new FakeLoop with ``kwargs`` by default)."""
    loop = loop if loop is not None else FakeLoop(**kwargs)
    callback.set_loop(loop)
    return callback, loop
