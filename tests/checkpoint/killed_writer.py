"""The writer the SIGKILL test runs in child processes: checkpoint after
checkpoint to one path, reporting each completed save through a pipe."""

from __future__ import annotations

import numpy as np

import odyssey_training as ot
from odyssey_training.checkpoint import save_checkpoint

SIZE = 1 << 17          # 1 MiB of float64: a write takes long enough to be hit


def value(writer: int, count: int) -> float:
    return writer * 1000.0 + count


def make_params(fill: float = 0.0) -> list[ot.Parameter]:
    return [ot.Parameter(np.full(SIZE, fill), name="w"),
            ot.Parameter(np.full(7, fill, np.float32), name="b")]


def write_forever(path: str, progress, writer: int) -> None:
    """Save checkpoints ``(writer, 1), (writer, 2), ...`` to ``path`` until killed;
    after each completed save send ``(writer, count)``."""
    params = make_params()
    count = 0
    while True:
        count += 1
        for p in params:
            p.data.fill(value(writer, count))
        save_checkpoint(path, params=params, extra={"writer": writer, "count": count})
        progress.send((writer, count))
