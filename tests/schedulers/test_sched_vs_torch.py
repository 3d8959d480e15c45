"""Differential tests: every schedule against torch.optim.lr_scheduler, to 1e-9 relative.

torch's scheduler runs on one torch optimizer; ours on an independent optimizer: a
second torch optimizer, or the ``FakeOptimizer`` stand-in (just ``param_groups``).
Each step compares ``get_last_lr()``, the groups' lrs, the groups' momentum/beta1
and ``lr_at(step)``, over 60+ steps and past the end of each schedule.
"""

from __future__ import annotations

import math
import warnings

import pytest

torch = pytest.importorskip("torch")

import torch.optim.lr_scheduler as tls  # noqa: E402
from sched_helpers import CASES, LRS, FakeOptimizer, assert_close, momenta_of  # noqa: E402

import odyssey_training.schedulers as ots  # noqa: E402

pytestmark = pytest.mark.nokernel


def torch_optimizer(kind: str):
    params = [torch.nn.Parameter(torch.zeros(2)) for _ in LRS]
    groups = [{"params": [p], "lr": lr} for p, lr in zip(params, LRS)]
    if kind == "sgd":
        return torch.optim.SGD(groups, lr=0.1, momentum=0.9)
    return torch.optim.Adam(groups, lr=0.1, betas=(0.9, 0.999))


def our_optimizer(kind: str, host: str):
    if host == "torch":
        return torch_optimizer(kind)
    if kind == "sgd":
        return FakeOptimizer(LRS, momentum=0.9)
    return FakeOptimizer(LRS, betas=(0.9, 0.999))


def torch_build(build, optimizer):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build(tls, optimizer)


def torch_step(scheduler, *args) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "lr_scheduler.step() before optimizer.step()"
        scheduler.step(*args)


def compare_run(build, steps: int, kind: str, host: str) -> None:
    t_opt, o_opt = torch_optimizer(kind), our_optimizer(kind, host)
    theirs, ours = torch_build(build, t_opt), build(ots, o_opt)
    for t in range(steps + 1):
        if t:
            torch_step(theirs)
            ours.step()
        expected = theirs.get_last_lr()
        where = f"step {t}"
        assert_close(ours.get_last_lr(), expected, what=where)
        assert_close([g["lr"] for g in o_opt.param_groups], expected, what=where)
        assert_close(ours.lr_at(t), expected, what=where)
        assert_close(momenta_of(o_opt), momenta_of(t_opt), what=f"momentum at {where}")
        if kind == "adam":
            assert [g["betas"][1] for g in o_opt.param_groups] == [0.999] * len(LRS)


@pytest.mark.parametrize("host", ["torch", "fake"])
@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch(name: str, kind: str, host: str) -> None:
    build, steps = CASES[name]
    compare_run(build, steps, kind, host)


def test_onecycle_past_total_steps_raises_like_torch() -> None:
    t_opt, o_opt = torch_optimizer("sgd"), our_optimizer("sgd", "fake")
    theirs = torch_build(lambda m, o: m.OneCycleLR(o, 0.5, total_steps=12), t_opt)
    ours = ots.OneCycleLR(o_opt, 0.5, total_steps=12)
    for _ in range(12):
        torch_step(theirs)
        ours.step()
    assert_close(ours.get_last_lr(), theirs.get_last_lr())
    with pytest.raises(ValueError):
        torch_step(theirs)
    before = [dict(g) for g in o_opt.param_groups]
    with pytest.raises(ValueError, match="total_steps"):
        ours.step()
    assert ours.last_epoch == 12 and o_opt.param_groups == before


@pytest.mark.parametrize("T_0,T_mult", [(7, 1), (5, 2), (3, 3)])
def test_warm_restarts_fractional_epochs(T_0: int, T_mult: int) -> None:
    """``step(epoch)`` with fractional epochs, then plain ``step()`` from there, as torch."""
    t_opt, o_opt = torch_optimizer("sgd"), our_optimizer("sgd", "fake")
    build = lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0, T_mult, eta_min=0.001)  # noqa: E731
    theirs, ours = torch_build(build, t_opt), build(ots, o_opt)
    iters = 7
    for epoch in range(12):
        for i in range(iters):
            e = epoch + i / iters
            torch_step(theirs, e)
            ours.step(e)
            assert_close(ours.get_last_lr(), theirs.get_last_lr(), what=f"epoch {e}")
            assert_close(ours.lr_at(e), theirs.get_last_lr(), what=f"lr_at({e})")
    torch_step(theirs, 2.5)
    ours.step(2.5)
    for k in range(40):  # interleaved: plain steps continue from 3.5, 4.5, ...
        torch_step(theirs)
        ours.step()
        assert_close(ours.get_last_lr(), theirs.get_last_lr(), what=f"2.5 + {k + 1}")
        assert theirs.last_epoch == ours.last_epoch
        assert math.isclose(theirs.T_cur, ours.T_cur, rel_tol=1e-12) and theirs.T_i == ours.T_i


def test_warm_restarts_cycle_start_is_exact() -> None:
    """At a restart, torch's step() gives the base lr; so does our lr_at / step(epoch).

    (torch's own step(epoch=121) finds the cycle with a float log and gets it one
    cycle early for T_0=1, T_mult=3, landing on eta_min instead.)
    """
    t_opt, o_opt = torch_optimizer("sgd"), our_optimizer("sgd", "fake")
    theirs = torch_build(lambda m, o: m.CosineAnnealingWarmRestarts(o, 1, 3), t_opt)
    ours = ots.CosineAnnealingWarmRestarts(o_opt, 1, 3)
    for _ in range(121):
        torch_step(theirs)
    assert_close(theirs.get_last_lr(), list(LRS))
    assert_close(ours.lr_at(121), theirs.get_last_lr())
    ours.step(121)
    assert_close(ours.get_last_lr(), theirs.get_last_lr())


