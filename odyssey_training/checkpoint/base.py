"""What every checkpoint module shares: the error type and the file's identity."""

from __future__ import annotations

__all__ = ["CheckpointError", "FORMAT", "VERSION", "PARTS"]

FORMAT = "odyssey-training-checkpoint"   # metadata["format"] of every checkpoint file
VERSION = "1"                           # metadata["version"]: the layout described in load.py
PARTS = ("optimizer", "scheduler", "loop")  # objects saved through state_dict()/load_state_dict()


class CheckpointError(ValueError):
    """A checkpoint that is not what it claims (not a safetensors file, not ours,
    damaged) or that does not fit what it is loaded into (names, shapes, dtypes,
    a part's ``load_state_dict`` refusing its state).  Raised before anything
    changes, or after everything was rolled back."""
