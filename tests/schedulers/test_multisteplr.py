"""MultiStepLR takes milestones as torch does: a Counter, in any order, repeats decaying
by ``gamma ** count``; ``lr_at``, ``state_dict`` and resume agree with torch 2.13."""

from __future__ import annotations

import json
import warnings
from collections import Counter

import pytest

torch = pytest.importorskip("torch")

import torch.optim.lr_scheduler as tls  # noqa: E402
from sched_helpers import LRS, FakeOptimizer, assert_close  # noqa: E402

import odyssey_training.schedulers as ots  # noqa: E402

pytestmark = pytest.mark.nokernel
MILESTONES = [30, 12, 12, 5, 12, -2, 0]


def torch_pair(milestones, gamma: float = 0.5):
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in LRS]
    opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, LRS)], lr=0.1)
    return opt, tls.MultiStepLR(opt, milestones, gamma)


def step_torch(scheduler) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scheduler.step()


def test_repeated_milestone_multiplies_by_gamma_to_the_count() -> None:
    ours = ots.MultiStepLR(FakeOptimizer(lrs=(1.0,)), [30, 12, 12, 5], gamma=0.5)
    assert ours.milestones == [5, 12, 12, 30]
    assert [ours.lr_at(t)[0] for t in (4, 5, 11, 12, 29, 30)] == [1.0, 0.5, 0.5, 0.125, 0.125,
                                                                    0.0625]


@pytest.mark.parametrize("split", [0, 4, 5, 11, 12, 13, 30, 31])
def test_resume_from_json_matches_torch(split: int) -> None:
    t_opt, theirs = torch_pair(MILESTONES)
    ours = ots.MultiStepLR(FakeOptimizer(), MILESTONES, 0.5)
    for _ in range(split):
        step_torch(theirs)
        ours.step()
    state = json.loads(json.dumps(ours.state_dict()))
    assert state["milestones"] == sorted(MILESTONES)
    fresh_opt = FakeOptimizer()
    resumed = ots.MultiStepLR(fresh_opt, [1], 0.5)   # other milestones: the state wins
    resumed.load_state_dict(state)
    for t in range(split, 45):
        assert_close(resumed.get_last_lr(), theirs.get_last_lr(), what=f"step {t}")
        assert_close([g["lr"] for g in fresh_opt.param_groups], theirs.get_last_lr())
        assert_close(resumed.lr_at(t), theirs.get_last_lr(), what=f"lr_at({t})")
        step_torch(theirs)
        resumed.step()


def test_loads_torch_state_dict_with_its_counter() -> None:
    t_opt, theirs = torch_pair([8, 3, 3])
    for _ in range(6):
        step_torch(theirs)
    state = theirs.state_dict()
    assert isinstance(state["milestones"], Counter)
    ours = ots.MultiStepLR(FakeOptimizer(), [1])
    ours.load_state_dict(state)
    assert ours.milestones == [3, 3, 8]
    for t in range(6, 20):
        assert_close(ours.get_last_lr(), theirs.get_last_lr(), what=f"step {t}")
        step_torch(theirs)
        ours.step()


def test_a_counter_is_expanded_by_its_counts() -> None:
    ours = ots.MultiStepLR(FakeOptimizer(), Counter({4: 3, 2: 1}), gamma=0.5)
    assert ours.milestones == [2, 4, 4, 4]
    _, theirs = torch_pair(Counter({4: 3, 2: 1}))
    for t in range(8):
        assert_close(ours.lr_at(t), theirs.get_last_lr(), what=f"step {t}")
        step_torch(theirs)


def test_bad_state_milestones_change_nothing() -> None:
    ours = ots.MultiStepLR(FakeOptimizer(), [5, 5])
    state = ours.state_dict()
    with pytest.raises(ValueError, match="milestones"):
        ours.load_state_dict({**state, "milestones": [5, 2.5]})
    assert ours.milestones == [5, 5]


def test_chained_with_repeats_matches_torch() -> None:
    def build(m, o):
        return m.ChainedScheduler([m.MultiStepLR(o, [6, 2, 6], 0.5), m.ExponentialLR(o, 0.9)])

    params = [torch.nn.Parameter(torch.zeros(1)) for _ in LRS]
    t_opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, LRS)], lr=0.1)
    theirs, ours = build(tls, t_opt), build(ots, FakeOptimizer())
    for t in range(15):
        assert_close(ours.get_last_lr(), theirs.get_last_lr(), what=f"step {t}")
        step_torch(theirs)
        ours.step()
