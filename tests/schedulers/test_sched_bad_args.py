"""Bad arguments raise ValueError naming the argument, before the optimizer is touched."""

from __future__ import annotations

import copy

import pytest
from sched_helpers import FakeOptimizer

import odyssey_training.schedulers as ots

pytestmark = pytest.mark.nokernel

BAD = [
    ("StepLR step_size=0", lambda o: ots.StepLR(o, step_size=0), "step_size"),
    ("StepLR step_size=2.5", lambda o: ots.StepLR(o, step_size=2.5), "step_size"),
    ("StepLR gamma<0", lambda o: ots.StepLR(o, 5, gamma=-0.1), "gamma"),
    ("MultiStepLR fractional", lambda o: ots.MultiStepLR(o, [10, 5.5]), "milestones"),
    ("MultiStepLR string", lambda o: ots.MultiStepLR(o, "10"), "milestones"),
    ("MultiStepLR bool", lambda o: ots.MultiStepLR(o, [True]), "milestones"),
    ("MultiStepLR negative count", lambda o: ots.MultiStepLR(o, {5: -1}), "milestones"),
    ("MultiStepLR gamma<0", lambda o: ots.MultiStepLR(o, [3], gamma=-0.5), "gamma"),
    ("ConstantLR factor>1", lambda o: ots.ConstantLR(o, factor=1.5), "factor"),
    ("ConstantLR total_iters=0", lambda o: ots.ConstantLR(o, total_iters=0), "total_iters"),
    ("LinearLR start_factor=0", lambda o: ots.LinearLR(o, start_factor=0.0), "start_factor"),
    ("LinearLR end_factor>1", lambda o: ots.LinearLR(o, end_factor=1.2), "end_factor"),
    ("ExponentialLR gamma<0", lambda o: ots.ExponentialLR(o, gamma=-0.5), "gamma"),
    ("ExponentialLR gamma=nan", lambda o: ots.ExponentialLR(o, gamma=float("nan")), "gamma"),
    ("PolynomialLR total_iters=0", lambda o: ots.PolynomialLR(o, total_iters=0), "total_iters"),
    ("PolynomialLR power<0", lambda o: ots.PolynomialLR(o, power=-1.0), "power"),
    ("CosineAnnealingLR T_max=0", lambda o: ots.CosineAnnealingLR(o, T_max=0), "T_max"),
    ("CosineAnnealingLR T_max=nan", lambda o: ots.CosineAnnealingLR(o, float("nan")), "T_max"),
    ("CosineAnnealingLR T_max<0", lambda o: ots.CosineAnnealingLR(o, T_max=-5), "T_max"),
    (
        "CosineAnnealingLR eta_min<0",
        lambda o: ots.CosineAnnealingLR(optimizer=o, T_max=5, eta_min=-1.0),
        "eta_min",
    ),
    ("WarmRestarts T_0=0", lambda o: ots.CosineAnnealingWarmRestarts(o, T_0=0), "T_0"),
    (
        "WarmRestarts T_mult=1.5",
        lambda o: ots.CosineAnnealingWarmRestarts(o, 5, T_mult=1.5),
        "T_mult",
    ),
    ("OneCycleLR no length", lambda o: ots.OneCycleLR(o, 0.1), "total_steps"),
    ("OneCycleLR total_steps=0", lambda o: ots.OneCycleLR(o, 0.1, total_steps=0), "total_steps"),
    (
        "OneCycleLR epochs=0",
        lambda o: ots.OneCycleLR(o, 0.1, epochs=0, steps_per_epoch=5),
        "epochs",
    ),
    ("OneCycleLR pct_start>1", lambda o: ots.OneCycleLR(o, 0.1, 50, pct_start=1.5), "pct_start"),
    (
        "OneCycleLR zero-length phase",
        lambda o: ots.OneCycleLR(o, 0.1, 10, pct_start=0.1, cycle_momentum=False),
        "pct_start",
    ),
    (
        "OneCycleLR anneal",
        lambda o: ots.OneCycleLR(o, 0.1, 50, anneal_strategy="cosine"),
        "anneal_strategy",
    ),
    ("OneCycleLR max_lr per group", lambda o: ots.OneCycleLR(o, [0.1, 0.2], 50), "max_lr"),
    ("OneCycleLR div_factor=0", lambda o: ots.OneCycleLR(o, 0.1, 50, div_factor=0), "div_factor"),
    ("OneCycleLR no momentum", lambda o: ots.OneCycleLR(o, 0.1, 50), "cycle_momentum"),
    (
        "OneCycleLR last_epoch",
        lambda o: ots.OneCycleLR(o, 0.1, 50, cycle_momentum=False, last_epoch=50),
        "last_epoch",
    ),
    (
        "CyclicLR step_size_up=0",
        lambda o: ots.CyclicLR(o, 0.01, 0.1, 0, cycle_momentum=False),
        "step_size_up",
    ),
    (
        "CyclicLR mode",
        lambda o: ots.CyclicLR(o, 0.01, 0.1, mode="triangle", cycle_momentum=False),
        "mode",
    ),
    (
        "CyclicLR gamma<0",
        lambda o: ots.CyclicLR(o, 0.01, 0.1, gamma=-1.0, cycle_momentum=False),
        "gamma",
    ),
    (
        "CyclicLR scale_mode",
        lambda o: ots.CyclicLR(o, 0.01, 0.1, scale_mode="epochs", cycle_momentum=False),
        "scale_mode",
    ),
    (
        "CyclicLR base_lr per group",
        lambda o: ots.CyclicLR(o, [0.01], 0.1, cycle_momentum=False),
        "base_lr",
    ),
    ("CyclicLR no momentum", lambda o: ots.CyclicLR(o, 0.01, 0.1), "cycle_momentum"),
    ("LambdaLR per group", lambda o: ots.LambdaLR(o, [lambda t: 1.0]), "lr_lambda"),
    (
        "MultiplicativeLR per group",
        lambda o: ots.MultiplicativeLR(o, [lambda t: 1.0] * 4),
        "lr_lambda",
    ),
    ("ReduceLROnPlateau factor=1", lambda o: ots.ReduceLROnPlateau(o, factor=1.0), "factor"),
    ("ReduceLROnPlateau factor>1", lambda o: ots.ReduceLROnPlateau(o, factor=2.0), "factor"),
    ("ReduceLROnPlateau mode", lambda o: ots.ReduceLROnPlateau(o, mode="avg"), "mode"),
    (
        "ReduceLROnPlateau threshold_mode",
        lambda o: ots.ReduceLROnPlateau(o, threshold_mode="pct"),
        "threshold_mode",
    ),
    ("ReduceLROnPlateau patience", lambda o: ots.ReduceLROnPlateau(o, patience=-1), "patience"),
    ("ReduceLROnPlateau cooldown", lambda o: ots.ReduceLROnPlateau(o, cooldown=-1), "cooldown"),
    (
        "ReduceLROnPlateau threshold",
        lambda o: ots.ReduceLROnPlateau(o, threshold=-1e-3),
        "threshold",
    ),
    ("ReduceLROnPlateau min_lr", lambda o: ots.ReduceLROnPlateau(o, min_lr=[0.0, 0.1]), "min_lr"),
    ("ReduceLROnPlateau eps", lambda o: ots.ReduceLROnPlateau(o, eps=-1.0), "eps"),
    ("WarmupCosine total<=warmup", lambda o: ots.WarmupCosine(o, 10, 10), "total_steps"),
    ("WarmupCosine warmup<0", lambda o: ots.WarmupCosine(o, -1, 10), "warmup_steps"),
    (
        "WarmupCosine start factor",
        lambda o: ots.WarmupCosine(o, 2, 10, warmup_start_factor=2.0),
        "warmup_start_factor",
    ),
    (
        "WarmupCosine eta_min per group",
        lambda o: ots.WarmupCosine(o, 2, 10, eta_min=[0.0]),
        "eta_min",
    ),
    ("last_epoch=-2", lambda o: ots.ExponentialLR(o, 0.9, last_epoch=-2), "last_epoch"),
    (
        "last_epoch without initial_lr",
        lambda o: ots.ExponentialLR(o, 0.9, last_epoch=4),
        "last_epoch",
    ),
    ("SequentialLR no schedulers", lambda o: ots.SequentialLR(o, [], []), "schedulers"),
    (
        "ChainedScheduler no schedulers",
        lambda o: ots.ChainedScheduler([], optimizer=o),
        "schedulers",
    ),
]


