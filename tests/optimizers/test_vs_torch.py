"""N-step equivalence with torch.optim and state_dict compatibility.

Every optimizer/flag case of SPECS_UNDER_TEST that torch has (all but Lion)
runs 50 steps next to torch.optim (foreach=False) in float32 and float64, two
param groups with different lrs; parameters, state buffers and the state_dict
layout must match.  An odyssey state_dict loaded into a torch optimizer must
continue the same trajectory.
"""

from __future__ import annotations

import numpy as np
import pytest

import odyssey_training as ot

from .reference import (
    DEFAULTS,
    GradSource,
    ScaleTracker,
    TorchRun,
    assert_close,
    case_id,
    draw_hyper,
    make_params,
    numpy_uniform,
)
from .test_optimizers_property import SPECS_UNDER_TEST

torch = pytest.importorskip("torch")

N_STEPS = 50
RESUME_AT = 20
GROUP_SHAPES = [[(), (0,), (1,), (3,), (8,)], [(17,), (2, 9), (1500,)]]
TORCH_CASES = [(spec, case) for spec in SPECS_UNDER_TEST if spec.reference != "Lion"
               for case in spec.cases]
TORCH_IDS = [case_id(spec.reference, case) for spec, case in TORCH_CASES]


class Pair:
    """The optimizer under test and torch.optim on identical data."""

    def __init__(self, spec, case, dtype, seed):
        rng = np.random.default_rng(seed)
        self.spec, self.dtype = spec, np.dtype(dtype)
        self.hyper = draw_hyper(spec.reference, case, numpy_uniform(rng))
        lrs = [self.hyper["lr"], self.hyper["lr"] * float(rng.uniform(0.2, 3.0))]
        self.arrays = [make_params(seed + 10 * g, shapes, dtype) for g, shapes in enumerate(GROUP_SHAPES)]
        self.group_hypers = [dict(self.hyper, lr=lr) for lr in lrs]
        self.torch = TorchRun(spec.reference, list(zip(self.arrays, self.group_hypers)))
        self.params = [[ot.Parameter(a) for a in arrays] for arrays in self.arrays]
        self.opt = spec.cls([{"params": self.params[0]}, {"params": self.params[1], "lr": lrs[1]}],
                            **self.hyper)
        self.sources = [GradSource(seed * 3 + g, shapes, dtype, float(rng.uniform(0.1, 3.0)))
                        for g, shapes in enumerate(GROUP_SHAPES)]
        self.scales = ScaleTracker()

    def flat_arrays(self):
        return [a for arrays in self.arrays for a in arrays]

    def step(self, ours=True, theirs=True):
        grads = [s.next() for s in self.sources]
        if theirs:
            self.torch.step(grads)
        if ours:
            for ps, gs in zip(self.params, grads):
                for p, g in zip(ps, gs):
                    p.grad = g
            self.opt.step()
        if theirs:
            for i, p in enumerate(self.torch.params()):
                self.scales.update(("p", i), p)
            for i, st in self.torch.state().items():
                for k, v in st.items():
                    if k != "step":
                        self.scales.update((k, i), v)

    def compare_params(self, context):
        for i, (got, want) in enumerate(zip(self.flat_arrays(), self.torch.params())):
            assert_close(got, want, self.dtype, self.scales.get(("p", i)),
                         what=f"{context}: param {i} shape {want.shape} vs torch")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("spec,case", TORCH_CASES, ids=TORCH_IDS)
