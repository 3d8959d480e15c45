"""The global random states (NumPy's legacy ``np.random``, Python's ``random``
and, when torch is imported, torch's CPU generator) as JSON-able dicts, for a
loop's ``state_dict``.

>>> import random
>>> import numpy as np
>>> state = get_rng_state()
>>> a = (np.random.rand(), random.random())
>>> set_rng_state(state)
>>> a == (np.random.rand(), random.random())
True
"""

from __future__ import annotations

import random
import sys
from typing import Any, Mapping

import numpy as np

__all__ = ["get_rng_state", "set_rng_state"]

_MT_WORDS = 624


def get_rng_state() -> dict[str, Any]:
    """``{"numpy": {...}, "python": {...}}`` with ints, floats and lists only:
    ``np.random.get_state(legacy=False)`` (MT19937 key, position, cached
    Gaussian) and ``random.getstate()``; plus ``"torch"``, the bytes of
    ``torch.get_rng_state()`` as a list of ints, when torch is imported (what
    ``seed_everything`` seeds and dropout in a torch model draws from)."""
    state = np.random.get_state(legacy=False)
    if state["bit_generator"] != "MT19937":
        raise ValueError(f"get_rng_state: np.random uses {state['bit_generator']}; only "
                         "MT19937 (NumPy's default) is supported")
    version, internal, gauss_next = random.getstate()
    out = {"numpy": {"bit_generator": "MT19937",
                     "key": [int(k) for k in state["state"]["key"]],
                     "pos": int(state["state"]["pos"]),
                     "has_gauss": int(state["has_gauss"]), "gauss": float(state["gauss"])},
           "python": {"version": version, "internal": list(internal),
                      "gauss_next": gauss_next}}
    torch = sys.modules.get("torch")
    if torch is not None:
        out["torch"] = torch.get_rng_state().tolist()
    return out


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore a :func:`get_rng_state` dict (both generators, or neither on a
    ValueError: everything is checked first)."""
    try:
        np_state, py_state = state["numpy"], state["python"]
        key = np.asarray(np_state["key"])
        numpy_state = {"bit_generator": np_state["bit_generator"],
                       "state": {"key": key, "pos": int(np_state["pos"])},
                       "has_gauss": int(np_state["has_gauss"]), "gauss": float(np_state["gauss"])}
        python_state = (py_state["version"], tuple(py_state["internal"]),
                        py_state["gauss_next"])
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"set_rng_state: not a get_rng_state() dict ({err!r})") from err
    if (numpy_state["bit_generator"] != "MT19937" or key.shape != (_MT_WORDS,)
            or key.dtype.kind not in "iu" or (key < 0).any() or (key >= 2**32).any()
            or not 0 <= numpy_state["state"]["pos"] <= _MT_WORDS
            or numpy_state["has_gauss"] not in (0, 1)):
        raise ValueError("set_rng_state: the numpy state is not a valid MT19937 state")
    numpy_state["state"]["key"] = key.astype(np.uint32)
    torch, torch_state = sys.modules.get("torch"), None
    try:        # validate on scratch generators, then install
        np.random.RandomState().set_state(numpy_state)
        random.Random().setstate(python_state)
        if torch is not None and state.get("torch") is not None:
            torch_state = torch.tensor(state["torch"], dtype=torch.uint8)
            torch.Generator().set_state(torch_state)
    except (TypeError, ValueError, OverflowError, RuntimeError) as err:
        raise ValueError(f"set_rng_state: invalid state ({err})") from err
    np.random.set_state(numpy_state)
    random.setstate(python_state)
    if torch_state is not None:
        torch.set_rng_state(torch_state)
