"""``TensorBoardLogger``: TensorBoard event files of a run (written with tensorboardX)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from .base import Callback

__all__ = ["TensorBoardLogger"]


class TensorBoardLogger(Callback):
    """Write the run's scalars (and optionally weight histograms) as TensorBoard event
    files in ``log_dir``, with ``tensorboardX``'s event writer and summary protos (extra
    ``train``; torch is not needed).

    Tags (TensorBoard groups them by the part before ``/``):

    * ``epoch/<key>`` for every numeric key of the epoch logs: ``epoch/loss``,
      ``epoch/acc``, ``epoch/lr``, ``epoch/val_loss``, ``epoch/val_acc``, and keys other
      callbacks add (``epoch/samples_per_sec``, ...);
    * ``batch/loss`` and ``batch/lr`` every ``update_freq`` optimizer steps: the mean
      training loss of the batches since the last point (weighted by batch size) and
      the learning rate of the first param group;
    * ``weights/<parameter name>`` histograms every ``histogram_freq`` epochs.

    The horizontal axis (an event's ``step``) is the loop's ``global_step``, the number
    of optimizer steps so far, for every tag (as Lightning logs epoch metrics at the
    step the epoch ended on).  One axis for all tags is what lets a resumed run hide
    what the interrupted run wrote after its restored state: a run that starts with
    ``global_step = s > 0`` opens its writer with ``purge_step = s + 1``, and
    TensorBoard drops every older event at a step ``>= s + 1``.

    Events are written synchronously (tensorboardX's ``EventsWriter``: no queue, no
    thread; ``SummaryWriter``'s queue pickles every event and its ``flush`` does not
    drain the queue) and flushed at every epoch end; the file is closed at the end of
    training.  Only the process with ``loop.is_global_zero`` writes.

    Args:
        log_dir: directory of the event files (created if missing).
        update_freq: ``"epoch"`` (epoch scalars only), ``"batch"`` (batch scalars at
            every optimizer step) or an int N (every N steps), as Keras's ``TensorBoard``.
        histogram_freq: histograms (30 buckets) of every parameter each N epochs (0:
            none), as Keras; parameters that are empty or not finite are left out.
    """

    def __init__(self, log_dir: str | os.PathLike = "logs", update_freq: str | int = "epoch",
                 histogram_freq: int = 0) -> None:
        if not isinstance(log_dir, (str, os.PathLike)):
            raise TypeError(f"log_dir must be a path, got {type(log_dir).__name__}")
        if update_freq == "epoch":
            every = 0
        elif update_freq == "batch":
            every = 1
        elif isinstance(update_freq, int) and not isinstance(update_freq, bool) \
                and update_freq >= 1:
            every = update_freq
        else:
            raise ValueError(f"update_freq must be 'epoch', 'batch' or an int >= 1, got "
                             f"{update_freq!r}")
        if isinstance(histogram_freq, bool) or not isinstance(histogram_freq, int) \
                or histogram_freq < 0:
            raise ValueError(f"histogram_freq must be an int >= 0, got {histogram_freq!r}")
        self.log_dir = Path(log_dir)
        self.update_freq = update_freq
        self.histogram_freq = histogram_freq
        self._every = every
        self._writer: Any = None
        self._seen_step = 0          # global_step at the last batch end looked at
        self._loss_sum = 0.0         # sum of size * loss since the last batch point
        self._loss_count = 0

    def _writes(self) -> bool:
        return self.loop is None or self.loop.is_global_zero

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        # restores happen in on_train_begin (BackupAndRestore) or before fit, so the
        # step is final here
        self._seen_step = self.loop.global_step
        self._loss_sum, self._loss_count = 0.0, 0
        if self._writer is None and self._writes():
            self._writer = _EventFile(self.log_dir, self._seen_step)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if not self._every or self._writer is None:
            return
        if logs is not None and "loss" in logs:
            size = int(logs.get("size", 1))
            self._loss_sum += size * float(logs["loss"])
            self._loss_count += size
        step = self.loop.global_step
        if step == self._seen_step:
            return
        self._seen_step = step
        if step % self._every == 0 and self._loss_count:
            self._writer.scalar("batch/loss", self._loss_sum / self._loss_count, step)
            self._writer.scalar("batch/lr", float(self.loop.optimizer.param_groups[0]["lr"]),
                                step)
            self._loss_sum, self._loss_count = 0.0, 0

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._writer is None:
            return
        step = self.loop.global_step
        for key, value in (logs or {}).items():
            number = _scalar(value)
            if number is not None:
                self._writer.scalar(f"epoch/{key}", number, step)
        if self.histogram_freq and (epoch + 1) % self.histogram_freq == 0:
            for i, p in enumerate(self.loop.model.parameters()):
                if p.data.size and np.isfinite(p.data).all():
                    self._writer.histogram(f"weights/{p.name or f'param_{i}'}", p.data, step)
        self._writer.flush()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class _EventFile:
    """One event file in ``log_dir``, written synchronously with tensorboardX's
    ``EventsWriter`` and summary protos."""

    def __init__(self, log_dir: Path, step: int) -> None:
        try:
            from tensorboardX.event_file_writer import EventsWriter
            from tensorboardX.proto.event_pb2 import Event, SessionLog
            from tensorboardX.summary import histogram, scalar
        except ImportError:
            raise ImportError("TensorBoardLogger writes with tensorboardX: pip install "
                              "'odyssey-training[train]' (or tensorboardX)") from None
        self._event, self._scalar, self._histogram = Event, scalar, histogram
        log_dir.mkdir(parents=True, exist_ok=True)
        # files are named by the second and TensorBoard reads a directory's files in name
        # order: a nanosecond suffix keeps two files opened in one second apart and in
        # the order they were written (a resumed run's purge must follow what it hides)
        suffix = f".{time.time_ns():020d}.{os.getpid()}"
        self._file = EventsWriter(str(log_dir / "events"), suffix)
        if step > 0:
            # as SummaryWriter(purge_step=step + 1): TensorBoard drops older events at
            # steps >= step + 1, which the interrupted run wrote after this state
            self._file.write_event(Event(step=step + 1, file_version="brain.Event:2"))
            self._file.write_event(Event(step=step + 1, session_log=SessionLog(
                status=SessionLog.START)))

    def scalar(self, tag: str, value: float, step: int) -> None:
        self._write(self._scalar(tag, value), step)

    def histogram(self, tag: str, values: np.ndarray, step: int) -> None:
        self._write(self._histogram(tag, values, bins=30), step)

    def _write(self, summary: Any, step: int) -> None:
        self._file.write_event(self._event(wall_time=time.time(), step=step, summary=summary))

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def _scalar(value: Any) -> float | None:
    """``value`` as a float when it is a real number (NaN included), else None."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        return float(value)
    return None

