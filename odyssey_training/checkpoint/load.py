"""``read_checkpoint`` / ``load_checkpoint``: parse with safetensors only, validate
everything, then restore all parts or none.

Layout (version 1): a safetensors file whose metadata holds ``format`` =
``"odyssey-training-checkpoint"``, ``version`` = ``"1"`` and ``state``, a JSON
document ``{"params": [key, ...], "buffers": [name, ...], "optimizer": doc,
"scheduler": doc, "loop": doc, "extra": doc}`` (each entry optional; docs as
:mod:`.tree` encodes them).  Parameter ``key`` is the tensor ``params/<key>``,
buffer ``name`` the tensor ``buffers/<name>``; every other tensor is named by
exactly one ``$tensor``/``$scalar`` reference in the docs.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .base import FORMAT, PARTS, VERSION, CheckpointError
from .params import model_buffers, named_parameters
from .save import safetensors_numpy, state_of
from .tree import unflatten

__all__ = ["read_checkpoint", "load_checkpoint"]

_ENTRIES = ("params", "buffers", *PARTS, "extra")
#: entries that list the names of tensors "<entry>/<name>", and what each tensor is
_NAMED = {"params": "parameter", "buffers": "buffer"}


def _read_file(path: Path) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    safetensors_numpy()
    from safetensors import safe_open

    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    try:
        with safe_open(path, framework="numpy") as handle:
            metadata = handle.metadata() or {}
            if metadata.get("format") != FORMAT:
                raise CheckpointError(f"{path} is a safetensors file but not an "
                                      f"odyssey-training checkpoint (metadata format "
                                      f"{metadata.get('format')!r}, expected {FORMAT!r})")
            if metadata.get("version") != VERSION:
                raise CheckpointError(f"{path}: checkpoint version "
                                      f"{metadata.get('version')!r} is not supported (this "
                                      f"library reads version {VERSION!r})")
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except (CheckpointError, OSError):
        raise
    except Exception as err:  # safetensors' SafetensorError, an unknown dtype, ...
        raise CheckpointError(f"{path} is not a valid safetensors file ({err}); a "
                              "checkpoint is never read any other way (no pickle)") from err
    return metadata, tensors


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Decode a checkpoint without applying it: ``{"params": {key: array} or None,
    "buffers": {name: array} or None, "optimizer": state_dict or None, "scheduler": ..., "loop": ..., "extra": dict
    or None}``.  A file that is not a valid checkpoint is a :class:`CheckpointError`."""
    path = Path(path)
    metadata, tensors = _read_file(path)
    try:
        document = json.loads(metadata.get("state", ""))
    except (ValueError, RecursionError) as err:
        raise CheckpointError(f"{path}: the checkpoint's state is not valid JSON ({err})") from err
    if not isinstance(document, dict) or not set(document) <= set(_ENTRIES):
        raise CheckpointError(f"{path}: the checkpoint's state must be an object with keys "
                              f"among {_ENTRIES}")
    result: dict[str, Any] = dict.fromkeys(_ENTRIES)
    for entry, what in _NAMED.items():
        names = document.pop(entry, None)
        if names is None:
            continue
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names) or len(
                set(names)) != len(names):
            raise CheckpointError(f"{path}: the {what} list must hold distinct names")
        missing = [n for n in names if f"{entry}/{n}" not in tensors]
        if missing:
            raise CheckpointError(f"{path}: {what} tensors {missing} are missing")
        result[entry] = {n: tensors.pop(f"{entry}/{n}") for n in names}
    try:
        result.update(unflatten(document, tensors))
    except RecursionError as err:
        raise CheckpointError(f"{path}: the checkpoint's state is nested too deeply") from err
    except CheckpointError as err:
        raise CheckpointError(f"{path}: {err}") from err
    if result["extra"] is not None and not isinstance(result["extra"], dict):
        raise CheckpointError(f"{path}: the checkpoint's extra must be a dict")
    return result


