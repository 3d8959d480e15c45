"""Bad input is rejected before any memory is written; edge cases behave.

Every rejection must be a ValueError/TypeError with a message naming the
problem, and must leave every parameter, gradient and state array (and the
step counts) exactly as they were: the next good step then continues as if
the bad call never happened.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

import odyssey_training as ot
from odyssey_training.optimizers import SGD, Adagrad, Adam, AdamW, Lion, RMSprop

from .reference import GradSource, RefOptimizer, assert_close, make_params

OPTIMIZERS = {"SGD": SGD, "Adam": Adam, "AdamW": AdamW, "RMSprop": RMSprop,
              "Adagrad": Adagrad, "Lion": Lion}
NAMES = list(OPTIMIZERS)

# hyperparameters under which each optimizer keeps every buffer it can have
FULL = {
    "SGD": dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    "Adam": dict(lr=0.01, amsgrad=True, weight_decay=0.01),
    "AdamW": dict(lr=0.01, amsgrad=True, weight_decay=0.05),
    "RMSprop": dict(lr=0.01, centered=True, momentum=0.5, weight_decay=0.01),
    "Adagrad": dict(lr=0.05, lr_decay=0.01, initial_accumulator_value=0.1),
    "Lion": dict(lr=0.01, weight_decay=0.1),
}
SHAPES = [(5,), (), (4,)]  # the last parameter is the one made bad
NAN = float("nan")
ERR = (ValueError, TypeError)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def _assert_tree_equal(got, want, path="state_dict"):
    """Bitwise equality of nested dicts/lists/arrays/numbers."""
    if isinstance(want, np.ndarray):
        assert isinstance(got, np.ndarray), f"{path}: {type(got).__name__} is not an ndarray"
        assert got.dtype == want.dtype and got.shape == want.shape, (
            f"{path}: {got.dtype}{got.shape} != {want.dtype}{want.shape}")
        assert np.array_equal(got, want, equal_nan=True), f"{path}: values differ"
    elif isinstance(want, dict):
        assert isinstance(got, dict), f"{path}: {type(got).__name__} is not a dict"
        assert set(got) == set(want), f"{path}: keys {sorted(map(str, got))} != {sorted(map(str, want))}"
        for key in want:
            _assert_tree_equal(got[key], want[key], f"{path}[{key!r}]")
    elif isinstance(want, (list, tuple)):
        assert len(got) == len(want), f"{path}: length {len(got)} != {len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            _assert_tree_equal(g, w, f"{path}[{i}]")
    elif isinstance(want, float) and math.isnan(want):
        assert math.isnan(got), f"{path}: {got!r} != nan"
    else:
        assert got == want, f"{path}: {got!r} != {want!r}"


class Scene:
    """Three parameters (the last one to be made bad), two good steps taken."""

    def __init__(self, name: str, style: str, dtype=np.float64, warm_steps: int = 2):
        self.name, self.style = name, style
        self.arrays = make_params(21, SHAPES, dtype)
        self.ref = RefOptimizer(name, [([a.copy() for a in self.arrays], FULL[name])])
        self.source = GradSource(22, SHAPES, dtype)
        if style == "parameter":
            self.params = [ot.Parameter(a) for a in self.arrays]
            self.opt = OPTIMIZERS[name](self.params, **FULL[name])
        else:
            self.opt = OPTIMIZERS[name](**FULL[name])
        for _ in range(warm_steps):
            self.good_step()

    def set_grads(self, grads):
        for p, g in zip(self.params, grads):
            p.grad = g

    def good_step(self):
        grads = self.source.next()
        self.ref.step([grads])
        if self.style == "parameter":
            self.set_grads(grads)
            self.opt.step()
        else:
            self.opt.step(self.arrays, grads)

    def snapshot(self, grads=()):
        return ([a.copy() for a in self.arrays], [np.array(g, copy=True) for g in grads],
                copy.deepcopy(self.opt.state_dict()) if self.style == "parameter" else None)

    def assert_unchanged(self, snap, grads=()):
        arrays, grad_copies, sd = snap
        for i, (a, b) in enumerate(zip(self.arrays, arrays)):
            np.testing.assert_array_equal(a, b, err_msg=f"param {i} was written by a rejected step")
        for i, (g, b) in enumerate(zip(grads, grad_copies)):
            np.testing.assert_array_equal(g, b, err_msg=f"grad {i} was written by a rejected step")
        if sd is not None:
            _assert_tree_equal(self.opt.state_dict(), sd)

    def assert_no_trace(self, grads, warm_steps: int = 2):
        """Step with the good ``grads``; a twin that never saw the bad call must agree bitwise."""
        if self.style == "parameter":
            self.set_grads(grads)
            self.opt.step()
        else:
            self.opt.step(self.arrays, grads)
        twin = Scene(self.name, self.style, self.arrays[0].dtype, warm_steps)
        twin.good_step()  # its next gradients are ``grads``: same source, same seed
        for i, (a, b) in enumerate(zip(self.arrays, twin.arrays)):
            np.testing.assert_array_equal(a, b, err_msg=f"param {i}: the rejected call left a trace")

    def assert_continues(self):
        """One more good step: must match the reference that never saw the bad call."""
        self.good_step()
        for i, (a, want) in enumerate(zip(self.arrays, self.ref.groups[0][0])):
            assert_close(a, want, a.dtype, what=f"{self.name} param {i} after a rejected step")


# ---------------------------------------------------------------------------
# constructor and hyperparameter validation
# ---------------------------------------------------------------------------

BAD_HYPER = []
for _n in NAMES:
    BAD_HYPER += [(_n, {"lr": -1.0}, r"(?i)lr|learning"), (_n, {"lr": NAN}, r"(?i)lr|learning"),
                  (_n, {"learning_rate": -0.5}, r"(?i)lr|learning"),
                  (_n, {"weight_decay": -0.1}, r"(?i)weight.decay"),
                  (_n, {"weight_decay": NAN}, r"(?i)weight.decay")]
for _n in ("Adam", "AdamW", "Lion"):
    BAD_HYPER += [(_n, {"betas": (1.0, 0.99)}, r"(?i)beta"), (_n, {"betas": (0.9, -0.1)}, r"(?i)beta"),
                  (_n, {"betas": (0.9, 1.0)}, r"(?i)beta"), (_n, {"betas": (-0.1, 0.9)}, r"(?i)beta"),
                  (_n, {"betas": (NAN, 0.9)}, r"(?i)beta"), (_n, {"beta1": 1.0}, r"(?i)beta"),
                  (_n, {"beta2": -0.1}, r"(?i)beta")]
for _n in ("Adam", "AdamW", "RMSprop", "Adagrad"):
    BAD_HYPER += [(_n, {"eps": -1e-8}, r"(?i)eps"), (_n, {"eps": NAN}, r"(?i)eps"),
                  (_n, {"epsilon": -1e-8}, r"(?i)eps")]
for _n in ("SGD", "RMSprop"):
    BAD_HYPER += [(_n, {"momentum": -0.1}, r"(?i)momentum")]
BAD_HYPER += [
    ("RMSprop", {"alpha": -0.1}, r"(?i)alpha"),
    ("Adagrad", {"lr_decay": -0.1}, r"(?i)lr.decay"),
    ("Adagrad", {"initial_accumulator_value": -0.1}, r"(?i)initial.accumulator"),
    ("SGD", {"nesterov": True}, r"(?i)nesterov"),
    ("SGD", {"nesterov": True, "momentum": 0.0}, r"(?i)nesterov"),
    ("SGD", {"nesterov": True, "momentum": 0.9, "dampening": 0.1}, r"(?i)nesterov"),
]


@pytest.mark.parametrize("name,kwargs,match", BAD_HYPER,
                         ids=[f"{n}-{k}" for n, k, _ in BAD_HYPER])
def test_constructor_rejects_bad_hyperparameters(name, kwargs, match):
    arrays = make_params(1, SHAPES, np.float64)
    before = [a.copy() for a in arrays]
    params = [ot.Parameter(a, grad=np.ones_like(a)) for a in arrays]
    with pytest.raises(ValueError, match=match):
        OPTIMIZERS[name](params, **kwargs)
    with pytest.raises(ValueError, match=match):
        OPTIMIZERS[name](**kwargs)  # params=None style validates as early
    with pytest.raises(ValueError, match=match):
        OPTIMIZERS[name]([{"params": params, **kwargs}])  # per-group values too
    for a, b in zip(arrays, before):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", NAMES)
def test_unknown_keyword_is_a_type_error(name):
    params = [ot.Parameter(a) for a in make_params(1, SHAPES, np.float64)]
    with pytest.raises(TypeError, match="lrr"):
        OPTIMIZERS[name](params, lrr=0.1)
    with pytest.raises(TypeError):
        OPTIMIZERS[name](params, nesterov_momentum=True)


def test_hyperparameter_of_another_optimizer_is_a_type_error():
    params = [ot.Parameter(a) for a in make_params(1, SHAPES, np.float64)]
    with pytest.raises(TypeError, match="betas"):
        SGD(params, betas=(0.9, 0.999))
    with pytest.raises(TypeError, match="amsgrad"):
        RMSprop(params, amsgrad=True)


@pytest.mark.parametrize("name", NAMES)
def test_alias_and_torch_spelling_together_is_an_error(name):
    with pytest.raises(ERR):
        OPTIMIZERS[name](lr=0.1, learning_rate=0.2)
    if name in ("Adam", "AdamW", "Lion"):
        with pytest.raises(ERR):
            OPTIMIZERS[name](betas=(0.5, 0.6), beta1=0.7)


@pytest.mark.parametrize("bad", [-1.0, NAN], ids=["negative", "nan"])
@pytest.mark.parametrize("name", NAMES)
def test_set_lr_rejects_bad_values(name, bad):
    scene = Scene(name, "parameter")
    lr = scene.opt.get_lr()
    with pytest.raises(ValueError, match=r"(?i)lr|learning"):
        scene.opt.set_lr(bad)
    assert scene.opt.get_lr() == lr
    assert all(g["lr"] == lr for g in scene.opt.param_groups)
    scene.assert_continues()


@pytest.mark.parametrize("bad", [-1.0, NAN], ids=["negative", "nan"])
@pytest.mark.parametrize("name", NAMES)
def test_bad_lr_written_into_param_groups_is_rejected_at_step(name, bad):
    scene = Scene(name, "parameter")
    lr = scene.opt.param_groups[0]["lr"]
    grads = scene.source.next()
    scene.set_grads(grads)
    snap = scene.snapshot(grads)
    scene.opt.param_groups[0]["lr"] = bad  # what a buggy scheduler would do
    with pytest.raises(ValueError, match=r"(?i)lr|learning"):
        scene.opt.step()
    scene.opt.param_groups[0]["lr"] = lr
    snap[2]["param_groups"][0]["lr"] = lr
    scene.assert_unchanged(snap, grads)
    scene.assert_no_trace(grads)


# ---------------------------------------------------------------------------
# step-time validation: Parameter style
# ---------------------------------------------------------------------------

BAD_GRADS = {
    "shape": (lambda p: np.ones(p.shape[0] + 1, p.dtype), r"(?i)shape"),
    "dtype": (lambda p: np.ones(p.shape, np.float32), r"(?i)dtype|float32"),
    "noncontiguous": (lambda p: np.ones(2 * p.shape[0], p.dtype)[::2], r"(?i)contiguous"),
}


@pytest.mark.parametrize("kind", list(BAD_GRADS))
@pytest.mark.parametrize("name", NAMES)
def test_bad_grad_is_rejected_before_anything_is_written(name, kind):
    scene = Scene(name, "parameter")
    make_bad, match = BAD_GRADS[kind]
    grads = scene.source.next()  # good gradients for the first two parameters
    bad = make_bad(scene.arrays[2])
    all_grads = grads[:2] + [bad]
    snap = scene.snapshot(all_grads)
    with pytest.raises(ERR, match=match):
        scene.params[0].grad, scene.params[1].grad = grads[0], grads[1]
        scene.params[2].grad = bad
        scene.opt.step()
    scene.assert_unchanged(snap, all_grads)
    scene.assert_no_trace(grads)


@pytest.mark.parametrize("name", NAMES)
def test_parameter_made_read_only_is_rejected_at_step(name):
    scene = Scene(name, "parameter")
    grads = scene.source.next()
    scene.set_grads(grads)
    snap = scene.snapshot(grads)
    scene.arrays[2].setflags(write=False)
    with pytest.raises(ERR, match=r"(?i)read.only|writ"):
        scene.opt.step()
    scene.assert_unchanged(snap, grads)
    scene.arrays[2].setflags(write=True)
    scene.assert_no_trace(grads)


@pytest.mark.parametrize("name", NAMES)
def test_noncontiguous_or_read_only_parameter_is_rejected(name):
    good = make_params(3, [(6,)], np.float64)[0]
    before = good.copy()
    base = np.arange(12, dtype=np.float64)
    view = base[::2]
    frozen = np.ones(4)
    frozen.setflags(write=False)
    for bad, match in ((view, r"(?i)contiguous"), (frozen, r"(?i)read.only|writ")):
        base_before = base.copy()
        with pytest.raises(ERR, match=match):
            p_good = ot.Parameter(good, grad=np.ones_like(good))
            p_bad = ot.Parameter(bad, grad=np.ones(bad.shape))
            OPTIMIZERS[name]([p_good, p_bad], lr=0.1).step()
        np.testing.assert_array_equal(good, before)
        np.testing.assert_array_equal(base, base_before)
        np.testing.assert_array_equal(frozen, np.ones(4))


# ---------------------------------------------------------------------------
# step-time validation: step(params, grads) style
# ---------------------------------------------------------------------------

def _bad_call(scene: Scene, kind: str):
    """(params, bad grads, error match, good grads) for one bad step(params, grads) call."""
    good = scene.source.next()
    grads = list(good)
    params = list(scene.arrays)
    if kind == "grad_shape":
        grads[2] = np.ones(5)
        return params, grads, good, r"(?i)shape"
    if kind == "grad_dtype":
        grads[2] = grads[2].astype(np.float32)
        return params, grads, good, r"(?i)dtype|float32"
    if kind == "noncontiguous_param":
        base = np.zeros(8)
        base[::2] = params[2]
        params[2] = base[::2]
        return params, grads, good, r"(?i)contiguous"
    if kind == "noncontiguous_grad":
        base = np.zeros(8)
        base[::2] = grads[2]
        grads[2] = base[::2]
        return params, grads, good, r"(?i)contiguous"
    if kind == "read_only_param":
        params[2] = params[2].copy()
        params[2].setflags(write=False)
        return params, grads, good, r"(?i)read.only|writ"
    if kind == "too_few_grads":
        return params, grads[:2], good, r"(?i)grad|length|number|len"
    if kind == "too_many_grads":
        return params, grads + [np.ones(3)], good, r"(?i)grad|length|number|len"
    raise KeyError(kind)


ARRAY_KINDS = ["grad_shape", "grad_dtype", "noncontiguous_param", "noncontiguous_grad",
               "read_only_param", "too_few_grads", "too_many_grads"]


@pytest.mark.parametrize("warm_steps", [0, 2], ids=["first-call", "after-2-steps"])
@pytest.mark.parametrize("kind", ARRAY_KINDS)
@pytest.mark.parametrize("name", NAMES)
def test_bad_step_call_is_rejected_before_anything_is_written(name, kind, warm_steps):
    scene = Scene(name, "arrays", warm_steps=warm_steps)
    params, grads, good, match = _bad_call(scene, kind)
    param_copies = [p.copy() for p in params]
    grad_copies = [g.copy() for g in grads]
    snap = scene.snapshot()
    with pytest.raises(ERR, match=match):
        scene.opt.step(params, grads)
    scene.assert_unchanged(snap)
    for i, (p, c) in enumerate(zip(params, param_copies)):
        np.testing.assert_array_equal(p, c, err_msg=f"param {i} written by a rejected step")
    for i, (g, c) in enumerate(zip(grads, grad_copies)):
        np.testing.assert_array_equal(g, c, err_msg=f"grad {i} written by a rejected step")
    # nothing was counted either: the next good step is step warm_steps + 1
    scene.assert_no_trace(good, warm_steps)


# ---------------------------------------------------------------------------
# edge cases that must work
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_none_grad_is_skipped(name):
    arrays = make_params(4, SHAPES, np.float64)
    params = [ot.Parameter(a) for a in arrays]
    opt = OPTIMIZERS[name](params, **FULL[name])
    ref = RefOptimizer(name, [([a.copy() for a in arrays], FULL[name])])
    source = GradSource(5, SHAPES, np.float64)
    for step in range(4):
        grads = source.next()
        if step < 2:
            grads[1] = None  # the 0-d parameter gets no gradient for two steps
        ref.step([grads])
        for p, g in zip(params, grads):
            p.grad = g
        opt.step()
        if step < 2:
            assert arrays[1] == ref.groups[0][0][1], "a parameter with grad None moved"
            entry = opt.state_dict()["state"].get(1, {})
            assert float(entry.get("step", 0)) == 0, "a skipped parameter's step was counted"
    for i, (a, want) in enumerate(zip(arrays, ref.groups[0][0])):
        # param 1's first real step must use first-step rules (step 1, fresh buffers)
        assert_close(a, want, np.float64, what=f"{name} param {i} with early None grads")


@pytest.mark.parametrize("name", NAMES)
def test_empty_parameters_are_a_no_op(name):
    shapes = [(0,), (3, 0), (7,)]
    arrays = make_params(6, shapes, np.float32)
    params = [ot.Parameter(a) for a in arrays]
    opt = OPTIMIZERS[name](params, **FULL[name])
    ref = RefOptimizer(name, [([a.copy() for a in arrays], FULL[name])])
    source = GradSource(7, shapes, np.float32)
    for _ in range(3):
        grads = source.next()
        ref.step([grads])
        for p, g in zip(params, grads):
            p.grad = g
        opt.step()
    assert arrays[0].shape == (0,) and arrays[1].shape == (3, 0)
    assert_close(arrays[2], ref.groups[0][0][2], np.float32, what=f"{name} beside empty params")
    # only empty parameters: nothing to do, nothing to fail
    lonely = [ot.Parameter(np.zeros(0), grad=np.zeros(0))]
    opt2 = OPTIMIZERS[name](lonely, **FULL[name])
    opt2.step()
    opt3 = OPTIMIZERS[name](**FULL[name])
    opt3.step([np.zeros((0, 4))], [np.zeros((0, 4))])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_zero_dim_parameters(name, dtype):
    a = np.array(1.5, dtype=dtype)
    p = ot.Parameter(a)
    opt = OPTIMIZERS[name]([p], **FULL[name])
    ref = RefOptimizer(name, [([a.copy()], FULL[name])])
    for g in (0.5, -0.25, 2.0):
        grad = np.array(g, dtype=dtype)
        ref.step([[grad]])
        p.grad = grad
        opt.step()
    assert a.shape == () and a.dtype == dtype and p.data is a
    assert_close(a, ref.groups[0][0][0], dtype, slack=ref.slack[0][0], what=f"{name} 0-d")
    state = opt.state_dict()["state"][0]
    for key, want in ref.state[0].items():
        if key != "step":
            assert np.shape(state[key]) == ()
            assert_close(state[key], want, dtype, what=f"{name} 0-d state {key}")


def test_lion_zero_update_where_momentum_and_gradient_are_zero():
    a = np.array([1.0, -2.0, 3.0], np.float32)
    p = ot.Parameter(a)
    opt = Lion([p], lr=0.1)
    p.grad = np.array([0.0, 1.0, 0.0], np.float32)
    opt.step()
    np.testing.assert_array_equal(a, np.array([1.0, -2.1, 3.0], np.float32))


# ---------------------------------------------------------------------------
# state_dict round trip and load_state_dict validation
# ---------------------------------------------------------------------------

def _trained(name, dtype=np.float64, steps=3, seed=31):
    arrays = make_params(seed, SHAPES, dtype)
    params = [ot.Parameter(a) for a in arrays]
    half = FULL[name]
    opt = OPTIMIZERS[name]([{"params": params[:2]}, {"params": params[2:], "lr": half["lr"] / 2}],
                           **half)
    source = GradSource(seed + 1, SHAPES, dtype)
    for _ in range(steps):
        for p, g in zip(params, source.next()):
            p.grad = g
        opt.step()
    return opt, params, source


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip_is_exact(name, dtype):
    opt_a, params_a, source = _trained(name, dtype)
    sd = opt_a.state_dict()
    frozen = copy.deepcopy(sd)
    params_b = [ot.Parameter(p.data.copy()) for p in params_a]
    opt_b = OPTIMIZERS[name]([{"params": params_b[:2]}, {"params": params_b[2:]}], **FULL[name])
    opt_b.load_state_dict(copy.deepcopy(sd))
    _assert_tree_equal(opt_b.state_dict(), frozen)
    assert opt_b.param_groups[1]["lr"] == FULL[name]["lr"] / 2  # group hyperparameters restored
    for _ in range(3):
        grads = source.next()
        for pa, pb, g in zip(params_a, params_b, grads):
            pa.grad, pb.grad = g, g.copy()
        opt_a.step()
        opt_b.step()
    for i, (pa, pb) in enumerate(zip(params_a, params_b)):
        np.testing.assert_array_equal(pa.data, pb.data, err_msg=f"{name} param {i} after resume")
    _assert_tree_equal(opt_b.state_dict(), opt_a.state_dict())


def _first_buffer(sd):
    for index, entry in sd["state"].items():
        for key, value in entry.items():
            if isinstance(value, np.ndarray) and value.ndim == 1:
                return index, key
    raise AssertionError("no 1-d buffer in the state_dict")


BAD_SD = ["shape", "dtype", "extra_group", "missing_group"]


@pytest.mark.parametrize("kind", BAD_SD)
@pytest.mark.parametrize("name", NAMES)
def test_load_state_dict_rejects_mismatched_state(name, kind):
    source_opt, _, _ = _trained(name)
    sd = copy.deepcopy(source_opt.state_dict())
    if kind == "shape":
        index, key = _first_buffer(sd)
        sd["state"][index][key] = np.zeros(sd["state"][index][key].shape[0] + 1)
        match = r"(?i)shape"
    elif kind == "dtype":
        index, key = _first_buffer(sd)
        sd["state"][index][key] = sd["state"][index][key].astype(np.float32)
        match = r"(?i)dtype|float"
    elif kind == "extra_group":
        sd["param_groups"].append(dict(sd["param_groups"][1], params=[]))
        match = r"(?i)group"
    else:
        sd["param_groups"] = sd["param_groups"][:1]
        match = r"(?i)group"
    target, params, _ = _trained(name, seed=41)
    before = copy.deepcopy(target.state_dict())
    arrays = [p.data.copy() for p in params]
    with pytest.raises(ValueError, match=match):
        target.load_state_dict(sd)
    _assert_tree_equal(target.state_dict(), before)
    for p, a in zip(params, arrays):
        np.testing.assert_array_equal(p.data, a)


@pytest.mark.parametrize("name", NAMES)
def test_load_state_dict_does_not_alias_the_given_arrays(name):
    source_opt, _, _ = _trained(name)
    sd = source_opt.state_dict()
    frozen = copy.deepcopy(sd)
    target, params, source = _trained(name, seed=41)
    target.load_state_dict(sd)
    for p, g in zip(params, source.next()):
        p.grad = g
    target.step()
    _assert_tree_equal(sd, frozen, "the state_dict passed to load_state_dict")


# ---------------------------------------------------------------------------
# params argument
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_parameter_in_two_groups_is_rejected(name):
    p = ot.Parameter(np.ones(3))
    q = ot.Parameter(np.ones(3))
    with pytest.raises(ValueError, match=r"(?i)group|more than once|duplicate"):
        OPTIMIZERS[name]([{"params": [p, q]}, {"params": [p]}])


@pytest.mark.parametrize("name", NAMES)
def test_params_from_a_generator(name):
    arrays = make_params(12, SHAPES, np.float64)
    params = [ot.Parameter(a) for a in arrays]
    opt = OPTIMIZERS[name]((p for p in params), **FULL[name])  # like model.parameters()
    ref = RefOptimizer(name, [([a.copy() for a in arrays], FULL[name])])
    grads = GradSource(13, SHAPES, np.float64).next()
    ref.step([grads])
    for p, g in zip(params, grads):
        p.grad = g
    opt.step()
    for i, (a, want) in enumerate(zip(arrays, ref.groups[0][0])):
        assert_close(a, want, np.float64, what=f"{name} param {i} given as a generator")


@pytest.mark.parametrize("name", NAMES)
def test_a_single_parameter_instead_of_an_iterable_is_a_type_error(name):
    with pytest.raises(TypeError):
        OPTIMIZERS[name](ot.Parameter(np.ones(3)))
