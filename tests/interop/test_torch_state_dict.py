"""state_dict: torch's layout (keys, ``step`` as torch keeps it, group keys),
interchangeable with torch.optim's in both directions mid-run, exact round
trips (also through torch.save/torch.load and copy.deepcopy), and bad state
rejected before anything changes."""

from __future__ import annotations

import copy
import io

import pytest

from .helpers import ALL_CASES, ALL_IDS, Twins, assert_params_close, torch, train_step

TORCH_CASES = [(n, c) for n, c in ALL_CASES if n != "Lion"]
TORCH_IDS = [i for (n, _), i in zip(ALL_CASES, ALL_IDS) if n != "Lion"]
HALF = 30
RTOL, ATOL = 2e-5, 2e-6


def _run(model, opt, data, steps, sign):
    for step in steps:
        train_step(model, opt, data, step, sign=sign)


@pytest.mark.parametrize("name,case", TORCH_CASES, ids=TORCH_IDS)
def test_layout_is_torchs(name, case):
    twins = Twins(name, case, seed=7)
    _run(twins.ours_model, twins.ours, twins.data, range(3), twins.sign)
    _run(twins.torch_model, twins.torch, twins.data, range(3), twins.sign)
    ours, theirs = twins.ours.state_dict(), twins.torch.state_dict()
    assert ours["state"].keys() == theirs["state"].keys()
    for index, want in theirs["state"].items():
        got = ours["state"][index]
        assert list(got) == list(want), f"state[{index}] keys"
        for key, value in want.items():
            assert isinstance(got[key], torch.Tensor)
            assert (got[key].dtype, got[key].shape) == (value.dtype, value.shape), key
            if key == "step":
                assert float(got[key]) == float(value) == 3
    for mine, their in zip(ours["param_groups"], theirs["param_groups"]):
        assert {k: v for k, v in mine.items() if k != "max_grad_norm"} == {
            **their, "foreach": None}
        assert mine["max_grad_norm"] is None


def test_state_at_construction_follows_torch():
    model = Twins("Adagrad", {"initial_accumulator_value": 0.5}, seed=1)
    ours, theirs = model.ours.state_dict(), model.torch.state_dict()
    assert ours["state"].keys() == theirs["state"].keys() and len(ours["state"]) == 6
    for index, want in theirs["state"].items():
        assert torch.equal(ours["state"][index]["sum"], want["sum"])
        assert float(ours["state"][index]["step"]) == 0.0
    assert Twins("Adam", {}, seed=1).ours.state_dict()["state"] == {}
    sgd = Twins("SGD", {}, seed=1)        # no momentum: torch keeps no state at all
    _run(sgd.ours_model, sgd.ours, sgd.data, range(2), 1.0)
    assert sgd.ours.state_dict()["state"] == {}


def _saved(opt):
    """The state dict as a file would bring it back (fresh tensors)."""
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


@pytest.mark.parametrize("name,case", TORCH_CASES, ids=TORCH_IDS)
def test_swapped_both_ways_mid_run_continues(name, case):
    twins = Twins(name, case, seed=11)
    for step in range(HALF):
        twins.step(step)
    # ours -> a fresh torch optimizer on a copy of our model, and the other way round
    torch_from_ours = copy.deepcopy(twins.ours_model)
    theirs = type(twins.torch)(_groups_like(torch_from_ours, twins.torch))
    theirs.load_state_dict(_saved(twins.ours))
    ours_from_torch = copy.deepcopy(twins.torch_model)
    ours = type(twins.ours)(_groups_like(ours_from_torch, twins.ours))
    ours.load_state_dict(_saved(twins.torch))
    for step in range(HALF, 2 * HALF):
        twins.step(step)
        train_step(torch_from_ours, theirs, twins.data, step, sign=twins.sign)
        train_step(ours_from_torch, ours, twins.data, step, sign=twins.sign)
    what = f"{name} {twins.hyper}"
    assert_params_close(zip(torch_from_ours.parameters(), twins.ours_model.parameters()),
                        RTOL, ATOL, f"{what}: torch resumed from ours")
    assert_params_close(zip(ours_from_torch.parameters(), twins.torch_model.parameters()),
                        RTOL, ATOL, f"{what}: ours resumed from torch")
    assert_params_close(zip(ours_from_torch.parameters(), twins.ours_model.parameters()),
                        RTOL, ATOL, f"{what}: ours resumed from torch vs ours throughout")


