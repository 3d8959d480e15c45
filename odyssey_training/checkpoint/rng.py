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
    """``{"numpy": {...}, "python": {...}}`` with strings, ints and floats only:
    ``np.random.get_state(legacy=False)`` (MT19937 key, position, cached
    Gaussian) and ``random.getstate()``, their 624/625 32-bit words as hex strings
    (8 digits a word, big-endian: a tenth of the time a list of ints takes to take
    and to write as JSON, which a checkpoint does every epoch); plus ``"torch"``,
    the bytes of ``torch.get_rng_state()`` in hex, when torch is imported (what
    ``seed_everything`` seeds and dropout in a torch model draws from)."""
    state = np.random.get_state(legacy=False)
    if state["bit_generator"] != "MT19937":
        raise ValueError(f"get_rng_state: np.random uses {state['bit_generator']}; only "
                         "MT19937 (NumPy's default) is supported")
    version, internal, gauss_next = random.getstate()
    out = {"numpy": {"bit_generator": "MT19937",
                     "key": _words_hex(state["state"]["key"]),
                     "pos": int(state["state"]["pos"]),
                     "has_gauss": int(state["has_gauss"]), "gauss": float(state["gauss"])},
           "python": {"version": version, "internal": _words_hex(internal),
                      "gauss_next": gauss_next}}
    torch = sys.modules.get("torch")
    if torch is not None:
        out["torch"] = torch.get_rng_state().numpy().tobytes().hex()
    return out


def _words_hex(words: Any) -> str:
    return np.asarray(words, dtype=">u4").tobytes().hex()


def _hex_bytes(text: Any) -> np.ndarray:
    if not isinstance(text, str):
        raise TypeError(f"expected a hex string, got {type(text).__name__}")
    return np.frombuffer(bytes.fromhex(text), dtype=np.uint8)


def _hex_words(text: Any) -> np.ndarray:
    """The 32-bit words of a :func:`_words_hex` string, as native uint32."""
    raw = _hex_bytes(text)
    if raw.size % 4:
        raise ValueError(f"a hex string of 32-bit words has {raw.size} bytes")
    return raw.view(">u4").astype(np.uint32)


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore a :func:`get_rng_state` dict (both generators, or neither on a
    ValueError: everything is checked first)."""
    try:
        np_state, py_state = state["numpy"], state["python"]
        key = _hex_words(np_state["key"])
        numpy_state = {"bit_generator": np_state["bit_generator"],
                       "state": {"key": key, "pos": int(np_state["pos"])},
                       "has_gauss": int(np_state["has_gauss"]), "gauss": float(np_state["gauss"])}
        python_state = (py_state["version"], tuple(_hex_words(py_state["internal"]).tolist()),
                        py_state["gauss_next"])
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"set_rng_state: not a get_rng_state() dict ({err!r})") from err
    if (numpy_state["bit_generator"] != "MT19937" or key.shape != (_MT_WORDS,)
            or not 0 <= numpy_state["state"]["pos"] <= _MT_WORDS
            or numpy_state["has_gauss"] not in (0, 1)):
        raise ValueError("set_rng_state: the numpy state is not a valid MT19937 state")
    torch, torch_state = sys.modules.get("torch"), None
    try:        # validate on scratch generators, then install
        np.random.RandomState().set_state(numpy_state)
        random.Random().setstate(python_state)
        if torch is not None and state.get("torch") is not None:
            torch_state = torch.from_numpy(_hex_bytes(state["torch"]).copy())
            torch.Generator().set_state(torch_state)
    except (TypeError, ValueError, OverflowError, RuntimeError) as err:
        raise ValueError(f"set_rng_state: invalid state ({err})") from err
    np.random.set_state(numpy_state)
    random.setstate(python_state)
    if torch_state is not None:
        torch.set_rng_state(torch_state)
