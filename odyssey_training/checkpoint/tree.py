"""Nested state <-> (a JSON document, named arrays), exactly reversible.

:func:`flatten` turns a state -- dicts, lists, tuples, JSON scalars and NumPy
arrays, as ``state_dict()`` methods return (an optimizer's int-keyed ``state``
with array buffers, a scheduler's ``best = inf``, torch's ``betas`` tuple) -- into
a JSON-able document plus ``{key: array}``; :func:`unflatten` rebuilds the same
values from them.  Standard JSON values stand for themselves; everything else
is a one-key object whose key starts with ``$``:

============================  ==================================================
``{"$tensor": key}``          an ndarray, stored as the tensor ``key``
``{"$scalar": key}``          a NumPy scalar (``np.float32(0.5)``), a 0-d tensor
``{"$tuple": [...]}``         a tuple
``{"$map": [[k, v], ...]}``   a dict with a key that is not a string, or
                              starts with ``$`` (keys: str, int, float, bool, None)
``{"$float": "nan"}``         a non-finite float (``"inf"``, ``"-inf"``)
============================  ==================================================

Arrays keep dtype (native byte order), shape (0-d and empty too) and values.
Other array-likes (objects with ``__array__``, such as CPU torch tensors in a
torch optimizer's state) are stored as their arrays and come back as ndarrays.

>>> import numpy as np
>>> doc, arrays = flatten({"state": {0: {"step": 3.0, "buf": np.zeros(2)}}}, "opt")
>>> doc
{'state': {'$map': [[0, {'step': 3.0, 'buf': {'$tensor': 'opt/state/0/buf'}}]]}}
>>> unflatten(doc, arrays)
{'state': {0: {'step': 3.0, 'buf': array([0., 0.])}}}
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from .base import CheckpointError

__all__ = ["flatten", "unflatten", "storable", "DTYPES"]

# what safetensors stores and safetensors.numpy reads back
DTYPES = frozenset(np.dtype(t) for t in (
    np.bool_, np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64,
    np.uint64, np.float16, np.float32, np.float64, np.complex64))
_KEY_TYPES = (str, int, float, bool, type(None))
_TAGS = ("$tensor", "$scalar", "$tuple", "$map", "$float")


def flatten(tree: Any, prefix: str) -> tuple[Any, dict[str, np.ndarray]]:
    """``(document, arrays)`` for ``tree``; array keys are ``prefix/path/to/leaf``.
    An unsupported value is a TypeError naming its path."""
    arrays: dict[str, np.ndarray] = {}
    return _encode(tree, prefix, arrays), arrays


def _array_key(path: str, arrays: dict[str, np.ndarray]) -> str:
    key, n = path, 1
    while key in arrays:        # a dict key holding "/" can repeat another path
        key, n = f"{path}~{n}", n + 1
    return key


def storable(value: np.ndarray, path: str) -> np.ndarray:
    """``value`` as safetensors stores it: a C-contiguous array in native byte order
    (a copy only when needed); a dtype it cannot hold is a TypeError naming ``path``."""
    arr = np.asarray(value)
    if arr.dtype.newbyteorder("=") not in DTYPES:
        raise TypeError(f"checkpoint: {path} has dtype {arr.dtype}, which a checkpoint cannot "
                        f"hold (supported: {', '.join(sorted(d.name for d in DTYPES))})")
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if not arr.flags.c_contiguous:
        arr = arr.copy(order="C")
    return arr


def _store(value: np.ndarray, path: str, arrays: dict[str, np.ndarray]) -> str:
    key = _array_key(path, arrays)
    arrays[key] = storable(value, path)
    return key


def _encode(value: Any, path: str, arrays: dict[str, np.ndarray]) -> Any:
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, np.ndarray):
        return {"$tensor": _store(value, path, arrays)}
    if isinstance(value, np.generic):
        return {"$scalar": _store(np.asarray(value), path, arrays)}
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else {"$float": repr(float(value))}
    if isinstance(value, list):
        if all(type(v) is int for v in value):     # e.g. an RNG state: 625 plain ints
            return list(value)
        if all(type(v) is float for v in value) and all(map(math.isfinite, value)):
            return list(value)                     # e.g. a metric's history
        return [_encode(v, f"{path}/{i}", arrays) for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return {"$tuple": [_encode(v, f"{path}/{i}", arrays) for i, v in enumerate(value)]}
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, _KEY_TYPES) or isinstance(key, np.generic):
                raise TypeError(f"checkpoint: {path} has a key {key!r} of type "
                                f"{type(key).__name__}; keys must be str, int, float, bool "
                                "or None")
        items = [(k, _encode(v, f"{path}/{k}", arrays)) for k, v in value.items()]
        if all(isinstance(k, str) and not k.startswith("$") for k, _ in items):
            return dict(items)
        return {"$map": [[_encode(k, path, arrays), v] for k, v in items]}
    if callable(getattr(value, "__array__", None)):   # an array-like (a CPU torch tensor)
        return {"$tensor": _store(np.asarray(value), path, arrays)}
    raise TypeError(f"checkpoint: {path} is a {type(value).__name__}; a checkpoint holds "
                    "dicts, lists, tuples, str, int, float, bool, None and NumPy arrays "
                    "(or array-likes, stored as arrays)")


def unflatten(document: Any, arrays: Mapping[str, np.ndarray]) -> Any:
    """The value :func:`flatten` encoded.  Every array must be referenced exactly
    once; a malformed document is a :class:`CheckpointError`."""
    used: set[str] = set()
    value = _decode(document, arrays, used, "state")
    unused = sorted(set(arrays) - used)
    if unused:
        raise CheckpointError(f"checkpoint: tensors {unused} are not referenced by its state")
    return value


def _tensor(key: Any, arrays: Mapping[str, np.ndarray], used: set[str], where: str) -> np.ndarray:
    if not isinstance(key, str) or key not in arrays:
        raise CheckpointError(f"checkpoint: {where} names a tensor {key!r} that the file "
                              "does not hold")
    if key in used:
        raise CheckpointError(f"checkpoint: tensor {key!r} is referenced twice")
    used.add(key)
    return arrays[key]


def _decode(node: Any, arrays: Mapping[str, np.ndarray], used: set[str], where: str) -> Any:
    if node is None or isinstance(node, (str, bool, int, float)):
        return node
    if isinstance(node, list):
        return [_decode(v, arrays, used, f"{where}/{i}") for i, v in enumerate(node)]
    if not isinstance(node, dict):
        raise CheckpointError(f"checkpoint: {where} holds a {type(node).__name__}")
    tags = [k for k in node if k.startswith("$")]
    if not tags:
        return {k: _decode(v, arrays, used, f"{where}/{k}") for k, v in node.items()}
    if len(node) != 1 or tags[0] not in _TAGS:
        raise CheckpointError(f"checkpoint: {where} is a malformed entry {sorted(node)} "
                              f"(known tags: {', '.join(_TAGS)})")
    tag, payload = tags[0], node[tags[0]]
    if tag == "$tensor":
        return _tensor(payload, arrays, used, where)
    if tag == "$scalar":
        arr = _tensor(payload, arrays, used, where)
        if arr.ndim != 0:
            raise CheckpointError(f"checkpoint: {where} is a scalar but tensor {payload!r} "
                                  f"has shape {arr.shape}")
        return arr[()]
    if tag == "$float":
        if payload not in ("nan", "inf", "-inf"):
            raise CheckpointError(f"checkpoint: {where} is a bad $float {payload!r}")
        return float(payload)
    if not isinstance(payload, list):
        raise CheckpointError(f"checkpoint: {where} ({tag}) must hold a list")
    if tag == "$tuple":
        return tuple(_decode(v, arrays, used, f"{where}/{i}") for i, v in enumerate(payload))
    result = {}
    for item in payload:
        if not isinstance(item, list) or len(item) != 2:
            raise CheckpointError(f"checkpoint: {where} ($map) must hold [key, value] pairs")
        key = _decode(item[0], arrays, used, where)
        if not isinstance(key, _KEY_TYPES) or key in result:
            raise CheckpointError(f"checkpoint: {where} has a bad or repeated key {key!r}")
        result[key] = _decode(item[1], arrays, used, f"{where}/{key}")
    return result
