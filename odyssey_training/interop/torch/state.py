"""Optimizer state between the engine's layout and torch's.

The engine (the NumPy-API optimizer) keeps ``state[Parameter] = {"step": int,
buffer: ndarray}`` and param groups of canonical values; torch keeps
``state[tensor] = {"step": 0-d tensor, buffer: tensor}`` and groups with torch's
keys (tensors allowed for ``lr`` and ``betas``).  These functions convert one
into the other; nothing here changes an optimizer.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import torch

__all__ = ["plain", "fill_torch_state", "engine_state_dict", "arrays_as_tensors"]


def plain(value: Any) -> Any:
    """A group value as the engine takes it: one-element tensors as floats."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"a tensor hyperparameter must have one element, got shape "
                             f"{tuple(value.shape)}")
        return value.item()
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    return value


def _scalar_dtype() -> torch.dtype:
    """torch's dtype for ``state["step"]``."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def fill_torch_state(view: defaultdict, engine_state: dict, stores_step: bool) -> None:
    """Bring torch's ``view`` of the state up to date with the engine's: buffers as
    tensors sharing the engine's memory (made once per buffer), ``step`` as torch
    keeps it (a 0-d float tensor, updated in place; none when ``stores_step`` is
    False, as torch's SGD).  A parameter without state gets no entry."""
    for p, entry in engine_state.items():
        tensor = p.tensor
        out = view.get(tensor)
        for key, value in entry.items():
            if key == "step":
                if not stores_step:
                    continue
                held = None if out is None else out.get("step")
                if isinstance(held, torch.Tensor) and held.dim() == 0:
                    held.fill_(float(value))
                    continue
                value = torch.tensor(float(value), dtype=_scalar_dtype())
            else:
                held = None if out is None else out.get(key)
                if (isinstance(held, torch.Tensor) and held.shape == value.shape
                        and held.data_ptr() == value.__array_interface__["data"][0]):
                    continue
                value = torch.from_numpy(value)
            if out is None:
                out = view[tensor]
            out[key] = value


def engine_state_dict(groups: list[dict], saved: dict, keys: tuple[str, ...],
                      owner: str) -> dict[str, Any]:
    """A torch-layout state (``saved``: keyed by tensor; ``groups``: with tensors)
    in the engine's layout (keyed by index; groups with the engine's ``keys``)."""
    flat = [t for g in groups for t in g["params"]]
    index = {id(t): i for i, t in enumerate(flat)}
    state = {}
    for key, entry in saved.items():
        if id(key) not in index or not isinstance(entry, dict):
            raise ValueError(f"{owner}.load_state_dict: state for {key!r}, which is no "
                             "parameter of this optimizer")
        state[index[id(key)]] = {k: _to_numpy(v, k) for k, v in entry.items()
                                 if v is not None}
    engine_groups, start = [], 0
    for group in groups:
        count = len(group["params"])
        engine_groups.append({**{k: plain(group[k]) for k in keys if k in group},
                              "params": list(range(start, start + count))})
        start += count
    return {"state": state, "param_groups": engine_groups}


def arrays_as_tensors(state_dict: Any) -> Any:
    """``state_dict`` with the ndarrays of its ``state`` as tensors (a checkpoint
    file brings a torch optimizer's state back as arrays); else unchanged."""
    state = state_dict.get("state") if isinstance(state_dict, dict) else None
    if not isinstance(state, dict) or not any(
            isinstance(v, (np.ndarray, np.generic)) for e in state.values()
            if isinstance(e, dict) for v in e.values()):
        return state_dict
    return {**state_dict, "state": {
        k: {n: torch.from_numpy(np.array(v)) if isinstance(v, (np.ndarray, np.generic)) else v
            for n, v in e.items()} if isinstance(e, dict) else e
        for k, e in state.items()}}


def _to_numpy(value: Any, key: str) -> Any:
    """A torch state value as the engine loads it (arrays; ``step`` a number)."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        return float(value) if key == "step" else value.numpy()
    return value
