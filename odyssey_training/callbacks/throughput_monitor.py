"""``ThroughputMonitor``: samples per second and where a training step's time goes."""

from __future__ import annotations

import math
from typing import Any

from .base import Callback

__all__ = ["ThroughputMonitor"]

#: the phases of a training batch, in the order the summary lists them
SHOWN = ("data", "forward", "loss", "backward", "metrics", "optimizer", "callbacks", "other")


class ThroughputMonitor(Callback):
    """Add each epoch's throughput and time split to its logs, from ``loop.timings``
    (which this callback resets at every ``on_epoch_begin``).

    Keys written into the epoch logs (``T`` = ``loop.timings`` after the epoch's last
    training batch; validation is not part of it):

    * ``samples_per_sec`` = ``T.samples / T.total``, ``batches_per_sec`` =
      ``T.batches / T.total``;
    * ``time/<phase>`` = ``T.seconds[phase]``, the epoch's seconds in each phase of
      the training batches: ``data`` (waiting for the next batch), ``forward``,
      ``loss``, ``backward``, ``metrics`` (updating the training metrics),
      ``optimizer`` (clipping, the optimizer step, the per-step scheduler),
      ``callbacks`` (the batch hooks);
    * ``time/other`` = ``T.other()``: the rest of the batch loop, i.e. the loop's own
      bookkeeping; ``time/total`` = ``T.total``, the wall time of the batch loop
      (so the phases and ``other`` add up to ``total``).

    The values are ``loop.timings``' own numbers, not estimates; the loop-overhead
    benchmark reads them.  Callbacks after this one see the keys (put it before
    ``CSVLogger`` or ``TensorBoardLogger`` to record them).  ``verbose=1`` prints a
    one-line summary per epoch (on ``loop.is_global_zero``); :meth:`summary` returns it.

    Run it as the only callback with batch hooks to measure the loop itself: the
    ``callbacks`` phase is then the other callbacks' batch hooks (this one has none).
    """

    def __init__(self, verbose: int = 0) -> None:
        if verbose not in (0, 1) or isinstance(verbose, bool):
            raise ValueError(f"verbose must be 0 or 1, got {verbose!r}")
        self.verbose = verbose
        self.last: dict[str, float] | None = None   # the last epoch's timings (as_dict)
        self._epoch = -1

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.loop.timings.reset()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        timings = self.loop.timings
        self.last = timings.as_dict()
        self._epoch = epoch
        if logs is not None:
            logs.update(throughput_logs(self.last))
        if self.verbose and self.loop.is_global_zero:
            print(self.summary())

    def summary(self) -> str:
        """``Epoch 3: 5123.4 samples/s, 0.8120 s in 40 batches: data 1.2%, forward
        40.1%, ...``: the last epoch's throughput and each phase's share of the time."""
        if self.last is None:
            return "ThroughputMonitor: no epoch measured yet"
        t = self.last
        total = t["total"]
        shares = ", ".join(f"{name} {_share(t[name], total)}" for name in SHOWN)
        rate = t["samples"] / total if total > 0 else math.nan
        return (f"Epoch {self._epoch + 1}: {rate:.1f} samples/s, {total:.4f} s in "
                f"{int(t['batches'])} batches: {shares}")


def throughput_logs(t: dict[str, float]) -> dict[str, float]:
    """The log entries of one epoch's ``Timings.as_dict()`` (see ThroughputMonitor)."""
    total = t["total"]
    logs = {"samples_per_sec": t["samples"] / total if total > 0 else math.nan,
            "batches_per_sec": t["batches"] / total if total > 0 else math.nan}
    for name in SHOWN:
        logs[f"time/{name}"] = t[name]
    logs["time/total"] = total
    return logs


def _share(seconds: float, total: float) -> str:
    return f"{100.0 * seconds / total:.1f}%" if total > 0 else "-"