def _groups_like(model, opt):
    """``model``'s parameters in groups of ``opt``'s sizes (values come from the load)."""
    params = list(model.parameters())
    out, start = [], 0
    for group in opt.param_groups:
        out.append({"params": params[start:start + len(group["params"])]})
        start += len(group["params"])
    return out


@pytest.mark.parametrize("name,case", [("AdamW", {"amsgrad": True}), ("SGD", {"momentum": 0.9}),
                                       ("Lion", {}), ("Adagrad", {"lr_decay": 0.01})],
                         ids=["AdamW", "SGD", "Lion", "Adagrad"])
def test_round_trips_are_exact(name, case):
    twins = Twins(name, case, seed=3)
    model, opt, data = twins.ours_model, twins.ours, twins.data
    _run(model, opt, data, range(10), twins.sign)
    restored_model = copy.deepcopy(model)
    restored = type(opt)(_groups_like(restored_model, opt))
    restored.load_state_dict(_saved(opt))
    duplicate = copy.deepcopy((model, opt))      # an optimizer deep-copied with its model
    for step in range(10, 20):
        for m, o in ((model, opt), (restored_model, restored), duplicate):
            train_step(m, o, data, step, sign=twins.sign)
    for other in (restored_model, duplicate[0]):
        assert all(torch.equal(a, b) for a, b in zip(model.parameters(), other.parameters()))
    assert type(duplicate[1]) is type(opt)
    assert duplicate[1].param_groups[0]["lr"] == opt.param_groups[0]["lr"]


@pytest.mark.parametrize("spoil,words", [
    (lambda sd: sd["state"][0].__setitem__("exp_avg", torch.zeros(3)), "shape"),
    (lambda sd: sd["state"][0].__setitem__("momentum", torch.zeros(1)), "unknown state entry"),
    (lambda sd: sd["param_groups"][1].__setitem__("lr", -1.0), "lr"),
    (lambda sd: sd["param_groups"][0].__setitem__("capturable", True), "capturable"),
    (lambda sd: sd["param_groups"].pop(), "different number of parameter groups"),
], ids=["shape", "unknown-key", "bad-lr", "torch-option", "groups"])
def test_bad_state_dicts_change_nothing(spoil, words):
    twins = Twins("Adam", {}, seed=5)
    _run(twins.ours_model, twins.ours, twins.data, range(4), 1.0)
    bad = _saved(twins.ours)
    spoil(bad)
    before = _saved(twins.ours)
    with pytest.raises(ValueError, match=words):
        twins.ours.load_state_dict(bad)
    after = twins.ours.state_dict()
    assert [{k: v for k, v in g.items()} for g in after["param_groups"]] == before["param_groups"]
    for index, entry in before["state"].items():
        assert all(torch.equal(entry[k], after["state"][index][k]) for k in entry)
    _run(twins.ours_model, twins.ours, twins.data, range(4, 6), 1.0)   # still works


def test_load_state_dict_hooks_and_state_dict_hooks_run():
    twins = Twins("SGD", {"momentum": 0.5}, seed=2)
    opt = twins.ours
    calls = []
    opt.register_state_dict_pre_hook(lambda o: calls.append("pre"))
    opt.register_state_dict_post_hook(lambda o, sd: calls.append(("post", sorted(sd))))
    opt.register_load_state_dict_pre_hook(lambda o, sd: calls.append("load-pre"))
    opt.register_load_state_dict_post_hook(lambda o: calls.append("load-post"))
    opt.load_state_dict(opt.state_dict())
    assert calls == ["pre", ("post", ["param_groups", "state"]), "load-pre", "load-post"]