def _check_arrays(path: Path, what: str, mine: dict[str, np.ndarray],
                  saved: dict[str, np.ndarray] | None) -> None:
    """Names, shapes and dtypes of the checkpoint's ``what`` ("parameter", "buffer")
    against the model's writable arrays ``mine``."""
    if saved is None:
        raise CheckpointError(f"{path} holds no {what}s")
    missing = [k for k in mine if k not in saved]
    unexpected = [k for k in saved if k not in mine]
    if missing or unexpected:
        raise CheckpointError(f"{path}: {what} names differ: missing from the checkpoint "
                              f"{missing}, not in the model {unexpected}")
    for key, data in mine.items():
        arr = saved[key]
        if not isinstance(data, np.ndarray) or not data.flags.writeable:
            raise CheckpointError(f"{path}: {what} {key!r} has no writable array to load "
                                  "into")
        if arr.shape != data.shape or arr.dtype != data.dtype:
            raise CheckpointError(f"{path}: {what} {key!r} is {arr.dtype}{list(arr.shape)} "
                                  f"in the checkpoint but {data.dtype}{list(data.shape)} "
                                  "in the model")


def load_checkpoint(path: str | os.PathLike, *, model: Any = None, params: Any = None,
                    optimizer: Any = None, scheduler: Any = None,
                    loop: Any = None) -> dict[str, Any]:
    """Restore what :func:`~.save.save_checkpoint` wrote into the objects given,
    and return the checkpoint's ``extra`` dict (``{}`` when none was saved).

    The file is parsed by safetensors only (never pickle): one that is not a
    safetensors file, is damaged or truncated, or is not an odyssey-training
    checkpoint is a :class:`CheckpointError`.  Parameter names, shapes and
    dtypes must equal the model's (and its buffers', when it has ``buffers()``),
    and every part asked for must be in the file; all of that is checked before
    anything changes.  Then parameters and buffers are copied in place
    (``np.copyto``: optimizers keep pointing at the same arrays) and
    ``optimizer``, ``scheduler`` and ``loop`` get ``load_state_dict``, in that
    order.  If any of them fails, every object is put back as it was before the
    call (from copies taken first) and a CheckpointError names the part.
    Parts in the file that are not asked for are ignored.
    """
    path = Path(path)
    named = named_parameters(model, params)
    parts = {part: obj for part, obj in (("optimizer", optimizer), ("scheduler", scheduler),
                                         ("loop", loop)) if obj is not None}
    content = read_checkpoint(path)
    arrays: dict[str, dict[str, np.ndarray]] = {}      # entry -> the model's arrays by name
    if named is not None:
        arrays["params"] = {k: p.data for k, p in named.items()}
        _check_arrays(path, "parameter", arrays["params"], content["params"])
    buffers = model_buffers(model)
    if buffers:
        arrays["buffers"] = buffers
        _check_arrays(path, "buffer", buffers, content["buffers"])
    for part in parts:
        if content[part] is None:
            raise CheckpointError(f"{path} holds no {part} state")
    snapshots = {part: copy.deepcopy(state_of(part, obj)) for part, obj in parts.items()}
    backup = ([(data, data.copy()) for mine in arrays.values() for data in mine.values()]
              if parts else [])     # copying the checked arrays cannot fail; a part's load can
    current = "parameters"
    try:
        for entry, mine in arrays.items():
            current = "parameters" if entry == "params" else entry
            for key, data in mine.items():
                np.copyto(data, content[entry][key])
        for current, obj in parts.items():
            obj.load_state_dict(content[current])
    except BaseException as err:
        failures = _roll_back(backup, parts, snapshots)
        if not isinstance(err, Exception):
            raise
        note = (f"; rolling back also failed for {', '.join(failures)}" if failures else
                "; everything was restored to its state before the call")
        raise CheckpointError(f"{path}: loading the {current} state failed "
                              f"({type(err).__name__}: {err}){note}") from err
    return content["extra"] if content["extra"] is not None else {}


def _roll_back(backup: list[tuple[np.ndarray, np.ndarray]], parts: dict[str, Any],
               snapshots: dict[str, Any]) -> list[str]:
    """Put everything back from the copies taken before the load; the parts whose
    restore failed."""
    failures = []
    for data, saved in backup:
        np.copyto(data, saved)
    for part, obj in parts.items():
        try:
            obj.load_state_dict(snapshots[part])
        except Exception:  # noqa: BLE001 -- report every part that could not be restored
            failures.append(part)
    return failures
