"""The engine's steady-state step (optimizers/steady.py): a repeated step of one
group or several takes the short path, new values that keep the kernels (lr, weight decay)
are taken on it, and every other change a user can make between steps sends it
down the full path (counted through ``_prepare``), with the results of SGD with
momentum written out in NumPy (torch's rule: g += wd * p; buf = mu * buf +
(1 - dampening) * g, the first step's buf = g; p -= lr * buf)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import odyssey_training as ot
from odyssey_training.optimizers import SGD

LR, MU = 0.1, 0.9


class Reference:
    """SGD with momentum, per array, from the published rule."""

    def __init__(self):
        self.bufs = {}

    def step(self, key, p, g, group):
        g = g + group["weight_decay"] * p
        buf = self.bufs.get(key)
        buf = g.copy() if buf is None else MU * buf + (1 - group["dampening"]) * g
        self.bufs[key] = buf
        return p - group["lr"] * buf


def _changes(opt, params, step):
    """Edits between steps; True for those that must send the step down the full path."""
    group = opt.param_groups[0]
    if step == 3:
        group["lr"] = LR / 2                                       # a scheduler's new lr
    elif step == 4:
        group["weight_decay"] = 0.01                               # read by the kernel only
    elif step == 5:
        params[1].data = params[1].data.copy()                     # an array replaced
    elif step == 6:
        group["dampening"] = 0.1                                   # read by a spec check
    elif step == 7:
        params[0].grad = None                                      # a param without gradient
    elif step == 9:
        opt.load_state_dict(copy.deepcopy(opt.state_dict()))       # state reloaded
    elif step == 11:
        opt.num_threads += 1                                       # another thread count
    elif step == 13:
        group["params"][0] = params[0]                             # the same param again
    elif step == 14:
        group["lr"], group["weight_decay"] = LR / 4, 0.0           # two new values at once
    elif step == 15:
        opt.param_groups = [dict(group, lr=LR / 5)]                # the groups list replaced
    return step in (5, 6, 7, 8, 9, 11, 15)                         # 8: the grad is back


def test_the_steady_step_repeats_until_anything_changes():
    rng = np.random.default_rng(0)
    params = [ot.Parameter(rng.standard_normal(n).astype(np.float32)) for n in (6, 40, 3)]
    expected = [p.data.astype(np.float64) for p in params]
    opt, ref = SGD(params, lr=LR, momentum=MU), Reference()
    full = []
    prepare = opt._prepare
    opt._prepare = lambda *a: (full.append(step), prepare(*a))[1]
    for step in range(17):
        for p in params:
            p.grad = rng.standard_normal(p.data.shape).astype(np.float32)
        changed = _changes(opt, params, step)
        group = dict(opt.param_groups[0])
        before = len(full)
        opt.step()
        if step:
            assert (len(full) > before) == changed, step
        for k, p in enumerate(params):
            if p.grad is not None:
                expected[k] = ref.step(k, expected[k], p.grad.astype(np.float64), group)
        for p, e in zip(params, expected):
            np.testing.assert_allclose(p.data, e, rtol=1e-5, atol=1e-6)
    assert full == [0, 5, 6, 7, 8, 9, 11, 15]


@pytest.mark.parametrize("key,bad", [("lr", -1.0), ("weight_decay", float("nan")),
                                     ("lr", "fast")])
def test_a_bad_new_value_on_the_steady_path_raises_before_any_write(key, bad):
    params = [ot.Parameter(np.ones(5, np.float32))]
    opt = SGD(params, lr=LR, momentum=MU)
    for _ in range(2):
        params[0].grad = np.ones(5, np.float32)
        opt.step()
    assert opt._steady is not None
    data, buf = params[0].data.copy(), opt.state[params[0]]["momentum_buffer"].copy()
    opt.param_groups[0][key] = bad
    with pytest.raises((ValueError, TypeError), match=key):
        opt.step()
    np.testing.assert_array_equal(params[0].data, data)
    np.testing.assert_array_equal(opt.state[params[0]]["momentum_buffer"], buf)
    opt.param_groups[0][key] = LR if key == "lr" else 0.0
    opt.step()                                                     # and steps on from there
    np.testing.assert_allclose(params[0].data, data - LR * (MU * buf + 1.0))


def _group_changes(opt, step):
    """Edits of a two-group optimizer; True for those that need the full path."""
    first, second = opt.param_groups
    if step == 3:
        second["lr"] = LR / 3                                      # a scheduler's, per group
    elif step == 4:
        first["lr"], second["weight_decay"] = LR / 2, 0.02         # one in each group
    elif step == 5:
        second["params"] = list(second["params"])                  # a new params list
    elif step == 6:
        first["dampening"] = 0.2                                   # read by a spec check
    elif step == 8:
        opt.param_groups = [second, first]                         # the groups reordered
    return step in (5, 6, 8)


def test_every_group_of_several_repeats_on_the_steady_path():
    rng = np.random.default_rng(1)
    params = [ot.Parameter(rng.standard_normal(n).astype(np.float32)) for n in (6, 40, 3, 9)]
    expected = [p.data.astype(np.float64) for p in params]
    opt = SGD([{"params": params[:2]}, {"params": params[2:], "lr": LR * 2}],
              lr=LR, momentum=MU)
    ref, full = Reference(), []
    prepare = opt._prepare
    opt._prepare = lambda index, group: (full.append(step), prepare(index, group))[1]
    for step in range(11):
        for p in params:
            p.grad = rng.standard_normal(p.data.shape).astype(np.float32)
        changed = _group_changes(opt, step)
        groups = {id(p): dict(g) for g in opt.param_groups for p in g["params"]}
        before = len(full)
        opt.step()
        assert (len(full) > before) == (changed or not step), step
        assert opt._steady is not None
        for k, p in enumerate(params):
            expected[k] = ref.step(k, expected[k], p.grad.astype(np.float64), groups[id(p)])
        for p, e in zip(params, expected):
            np.testing.assert_allclose(p.data, e, rtol=1e-5, atol=1e-6)
    assert sorted(set(full)) == [0, 5, 6, 8]


def test_a_new_group_drops_the_steady_step_and_the_next_step_makes_one():
    params = [ot.Parameter(np.ones(4, np.float32))]
    opt = SGD(params, lr=LR)
    params[0].grad = np.ones(4, np.float32)
    opt.step()
    assert opt._steady is not None
    extra = ot.Parameter(np.ones(3, np.float32))
    opt.add_param_group({"params": [extra]})
    assert opt._steady is None
    extra.grad = np.full(3, 2.0, np.float32)
    opt.step()
    np.testing.assert_allclose(params[0].data, 1 - 2 * LR)
    np.testing.assert_allclose(extra.data, 1 - 2 * LR)
    assert opt._steady is not None
