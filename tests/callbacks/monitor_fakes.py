"""A stand-in for a training loop that drives callback hooks by hand: the
attributes a callback may use (model, optimizer, scheduler, stop_training,
metrics, is_global_zero, resume_point), nothing else."""

from __future__ import annotations

import numpy as np

import odyssey_training as ot


class FakeModel:
    """Two parameters whose values a test sets to tell epochs apart."""

    def __init__(self) -> None:
        self.params = [ot.Parameter(np.zeros(3), name="w"), ot.Parameter(np.zeros(2), name="b")]

    def parameters(self):
        return self.params

    def mark(self, value: float) -> None:
        """Set every parameter element to ``value``, in place."""
        for p in self.params:
            p.data[...] = value


class FakeOptimizer:
    def __init__(self, *lrs: float) -> None:
        self.param_groups = [{"lr": lr} for lr in lrs]

    def state_dict(self):
        return {"param_groups": [dict(g) for g in self.param_groups]}

    def load_state_dict(self, state):
        self.param_groups = [dict(g) for g in state["param_groups"]]


class FakeLoop:
    def __init__(self, lrs=(1.0,), metrics=None, resuming=False) -> None:
        self.model = FakeModel()
        self.optimizer = FakeOptimizer(*lrs)
        self.scheduler = None
        self.stop_training = False
        self.metrics = metrics or {}
        self.is_global_zero = True
        self.resuming = resuming

    def resume_point(self):
        return (0, 0) if self.resuming else None

    def state_dict(self):
        return {"stop_training": self.stop_training}

    def load_state_dict(self, state):
        self.stop_training = state["stop_training"]
