"""``steady_call``: the native steady-state step program (odyssey_training.native).

The program runs on plain Python stand-ins for tensors (their memory NumPy
arrays), so every section is checked against what its table in
odyssey_codegen.steady_entry says, written out here: each check that fails
returns False with nothing run, changed values return None, and a program whose
checks hold writes each gradient's address into the table, writes each shared
plan's step words, runs the plans in order and counts their steps."""

from __future__ import annotations

import gc
import sys
import weakref

import numpy as np
import pytest

from odyssey_training.native import steady_call

class Memory:
    """An object whose memory is an array."""
    array: np.ndarray

    def data_ptr(self) -> int:
        return self.array.ctypes.data


class Grad(Memory):
    """A gradient; ``live`` counts those not yet freed."""
    live = 0

    def __init__(self, array: np.ndarray, contiguous: bool = True) -> None:
        Grad.live += 1                  # first: __del__ runs even when __init__ raises
        self.array, self.contiguous = array, contiguous
        array.dtype                     # raises for a bad array, as a getter may

    def __del__(self) -> None:
        Grad.live -= 1

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    @property
    def nbytes(self) -> int:
        return self.array.nbytes

    def is_contiguous(self) -> bool:
        return self.contiguous


class Tensor(Memory):
    """A parameter whose ``grad`` property hands out a new Grad each time (as torch
    hands out a new Python object for a gradient made by a backward pass)."""

    def __init__(self, size: int) -> None:
        self.array = np.zeros(size, np.float32)
        self.grad_array: np.ndarray | None = np.arange(size, dtype=np.float32)
        self.contiguous = True

    @property
    def grad(self) -> Grad | None:
        return None if self.grad_array is None else Grad(self.grad_array, self.contiguous)


#: the program's objects: descriptors read through their type's __get__, callables
OBJECTS = {"grad": Tensor.__dict__["grad"], "data_ptr": Memory.data_ptr,
           "dtype": Grad.__dict__["dtype"], "nbytes": Grad.__dict__["nbytes"],
           "contiguous": Grad.is_contiguous, "step": "step"}


class Holder:
    """Attributes to check."""


class Synced:
    def __init__(self, values: tuple) -> None:
        self.values = values


