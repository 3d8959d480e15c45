"""Checkpoints: one ``.safetensors`` file per checkpoint, written atomically,
read without ever executing anything.

>>> import numpy as np, tempfile, pathlib
>>> import odyssey_training as ot
>>> from odyssey_training.optimizers import SGD
>>> from odyssey_training.checkpoint import save_checkpoint, load_checkpoint
>>> w = ot.Parameter(np.array([1.0, 2.0]), name="w")
>>> opt = SGD([w], lr=0.1, momentum=0.9)
>>> w.grad = np.ones(2); opt.step()
>>> path = pathlib.Path(tempfile.mkdtemp()) / "ckpt.safetensors"
>>> _ = save_checkpoint(path, params=[w], optimizer=opt, extra={"epoch": 3})
>>> w.data[:] = 0.0
>>> load_checkpoint(path, params=[w], optimizer=opt)
{'epoch': 3}
>>> w.data
array([0.9, 1.9])

See :mod:`.load` for the file layout, :mod:`.atomic` for the atomic writes
(reused by anything that must replace a file safely) and :mod:`.rng` for the
global random states.
"""

from .atomic import (atomic_link, atomic_open, atomic_path, atomic_write_bytes,
                     atomic_write_text)
from .background import BackgroundWriter
from .base import FORMAT, VERSION, CheckpointError
from .load import load_checkpoint, read_checkpoint
from .params import named_parameters
from .rng import get_rng_state, set_rng_state
from .save import checkpoint_payload, save_checkpoint, write_payload
from .tree import flatten, unflatten

__all__ = ["save_checkpoint", "load_checkpoint", "read_checkpoint", "CheckpointError",
           "get_rng_state", "set_rng_state", "atomic_path", "atomic_open", "atomic_link",
           "atomic_write_bytes", "atomic_write_text", "named_parameters", "flatten",
           "unflatten", "FORMAT", "VERSION", "checkpoint_payload", "write_payload",
           "BackgroundWriter"]
