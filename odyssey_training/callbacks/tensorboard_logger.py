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
    files in ``log_dir``, with ``tensorboardX`` (extra ``train``; torch is not needed).

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

    Events are flushed at every epoch end and the writer is closed at the end of
    training.  Only the process with ``loop.is_global_zero`` writes.

    Args:
        log_dir: directory of the event files (created if missing).
        update_freq: ``"epoch"`` (epoch scalars only), ``"batch"`` (batch scalars at
            every optimizer step) or an int N (every N steps), as Keras's ``TensorBoard``.
        histogram_freq: histograms of every parameter each N epochs (0: none), as Keras.
        flush_secs: at most this many seconds between flushes within an epoch.
    """

    def __init__(self, log_dir: str | os.PathLike = "logs", update_freq: str | int = "epoch",
                 histogram_freq: int = 0, flush_secs: int = 120) -> None:
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
        for name, value, low in (("histogram_freq", histogram_freq, 0),
                                 ("flush_secs", flush_secs, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        self.log_dir = Path(log_dir)
        self.update_freq = update_freq
        self.histogram_freq = histogram_freq
        self.flush_secs = flush_secs
        self._every = every
        self._writer: Any = None
        self._seen_step = 0          # global_step at the last batch end looked at
        self._loss_sum = 0.0         # sum of size * loss since the last batch point
        self._loss_count = 0

    @property
    def writer(self) -> Any:
        """The ``tensorboardX.SummaryWriter`` (None until the first epoch begins), for
        logging more (images, text) under the same run."""
        return self._writer

    def _writes(self) -> bool:
        return self.loop is None or self.loop.is_global_zero

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        # restores happen in on_train_begin (BackupAndRestore) or before fit, so the
        # step is final here
        self._seen_step = self.loop.global_step
        self._loss_sum, self._loss_count = 0.0, 0
        if self._writer is None and self._writes():
            self._writer = _open_writer(self.log_dir, self._seen_step, self.flush_secs)

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
            self._writer.add_scalar("batch/loss", self._loss_sum / self._loss_count, step)
            lr = float(self.loop.optimizer.param_groups[0]["lr"])
            self._writer.add_scalar("batch/lr", lr, step)
            self._loss_sum, self._loss_count = 0.0, 0

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._writer is None:
            return
        step = self.loop.global_step
        for key, value in (logs or {}).items():
            number = _scalar(value)
            if number is not None:
                self._writer.add_scalar(f"epoch/{key}", number, step)
        if self.histogram_freq and (epoch + 1) % self.histogram_freq == 0:
            for i, p in enumerate(self.loop.model.parameters()):
                self._writer.add_histogram(f"weights/{p.name or f'param_{i}'}",
                                           np.asarray(p.data, dtype=np.float64), step)
        self._writer.flush()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _open_writer(log_dir: Path, step: int, flush_secs: int) -> Any:
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        raise ImportError("TensorBoardLogger writes with tensorboardX: pip install "
                          "'odyssey-training[train]' (or tensorboardX)") from None
    log_dir.mkdir(parents=True, exist_ok=True)
    # tensorboardX names files by the second; TensorBoard reads a directory's files in
    # name order.  A nanosecond suffix keeps two writers opened in one second from
    # overwriting each other and keeps their files in the order they were written
    # (the resumed run's purge must come after the events it hides).
    suffix = f".{time.time_ns():020d}.{os.getpid()}"
    return SummaryWriter(logdir=str(log_dir), purge_step=step + 1 if step > 0 else None,
                         flush_secs=flush_secs, filename_suffix=suffix)


def _scalar(value: Any) -> float | None:
    """``value`` as a float when it is a real number (NaN included), else None."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        return float(value)
    return None

