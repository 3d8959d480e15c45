"""Constructor arguments against torch.optim.lr_scheduler (2.13): one table of calls.

Each row is built on a torch optimizer with torch's class and on ours with our class.
``SAME`` rows must be accepted by both, or rejected by both.  ``DIFFERENT`` rows are
the deliberate differences (docs/schedulers.md, "Where this differs from torch"): the
test checks that the difference is still what the docs say, in both directions.
"""

from __future__ import annotations

import warnings
from collections import Counter

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch.optim.lr_scheduler as tls  # noqa: E402
from sched_helpers import FakeOptimizer  # noqa: E402

import odyssey_training.schedulers as ots  # noqa: E402

pytestmark = pytest.mark.nokernel

SAME = {
    # integer arguments: any whole number (torch does arithmetic with them)
    "StepLR step_size=3.0": lambda m, o: m.StepLR(o, step_size=3.0),
    "StepLR step_size=np.int64": lambda m, o: m.StepLR(o, step_size=np.int64(3)),
    "StepLR gamma=np.float32": lambda m, o: m.StepLR(o, 3, gamma=np.float32(0.5)),
    "StepLR gamma=0": lambda m, o: m.StepLR(o, 3, gamma=0.0),
    "StepLR gamma=1.5": lambda m, o: m.StepLR(o, 3, gamma=1.5),
    "StepLR last_epoch=-1.0": lambda m, o: m.StepLR(o, 3, last_epoch=-1.0),
    "MultiStepLR unsorted, repeated": lambda m, o: m.MultiStepLR(o, [30, 12, 12, 5]),
    "MultiStepLR tuple": lambda m, o: m.MultiStepLR(o, (5, 10)),
    "MultiStepLR set": lambda m, o: m.MultiStepLR(o, {10, 5}),
    "MultiStepLR range": lambda m, o: m.MultiStepLR(o, range(5, 20, 5)),
    "MultiStepLR ndarray": lambda m, o: m.MultiStepLR(o, np.array([5, 10])),
    "MultiStepLR Counter": lambda m, o: m.MultiStepLR(o, Counter({5: 2})),
    "MultiStepLR floats": lambda m, o: m.MultiStepLR(o, [5.0, 10.0]),
    "MultiStepLR negative": lambda m, o: m.MultiStepLR(o, [-3, 5]),
    "MultiStepLR empty": lambda m, o: m.MultiStepLR(o, []),
    "MultiStepLR gamma=0": lambda m, o: m.MultiStepLR(o, [3], gamma=0),
    "ConstantLR factor=0": lambda m, o: m.ConstantLR(o, factor=0.0),
    "ConstantLR factor=1.5": lambda m, o: m.ConstantLR(o, factor=1.5),
    "ConstantLR total_iters=5.0": lambda m, o: m.ConstantLR(o, total_iters=5.0),
    "LinearLR total_iters=4.0": lambda m, o: m.LinearLR(o, total_iters=4.0),
    "LinearLR start_factor=0": lambda m, o: m.LinearLR(o, start_factor=0.0),
    "LinearLR end_factor=1.5": lambda m, o: m.LinearLR(o, end_factor=1.5),
    "ExponentialLR np.float64": lambda m, o: m.ExponentialLR(o, np.float64(0.9)),
    "ExponentialLR gamma=1 (int)": lambda m, o: m.ExponentialLR(o, 1),
    "ExponentialLR gamma=0": lambda m, o: m.ExponentialLR(o, 0.0),
    "PolynomialLR total_iters=4.0": lambda m, o: m.PolynomialLR(o, total_iters=4.0),
    "PolynomialLR power=2 (int)": lambda m, o: m.PolynomialLR(o, power=2),
    "CosineAnnealingLR T_max=10.0": lambda m, o: m.CosineAnnealingLR(o, 10.0),
    "CosineAnnealingLR T_max=10.5": lambda m, o: m.CosineAnnealingLR(o, 10.5),
    "CosineAnnealingLR eta_min=1 (int)": lambda m, o: m.CosineAnnealingLR(o, 10, eta_min=1),
    "WarmRestarts T_0=10.5": lambda m, o: m.CosineAnnealingWarmRestarts(o, 10.5),
    "WarmRestarts T_0=0": lambda m, o: m.CosineAnnealingWarmRestarts(o, 0),
    "WarmRestarts T_mult=0": lambda m, o: m.CosineAnnealingWarmRestarts(o, 5, T_mult=0),
    "OneCycleLR epochs, steps_per_epoch": lambda m, o: m.OneCycleLR(o, 0.1, epochs=10,
                                                                    steps_per_epoch=10),
    "OneCycleLR max_lr list": lambda m, o: m.OneCycleLR(o, [0.1], 100),
    "OneCycleLR max_lr tuple": lambda m, o: m.OneCycleLR(o, (0.1,), 100),
    "OneCycleLR base_momentum tuple": lambda m, o: m.OneCycleLR(o, 0.1, 100,
                                                                base_momentum=(0.8,)),
    "OneCycleLR pct_start=0": lambda m, o: m.OneCycleLR(o, 0.1, 100, pct_start=0.0),
    "OneCycleLR pct_start=1.5": lambda m, o: m.OneCycleLR(o, 0.1, 100, pct_start=1.5),
    "OneCycleLR three_phase": lambda m, o: m.OneCycleLR(o, 0.1, 100, three_phase=True),
    "OneCycleLR anneal=linear": lambda m, o: m.OneCycleLR(o, 0.1, 100, anneal_strategy="linear"),
    "OneCycleLR anneal=cosine": lambda m, o: m.OneCycleLR(o, 0.1, 100, anneal_strategy="cosine"),
    "OneCycleLR no total_steps": lambda m, o: m.OneCycleLR(o, 0.1),
    "CyclicLR defaults": lambda m, o: m.CyclicLR(o, 0.01, 0.1),
    "CyclicLR step_size_up=10.5": lambda m, o: m.CyclicLR(o, 0.01, 0.1, step_size_up=10.5),
    "CyclicLR step_size_down=0": lambda m, o: m.CyclicLR(o, 0.01, 0.1, 10, step_size_down=0),
    "CyclicLR lists": lambda m, o: m.CyclicLR(o, [0.01], [0.1]),
    "CyclicLR base_lr > max_lr": lambda m, o: m.CyclicLR(o, 0.1, 0.01),
    "CyclicLR exp_range gamma": lambda m, o: m.CyclicLR(o, 0.01, 0.1, mode="exp_range",
                                                        gamma=0.99),
    "CyclicLR gamma=0": lambda m, o: m.CyclicLR(o, 0.01, 0.1, mode="exp_range", gamma=0.0),
    "CyclicLR bad mode": lambda m, o: m.CyclicLR(o, 0.01, 0.1, mode="triangle"),
    "LambdaLR one function": lambda m, o: m.LambdaLR(o, lambda t: 0.9**t),
    "LambdaLR one per group": lambda m, o: m.LambdaLR(o, [lambda t: 0.9**t]),
    "LambdaLR two for one group": lambda m, o: m.LambdaLR(o, [lambda t: 1.0] * 2),
    "MultiplicativeLR": lambda m, o: m.MultiplicativeLR(o, lambda t: 0.9),
    "Plateau patience=2.0": lambda m, o: m.ReduceLROnPlateau(o, patience=2.0),
    "Plateau patience=np.int64": lambda m, o: m.ReduceLROnPlateau(o, patience=np.int64(2)),
    "Plateau cooldown=1.0": lambda m, o: m.ReduceLROnPlateau(o, cooldown=1.0),
    "Plateau min_lr tuple": lambda m, o: m.ReduceLROnPlateau(o, min_lr=(0.0,)),
    "Plateau min_lr wrong length": lambda m, o: m.ReduceLROnPlateau(o, min_lr=[0.0, 0.1]),
    "Plateau factor=0": lambda m, o: m.ReduceLROnPlateau(o, factor=0.0),
    "Plateau factor=1": lambda m, o: m.ReduceLROnPlateau(o, factor=1.0),
    "Plateau mode=max, abs": lambda m, o: m.ReduceLROnPlateau(o, mode="max",
                                                              threshold_mode="abs"),
    "Plateau bad mode": lambda m, o: m.ReduceLROnPlateau(o, mode="avg"),
    "Plateau verbose (gone in torch 2.13)": lambda m, o: m.ReduceLROnPlateau(o, verbose=True),
    "SequentialLR": lambda m, o: m.SequentialLR(o, [m.ConstantLR(o), m.ExponentialLR(o, 0.9)],
                                                milestones=[3]),
    "SequentialLR milestones tuple": lambda m, o: m.SequentialLR(
        o, [m.ConstantLR(o), m.ExponentialLR(o, 0.9)], milestones=(3,)),
    "SequentialLR milestones floats": lambda m, o: m.SequentialLR(
        o, [m.ConstantLR(o), m.ExponentialLR(o, 0.9)], milestones=[3.0]),
    "SequentialLR milestone 0": lambda m, o: m.SequentialLR(
        o, [m.ConstantLR(o), m.ExponentialLR(o, 0.9)], milestones=[0]),
    "SequentialLR too many milestones": lambda m, o: m.SequentialLR(
        o, [m.ConstantLR(o), m.ExponentialLR(o, 0.9)], milestones=[3, 5]),
    "ChainedScheduler": lambda m, o: m.ChainedScheduler([m.ConstantLR(o),
                                                         m.ExponentialLR(o, 0.9)]),
    "ChainedScheduler tuple, optimizer=": lambda m, o: m.ChainedScheduler(
        (m.ConstantLR(o), m.ExponentialLR(o, 0.9)), optimizer=o),
}