@pytest.mark.parametrize("build,arg", [(b, a) for _, b, a in BAD], ids=[n for n, _, _ in BAD])
def test_bad_argument_raises_value_error_naming_it(build, arg: str) -> None:
    optimizer = FakeOptimizer(lrs=(0.1, 0.2, 0.3))
    before = copy.deepcopy(optimizer.param_groups)
    with pytest.raises(ValueError, match=arg):
        build(optimizer)
    assert optimizer.param_groups == before


def composites_with_bad_children(o):
    a, b = ots.StepLR(o, 3), ots.ExponentialLR(o, 0.9)
    other = ots.StepLR(FakeOptimizer(), 3)
    plateau = ots.ReduceLROnPlateau(o)
    nested = ots.ChainedScheduler([ots.StepLR(o, 2)])
    return [
        (lambda: ots.SequentialLR(o, [a, b], [10, 5]), "milestones"),
        (lambda: ots.SequentialLR(o, [a, b, a], [10, 5]), "milestones"),
        (lambda: ots.SequentialLR(o, [a, b], [5, 10]), "milestones"),
        (lambda: ots.SequentialLR(o, [a, b], [-1]), "milestones"),
        (lambda: ots.SequentialLR(o, [a, plateau], [5]), "schedulers"),
        (lambda: ots.SequentialLR(o, [a, other], [5]), "schedulers"),
        (lambda: ots.SequentialLR(o, [a, nested], [5]), "schedulers"),
        (lambda: ots.ChainedScheduler([a, plateau]), "schedulers"),
        (lambda: ots.ChainedScheduler([a, other]), "schedulers"),
        (lambda: ots.ChainedScheduler([a, b], optimizer=FakeOptimizer()), "schedulers"),
    ]


