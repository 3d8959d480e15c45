"""Real optimizer, scheduler and loop-like states go through a checkpoint file and
come back equal: every standard optimizer's ``state_dict()`` after a load equals
the saved one (int keys, ``betas`` tuples, array buffers), the next steps are
bit-identical, schedulers resume, and parameters are keyed as documented."""

from __future__ import annotations

import numpy as np
import pytest

import odyssey_training as ot
import odyssey_training.schedulers as ots
from odyssey_training.checkpoint import (get_rng_state, load_checkpoint, named_parameters,
                                         read_checkpoint, save_checkpoint, set_rng_state)
from odyssey_training.optimizers import SGD, Adagrad, Adam, AdamW, Lion, RMSprop

from .helpers import assert_same

OPTIMIZERS = {
    "sgd-nesterov": lambda g: SGD(g, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "adam-amsgrad": lambda g: Adam(g, lr=1e-2, amsgrad=True),
    "adamw-clipped": lambda g: AdamW(g, lr=1e-2, max_grad_norm=0.5),
    "rmsprop-centered": lambda g: RMSprop(g, lr=1e-3, momentum=0.5, centered=True),
    "adagrad": lambda g: Adagrad(g, lr=0.1, lr_decay=0.01),
    "lion": lambda g: Lion(g, lr=1e-3, betas=(0.8, 0.95)),
}


def make_params(seed: int = 0) -> list[ot.Parameter]:
    rng = np.random.default_rng(seed)
    return [ot.Parameter(rng.standard_normal((3, 4)).astype(np.float32), name="w"),
            ot.Parameter(rng.standard_normal(4), name="b"),
            ot.Parameter(np.array(0.5, np.float32), name="scale")]


def groups(params):
    return [{"params": params[:2]}, {"params": params[2:], "lr": 1e-3}]


def steps(opt, params, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(n):
        for p in params:
            p.grad = rng.standard_normal(p.data.shape).astype(p.data.dtype)
        opt.step()


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_state_round_trips_and_resumes_bit_for_bit(tmp_path, name):
    params = make_params()
    opt = OPTIMIZERS[name](groups(params))
    steps(opt, params, 3, seed=1)
    saved = opt.state_dict()
    save_checkpoint(tmp_path / "c.safetensors", params=params, optimizer=opt)
    fresh = make_params(seed=9)
    fresh_opt = OPTIMIZERS[name](groups(fresh))
    load_checkpoint(tmp_path / "c.safetensors", params=fresh, optimizer=fresh_opt)
    assert_same(fresh_opt.state_dict(), saved)
    steps(opt, params, 2, seed=2)
    steps(fresh_opt, fresh, 2, seed=2)
    for a, b in zip(params, fresh):
        assert a.data.tobytes() == b.data.tobytes()


SCHEDULERS = {
    "StepLR": lambda o: ots.StepLR(o, step_size=2, gamma=0.5),
    "WarmupCosine": lambda o: ots.WarmupCosine(o, warmup_steps=3, total_steps=20),
    "OneCycleLR": lambda o: ots.OneCycleLR(o, max_lr=[0.1, 0.01], total_steps=30),
    "SequentialLR": lambda o: ots.SequentialLR(
        o, [ots.LinearLR(o, 0.1, 1.0, 3), ots.ExponentialLR(o, 0.9)], milestones=[3]),
    "ReduceLROnPlateau": lambda o: ots.ReduceLROnPlateau(o, patience=1),
}


@pytest.mark.parametrize("name", SCHEDULERS)
def test_scheduler_state_round_trips(tmp_path, name):
    params = make_params()
    opt = Adam(groups(params), lr=0.01)
    sched = SCHEDULERS[name](opt)
    for loss in (3.0, 2.0, 2.5, 2.6, 2.7):
        sched.step(loss) if name == "ReduceLROnPlateau" else sched.step()
    save_checkpoint(tmp_path / "c.safetensors", optimizer=opt, scheduler=sched)
    fresh_opt = Adam(groups(make_params()), lr=0.01)
    fresh = SCHEDULERS[name](fresh_opt)
    load_checkpoint(tmp_path / "c.safetensors", optimizer=fresh_opt, scheduler=fresh)
    assert_same(fresh.state_dict(), sched.state_dict())
    assert [g["lr"] for g in fresh_opt.param_groups] == [g["lr"] for g in opt.param_groups]
    for _ in range(4):
        sched.step(3.0) if name == "ReduceLROnPlateau" else sched.step()
        fresh.step(3.0) if name == "ReduceLROnPlateau" else fresh.step()
        assert fresh.get_last_lr() == sched.get_last_lr()


class Model:
    def __init__(self, params):
        self._params = params

    def parameters(self):
        return list(self._params)


def test_parameter_keys(tmp_path):
    named = make_params()
    unnamed = [ot.Parameter(p.data.copy()) for p in named]
    assert list(named_parameters(params=named)) == ["w", "b", "scale"]
    assert list(named_parameters(params=unnamed)) == ["0", "1", "2"]
    assert list(named_parameters(params={"x": named[0]})) == ["x"]
    assert list(named_parameters(model=Model(named))) == ["w", "b", "scale"]
    mixed = [named[0], unnamed[1]]
    assert list(named_parameters(params=mixed)) == ["w", "1"]
    assert named_parameters() is None
    with pytest.raises(ValueError, match="two parameters are named 'w'"):
        named_parameters(params=[named[0], ot.Parameter(np.zeros(2), name="w")])
    with pytest.raises(ValueError, match="model= or params=, not both"):
        named_parameters(model=Model(named), params=named)
    with pytest.raises(TypeError, match="parameters\\(\\) method"):
        named_parameters(model=object())
    with pytest.raises(TypeError, match="'0' is a ndarray, not an odyssey_training.Parameter"):
        named_parameters(params=[np.zeros(2)])
    with pytest.raises(TypeError, match="keys must be str"):
        named_parameters(params={1: named[0]})

    path = tmp_path / "c.safetensors"
    save_checkpoint(path, model=Model(named))
    content = read_checkpoint(path)
    assert list(content["params"]) == ["w", "b", "scale"]
    for p in named:
        assert_same(content["params"][p.name], p.data)
    targets = [ot.Parameter(np.zeros_like(p.data), name=p.name) for p in reversed(named)]
    load_checkpoint(path, params=targets)                 # by name: order does not matter
    for p in named:
        assert_same(next(t for t in targets if t.name == p.name).data, p.data)
    save_checkpoint(path, params=unnamed)                 # by position
    zeros = [ot.Parameter(np.zeros_like(p.data)) for p in unnamed]
    load_checkpoint(path, params=zeros)
    for a, b in zip(zeros, unnamed):
        assert_same(a.data, b.data)


def test_parameters_are_copied_in_place(tmp_path):
    params = make_params()
    save_checkpoint(tmp_path / "c.safetensors", params=params)
    fresh = make_params(seed=5)
    arrays = [p.data for p in fresh]
    load_checkpoint(tmp_path / "c.safetensors", params=fresh)
    assert all(p.data is a for p, a in zip(fresh, arrays))
    assert all(np.array_equal(a.data, b.data) for a, b in zip(fresh, params))


class LoopLike:
    """A loop's duck type: a step counter, the RNG state and a loader position."""

    def __init__(self):
        self.step, self.rng = 0, None

    def state_dict(self):
        return {"step": self.step, "rng": get_rng_state(), "history": {"loss": [1.5, 0.5]}}

    def load_state_dict(self, sd):
        self.step = sd["step"]
        set_rng_state(sd["rng"])


def test_loop_state_and_rng_resume(tmp_path):
    import random
    np.random.seed(3)
    random.seed(4)
    loop = LoopLike()
    loop.step = 17
    save_checkpoint(tmp_path / "c.safetensors", loop=loop, extra={"epoch": 2, "best": -np.inf})
    expected = (np.random.rand(3).tolist(), random.random())
    np.random.seed(99)
    random.seed(98)
    other = LoopLike()
    extra = load_checkpoint(tmp_path / "c.safetensors", loop=other)
    assert other.step == 17 and extra == {"epoch": 2, "best": -np.inf}
    assert (np.random.rand(3).tolist(), random.random()) == expected


def test_rng_state_is_json_and_validated():
    import json
    import random
    state = get_rng_state()
    assert json.loads(json.dumps(state, allow_nan=False)) == state
    np.random.rand()
    random.gauss(0, 1)                   # a cached Gaussian in Python's state
    np.random.standard_normal()          # and in NumPy's (has_gauss)
    state = json.loads(json.dumps(get_rng_state()))
    after = (np.random.standard_normal(2).tolist(), random.gauss(0, 1))
    set_rng_state(state)
    assert (np.random.standard_normal(2).tolist(), random.gauss(0, 1)) == after
    before = get_rng_state()
    bad_key = json.loads(json.dumps(before))
    bad_key["numpy"]["key"] = bad_key["numpy"]["key"][:10]
    bad_py = json.loads(json.dumps(before))
    bad_py["python"]["internal"] = [1, 2, 3]
    for bad in (bad_key, bad_py, {"numpy": {}}, {}):
        with pytest.raises(ValueError, match="set_rng_state"):
            set_rng_state(bad)
        assert get_rng_state() == before
