"""Closed forms, purity of lr_at, momentum writes and composition, without torch."""

from __future__ import annotations

import functools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sched_helpers import CASES, LRS, OURS_ONLY, FakeOptimizer, assert_close, momenta_of

import odyssey_training.schedulers as ots

pytestmark = pytest.mark.nokernel

PROFILE = settings.get_profile("schedulers")
PER_CASE = settings(PROFILE, max_examples=25)  # for tests run once per schedule (~40 of them)
ALL = {**CASES, **OURS_ONLY}
LEAVES = {
    name: case for name, case in ALL.items() if not name.startswith(("Sequential", "Chained"))
}


@functools.cache
def stepped_lrs(name: str) -> list[list[float]]:
    """The lrs ``step()`` writes into the groups, step by step (each equal to get_last_lr)."""
    build, steps = ALL[name]
    optimizer = FakeOptimizer(momentum=0.9)
    scheduler = build(ots, optimizer)
    stepped = [scheduler.get_last_lr()]
    for _ in range(steps):
        scheduler.step()
        stepped.append(scheduler.get_last_lr())
        assert [g["lr"] for g in optimizer.param_groups] == stepped[-1]
    return stepped


@pytest.mark.parametrize("name", sorted(ALL))
@PER_CASE
@given(data=st.data())
def test_lr_at_is_a_pure_function_of_the_step(name: str, data) -> None:
    build, steps = ALL[name]
    stepped = stepped_lrs(name)
    optimizer = FakeOptimizer(momentum=0.9)
    scheduler = build(ots, optimizer)
    for _ in range(data.draw(st.integers(0, steps), label="position")):
        scheduler.step()
    position = scheduler.last_epoch
    groups_before = [dict(g) for g in optimizer.param_groups]
    queries = data.draw(st.lists(st.integers(0, steps), min_size=1, max_size=12), label="steps")
    for t in queries:  # any order: forwards, backwards, repeated
        assert scheduler.lr_at(t) == stepped[t], f"lr_at({t})"
    assert scheduler.last_epoch == position
    assert optimizer.param_groups == groups_before


@pytest.mark.parametrize("name", sorted(LEAVES))
def test_a_chain_or_sequence_of_one_is_the_schedule_itself(name: str) -> None:
    """Each schedule's chainable rule (torch's recursive get_lr) agrees with its closed form."""
    build, steps = LEAVES[name]
    alone = build(ots, FakeOptimizer(momentum=0.9))
    chain_opt, seq_opt = FakeOptimizer(momentum=0.9), FakeOptimizer(momentum=0.9)
    chain = ots.ChainedScheduler([build(ots, chain_opt)])
    sequence = ots.SequentialLR(seq_opt, [build(ots, seq_opt)], milestones=[])
    for t in range(steps + 1):
        if t:
            chain.step()
            sequence.step()
        assert_close(chain.get_last_lr(), alone.lr_at(t), rel=1e-12, what=f"chain, step {t}")
        assert_close(sequence.get_last_lr(), alone.lr_at(t), rel=1e-12, what=f"sequence, step {t}")
        expected_momenta = alone.momentum_at(t)
        if expected_momenta is not None:
            assert momenta_of(chain_opt) == expected_momenta == momenta_of(seq_opt)


def test_step_lr_values() -> None:
    scheduler = ots.StepLR(FakeOptimizer([1.0]), step_size=3, gamma=0.5)
    assert [scheduler.lr_at(t)[0] for t in range(8)] == [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25]


def test_cosine_annealing_landmarks() -> None:
    scheduler = ots.CosineAnnealingLR(FakeOptimizer([1.0]), T_max=10, eta_min=0.1)
    assert scheduler.lr_at(0) == [1.0]
    assert math.isclose(scheduler.lr_at(5)[0], 0.55)
    assert math.isclose(scheduler.lr_at(10)[0], 0.1)
    assert math.isclose(scheduler.lr_at(20)[0], 1.0)


