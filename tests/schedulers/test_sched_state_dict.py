"""Hypothesis: a state_dict taken at a random step resumes the schedule exactly.

The resumed run uses a fresh optimizer (its lrs back at their initial values, as
when only the scheduler's state is restored) and a freshly constructed scheduler;
after ``load_state_dict`` every later lr and momentum must equal the uninterrupted
run's bit for bit, for every schedule (composites included).
"""

from __future__ import annotations

import functools
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sched_helpers import CASES, OURS_ONLY, FakeOptimizer, momenta_of

import odyssey_training.schedulers as ots

pytestmark = pytest.mark.nokernel

PROFILE = settings.get_profile("schedulers")
PER_CASE = settings(PROFILE, max_examples=25)  # for tests run once per schedule (~40 of them)
ALL = {**CASES, **OURS_ONLY}
JSON_TYPES = (int, float, str, bool, type(None))


def optimizer_for(kind: str) -> FakeOptimizer:
    return FakeOptimizer(momentum=0.9) if kind == "momentum" else FakeOptimizer(betas=(0.9, 0.99))


def snapshot(scheduler, optimizer) -> tuple:
    return (
        scheduler.last_epoch,
        scheduler.get_last_lr(),
        [g["lr"] for g in optimizer.param_groups],
        momenta_of(optimizer),
    )


def assert_json_plain(value) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            assert isinstance(key, str)
            assert_json_plain(item)
    elif isinstance(value, list):
        for item in value:
            assert_json_plain(item)
    else:
        assert isinstance(value, JSON_TYPES), type(value)


@functools.cache
def uninterrupted_run(name: str, kind: str) -> list[tuple]:
    build, steps = ALL[name]
    optimizer = optimizer_for(kind)
    scheduler = build(ots, optimizer)
    run = [snapshot(scheduler, optimizer)]
    for _ in range(steps):
        scheduler.step()
        run.append(snapshot(scheduler, optimizer))
    return run


@pytest.mark.parametrize("name", sorted(ALL))
@PER_CASE
@given(data=st.data())
def test_resume_continues_exactly(name: str, data) -> None:
    build, steps = ALL[name]
    split = data.draw(st.integers(0, steps), label="split")
    kind = data.draw(st.sampled_from(["momentum", "betas"]), label="kind")
    expected = uninterrupted_run(name, kind)

    opt_b = optimizer_for(kind)
    first = build(ots, opt_b)
    for _ in range(split):
        first.step()
    state = first.state_dict()
    assert_json_plain(state)
    state = json.loads(json.dumps(state, allow_nan=False))

    opt_c = optimizer_for(kind)
    resumed = build(ots, opt_c)
    resumed.load_state_dict(state)
    assert snapshot(resumed, opt_c) == expected[split]
    for t in range(split + 1, steps + 1):
        resumed.step()
        assert snapshot(resumed, opt_c) == expected[t], f"step {t} after resuming at {split}"
        assert resumed.lr_at(t) == expected[t][1]


@settings(PROFILE)
@given(
    metrics=st.lists(st.floats(0.0, 2.0), min_size=1, max_size=60),
    data=st.data(),
)
def test_reduce_on_plateau_resume_continues_exactly(metrics: list[float], data) -> None:
    split = data.draw(st.integers(0, len(metrics)), label="split")
    config = {"patience": 2, "cooldown": 1, "factor": 0.5, "min_lr": [0.001, 0.0, 0.2]}

    opt_a = FakeOptimizer()
    uninterrupted = ots.ReduceLROnPlateau(opt_a, **config)
    expected = []
    for value in metrics:
        uninterrupted.step(value)
        expected.append(
            (
                uninterrupted.get_last_lr(),
                uninterrupted.num_bad_epochs,
                uninterrupted.cooldown_counter,
                uninterrupted.best,
            )
        )

    opt_b = FakeOptimizer()
    first = ots.ReduceLROnPlateau(opt_b, **config)
    for value in metrics[:split]:
        first.step(value)
    state = json.loads(
        json.dumps(first.state_dict())
    )  # "best" starts at inf: Python's JSON keeps it

    opt_c = FakeOptimizer()
    resumed = ots.ReduceLROnPlateau(opt_c, **config)
    resumed.load_state_dict(state)
    assert [g["lr"] for g in opt_c.param_groups] == [g["lr"] for g in opt_b.param_groups]
    for value, want in zip(metrics[split:], expected[split:]):
        resumed.step(value)
        got = (
            resumed.get_last_lr(),
            resumed.num_bad_epochs,
            resumed.cooldown_counter,
            resumed.best,
        )
        assert got == want or (math.isnan(got[3]) and got[:3] == want[:3])


@pytest.mark.parametrize("k", [0, 7, 8, 9, 30])
def test_sequential_last_epoch_resumes_on_the_schedule(k: int) -> None:
    """``SequentialLR(..., last_epoch=k)`` lands on step k + 1 of the same schedule.

    torch initializes only the first child in that case and so restarts the warmup
    (pytorch/pytorch#162591); here the composite replays its children.
    """
    build = lambda o, last: ots.SequentialLR(  # noqa: E731
        o, [ots.LinearLR(o, 0.1, total_iters=8), ots.ExponentialLR(o, 0.9)], [8], last_epoch=last
    )
    reference = build(FakeOptimizer(), -1)
    optimizer = FakeOptimizer()
    build(optimizer, -1)
    resumed = build(optimizer, k)
    assert resumed.last_epoch == k + 1
    for t in range(k + 1, k + 20):
        assert resumed.get_last_lr() == reference.lr_at(t)
        assert [g["lr"] for g in optimizer.param_groups] == reference.lr_at(t)
        resumed.step()


def test_load_writes_lrs_back_into_the_optimizer() -> None:
    """Loading only the scheduler's state still puts the right lrs in the optimizer
    (torch's recursive schedulers would continue from the stale optimizer lrs,
    pytorch/pytorch#29697)."""
    first_opt = FakeOptimizer()
    first = ots.MultiStepLR(first_opt, milestones=[5], gamma=0.1)
    for _ in range(10):
        first.step()
    optimizer = FakeOptimizer()
    resumed = ots.MultiStepLR(optimizer, milestones=[5], gamma=0.1)
    resumed.load_state_dict(first.state_dict())
    assert [g["lr"] for g in optimizer.param_groups] == [g["lr"] for g in first_opt.param_groups]
    resumed.step()
    first.step()
    assert resumed.get_last_lr() == first.get_last_lr()


def test_load_restores_hyperparameters_like_torch() -> None:
    source = ots.StepLR(FakeOptimizer(), step_size=4, gamma=0.5)
    target = ots.StepLR(FakeOptimizer(), step_size=10, gamma=0.9)
    target.load_state_dict(source.state_dict())
    assert (target.step_size, target.gamma) == (4, 0.5)
    assert target.lr_at(9) == source.lr_at(9)


def test_load_with_other_hyperparameters_recomputes_composites() -> None:
    """A composite's memoized replay is rebuilt from the loaded children's fields."""

    def build(o, gamma, milestone):
        return ots.SequentialLR(
            o,
            [ots.LinearLR(o, 0.1, total_iters=milestone), ots.ExponentialLR(o, gamma)],
            [milestone],
        )

    source = build(FakeOptimizer(), 0.5, 4)
    target = build(FakeOptimizer(), 0.9, 8)
    target.lr_at(30)  # warm the replay with the old fields
    target.load_state_dict(source.state_dict())
    assert [target.lr_at(t) for t in range(31)] == [source.lr_at(t) for t in range(31)]
