"""tracemalloc helper: bytes a repeated call allocates and keeps."""

from __future__ import annotations

import gc
import tracemalloc
from typing import Callable


def bytes_kept(step: Callable[[int], None], repeats: int = 100) -> int:
    """Run ``step(k)`` for k in range(repeats) under tracemalloc; the bytes
    allocated in that time and still held afterwards (after a collection)."""
    tracemalloc.start()
    try:
        gc.collect()
        before = tracemalloc.take_snapshot()
        for k in range(repeats):
            step(k)
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    return sum(s.size_diff for s in after.compare_to(before, "filename") if s.size_diff > 0)
