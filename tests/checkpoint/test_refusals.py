"""Files that are not what they claim are refused with a CheckpointError and
nothing is executed; a checkpoint that does not fit is refused before any
parameter or optimizer state changes; a part failing mid-load rolls everything
back."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest

import odyssey_training as ot
from odyssey_training.checkpoint import (CheckpointError, load_checkpoint, read_checkpoint,
                                         save_checkpoint)
from odyssey_training.optimizers import Adam
from odyssey_training.schedulers import StepLR

from .helpers import assert_same


class MakesMarker:
    """Unpickling this object calls ``open(marker, "w")``: proof of execution."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def trained(seed=0):
    rng = np.random.default_rng(seed)
    params = [ot.Parameter(rng.standard_normal((4, 3)), name="w"),
              ot.Parameter(rng.standard_normal(3).astype(np.float32), name="b")]
    opt = Adam(params, lr=0.01)
    for p in params:
        p.grad = np.ones_like(p.data)
    opt.step()
    return params, opt, StepLR(opt, 2)


def snapshot(params, opt, sched):
    return [p.data.copy() for p in params], opt.state_dict(), sched.state_dict()


def assert_unchanged(before, params, opt, sched):
    for a, p in zip(before[0], params):
        assert a.tobytes() == p.data.tobytes()
    assert_same(opt.state_dict(), before[1])
    assert_same(sched.state_dict(), before[2])


def refuse(path, match):
    params, opt, sched = trained(seed=1)
    before = snapshot(params, opt, sched)
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(path, params=params, optimizer=opt, scheduler=sched)
    assert_unchanged(before, params, opt, sched)


def test_a_pickle_is_refused_and_never_executed(tmp_path):
    marker = tmp_path / "executed"
    payload = pickle.dumps({"w": MakesMarker(str(marker))})
    pickle.loads(payload)                        # the payload is live: it does run if unpickled
    assert marker.exists()
    marker.unlink()
    for name in ("model.pkl", "model.safetensors"):
        (tmp_path / name).write_bytes(payload)
        refuse(tmp_path / name, "not a valid safetensors file.*never read any other way")
        assert not marker.exists()


def test_a_torch_save_file_is_refused_and_never_executed(tmp_path):
    torch = pytest.importorskip("torch")
    marker = tmp_path / "executed"
    path = tmp_path / "ckpt.safetensors"
    torch.save({"w": torch.zeros(3), "evil": MakesMarker(str(marker))}, path)
    assert not marker.exists()
    refuse(path, "not a valid safetensors file")
    assert not marker.exists()


def test_foreign_and_damaged_files(tmp_path):
    from safetensors.numpy import save_file
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": np.zeros(3)}, foreign)
    refuse(foreign, "not an odyssey-training checkpoint")
    params, opt, sched = trained()
    good = tmp_path / "good.safetensors"
    save_checkpoint(good, params=params, optimizer=opt, scheduler=sched)
    data = good.read_bytes()
    for cut in (0, 7, 8, 100, len(data) // 2, len(data) - 1):
        (tmp_path / "cut").write_bytes(data[:cut])
        refuse(tmp_path / "cut", "not a valid safetensors file")
    (tmp_path / "longer").write_bytes(data + b"\0")
    refuse(tmp_path / "longer", "not a valid safetensors file")

    def rewrite(name, metadata=None, tensors=None):
        """The good checkpoint rewritten with other metadata or tensors."""
        from safetensors import safe_open
        with safe_open(good, "numpy") as handle:
            meta = handle.metadata()
            arrays = {k: handle.get_tensor(k) for k in handle.keys()}
        meta.update(metadata or {})
        arrays = tensors(arrays) if tensors else arrays
        save_file(arrays, tmp_path / name, metadata=meta)
        return tmp_path / name

    refuse(rewrite("v2", {"version": "2"}), "version '2' is not supported")
    refuse(rewrite("json", {"state": "{not json"}), "not valid JSON")
    refuse(rewrite("deep", {"state": "[" * 100000 + "]" * 100000}), "JSON|nested")
    refuse(rewrite("keys", {"state": json.dumps({"weights": []})}), "keys among")
    refuse(rewrite("extra_tensor", tensors=lambda a: a | {"stray": np.zeros(1)}),
           "tensors \\['stray'\\] are not referenced")
    refuse(rewrite("lost_tensor", tensors=lambda a: {k: v for k, v in a.items()
                                                       if "exp_avg_sq" not in k}),
           "does not hold")
    refuse(rewrite("lost_param", tensors=lambda a: {k: v for k, v in a.items()
                                                      if k != "params/b"}),
           "parameter tensors \\['b'\\] are missing")


@pytest.mark.parametrize("change, match", [
    (lambda p: ot.Parameter(np.zeros((3, 4)), name="w"),
     r"'w' is float64\[4, 3\].*float64\[3, 4\]"),
    (lambda p: ot.Parameter(np.zeros((4, 3), np.float32), name="w"), r"'w' is float64.*float32"),
    (lambda p: ot.Parameter(p.data.copy(), name="renamed"),
     r"missing from the checkpoint \['renamed'\], not in the model \['w'\]"),
])
def test_mismatched_parameters_change_nothing(tmp_path, change, match):
    params, opt, sched = trained()
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, params=params, optimizer=opt, scheduler=sched)
    mine, my_opt, my_sched = trained(seed=3)
    mine[0] = change(mine[0])
    my_opt = Adam(mine, lr=0.01)
    my_sched = StepLR(my_opt, 2)
    before = snapshot(mine, my_opt, my_sched)
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(path, params=mine, optimizer=my_opt, scheduler=my_sched)
    assert_unchanged(before, mine, my_opt, my_sched)