def test_n_steps_match_torch(spec, case, dtype):
    pair = Pair(spec, case, dtype, seed=TORCH_IDS.index(case_id(spec.reference, case)) + 1)
    context = f"{spec.reference} {pair.dtype.name} {pair.hyper}"
    for _ in range(N_STEPS):
        pair.step()
    pair.compare_params(context)

    ours = pair.opt.state_dict()
    theirs = pair.torch.opt.state_dict()
    assert set(ours) == set(theirs), f"state_dict keys {sorted(ours)} != torch's {sorted(theirs)}"
    torch_state = pair.torch.state()
    flat = pair.flat_arrays()
    for i, array in enumerate(flat):
        if array.size == 0:
            continue
        want = torch_state.get(i, {})
        got = ours["state"].get(i, {})
        got_buffers = {k for k, v in got.items() if k != "step" and v is not None}
        assert got_buffers == set(want) - {"step"}, (
            f"{context}: state[{i}] keys {sorted(got_buffers)} != torch's {sorted(set(want) - {'step'})}")
        for key in got_buffers:
            assert isinstance(got[key], np.ndarray)
            assert_close(got[key], want[key], pair.dtype, pair.scales.get((key, i)),
                         what=f"{context}: state[{i}][{key!r}] vs torch")
        if "step" in want:
            assert float(got["step"]) == want["step"] == N_STEPS
    assert len(ours["param_groups"]) == len(theirs["param_groups"])
    for g, (og, tg) in enumerate(zip(ours["param_groups"], theirs["param_groups"])):
        assert list(og["params"]) == list(tg["params"]), f"group {g} indices"
        for key in DEFAULTS[spec.reference]:
            assert key in og, f"param_groups[{g}] lacks torch's {key!r}"
            value = tuple(og[key]) if key == "betas" else og[key]
            assert value == tg[key], f"param_groups[{g}][{key!r}] = {value!r}, torch {tg[key]!r}"


def _to_torch_state_dict(ours: dict, torch_opt) -> dict:
    """Our state_dict with arrays as tensors; group keys torch does not know are dropped."""
    state = {}
    for index, entry in ours["state"].items():
        state[int(index)] = {
            key: (float(value) if key == "step" else torch.from_numpy(np.array(value, copy=True)))
            for key, value in entry.items() if value is not None}
    groups = []
    for og, tg in zip(ours["param_groups"], torch_opt.state_dict()["param_groups"]):
        group = dict(tg)
        for key in tg:
            if key in og:
                group[key] = tuple(og[key]) if key == "betas" else og[key]
        group["params"] = list(og["params"])
        groups.append(group)
    return {"state": state, "param_groups": groups}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("spec,case", TORCH_CASES, ids=TORCH_IDS)
def test_our_state_dict_continues_in_torch(spec, case, dtype):
    pair = Pair(spec, case, dtype, seed=100 + TORCH_IDS.index(case_id(spec.reference, case)))
    for _ in range(RESUME_AT):
        pair.step(theirs=False)
    # a fresh torch optimizer on our current parameters, resumed from our state_dict
    pair.torch = TorchRun(spec.reference, list(zip(pair.arrays, pair.group_hypers)))
    pair.torch.opt.load_state_dict(_to_torch_state_dict(pair.opt.state_dict(), pair.torch.opt))
    for _ in range(N_STEPS - RESUME_AT):
        pair.step()
    pair.compare_params(f"{spec.reference} {pair.dtype.name} {pair.hyper} resumed in torch "
                        f"after {RESUME_AT} steps")


def _to_our_state_dict(theirs: dict, names) -> dict:
    """torch's state_dict with tensors as ndarrays; only the hyperparameters both know."""
    state = {index: {key: (float(value) if key == "step" else value.detach().numpy().copy())
                     for key, value in entry.items() if value is not None}
             for index, entry in theirs["state"].items()}
    groups = [{key: value for key, value in group.items() if key in names or key == "params"}
              for group in theirs["param_groups"]]
    return {"state": state, "param_groups": groups}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("spec,case", TORCH_CASES, ids=TORCH_IDS)
def test_torch_state_dict_continues_in_ours(spec, case, dtype):
    pair = Pair(spec, case, dtype, seed=200 + TORCH_IDS.index(case_id(spec.reference, case)))
    for _ in range(RESUME_AT):
        pair.step(ours=False)
    # our optimizer on torch's current parameters, resumed from torch's state_dict
    for arrays, tensors in zip(pair.arrays, pair.torch.tensors):
        for a, t in zip(arrays, tensors):
            a[...] = t.detach().numpy()
    pair.opt.load_state_dict(_to_our_state_dict(pair.torch.opt.state_dict(),
                                                set(DEFAULTS[spec.reference])))
    for _ in range(N_STEPS - RESUME_AT):
        pair.step()
    pair.compare_params(f"{spec.reference} {pair.dtype.name} {pair.hyper} torch state resumed "
                        f"in ours after {RESUME_AT} steps")
