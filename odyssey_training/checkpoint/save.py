"""``save_checkpoint``: one ``.safetensors`` file, replaced atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .atomic import atomic_path
from .base import FORMAT, PARTS, VERSION
from .params import model_buffers, named_parameters
from .tree import flatten, storable

__all__ = ["save_checkpoint", "checkpoint_payload", "write_payload", "safetensors_numpy"]


def safetensors_numpy() -> Any:
    """``safetensors.numpy`` (the ``train`` extra), or an ImportError saying how to get it."""
    try:
        import safetensors.numpy
    except ImportError as err:
        raise ImportError("checkpoints need the safetensors package: pip install "
                          "'odyssey-training[train]' (or pip install safetensors)") from err
    return safetensors.numpy


def state_of(part: str, obj: Any) -> Any:
    """``obj.state_dict()``, or a TypeError when ``obj`` has none."""
    if not callable(getattr(obj, "state_dict", None)) or not callable(
            getattr(obj, "load_state_dict", None)):
        raise TypeError(f"checkpoint: {part} must have state_dict() and load_state_dict(), "
                        f"got {type(obj).__name__}")
    return obj.state_dict()


def save_checkpoint(path: str | os.PathLike, *, model: Any = None, params: Any = None,
                    optimizer: Any = None, scheduler: Any = None, loop: Any = None,
                    extra: Mapping[str, Any] | None = None) -> Path:
    """Write a checkpoint to ``path`` (one file; ``.safetensors`` is the usual suffix)
    and return ``path``.

    The file is a safetensors file whose tensors are the parameters
    (``params/<key>``, keys as :func:`~.params.named_parameters`), the model's
    buffers when it has ``buffers()`` (``buffers/<name>``), and every array
    in the ``state_dict()`` of ``optimizer``, ``scheduler`` and ``loop`` and in
    ``extra`` (a JSON-able dict, e.g. the epoch and logs); everything else is one
    JSON document in the header's metadata: ``{"format":
    "odyssey-training-checkpoint", "version": "1", "state": <json>}``.  Nothing
    is pickled.  Bad input (a state that is not dicts, lists, scalars and
    arrays; duplicate parameter names) is an error before any file is touched;
    the file is written to a temporary name and atomically renamed over
    ``path``, so a crash leaves the previous checkpoint intact.
    """
    tensors, metadata = checkpoint_payload(model=model, params=params, optimizer=optimizer,
                                           scheduler=scheduler, loop=loop, extra=extra)
    return write_payload(path, tensors, metadata)


def checkpoint_payload(*, model: Any = None, params: Any = None, optimizer: Any = None,
                       scheduler: Any = None, loop: Any = None,
                       extra: Mapping[str, Any] | None = None,
                       private: bool = False) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """What :func:`save_checkpoint` writes, as ``(tensors, metadata)``, taken now;
    ``private=True`` copies every tensor, so training may go on changing the live
    arrays while another thread writes the payload (:func:`write_payload`)."""
    named = named_parameters(model, params)
    parts = {"optimizer": optimizer, "scheduler": scheduler, "loop": loop}
    if named is None and extra is None and all(v is None for v in parts.values()):
        raise ValueError("save_checkpoint: nothing to save (pass model=, params=, optimizer=, "
                         "scheduler=, loop= or extra=)")
    if extra is not None and not isinstance(extra, Mapping):
        raise TypeError(f"save_checkpoint: extra must be a dict, got {type(extra).__name__}")
    document: dict[str, Any] = {}
    tensors: dict[str, np.ndarray] = {}
    if named is not None:
        document["params"] = list(named)
        for key, p in named.items():
            tensors[f"params/{key}"] = storable(p.data, f"parameter {key!r}")
    buffers = model_buffers(model)
    if buffers:
        document["buffers"] = list(buffers)
        for key, arr in buffers.items():
            tensors[f"buffers/{key}"] = storable(arr, f"buffer {key!r}")
    for part in PARTS:
        if parts[part] is not None:
            document[part], arrays = flatten(state_of(part, parts[part]), part)
            tensors.update(arrays)
    if extra is not None:
        document["extra"], arrays = flatten(dict(extra), "extra")
        tensors.update(arrays)
    metadata = {"format": FORMAT, "version": VERSION,
                "state": json.dumps(document, allow_nan=False, separators=(",", ":"))}
    if private:
        tensors = {key: np.array(arr, copy=True) for key, arr in tensors.items()}
    return tensors, metadata


def write_payload(path: str | os.PathLike, tensors: Mapping[str, np.ndarray],
                  metadata: Mapping[str, str]) -> Path:
    """Write a :func:`checkpoint_payload` to ``path`` atomically (the file gets the
    usual permissions of a new file: ``0o666`` less the umask)."""
    writer = safetensors_numpy()
    with atomic_path(path) as temp:
        writer.save_file(dict(tensors), temp, metadata=dict(metadata))
        os.chmod(temp, FILE_MODE)
    return Path(path)


def _file_mode() -> int:
    mask = os.umask(0)      # read at import, before any thread could race on the umask
    os.umask(mask)
    return 0o666 & ~mask


#: the permissions a new checkpoint file gets (safetensors itself creates 0o600 files)
FILE_MODE = _file_mode()