#: (call, who accepts it, why we differ) -- each is documented in docs/schedulers.md
DIFFERENT = {
    "StepLR step_size=2.5": (lambda m, o: m.StepLR(o, 2.5), "torch",
                             "torch's step() and closed form disagree for a fractional size"),
    "ConstantLR total_iters=0": (lambda m, o: m.ConstantLR(o, total_iters=0), "torch",
                                 "torch's step() stays at factor, its closed form at 1"),
    "LinearLR total_iters=0": (lambda m, o: m.LinearLR(o, total_iters=0), "torch",
                               "the closed form divides by total_iters"),
    "PolynomialLR total_iters=0": (lambda m, o: m.PolynomialLR(o, total_iters=0), "torch",
                                   "the closed form divides by total_iters"),
    "StepLR gamma<0": (lambda m, o: m.StepLR(o, 3, gamma=-0.5), "torch",
                       "a negative lr ascends"),
    "MultiStepLR milestone 5.5": (lambda m, o: m.MultiStepLR(o, [5.5]), "torch",
                                  "torch never reaches a fractional milestone"),
    "CosineAnnealingLR eta_min<0": (lambda m, o: m.CosineAnnealingLR(o, 10, eta_min=-1.0),
                                    "torch", "a negative lr ascends"),
    "Plateau factor<0": (lambda m, o: m.ReduceLROnPlateau(o, factor=-0.5), "torch",
                         "a negative lr ascends"),
    "WarmRestarts T_0=10.0": (lambda m, o: m.CosineAnnealingWarmRestarts(o, 10.0), "ours",
                              "any whole number is an integer"),
    "WarmRestarts T_0=np.int64": (lambda m, o: m.CosineAnnealingWarmRestarts(o, np.int64(10)),
                                  "ours", "NumPy integers are integers"),
    "WarmRestarts T_mult=2.0": (lambda m, o: m.CosineAnnealingWarmRestarts(o, 5, T_mult=2.0),
                                "ours", "any whole number is an integer"),
    "WarmRestarts eta_min=np.float32": (
        lambda m, o: m.CosineAnnealingWarmRestarts(o, 5, eta_min=np.float32(0)), "ours",
        "NumPy floats are numbers"),
    "OneCycleLR total_steps=100.0": (lambda m, o: m.OneCycleLR(o, 0.1, total_steps=100.0),
                                     "ours", "any whole number is an integer"),
    "OneCycleLR total_steps=np.int64": (
        lambda m, o: m.OneCycleLR(o, 0.1, total_steps=np.int64(100)), "ours",
        "NumPy integers are integers"),
}


def torch_optimizer():
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)


def accepts(module, build) -> bool:
    optimizer = torch_optimizer() if module is tls else FakeOptimizer(lrs=(0.1,), momentum=0.9)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            build(module, optimizer)
    except (ValueError, TypeError, ZeroDivisionError, IndexError):
        return False
    return True


@pytest.mark.parametrize("name", sorted(SAME))
def test_same_arguments_as_torch(name: str) -> None:
    build = SAME[name]
    assert accepts(ots, build) == accepts(tls, build), name


@pytest.mark.parametrize("name", sorted(DIFFERENT))
def test_documented_differences(name: str) -> None:
    build, accepted_by, _why = DIFFERENT[name]
    assert accepts(tls, build) == (accepted_by == "torch")
    assert accepts(ots, build) == (accepted_by == "ours")