def _program(rows=(1, 3), shared=True):
    """A program over two tensors (the second split into ``rows`` rows) and two
    plans: a shared one with two states, and one that runs alone."""
    holder = Holder()
    holder.flag, holder.hooks, holder.steady = False, [], object()
    hooks = {}
    group = {"lr": 0.5, "params": None}
    tensors = [Tensor(4), Tensor(6 * rows[1])]
    group["params"] = tensors
    groups = [group]
    synced = Synced((group["lr"],))
    table = np.zeros((4, 8), np.int64)
    scalars = np.zeros(8)
    states = [{"step": 3}, {"step": 3}]
    ran: list[str] = []
    point = [(t, t.data_ptr(), t.grad_array.nbytes, t.grad_array.dtype,
              table.ctypes.data + 8 * (2 + 8 * first), n, 64, t.grad_array.nbytes // n)
             for t, first, n in zip(tensors, (0, 1), rows)]
    plans = [(lambda: ran.append("shared"), states if shared else None, scalars.ctypes.data, 4),
             (lambda: ran.append("alone"), None, 0, 0)]
    sections = dict(
        empty=[(hooks,)],
        falsy=[(holder, "flag"), (holder, "hooks")],
        same=[(holder, "steady", holder.steady)],
        same_item=[(group, "params", tensors)],
        items=[(groups, [group]), (tensors, list(tensors))],
        values=[(group, ["lr"], synced, "values")],
        point=point, plans=plans)
    world = dict(holder=holder, hooks=hooks, group=group, groups=groups, tensors=tensors,
                 synced=synced, table=table, scalars=scalars, states=states, ran=ran)
    return steady_call(OBJECTS, **sections), world


def test_a_steady_program_points_runs_and_counts():
    call, w = _program(rows=(1, 3))
    assert call() is True
    first, second = w["tensors"]
    assert w["table"][0, 2] == first.grad_array.ctypes.data
    row_bytes = second.grad_array.nbytes // 3
    assert [w["table"][1 + k, 2] for k in range(3)] == [
        second.grad_array.ctypes.data + k * row_bytes for k in range(3)]
    assert w["ran"] == ["shared", "alone"]
    assert list(w["scalars"][4:7]) == [4.0, 0.0, 1.0]
    assert [s["step"] for s in w["states"]] == [4, 4] and type(w["states"][1]["step"]) is int
    w["states"][0]["step"] = 7.0                  # a float step stays a float, as in Python
    assert call() is True
    assert [s["step"] for s in w["states"]] == [8.0, 8.0] and w["scalars"][4] == 8.0
    assert type(w["states"][1]["step"]) is float


def test_a_plan_without_states_only_runs():
    call, w = _program(shared=False)
    assert call() is True
    assert w["ran"] == ["shared", "alone"]
    assert list(w["scalars"]) == [0.0] * 8 and [s["step"] for s in w["states"]] == [3, 3]


def _break(w, what):
    holder, group, tensors = w["holder"], w["group"], w["tensors"]
    if what == "falsy":
        holder.flag = True
    elif what == "hooks":
        holder.hooks.append(print)
    elif what == "empty":
        w["hooks"]["h"] = print
    elif what == "same":
        holder.steady = object()
    elif what == "missing attribute":
        del holder.steady
    elif what == "same_item":
        group["params"] = list(tensors)
    elif what == "missing item":
        del group["params"]
    elif what == "items length":
        w["groups"].append({})
    elif what == "items member":
        tensors[1] = Tensor(18)
    elif what == "values kind":
        w["synced"].values = [0.5]                     # not a tuple
    elif what == "no grad":
        tensors[1].grad_array = None
    elif what == "moved":
        tensors[0].array = np.zeros(4, np.float32)
    elif what == "dtype":
        tensors[0].grad_array = np.zeros(4, np.int32)
    elif what == "size":
        tensors[0].grad_array = np.zeros(5, np.float32)
    elif what == "strided":
        tensors[1].contiguous = False
    elif what == "grad raises":
        tensors[0].grad_array = "not an array"


CHECKS = ["empty", "falsy", "hooks", "same", "missing attribute", "same_item", "missing item",
          "items length", "items member", "values kind"]
POINTS = ["no grad", "moved", "dtype", "size", "strided", "grad raises"]


@pytest.mark.parametrize("what", CHECKS + POINTS)
def test_each_failed_check_returns_false_having_run_nothing(what):
    call, w = _program()
    table = w["table"].copy()
    _break(w, what)
    assert call() is False                                # (an exception left set: SystemError)
    assert w["ran"] == [] and [s["step"] for s in w["states"]] == [3, 3]
    assert list(w["scalars"]) == [0.0] * 8
    if what in CHECKS:                                    # checks come before any write
        np.testing.assert_array_equal(w["table"], table)
    assert Grad.live == 0


@pytest.mark.parametrize("change", ["new", "equal", "missing"])
def test_a_value_not_the_one_last_seen_returns_none_having_run_nothing(change):
    call, w = _program()
    if change == "missing":
        del w["group"]["lr"]
    else:
        w["group"]["lr"] = 0.25 if change == "new" else float("0.5")   # another object
    assert call() is None
    assert w["ran"] == [] and not w["table"].any()
    w["group"]["lr"] = value = 0.125
    w["synced"].values = (value,)                       # the caller took them
    assert call() is True and w["ran"] == ["shared", "alone"]


def test_an_exception_from_a_plan_propagates():
    call, w = _program()
    w["states"][0]["step"] = "three"                      # "three" + 1 raises TypeError
    with pytest.raises(TypeError):
        call()
    assert w["ran"] == []


def test_no_reference_is_leaked_or_lost():
    call, w = _program()
    watched = [w["holder"], w["group"], w["groups"], w["synced"], *w["tensors"],
               w["states"][0], np.dtype(np.float32)]
    call()
    before = [sys.getrefcount(o) for o in watched]
    for _ in range(200):
        assert call() is True
        w["group"]["lr"] = 0.5 if w["group"]["lr"] != 0.5 else 0.25
        assert call() is None
        w["synced"].values = (w["group"]["lr"],)
    w["group"]["lr"] = 0.5
    w["synced"].values = (0.5,)
    assert [sys.getrefcount(o) for o in watched] == before
    assert Grad.live == 0


def test_the_function_keeps_what_it_names_alive():
    call, w = _program()
    tensor = weakref.ref(w["tensors"][0])
    w.clear()
    gc.collect()
    assert tensor() is not None and call() is True
    del call
    gc.collect()
    assert tensor() is None


def test_a_malformed_program_is_refused():
    with pytest.raises(ValueError, match="unknown sections"):
        steady_call(OBJECTS, checks=[])
    with pytest.raises(ValueError, match="same entry has 3 fields"):
        steady_call(OBJECTS, same=[(object(), "x")])