RESUME_BUILDS = {
    "LambdaLR": lambda m, o, k: m.LambdaLR(o, lambda t: 1.0 / (1 + t), last_epoch=k),
    "CyclicLR": lambda m, o, k: m.CyclicLR(
        o, 0.01, [0.1, 0.2, 0.3], 6, mode="triangular2", last_epoch=k
    ),
    "StepLR": lambda m, o, k: m.StepLR(o, step_size=7, gamma=0.5, last_epoch=k),
}


@pytest.mark.parametrize("name", sorted(RESUME_BUILDS))
def test_constructor_last_epoch_matches_torch(name: str) -> None:
    """Resuming through ``last_epoch=k`` (initial_lr already in the groups) lands on step k + 1."""
    build, k = RESUME_BUILDS[name], 8
    t_opt, o_opt = torch_optimizer("sgd"), our_optimizer("sgd", "torch")
    torch_build(lambda m, o: build(m, o, -1), t_opt)
    build(ots, o_opt, -1)
    for opt in (t_opt, o_opt):  # the lr a checkpoint at step k of StepLR holds
        for group in opt.param_groups:
            group["lr"] = group["initial_lr"] * 0.5 ** (k // 7)
    theirs, ours = torch_build(lambda m, o: build(m, o, k), t_opt), build(ots, o_opt, k)
    for _ in range(30):
        assert theirs.last_epoch == ours.last_epoch
        assert_close(ours.get_last_lr(), theirs.get_last_lr())
        assert_close(momenta_of(o_opt), momenta_of(t_opt))
        torch_step(theirs)
        ours.step()


PLATEAU_CONFIGS = [
    {},
    {"mode": "max", "factor": 0.5, "patience": 2, "threshold_mode": "abs", "threshold": 0.01},
    {"patience": 0, "cooldown": 3, "min_lr": [0.001, 0.002, 0.05], "factor": 0.3},
    {"patience": 1, "eps": 0.02, "min_lr": 0.004, "threshold": 0.0},
    {"mode": "max", "patience": 3, "cooldown": 1, "threshold": 0.2},
]


@pytest.mark.parametrize("config", PLATEAU_CONFIGS, ids=lambda c: ",".join(c) or "defaults")
def test_reduce_on_plateau_matches_torch(config: dict) -> None:
    t_opt, o_opt = torch_optimizer("sgd"), our_optimizer("sgd", "fake")
    theirs = tls.ReduceLROnPlateau(t_opt, **config)
    ours = ots.ReduceLROnPlateau(o_opt, **config)
    metrics = [1.0 / (1 + i) if i < 15 else 0.07 + 0.01 * math.sin(i) for i in range(90)]
    metrics += [0.5, float("nan"), 0.01, 0.01]
    for value in metrics:
        theirs.step(value)
        ours.step(value)
        assert_close(ours.get_last_lr(), theirs.get_last_lr(), what=f"metric {value}")
        assert_close([g["lr"] for g in o_opt.param_groups], theirs.get_last_lr())
        assert (ours.num_bad_epochs, ours.cooldown_counter, ours.last_epoch) == (
            theirs.num_bad_epochs,
            theirs.cooldown_counter,
            theirs.last_epoch,
        )
        assert ours.best == theirs.best or (math.isnan(ours.best) and math.isnan(theirs.best))


def test_warmup_cosine_matches_torch_compositions() -> None:
    """WarmupCosine == LambdaLR(HF's cosine-with-warmup) when s = eta_min = 0, and ==
    SequentialLR(LinearLR, CosineAnnealingLR) otherwise, up to total_steps; then the floor."""
    W, T = 8, 48

    def hf(t: int) -> float:
        if t < W:
            return t / W
        return 0.5 * (1 + math.cos(math.pi * (t - W) / (T - W)))

    t_opt, o_opt = torch_optimizer("sgd"), our_optimizer("sgd", "fake")
    theirs = torch_build(lambda m, o: m.LambdaLR(o, hf), t_opt)
    ours = ots.WarmupCosine(o_opt, warmup_steps=W, total_steps=T)
    for t in range(T + 1):
        assert_close(ours.get_last_lr(), theirs.get_last_lr(), what=f"step {t}")
        torch_step(theirs)
        ours.step()

    eta = [0.0, 1e-4, 0.01]  # torch's CosineAnnealingLR has one eta_min: one run per group
    for group, floor in enumerate(eta):

        def warmup_then_cosine(m, o, floor=floor):
            children = [m.LinearLR(o, 0.05, total_iters=W), m.CosineAnnealingLR(o, T - W, floor)]
            return m.SequentialLR(o, children, [W])

        t_opt, o_opt = torch_optimizer("adam"), our_optimizer("adam", "torch")
        theirs = torch_build(warmup_then_cosine, t_opt)
        ours = ots.WarmupCosine(o_opt, W, T, eta_min=eta, warmup_start_factor=0.05)
        for t in range(80):
            ours_lr, their_lr = ours.get_last_lr()[group], theirs.get_last_lr()[group]
            expected = their_lr if t <= T else floor
            assert math.isclose(ours_lr, expected, rel_tol=1e-9, abs_tol=1e-300), f"step {t}"
            torch_step(theirs)
            ours.step()
