"""The torch-facing classes: torch's constructor arguments and group layout,
unsupported torch options and bad tensors rejected (naming the parameter)
before anything is modified, updates in place."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from .helpers import Data, loss_of, mlp, torch

from odyssey_training.interop import torch as ot_torch  # noqa: E402

TORCH_NAMES = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]
EXTRAS = ["max_grad_norm", "num_threads", "simd_width"]


@pytest.mark.parametrize("name", TORCH_NAMES)
def test_signature_and_groups_are_torchs(name):
    ours, theirs = getattr(ot_torch, name), getattr(torch.optim, name)
    mine = inspect.signature(ours).parameters
    want = {k: v for k, v in inspect.signature(theirs.__init__).parameters.items()
            if k != "self"}
    assert list(mine) == list(want) + EXTRAS
    for key, p in want.items():
        assert mine[key].kind == p.kind, key
        assert mine[key].default == p.default, key
    assert all(mine[k].kind == inspect.Parameter.KEYWORD_ONLY for k in EXTRAS)
    model = mlp(0)
    opt = ours(model.parameters())
    assert isinstance(opt, torch.optim.Optimizer)
    group = opt.param_groups[0]
    reference = theirs(mlp(0).parameters()).param_groups[0]
    assert [k for k in group if k != "params"] == [k for k in reference if k != "params"] + [
        "max_grad_norm"]
    for key in reference:
        if key != "params":
            assert group[key] == reference[key], key


def test_a_spec_torch_lacks_takes_its_own_arguments():
    sig = inspect.signature(ot_torch.Lion)
    assert [(p.name, p.default) for p in sig.parameters.values()][:4] == [
        ("params", inspect.Parameter.empty), ("lr", 1e-4), ("betas", (0.9, 0.99)),
        ("weight_decay", 0.0)]
    opt = ot_torch.Lion(mlp(0).parameters(), 3e-4, (0.8, 0.9))
    assert opt.param_groups[0]["betas"] == (0.8, 0.9) and opt.param_groups[0]["lr"] == 3e-4


def test_positional_arguments_bind_as_torchs():
    opt = ot_torch.SGD(mlp(0).parameters(), 0.1, 0.9, 0.0, 1e-4, True)
    group = opt.param_groups[0]
    assert (group["lr"], group["momentum"], group["weight_decay"], group["nesterov"]) == (
        0.1, 0.9, 1e-4, True)


@pytest.mark.parametrize("name,kwargs", [
    ("Adam", {"capturable": True}), ("AdamW", {"capturable": True}),
    ("SGD", {"differentiable": True}), ("RMSprop", {"capturable": True})])
def test_unsupported_torch_options_are_rejected(name, kwargs):
    with pytest.raises(ValueError, match=f"{next(iter(kwargs))}=True is not supported"):
        getattr(ot_torch, name)(mlp(0).parameters(), **kwargs)


def test_implementation_choices_are_accepted_and_kept():
    opt = ot_torch.AdamW(mlp(0).parameters(), foreach=True, fused=False)
    assert opt.param_groups[0]["foreach"] is True and opt.param_groups[0]["fused"] is False


def test_bad_hyperparameters_and_keywords():
    with pytest.raises(ValueError, match="lr"):
        ot_torch.Adam(mlp(0).parameters(), lr=-1.0)
    with pytest.raises(ValueError, match="beta"):
        ot_torch.Adam(mlp(0).parameters(), betas=(1.5, 0.9))
    with pytest.raises(TypeError, match="learning_rate"):
        ot_torch.Adam(mlp(0).parameters(), learning_rate=0.1)
    with pytest.raises(ValueError, match="Nesterov"):
        ot_torch.SGD(mlp(0).parameters(), lr=0.1, nesterov=True)


def _named(model, bad_name, bad):
    return [(n, bad if n == bad_name else p) for n, p in model.named_parameters()]


@pytest.mark.parametrize("make,error,words", [
    (lambda p: torch.nn.Parameter(p.detach().half()), TypeError, "unsupported dtype"),
    (lambda p: torch.nn.Parameter(p.detach().bfloat16()), TypeError, "unsupported dtype"),
    (lambda p: torch.nn.Parameter(p.detach().t().contiguous().t()), ValueError, "not contiguous"),
    (lambda p: torch.nn.Parameter(p.detach().to("meta")), ValueError, "not on the CPU"),
], ids=["float16", "bfloat16", "transposed", "meta-device"])
def test_bad_parameters_are_named_at_construction(make, error, words):
    model = mlp(0)
    bad = make(model[2].weight)
    with pytest.raises(error, match=rf"parameter '2.weight'.*{words}"):
        ot_torch.Adam(_named(model, "2.weight", bad))
    opt = ot_torch.Adam(model[0].parameters())
    before = len(opt.param_groups), len(opt.engine.param_groups)
    with pytest.raises(error, match=words):
        opt.add_param_group({"params": [model[2].bias, bad]})
    assert (len(opt.param_groups), len(opt.engine.param_groups)) == before


def _snapshot(model, opt):
    params = [p.detach().clone() for p in model.parameters()]
    state = {k: {n: v.clone() for n, v in e.items()} for k, e in opt.state_dict()["state"].items()}
    return params, state


def _same(a, b):
    params_a, state_a = a
    params_b, state_b = b
    assert all(torch.equal(x, y) for x, y in zip(params_a, params_b))
    assert state_a.keys() == state_b.keys()
    for k in state_a:
        assert all(torch.equal(state_a[k][n], state_b[k][n]) for n in state_a[k])


@pytest.mark.parametrize("spoil,error,words", [
    (lambda p: setattr(p, "grad", torch.randn(p.shape[::-1]).t()), ValueError,
     "not contiguous"),
    (lambda p: setattr(p, "data", p.data.double()), ValueError, "changed from torch.float32"),
    (lambda p: setattr(p, "data", p.data.t().contiguous().t()), ValueError, "not contiguous"),
    (lambda p: setattr(p, "grad", torch.zeros(1, 1).expand(p.shape)), ValueError,
     "not contiguous"),
    (lambda p: p.grad.resize_(p.shape[0], p.shape[1] - 1), ValueError, "shape"),
], ids=["strided-grad", "cast-param", "strided-param", "expanded-grad", "resized-grad"])
def test_bad_tensors_at_step_change_nothing(spoil, error, words):
    model, data = mlp(1), Data(1)
    opt = ot_torch.AdamW(model.named_parameters(), lr=1e-2)
    for step in range(3):
        opt.zero_grad()
        loss_of(model, data, step).backward()
        opt.step()
    opt.zero_grad()
    loss_of(model, data, 3).backward()
    victim = model[4].weight
    before = _snapshot(model, opt)
    spoil(victim)
    with pytest.raises(error, match=rf"'4.weight'.*{words}|{words}.*'4.weight'"):
        opt.step()
    if victim.dtype == torch.float32:
        params, state = before
        after = _snapshot(model, opt)
        _same((params, state), after)
    else:
        assert all(torch.equal(p, q) for p, q in zip(list(model.parameters())[:4], before[0]))


def test_steps_are_in_place():
    model, data = mlp(2), Data(2)
    opt = ot_torch.Adam(model.parameters(), lr=1e-2, amsgrad=True)
    pointers = [p.data_ptr() for p in model.parameters()]
    last = None
    initial = [p.detach().clone() for p in model.parameters()]
    for step in range(5):
        opt.zero_grad()
        loss_of(model, data, step).backward()
        opt.step()
        state_pointers = [[t.data_ptr() for k, t in opt.state[p].items() if k != "step"]
                          for p in model.parameters()]
        assert last is None or state_pointers == last
        last = state_pointers
    assert [p.data_ptr() for p in model.parameters()] == pointers
    assert all(not torch.equal(p, q) for p, q in zip(model.parameters(), initial))
    # the state tensors are the engine's buffers themselves
    engine_state = opt.engine.state
    for member, entry in engine_state.items():
        for key, array in entry.items():
            if key != "step":
                assert opt.state[member.tensor][key].data_ptr() == array.ctypes.data
    assert np.all([float(opt.state[p]["step"]) == 5 for p in model.parameters()])


@pytest.mark.parametrize("chunk", [None, 4096])
def test_large_tensors_and_moved_memory_follow_torch(chunk):
    """Tensors cut into several table rows (> 65,536 values, or more than the rows of a
    kernel variant the tuner may choose), new gradient tensors every step, and a
    parameter whose memory is replaced (same dtype and shape) mid-run: ours and
    torch.optim stay together."""
    from odyssey_codegen.variant import Variant
    torch.manual_seed(0)
    big = [torch.nn.Parameter(torch.randn(300, 301)), torch.nn.Parameter(torch.randn(70_000)),
           torch.nn.Parameter(torch.randn(5))]
    twin = [torch.nn.Parameter(p.detach().clone()) for p in big]
    ours = ot_torch.Adam(big, lr=1e-2)
    if chunk is not None:
        ours.engine.variant = Variant(8, 1, 0, chunk=chunk)
    theirs = torch.optim.Adam(twin, lr=1e-2, foreach=False)
    gen = torch.Generator().manual_seed(1)
    for step in range(12):
        grads = [torch.randn(p.shape, generator=gen) for p in big]
        for params, opt in ((big, ours), (twin, theirs)):
            opt.zero_grad()
            for p, g in zip(params, grads):
                p.grad = g.clone()
            opt.step()
        if step == 5:
            with torch.no_grad():
                for p in (big[0], twin[0]):
                    p.data = p.data.clone()          # new memory, same dtype and shape
    for a, b in zip(big, twin):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5,
                                   atol=1e-6)


def test_from_spec_builds_a_torch_optimizer_from_a_user_spec():
    import odyssey_training as ot
    from pathlib import Path
    path = Path(__file__).resolve().parents[2] / "examples" / "adabelief.toml"
    cls = ot_torch.from_spec(path)
    assert issubclass(cls, torch.optim.Optimizer) and cls.__name__ == "AdaBelief"
    assert "max_grad_norm" in inspect.signature(cls).parameters
    model = mlp(5)
    opt = cls(model.parameters(), lr=1e-2)
    arrays = [ot.Parameter(p.detach().numpy().copy()) for p in model.parameters()]
    engine = ot.load_spec(path)(arrays, lr=1e-2)          # the NumPy API on the same spec
    data = Data(5)
    for step in range(5):
        opt.zero_grad()
        loss_of(model, data, step).backward()
        for a, p in zip(arrays, model.parameters()):
            a.grad = p.grad.numpy().copy()
        opt.step()
        engine.step()
    for a, p in zip(arrays, model.parameters()):
        np.testing.assert_array_equal(a.data, p.detach().numpy())
