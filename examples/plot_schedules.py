"""Render every shipped learning-rate schedule into one grid: docs/schedules.png.

    python examples/plot_schedules.py [OUTPUT.png]

Each panel is 100 steps of one schedule on a single param group with base lr 0.1;
dashed grey is the momentum that OneCycleLR / CyclicLR cycle alongside the lr.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from odyssey_training.schedulers import (
    ChainedScheduler,
    ConstantLR,
    CosineAnnealingLR,
    CosineAnnealingWarmRestarts,
    CyclicLR,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    MultiplicativeLR,
    MultiStepLR,
    OneCycleLR,
    PolynomialLR,
    ReduceLROnPlateau,
    SequentialLR,
    StepLR,
    WarmupCosine,
)
from odyssey_training.schedulers.plot import ProbeOptimizer, plot_schedules

STEPS = 100


def plateau_curve() -> list[list[float]]:
    """ReduceLROnPlateau depends on a metric: drive it with a loss that flattens out."""
    optimizer = ProbeOptimizer()
    scheduler = ReduceLROnPlateau(optimizer, factor=0.5, patience=5)
    curve = []
    for step in range(STEPS):
        curve.append(scheduler.get_last_lr())
        loss = 1.0 / (1 + step) if step < 30 else 0.03 + 0.005 * math.sin(step)
        scheduler.step(loss)
    return curve


SCHEDULES = {
    "StepLR(step_size=20, gamma=0.5)": lambda o: StepLR(o, step_size=20, gamma=0.5),
    "MultiStepLR([30, 60, 80], 0.3)": lambda o: MultiStepLR(o, [30, 60, 80], gamma=0.3),
    "ConstantLR(factor=0.3, total_iters=25)": lambda o: ConstantLR(o, factor=0.3, total_iters=25),
    "LinearLR(0.1 -> 1, total_iters=40)": lambda o: LinearLR(o, 0.1, 1.0, total_iters=40),
    "ExponentialLR(gamma=0.97)": lambda o: ExponentialLR(o, gamma=0.97),
    "PolynomialLR(total_iters=80, power=2)": lambda o: PolynomialLR(o, total_iters=80, power=2.0),
    "CosineAnnealingLR(T_max=60)": lambda o: CosineAnnealingLR(o, T_max=60, eta_min=0.005),
    "CosineAnnealingWarmRestarts(10, 2)": lambda o: CosineAnnealingWarmRestarts(
        o, T_0=10, T_mult=2
    ),
    "OneCycleLR(max_lr=0.1)": lambda o: OneCycleLR(o, max_lr=0.1, total_steps=STEPS - 1),
    "OneCycleLR(three_phase, linear)": lambda o: OneCycleLR(
        o, max_lr=0.1, total_steps=STEPS - 1, three_phase=True, anneal_strategy="linear"
    ),
    "CyclicLR(triangular2)": lambda o: CyclicLR(o, 0.01, 0.1, step_size_up=10, mode="triangular2"),
    "CyclicLR(exp_range, gamma=0.98)": lambda o: CyclicLR(
        o, 0.01, 0.1, step_size_up=8, mode="exp_range", gamma=0.98
    ),
    "LambdaLR(1 / (1 + t/10))": lambda o: LambdaLR(o, lambda t: 1.0 / (1 + t / 10)),
    "MultiplicativeLR(0.95 every 4th)": lambda o: MultiplicativeLR(
        o, lambda t: 0.95 if t % 4 == 0 else 1.0
    ),
    "SequentialLR(LinearLR, ExponentialLR)": lambda o: SequentialLR(
        o, [LinearLR(o, 0.05, total_iters=20), ExponentialLR(o, 0.96)], milestones=[20]
    ),
    "ChainedScheduler(LinearLR, Cosine)": lambda o: ChainedScheduler(
        [LinearLR(o, 0.1, total_iters=15), CosineAnnealingLR(o, T_max=100)]
    ),
    "WarmupCosine(10, 90, eta_min=0.01)": lambda o: WarmupCosine(
        o, warmup_steps=10, total_steps=90, eta_min=0.01
    ),
    "ReduceLROnPlateau(factor=0.5, patience=5)": plateau_curve(),
}


def main(argv: list[str]) -> None:
    out = (
        Path(argv[1])
        if len(argv) > 1
        else Path(__file__).resolve().parents[1] / "docs" / "schedules.png"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    plot_schedules(SCHEDULES, STEPS, out, ncols=3)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv)