def test_warmup_cosine_landmarks() -> None:
    base, eta, W, T, s = 0.4, [0.01], 10, 50, 0.2
    scheduler = ots.WarmupCosine(FakeOptimizer([base]), W, T, eta_min=eta, warmup_start_factor=s)
    assert math.isclose(scheduler.lr_at(0)[0], base * s)
    assert math.isclose(scheduler.lr_at(5)[0], base * (s + (1 - s) / 2))
    assert scheduler.lr_at(W) == [base]
    assert math.isclose(scheduler.lr_at((W + T) // 2)[0], (base + eta[0]) / 2)
    assert math.isclose(scheduler.lr_at(T)[0], eta[0])
    assert scheduler.lr_at(T + 1) == eta and scheduler.lr_at(10 * T) == eta
    values = [scheduler.lr_at(t)[0] for t in range(T + 1)]
    assert values[: W + 1] == sorted(values[: W + 1]) and values[W:] == sorted(
        values[W:], reverse=True
    )


def test_warm_restarts_cycles_and_fractional_epochs() -> None:
    scheduler = ots.CosineAnnealingWarmRestarts(FakeOptimizer([1.0]), T_0=1, T_mult=3, eta_min=0.0)
    for start in (0, 1, 4, 13, 40, 121, 364):  # cycle starts: 1 + 3 + 9 + ...
        assert scheduler.lr_at(start) == [1.0]
    assert scheduler.cycle_at(121) == (0, 243) and scheduler.cycle_at(120.5) == (80.5, 81)
    scheduler.step(2.25)
    assert (scheduler.last_epoch, scheduler.T_cur, scheduler.T_i) == (2, 1.25, 3)
    assert math.isclose(scheduler.get_last_lr()[0], (1 + math.cos(math.pi * 1.25 / 3)) / 2)
    scheduler.step()
    assert (scheduler.last_epoch, scheduler.T_cur, scheduler.T_i) == (3, 2.25, 3)


def test_multiplicative_is_the_ordered_product() -> None:
    factors = [1.0, 0.9, 1.1, 0.7, 0.95, 1.3]
    scheduler = ots.MultiplicativeLR(FakeOptimizer([0.3]), lambda t: factors[t])
    expected = 0.3
    for t in range(1, len(factors)):
        expected *= factors[t]
        assert scheduler.lr_at(t) == [expected]


def test_onecycle_landmarks_and_end() -> None:
    optimizer = FakeOptimizer([0.1], momentum=0.0)
    scheduler = ots.OneCycleLR(
        optimizer, max_lr=1.0, total_steps=100, div_factor=10.0, final_div_factor=100.0
    )
    assert scheduler.lr_at(0) == pytest.approx([0.1]) and scheduler.momentum_at(0) == [0.95]
    assert scheduler.lr_at(29) == [1.0] and scheduler.momentum_at(29) == [0.85]
    assert math.isclose(scheduler.lr_at(99)[0], 0.1 / 100)
    assert optimizer.param_groups[0]["max_lr"] == 1.0
    assert optimizer.param_groups[0]["initial_lr"] == pytest.approx(0.1)
    assert optimizer.param_groups[0]["momentum"] == 0.95
    with pytest.raises(ValueError, match="total_steps"):
        scheduler.lr_at(101)


def test_cyclic_triangle() -> None:
    scheduler = ots.CyclicLR(
        FakeOptimizer([0.5], momentum=0.9), 0.1, 1.1, step_size_up=4, step_size_down=6
    )
    assert [scheduler.lr_at(t)[0] for t in (0, 4, 10, 14, 20)] == pytest.approx(
        [0.1, 1.1, 0.1, 1.1, 0.1]
    )
    assert scheduler.momentum_at(4) == pytest.approx([0.8])


def test_momentum_cycling_writes_beta1_and_keeps_beta2() -> None:
    optimizer = FakeOptimizer(betas=(0.9, 0.999))
    scheduler = ots.OneCycleLR(optimizer, max_lr=0.5, total_steps=20)
    for t in range(1, 21):
        scheduler.step()
        for group, beta1 in zip(optimizer.param_groups, scheduler.momentum_at(t)):
            assert group["betas"] == (beta1, 0.999)
            assert "momentum" not in group


def test_momentum_cycling_writes_momentum() -> None:
    optimizer = FakeOptimizer(momentum=0.0)
    scheduler = ots.CyclicLR(
        optimizer, 0.01, 0.1, step_size_up=3, base_momentum=[0.7, 0.8, 0.85], max_momentum=0.95
    )
    for t in range(1, 12):
        scheduler.step()
        assert momenta_of(optimizer) == scheduler.momentum_at(t)
    assert [g["base_momentum"] for g in optimizer.param_groups] == [0.7, 0.8, 0.85]


def test_no_momentum_cycling_leaves_momentum_alone() -> None:
    optimizer = FakeOptimizer(momentum=0.5)
    scheduler = ots.OneCycleLR(optimizer, 0.3, total_steps=10, cycle_momentum=False)
    for _ in range(10):
        scheduler.step()
    assert momenta_of(optimizer) == [0.5] * len(LRS)
    assert scheduler.momentum_at(3) is None


def test_reduce_on_plateau_patience_cooldown_min_lr_eps() -> None:
    optimizer = FakeOptimizer([1.0, 1.0, 1.0])
    scheduler = ots.ReduceLROnPlateau(
        optimizer, factor=0.5, patience=2, cooldown=2, min_lr=[0.0, 0.3, 0.0], eps=0.2
    )
    lrs = []
    for value in [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]:
        scheduler.step(value)
        lrs.append(scheduler.get_last_lr())
    # bad steps 1, 2, 3 -> cut at the 4th call; 2 cooldown calls; 3 more bad -> cut at the 9th.
    assert lrs[2] == [1.0, 1.0, 1.0] and lrs[3] == [0.5, 0.5, 0.5]
    assert lrs[7] == [0.5, 0.5, 0.5]
    # second cut: 0.25 (a change of 0.25 > eps), floor 0.3 for group 1 (a change of 0.2: not > eps)
    assert lrs[8] == [0.25, 0.5, 0.25]


def test_reduce_on_plateau_max_mode_abs_threshold() -> None:
    scheduler = ots.ReduceLROnPlateau(
        FakeOptimizer([1.0]), mode="max", threshold_mode="abs", threshold=0.1, patience=0
    )
    scheduler.step(1.0)
    scheduler.step(1.05)  # not better by more than 0.1: a bad step, cut
    assert scheduler.get_last_lr() == [0.1]
    scheduler.step(1.2)
    assert scheduler.best == 1.2 and scheduler.get_last_lr() == [0.1]


def test_sequential_restarts_children_at_milestones() -> None:
    optimizer = FakeOptimizer([1.0])
    warm = ots.LinearLR(optimizer, 0.5, total_iters=4)
    decay = ots.StepLR(optimizer, step_size=2, gamma=0.1)
    sequence = ots.SequentialLR(optimizer, [warm, decay], milestones=[4])
    values = [sequence.lr_at(t)[0] for t in range(9)]
    assert values == pytest.approx([0.5, 0.625, 0.75, 0.875, 1.0, 1.0, 0.1, 0.1, 0.01])
    for _ in range(6):
        sequence.step()
    assert (warm.last_epoch, decay.last_epoch) == (3, 2)


def test_chained_multiplies_factors() -> None:
    optimizer = FakeOptimizer([1.0])
    chain = ots.ChainedScheduler(
        [
            ots.ConstantLR(optimizer, factor=0.5, total_iters=3),
            ots.ExponentialLR(optimizer, gamma=0.9),
        ]
    )
    expected = [0.5 * 0.9**t if t < 3 else 0.9**t for t in range(8)]
    assert [chain.lr_at(t)[0] for t in range(8)] == pytest.approx(expected, rel=1e-12)
    assert chain.get_last_lr() == pytest.approx([0.5])
