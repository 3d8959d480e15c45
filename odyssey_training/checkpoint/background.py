"""``BackgroundWriter``: checkpoint files written on one thread of their own, in order.

A training loop takes a checkpoint's state synchronously (cheap: the arrays are
copied, :func:`~.save.checkpoint_payload` with ``private=True``) and hands the
serialization, the write and its fsyncs to this thread, so the next epoch does not
wait for the disk (Lightning's ``AsyncCheckpointIO``).  Each write is the same
atomic replace as :func:`~.save.save_checkpoint`: a crash at any point leaves the
previous file whole; what the crash loses is at most the writes still queued.
File removals go through the same queue, so they happen in the order asked.

An error in the thread is raised (as :class:`~.base.CheckpointError`) by the next
:meth:`submit` or by :meth:`wait`; after an error the queued work is dropped.
"""

from __future__ import annotations

import atexit
import queue
import threading
from typing import Any, Callable

from .base import CheckpointError

__all__ = ["BackgroundWriter"]


class BackgroundWriter:
    """Runs submitted file operations one at a time, in order, on a daemon thread."""

    def __init__(self) -> None:
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._lock = threading.Lock()

    def submit(self, operation: Callable[..., Any], *args: Any) -> None:
        """Queue ``operation(*args)`` (raising first any error of an earlier one)."""
        self._raise()
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="odyssey-checkpoint",
                                                daemon=True)
                self._thread.start()
                atexit.register(self._drain)
        self._queue.put((operation, args))

    def wait(self) -> None:
        """Block until every queued operation is done; raise the first error."""
        self._queue.join()
        self._raise()

    def _drain(self) -> None:
        """At interpreter exit: finish what was queued (an error is left unreported)."""
        self._queue.join()

    def _raise(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            raise CheckpointError(f"a checkpoint written in the background failed: "
                                  f"{error}") from error

    def _run(self) -> None:
        while True:
            operation, args = self._queue.get()
            try:
                if self._error is None:
                    operation(*args)
            except BaseException as exc:      # reported to the training thread
                self._error = exc
            finally:
                self._queue.task_done()
