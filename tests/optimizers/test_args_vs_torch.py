"""Constructor arguments against torch.optim (2.13): one table of calls.

Each row is called with torch's class (on tensors) and with ours (on Parameters).
``SAME`` rows must be accepted by both or rejected by both; ``DIFFERENT`` rows are
the deliberate differences listed in docs/optimizers.md, checked in both directions
so the table fails when either side changes.  Defaults are compared key by key, and
the values torch accepts in other types (NumPy scalars, 0-d tensors, lists, 0/1
flags) give the same optimizer as plain floats and bools.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import odyssey_training as ot  # noqa: E402
from odyssey_training import optimizers as oo  # noqa: E402

NAMES = ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad")

#: keyword arguments every optimizer takes in torch (and we too)
COMMON = {
    "lr numpy float32": {"lr": np.float32(0.01)},
    "lr numpy int": {"lr": np.int64(1)},
    "lr int": {"lr": 1},
    "lr 0-d tensor": {"lr": torch.tensor(0.01)},
    "lr 0-d ndarray": {"lr": np.array(0.01)},
    "lr 0": {"lr": 0.0},
    "lr < 0": {"lr": -1.0},
    "lr string": {"lr": "0.1"},
    "weight_decay < 0": {"weight_decay": -0.1},
    "weight_decay int": {"weight_decay": 1},
    "maximize True": {"maximize": True},
    "maximize 1": {"maximize": 1},
    "maximize numpy bool": {"maximize": np.bool_(True)},
    "foreach True": {"foreach": True},
    "foreach None": {"foreach": None},
    "differentiable False": {"differentiable": False},
    "unknown keyword": {"lr_schedule": 0.1},
}
SPECIFIC = {
    "SGD": {
        "momentum": {"momentum": 0.9}, "momentum < 0": {"momentum": -0.1},
        "momentum > 1": {"momentum": 1.5}, "dampening < 0": {"dampening": -0.5},
        "nesterov without momentum": {"nesterov": True},
        "nesterov": {"nesterov": True, "momentum": 0.9},
        "nesterov with dampening": {"nesterov": True, "momentum": 0.9, "dampening": 0.1},
        "fused True": {"fused": True}, "fused None": {"fused": None},
    },
    "Adam": {
        "betas list": {"betas": [0.8, 0.9]}, "betas ndarray": {"betas": np.array([0.8, 0.9])},
        "betas tensors": {"betas": (torch.tensor(0.9), torch.tensor(0.99))},
        "beta1 = 1": {"betas": (1.0, 0.9)}, "beta1 < 0": {"betas": (-0.1, 0.9)},
        "one beta": {"betas": (0.9,)}, "eps 0": {"eps": 0.0}, "eps < 0": {"eps": -1e-8},
        "amsgrad": {"amsgrad": True}, "capturable False": {"capturable": False},
        "decoupled_weight_decay": {"decoupled_weight_decay": True, "weight_decay": 0.1},
        "fused None": {"fused": None},
    },
    "AdamW": {
        "betas list": {"betas": [0.8, 0.9]}, "amsgrad": {"amsgrad": True},
        "weight_decay 0": {"weight_decay": 0}, "capturable False": {"capturable": False},
        "decoupled_weight_decay (not an AdamW argument)": {"decoupled_weight_decay": True},
    },
    "RMSprop": {
        "alpha 1": {"alpha": 1.0}, "alpha > 1": {"alpha": 1.5}, "alpha < 0": {"alpha": -0.1},
        "momentum < 0": {"momentum": -1.0}, "centered": {"centered": True},
        "eps < 0": {"eps": -1.0}, "capturable False": {"capturable": False},
    },
    "Adagrad": {
        "lr_decay < 0": {"lr_decay": -1.0},
        "initial_accumulator_value < 0": {"initial_accumulator_value": -1.0},
        "initial_accumulator_value": {"initial_accumulator_value": 0.1},
        "eps < 0": {"eps": -1.0}, "fused None": {"fused": None},
    },
}
POSITIONAL = {
    "SGD": (0.1, 0.9, 0.0, 1e-4, True), "Adam": (1e-3, (0.9, 0.99), 1e-6, 0.0, True),
    "AdamW": (1e-3, (0.9, 0.99), 1e-6, 0.1, True), "RMSprop": (1e-2, 0.9, 1e-6, 0.0, 0.5, True),
    "Adagrad": (0.1, 0.01, 0.0, 0.1, 1e-8),
}
#: (optimizer, keywords, who accepts, why) -- documented in docs/optimizers.md
DIFFERENT = [
    ("SGD", {"lr": float("nan")}, "torch", "a NaN hyperparameter is an error here"),
    ("Adam", {"lr": float("inf")}, "torch", "an infinite hyperparameter is an error here"),
    ("SGD", {"differentiable": True}, "torch", "no autograd through step"),
    ("Adam", {"differentiable": True}, "torch", "no autograd through step"),
    ("Adam", {"capturable": True}, "torch", "no CUDA graphs"),
    ("Adam", {"betas": (0.9, 0.99, 0.5)}, "torch", "a third beta is a mistake, not ignored"),
    ("SGD", {"maximize": 2}, "torch", "flags are True/False or 1/0"),
    ("SGD", {"capturable": False}, "ours", "torch's execution options are accepted everywhere"),
    ("RMSprop", {"fused": None}, "ours", "torch's execution options are accepted everywhere"),
    ("Adagrad", {"capturable": False}, "ours", "torch's execution options are accepted everywhere"),
    ("Adam", {"learning_rate": 0.1}, "ours", "the original library's spellings"),
    ("Adam", {"beta1": 0.8, "epsilon": 1e-6}, "ours", "the original library's spellings"),
]


def accepts(name: str, ours: bool, *args, **kwargs) -> bool:
    cls = getattr(oo, name) if ours else getattr(torch.optim, name)
    params = ([ot.Parameter(np.zeros(3))] if ours
              else [torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cls(params, *args, **kwargs)
    except (ValueError, TypeError, IndexError, RuntimeError):
        return False
    return True


SAME = [(name, label, kw) for name in NAMES
        for label, kw in {**COMMON, **SPECIFIC[name]}.items()]


@pytest.mark.parametrize("name, label, kwargs", SAME, ids=[f"{n}: {l}" for n, l, _ in SAME])
def test_same_keywords_as_torch(name, label, kwargs):
    assert accepts(name, True, **kwargs) == accepts(name, False, **kwargs), label


@pytest.mark.parametrize("name", NAMES)
def test_same_positional_order_as_torch(name):
    args = POSITIONAL[name]
    assert accepts(name, True, *args) and accepts(name, False, *args)
    ours = getattr(oo, name)([ot.Parameter(np.zeros(2))], *args).param_groups[0]
    theirs = getattr(torch.optim, name)([torch.nn.Parameter(torch.zeros(2))],
                                        *args).param_groups[0]
    for key in ours:
        if key in theirs and key != "params":
            assert ours[key] == (tuple(theirs[key]) if key == "betas" else theirs[key]), key


@pytest.mark.parametrize("name", NAMES)
def test_same_defaults_as_torch(name):
    ours = getattr(oo, name)([ot.Parameter(np.zeros(2))]).defaults
    theirs = getattr(torch.optim, name)([torch.nn.Parameter(torch.zeros(2))]).defaults
    shared = set(ours) & set(theirs)
    assert shared >= set(ours) - {"max_grad_norm"}, set(ours) - set(theirs)
    for key in shared:
        assert ours[key] == theirs[key], (key, ours[key], theirs[key])


@pytest.mark.parametrize("name, kwargs, accepted_by, why", DIFFERENT,
                         ids=[f"{n}: {kw}" for n, kw, _, _ in DIFFERENT])
def test_documented_differences(name, kwargs, accepted_by, why):
    assert accepts(name, False, **kwargs) == (accepted_by == "torch"), why
    assert accepts(name, True, **kwargs) == (accepted_by == "ours"), why


def test_other_types_give_the_same_optimizer():
    """NumPy scalars, 0-d tensors/arrays, lists and 0/1 flags are stored as the floats,
    tuples and bools they stand for, and step exactly like them."""
    plain = {"lr": 0.01, "betas": (0.8, 0.9), "weight_decay": 0.1, "amsgrad": True}
    other = {"lr": torch.tensor(0.01, dtype=torch.float64), "betas": [np.float64(0.8),
                                                                     np.array(0.9)],
             "weight_decay": np.float64(0.1), "amsgrad": 1, "foreach": False, "fused": True}
    results = []
    for kwargs in (plain, other):
        w = ot.Parameter(np.linspace(-1, 1, 50))
        opt = oo.Adam([w], **kwargs)
        group = opt.param_groups[0]
        assert type(group["lr"]) is float and type(group["amsgrad"]) is bool
        assert isinstance(group["betas"], tuple) and group["betas"] == (0.8, 0.9)
        for _ in range(3):
            w.grad = np.cos(w.data)
            opt.step()
        opt.set_lr(torch.tensor(0.02, dtype=torch.float64) if kwargs is other else 0.02)
        opt.param_groups[0]["weight_decay"] = np.array(0.05) if kwargs is other else 0.05
        assert type(opt.param_groups[0]["lr"]) is float
        w.grad = np.cos(w.data)
        opt.step()
        results.append(w.data.copy())
    assert np.array_equal(*results)


def test_decoupled_weight_decay_is_adamw():
    """torch's Adam(decoupled_weight_decay=True) is AdamW; so is ours, bit for bit."""
    results = []
    for cls, kwargs in ((oo.Adam, {"decoupled_weight_decay": True}), (oo.AdamW, {})):
        w = ot.Parameter(np.linspace(-1, 1, 50))
        opt = cls([w], lr=0.01, weight_decay=0.3, **kwargs)
        for _ in range(4):
            w.grad = np.sin(3 * w.data)
            opt.step()
        results.append(w.data.copy())
    assert np.array_equal(*results)


def test_differences_outside_the_keyword_table():
    """Documented in docs/optimizers.md: a positional argument past torch's keyword-only
    marker is a flag here, and (name, tensor) pairs are torch's only."""
    args = (0.1, 0.0, 0.0, 0.0, 1e-10, True)
    ours = oo.Adagrad([ot.Parameter(np.zeros(2))], *args).param_groups[0]
    theirs = torch.optim.Adagrad([torch.nn.Parameter(torch.zeros(2))], *args).param_groups[0]
    assert ours["maximize"] is True and theirs["foreach"] is True and not theirs["maximize"]
    torch.optim.SGD([("w", torch.nn.Parameter(torch.zeros(2)))])
    with pytest.raises(TypeError, match="Parameter objects"):
        oo.SGD([("w", ot.Parameter(np.zeros(2)))])
