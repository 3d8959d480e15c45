"""Shared pieces of the scheduler tests: a stand-in optimizer and a table of schedules.

``CASES`` maps a name to ``(build, steps)``: ``build(module, optimizer)`` constructs
the schedule with ``module`` being ``odyssey_training.schedulers`` (or, in the torch
differential tests, ``torch.optim.lr_scheduler``: the constructor calls are shared,
which is itself a check that the arguments match torch's), and ``steps`` is how far
the schedule may be stepped (OneCycleLR stops at ``total_steps``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

LRS = (0.1, 0.03, 1.0)


class FakeOptimizer:
    """The duck type schedulers rely on: ``param_groups``, a list of dicts."""

    def __init__(self, lrs=LRS, momentum: float | None = None, betas: tuple | None = None) -> None:
        self.param_groups: list[dict[str, Any]] = []
        for lr in lrs:
            group: dict[str, Any] = {"params": [], "lr": lr}
            if momentum is not None:
                group["momentum"] = momentum
            if betas is not None:
                group["betas"] = tuple(betas)
            self.param_groups.append(group)


def momenta_of(optimizer: Any) -> list[float | None]:
    """beta1 or momentum of each group (None where the group has neither)."""
    out: list[float | None] = []
    for group in optimizer.param_groups:
        if "betas" in group:
            out.append(group["betas"][0])
        else:
            out.append(group.get("momentum"))
    return out


def assert_close(actual, expected, rel: float = 1e-9, what: str = "") -> None:
    """Element-wise relative comparison (zeros must match to 1e-300)."""
    assert len(actual) == len(expected), what
    for a, e in zip(actual, expected):
        assert math.isclose(a, e, rel_tol=rel, abs_tol=1e-300), f"{what}: {actual} != {expected}"


def _warmup_factor(t: int) -> float:
    return min(1.0, (t + 1) / 10)


def _decay_factor(t: int) -> float:
    return 0.95 if t % 3 else 1.02


def _half_each_cycle(x: float) -> float:
    return 1.0 / (1.5 ** (x - 1))


def _iteration_scale(x: float) -> float:
    return 1.0 / (1.0 + 0.01 * x)


Build = Callable[[Any, Any], Any]

CASES: dict[str, tuple[Build, int]] = {
    "StepLR": (lambda m, o: m.StepLR(o, step_size=7, gamma=0.5), 80),
    "StepLR-default-gamma": (lambda m, o: m.StepLR(o, 3), 64),
    "MultiStepLR": (lambda m, o: m.MultiStepLR(o, milestones=[5, 12, 30], gamma=0.3), 80),
    "MultiStepLR-at-0": (lambda m, o: m.MultiStepLR(o, [0, 40], 0.5), 64),
    # torch counts milestones (a Counter): any order, a repeat decays by gamma**count
    "MultiStepLR-unsorted-repeats": (lambda m, o: m.MultiStepLR(o, [30, 12, 12, 5], 0.5), 64),
    "MultiStepLR-negative-set-floats": (
        lambda m, o: m.MultiStepLR(o, milestones=[7.0, -3, 0, 7, 7], gamma=0.8),
        40,
    ),
    "MultiStepLR-gamma-0": (lambda m, o: m.MultiStepLR(o, {9, 3}, gamma=0.0), 20),
    "StepLR-float-size": (lambda m, o: m.StepLR(o, step_size=4.0, gamma=0.5), 40),
    "ConstantLR": (lambda m, o: m.ConstantLR(o, factor=0.25, total_iters=9), 64),
    "ConstantLR-default": (lambda m, o: m.ConstantLR(o), 64),
    "LinearLR-warmup": (
        lambda m, o: m.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=20),
        80,
    ),
    "LinearLR-decay-to-0": (lambda m, o: m.LinearLR(o, 1.0, 0.0, 15), 64),
    "ExponentialLR": (lambda m, o: m.ExponentialLR(o, gamma=0.93), 80),
    "PolynomialLR": (lambda m, o: m.PolynomialLR(o, total_iters=25, power=2.0), 80),
    "PolynomialLR-sqrt": (lambda m, o: m.PolynomialLR(o, 40, 0.5), 64),
    "CosineAnnealingLR": (lambda m, o: m.CosineAnnealingLR(o, T_max=20, eta_min=0.001), 130),
    "CosineAnnealingLR-fractional-T_max": (lambda m, o: m.CosineAnnealingLR(o, 10.5), 70),
    "CosineAnnealingLR-kwargs": (
        lambda m, o: m.CosineAnnealingLR(optimizer=o, T_max=17, eta_min=0.0),
        110,
    ),
    "CosineAnnealingWarmRestarts": (lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=7), 80),
    "CosineAnnealingWarmRestarts-mult": (
        lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2, eta_min=1e-4),
        90,
    ),
    "OneCycleLR-cos": (lambda m, o: m.OneCycleLR(o, max_lr=[0.5, 0.2, 2.0], total_steps=60), 60),
    "OneCycleLR-linear-3phase": (
        lambda m, o: m.OneCycleLR(
            o,
            max_lr=1.0,
            epochs=7,
            steps_per_epoch=10,
            pct_start=0.25,
            anneal_strategy="linear",
            three_phase=True,
            base_momentum=0.8,
            max_momentum=[0.9, 0.95, 0.99],
        ),
        70,
    ),
    "OneCycleLR-no-momentum": (
        lambda m, o: m.OneCycleLR(
            o, 0.3, total_steps=64, cycle_momentum=False, div_factor=10.0, final_div_factor=100.0
        ),
        64,
    ),
    "CyclicLR-triangular": (
        lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=5, step_size_down=8),
        80,
    ),
    "CyclicLR-triangular2": (
        lambda m, o: m.CyclicLR(o, 0.01, [0.1, 0.2, 0.3], 6, mode="triangular2"),
        80,
    ),
    "CyclicLR-exp_range": (
        lambda m, o: m.CyclicLR(
            o, 0.01, 0.1, 4, mode="exp_range", gamma=0.97, base_momentum=0.85, max_momentum=0.95
        ),
        80,
    ),
    "CyclicLR-scale_fn-cycle": (
        lambda m, o: m.CyclicLR(o, 0.001, 0.01, 5, scale_fn=_half_each_cycle),
        64,
    ),
    "CyclicLR-scale_fn-iterations": (
        lambda m, o: m.CyclicLR(
            o,
            0.001,
            0.01,
            3,
            9,
            scale_fn=_iteration_scale,
            scale_mode="iterations",
            cycle_momentum=False,
        ),
        64,
    ),
    "LambdaLR": (lambda m, o: m.LambdaLR(o, lr_lambda=_warmup_factor), 64),
    "LambdaLR-per-group": (
        lambda m, o: m.LambdaLR(o, [_warmup_factor, lambda t: 0.97**t, lambda t: 1.0 / (1 + t)]),
        64,
    ),
    "MultiplicativeLR": (lambda m, o: m.MultiplicativeLR(o, lr_lambda=_decay_factor), 80),
    "SequentialLR-warmup-cosine": (
        lambda m, o: m.SequentialLR(
            o,
            [m.LinearLR(o, start_factor=0.1, total_iters=10), m.CosineAnnealingLR(o, T_max=40)],
            milestones=[10],
        ),
        80,
    ),
    "SequentialLR-three": (
        lambda m, o: m.SequentialLR(
            o, [m.ConstantLR(o, 0.1, 20), m.ExponentialLR(o, 0.9), m.StepLR(o, 4, 0.5)], [5, 20]
        ),
        70,
    ),
    "SequentialLR-milestone-0": (
        lambda m, o: m.SequentialLR(
            o,
            [m.ConstantLR(o, 0.1, 3), m.MultiplicativeLR(o, _decay_factor), m.StepLR(o, 4)],
            [0, 10],
        ),
        64,
    ),
    "SequentialLR-multiplicative": (
        lambda m, o: m.SequentialLR(
            o, [m.LinearLR(o, 0.2, total_iters=8), m.MultiplicativeLR(o, lambda t: 0.9)], [8]
        ),
        64,
    ),
    "SequentialLR-onecycle": (
        lambda m, o: m.SequentialLR(
            o, [m.LinearLR(o, 0.1, total_iters=10), m.OneCycleLR(o, 1.0, total_steps=50)], [10]
        ),
        60,
    ),
    "SequentialLR-lambda-cyclic": (
        lambda m, o: m.SequentialLR(
            o, [m.LambdaLR(o, _warmup_factor), m.CyclicLR(o, 0.01, 0.1, 5)], [12]
        ),
        70,
    ),
    "ChainedScheduler-constant-exp": (
        lambda m, o: m.ChainedScheduler(
            [m.ConstantLR(o, factor=0.1, total_iters=5), m.ExponentialLR(o, gamma=0.9)]
        ),
        64,
    ),
    "ChainedScheduler-linear-cosine": (
        lambda m, o: m.ChainedScheduler(
            [m.LinearLR(o, 0.1, total_iters=10), m.CosineAnnealingLR(o, 30, 0.01)], optimizer=o
        ),
        100,
    ),
    "ChainedScheduler-step-mult-poly": (
        lambda m, o: m.ChainedScheduler(
            [m.StepLR(o, 6, 0.7), m.MultiplicativeLR(o, _decay_factor), m.PolynomialLR(o, 50, 1.5)]
        ),
        70,
    ),
    "ChainedScheduler-cyclic-exp": (
        lambda m, o: m.ChainedScheduler([m.CyclicLR(o, 0.01, 0.1, 5), m.ExponentialLR(o, 0.99)]),
        64,
    ),
}


def warmup_cosine(m: Any, o: Any) -> Any:
    """WarmupCosine is ours only: built from odyssey_training.schedulers whatever ``m`` is."""
    return m.WarmupCosine(
        o, warmup_steps=10, total_steps=50, eta_min=[0.0, 1e-4, 0.01], warmup_start_factor=0.05
    )


OURS_ONLY: dict[str, tuple[Build, int]] = {
    "WarmupCosine": (warmup_cosine, 70),
    "WarmupCosine-no-warmup": (lambda m, o: m.WarmupCosine(o, 0, 30), 64),
}
