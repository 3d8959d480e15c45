"""``TensorBoardLogger``: TensorBoard event files of a run (written with tensorboardX)."""

from __future__ import annotations

import os
import socket
import struct
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
    ``global_step = s > 0`` opens its file with ``purge_step = s + 1`` (TensorBoard then
    drops every older event at a step ``>= s + 1``), or ``purge_step = s`` when it was
    restored after the last batch of an epoch, whose end (at step ``s``) it runs again;
    the batch point at ``s`` is then written again from this callback's state.  That
    state (the loss sum since the last batch point, and that point) is in the loop's
    state, so the resumed run's events equal the uninterrupted run's.

    Events are written synchronously (no queue, no thread: ``SummaryWriter``'s queue
    pickles every event and its ``flush`` does not drain the queue) and flushed to the
    OS at every epoch end and whenever the loop's state is taken (:meth:`state_dict`: a
    checkpoint or backup is being written), so a killed process loses none of them;
    the file is fsynced and closed at the end of training.  Only
    ``loop.is_global_zero`` writes.

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
        self._loss_count = 0         # samples since the last batch point
        self._last_point: list[float] | None = None    # [step, loss, lr] of that point

    def _writes(self) -> bool:
        return self.loop is None or self.loop.is_global_zero

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        # restores happen before fit or in on_train_begin (BackupAndRestore), so the
        # step is final here
        step = self._seen_step = self.loop.global_step
        if self._writer is None and self._writes():
            # a state restored after the last batch of an epoch re-runs that epoch's
            # end at this step: hide the old events at it too and write back the batch
            # point the interrupted run had written there
            steps = (self.loop.params or {}).get("steps")
            at_epoch_end = step > 0 and 0 < self.loop.batches_done == steps
            self._writer = _EventFile(self.log_dir, step if at_epoch_end else step + 1)
            if at_epoch_end and self._last_point and self._last_point[0] == step:
                self._write_point(*self._last_point)

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
            lr = float(self.loop.optimizer.param_groups[0]["lr"])
            self._write_point(step, self._loss_sum / self._loss_count, lr)
            self._loss_sum, self._loss_count = 0.0, 0

    def _write_point(self, step: int, loss: float, lr: float) -> None:
        self._writer.scalar("batch/loss", loss, int(step))
        self._writer.scalar("batch/lr", lr, int(step))
        self._last_point = [int(step), loss, lr]

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
        self._loss_sum, self._loss_count, self._last_point = 0.0, 0, None

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs for the same batch points: the loss sum and sample
        count since the last point, and that point (``[step, loss, lr]`` or None).

        The loop's state is taken to be saved (a checkpoint, a backup), so the events
        written so far are flushed to disk first: a run resumed from that state finds
        every event up to it, even after a crash that lost the file's buffer."""
        if self._writer is not None:
            self._writer.flush()
        return {"loss_sum": self._loss_sum, "loss_count": self._loss_count,
                "last_point": None if self._last_point is None else list(self._last_point)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        try:
            loss_sum, count = float(state["loss_sum"]), int(state["loss_count"])
            point = state["last_point"]
            point = None if point is None else [int(point[0]), float(point[1]),
                                                float(point[2])]
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"a TensorBoardLogger state is {{'loss_sum', 'loss_count', "
                             f"'last_point'}}: {exc!r}") from None
        if count < 0:
            raise ValueError(f"TensorBoardLogger state: loss_count {count} < 0")
        self._loss_sum, self._loss_count, self._last_point = loss_sum, count, point


class _EventFile:
    """One event file in ``log_dir``: TFRecord records of ``Event`` protos (tensorboardX's
    protos, summaries and CRC).  Written here rather than through tensorboardX's
    ``EventsWriter``, whose ``flush`` also fsyncs: a flush at every epoch end hands the
    events to the OS (a killed process loses none of them) without waiting for the
    disk; the file is fsynced once, when it is closed."""

    def __init__(self, log_dir: Path, purge_step: int) -> None:
        try:
            from tensorboardX.proto.event_pb2 import Event, SessionLog
            from tensorboardX.record_writer import masked_crc32c
            from tensorboardX.summary import histogram, scalar
        except ImportError:
            raise ImportError("TensorBoardLogger writes with tensorboardX: pip install "
                              "'odyssey-training[train]' (or tensorboardX)") from None
        self._event, self._scalar, self._histogram = Event, scalar, histogram
        self._crc = masked_crc32c
        log_dir.mkdir(parents=True, exist_ok=True)
        # files are named by the second and TensorBoard reads a directory's files in name
        # order: a nanosecond suffix keeps two files opened in one second apart and in
        # the order they were written (a resumed run's purge must follow what it hides)
        name = (f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}."
                f"{time.time_ns():020d}.{os.getpid()}")
        self._file = open(log_dir / name, "wb")
        self._record(Event(wall_time=time.time(), file_version="brain.Event:2"))
        if purge_step > 1:
            # as SummaryWriter(purge_step=...): TensorBoard drops the events of older
            # files at steps >= purge_step (written after the state this run resumes)
            self._record(Event(step=purge_step, file_version="brain.Event:2"))
            self._record(Event(step=purge_step, session_log=SessionLog(
                status=SessionLog.START)))

    def _record(self, event: Any) -> None:
        """One TFRecord: length, its masked CRC-32C, the serialized event, its CRC."""
        data = event.SerializeToString()
        header = struct.pack("<Q", len(data))
        self._file.write(header + struct.pack("<I", self._crc(header)) + data
                         + struct.pack("<I", self._crc(data)))

    def scalar(self, tag: str, value: float, step: int) -> None:
        self._write(self._scalar(tag, value), step)

    def histogram(self, tag: str, values: np.ndarray, step: int) -> None:
        self._write(self._histogram(tag, values, bins=30), step)

    def _write(self, summary: Any, step: int) -> None:
        self._record(self._event(wall_time=time.time(), step=step, summary=summary))

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
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