def test_composites_reject_bad_schedulers_and_milestones() -> None:
    optimizer = FakeOptimizer()
    for build, arg in composites_with_bad_children(optimizer):
        before = copy.deepcopy(optimizer.param_groups)
        with pytest.raises(ValueError, match=arg):
            build()
        assert optimizer.param_groups == before


def test_type_errors() -> None:
    with pytest.raises(TypeError, match="param_groups"):
        ots.StepLR(object(), 3)
    with pytest.raises(TypeError, match="lr_lambda"):
        ots.LambdaLR(FakeOptimizer(), 0.5)
    with pytest.raises(TypeError, match="scale_fn"):
        ots.CyclicLR(FakeOptimizer(), 0.01, 0.1, scale_fn=3, cycle_momentum=False)
    with pytest.raises(TypeError, match="LRScheduler"):
        ots.ChainedScheduler([object()], optimizer=FakeOptimizer())


def test_bad_steps_and_epochs() -> None:
    scheduler = ots.StepLR(FakeOptimizer(), 3)
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="step"):
            scheduler.lr_at(bad)
    with pytest.raises(ValueError, match="epoch"):
        scheduler.step(-3)
    restarts = ots.CosineAnnealingWarmRestarts(FakeOptimizer(), 5)
    with pytest.raises(ValueError, match="epoch"):
        restarts.step(-0.5)
    with pytest.raises(ValueError, match="step"):
        restarts.lr_at(float("inf"))


def test_onecycle_step_past_total_steps_leaves_state_alone() -> None:
    optimizer = FakeOptimizer(momentum=0.9)
    scheduler = ots.OneCycleLR(optimizer, 0.5, total_steps=5)
    for _ in range(5):
        scheduler.step()
    before = copy.deepcopy(optimizer.param_groups)
    with pytest.raises(ValueError, match="total_steps"):
        scheduler.step()
    assert scheduler.last_epoch == 5 and optimizer.param_groups == before


def test_load_state_dict_checks_its_input() -> None:
    scheduler = ots.StepLR(FakeOptimizer(), 3)
    other = ots.ExponentialLR(FakeOptimizer(), 0.9)
    with pytest.raises(ValueError, match="ExponentialLR"):
        scheduler.load_state_dict(other.state_dict())
    state = scheduler.state_dict()
    del state["gamma"]
    with pytest.raises(ValueError, match="gamma"):
        scheduler.load_state_dict(state)
    chain = ots.ChainedScheduler([ots.StepLR(FakeOptimizer(), 3)])
    state = chain.state_dict()
    state["_schedulers"].append(state["_schedulers"][0])
    with pytest.raises(ValueError, match="schedulers"):
        chain.load_state_dict(state)