def test_extra_and_missing_parameters_and_parts(tmp_path):
    params, opt, sched = trained()
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, params=params[:1], optimizer=opt)
    refuse(path, r"not in the model \[\]|missing from the checkpoint \['b'\]")
    save_checkpoint(path, params=params)
    params2, opt2, sched2 = trained(seed=2)
    with pytest.raises(CheckpointError, match="holds no optimizer state"):
        load_checkpoint(path, params=params2, optimizer=opt2)
    save_checkpoint(path, optimizer=opt)
    with pytest.raises(CheckpointError, match="holds no parameters"):
        load_checkpoint(path, params=params2)
    assert load_checkpoint(path) == {}                 # nothing asked for: just the extra


class Refuses:
    """A loop whose load_state_dict changes itself, then fails half-way."""

    def __init__(self):
        self.value = 1

    def state_dict(self):
        return {"value": self.value}

    def load_state_dict(self, sd):
        self.value = sd["value"]
        if sd["value"] == 42:
            raise ValueError("cannot take 42")


def test_a_failing_part_rolls_everything_back(tmp_path):
    params, opt, sched = trained()
    loop = Refuses()
    loop.value = 42
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, params=params, optimizer=opt, scheduler=sched, loop=loop)
    mine, my_opt, my_sched = trained(seed=4)
    my_loop = Refuses()
    before = snapshot(mine, my_opt, my_sched)
    with pytest.raises(CheckpointError, match="loading the loop state failed.*cannot take 42"
                                              ".*restored to its state before the call"):
        load_checkpoint(path, params=mine, optimizer=my_opt, scheduler=my_sched, loop=my_loop)
    assert_unchanged(before, mine, my_opt, my_sched)
    assert my_loop.value == 1


def test_an_optimizer_that_does_not_fit_rolls_the_parameters_back(tmp_path):
    params, opt, sched = trained()
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, params=params, optimizer=opt)
    mine, _, _ = trained(seed=5)
    other = [ot.Parameter(np.zeros(2), name="z")]
    wrong_opt = Adam([{"params": mine}, {"params": other}])     # two groups: refuses the state
    before = [p.data.copy() for p in mine]
    with pytest.raises(CheckpointError, match="loading the optimizer state failed.*param groups"):
        load_checkpoint(path, params=mine, optimizer=wrong_opt)
    assert all(a.tobytes() == p.data.tobytes() for a, p in zip(before, mine))


def test_bad_save_arguments_leave_the_previous_file(tmp_path):
    params, opt, sched = trained()
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, params=params, extra={"epoch": 1})
    data = path.read_bytes()
    with pytest.raises(TypeError, match="extra/obj is a object"):
        save_checkpoint(path, params=params, extra={"obj": object()})
    with pytest.raises(TypeError, match="extra must be a dict"):
        save_checkpoint(path, params=params, extra=[1])
    with pytest.raises(TypeError, match="scheduler must have state_dict"):
        save_checkpoint(path, scheduler=object())
    with pytest.raises(ValueError, match="nothing to save"):
        save_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save_checkpoint(tmp_path / "no" / "c.safetensors", params=params)
    with pytest.raises(IsADirectoryError):
        save_checkpoint(tmp_path, params=params)
    assert path.read_bytes() == data
    assert sorted(os.listdir(tmp_path)) == ["c.safetensors"]
    with pytest.raises(FileNotFoundError, match="no checkpoint file"):
        read_checkpoint(tmp_path / "missing.safetensors")


def test_parameter_arrays_are_stored_as_they_are(tmp_path):
    """A parameter whose array was swapped for a strided view is saved by value
    (safetensors itself would write the raw memory)."""
    p = ot.Parameter(np.zeros(3), name="w")
    base = np.arange(6.0)
    p.data = base[::2]
    save_checkpoint(tmp_path / "c.safetensors", params=[p])
    np.testing.assert_array_equal(read_checkpoint(tmp_path / "c.safetensors")["params"]["w"],
                                  [0.0, 2.0, 4.0])
    p.data = np.array(["a", "b"])
    with pytest.raises(TypeError, match="parameter 'w' has dtype <U1"):
        save_checkpoint(tmp_path / "c.safetensors", params=[p])
