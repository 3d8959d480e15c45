"""``ProgressBar``: a tqdm bar per epoch with the running loss and metrics."""

from __future__ import annotations

import sys
import time
from typing import IO, Any, Callable

from ..loops.base import scalar_logs
from .base import Callback

__all__ = ["ProgressBar"]


class ProgressBar(Callback):
    """One ``tqdm`` bar per epoch (``Epoch 3/10``), counting training batches, with the
    epoch's running ``loss`` and metrics in its postfix; at the epoch's end the postfix
    shows the epoch's logs (``val_*`` included) and the bar closes.

    Cost per batch is one clock read: the bar is redrawn, and the running loss and
    metrics computed (``loop.loss_mean``, ``loop.metrics``) and formatted, only when
    ``refresh_rate`` seconds have passed since the last redraw.

    Values are formatted as Keras's progress bar does: 4 decimals when ``|v| > 1e-3``,
    else scientific notation with 4 decimals.

    Quiet (prints nothing) when ``verbose=0`` or ``disable=True``, when the output is
    not a terminal (``disable=None``, the default: as tqdm's ``disable=None``), or on a
    process without ``loop.is_global_zero``.  ``disable=False`` draws even when the
    output is not a terminal (e.g. into a log file).

    Args:
        verbose: 1 draws the bar, 0 is silent (Keras's values).
        disable: None (silent unless ``file`` is a terminal), True or False.
        refresh_rate: least seconds between redraws.
        file: where to draw; default ``sys.stdout`` at the start of training.
        leave: keep each epoch's finished bar on screen.
        clock: the time source of ``refresh_rate`` (for tests).
    """

    def __init__(self, verbose: int = 1, disable: bool | None = None, refresh_rate: float = 0.5,
                 file: IO[str] | None = None, leave: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if verbose not in (0, 1) or isinstance(verbose, bool):
            raise ValueError(f"verbose must be 0 or 1, got {verbose!r}")
        if disable not in (None, True, False):
            raise ValueError(f"disable must be None, True or False, got {disable!r}")
        if isinstance(refresh_rate, bool) or not isinstance(refresh_rate, (int, float)) \
                or not refresh_rate >= 0:
            raise ValueError(f"refresh_rate must be a number of seconds >= 0, got "
                             f"{refresh_rate!r}")
        if not callable(clock):
            raise TypeError(f"clock must be callable, got {type(clock).__name__}")
        self.verbose, self.disable, self.refresh_rate = verbose, disable, float(refresh_rate)
        self.file, self.leave, self.clock = file, leave, clock
        self._out: IO[str] | None = None     # the stream of this run; None: silent
        self._bar: Any = None
        self._pending = 0                    # batches done since the last redraw
        self._last = 0.0                     # clock() at the last redraw

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        out = self.file if self.file is not None else sys.stdout
        silent = (self.verbose == 0 or self.disable is True
                  or not self.loop.is_global_zero
                  or (self.disable is None and not _isatty(out)))
        self._out = None if silent else out

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._out is None:
            return
        params = self.loop.params or {}
        epochs = params.get("epochs")
        self._bar = _tqdm()(total=params.get("steps"), initial=self.loop.batches_done,
                            desc=f"Epoch {epoch + 1}/{epochs}" if epochs else
                            f"Epoch {epoch + 1}", file=self._out, leave=self.leave,
                            mininterval=0, miniters=1, unit="batch", dynamic_ncols=True)
        self._pending = 0
        self._last = self.clock()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self._bar is None:
            return
        self._pending += 1
        now = self.clock()
        if now - self._last >= self.refresh_rate:
            self._last = now
            running = {"loss": self.loop.loss_mean.compute(),
                       **scalar_logs(self.loop.metrics.compute())}
            self._redraw(running)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._bar is None:
            return
        self._redraw(scalar_logs(logs or {}))
        self._bar.close()
        self._bar = None

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._bar is not None:          # training stopped inside an epoch by an error
            self._bar.close()
            self._bar = None

    def _redraw(self, values: dict[str, float]) -> None:
        self._bar.set_postfix_str(postfix(values), refresh=False)
        self._bar.update(self._pending)     # draws (mininterval=0), with the new postfix
        self._pending = 0


def postfix(values: dict[str, float]) -> str:
    """``"loss=0.1234, acc=0.9500"``: each value as Keras's progress bar writes it."""
    return ", ".join(f"{k}={_number(v)}" for k, v in values.items())


def _number(v: float) -> str:
    return f"{v:.4f}" if abs(v) > 1e-3 else f"{v:.4e}"


def _isatty(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except (ValueError, OSError):        # a closed stream
        return False


_TQDM: Any = None


def _tqdm() -> Any:
    """tqdm without its monitor thread (this callback bounds the redraw rate itself)."""
    global _TQDM
    if _TQDM is None:
        try:
            from tqdm import tqdm
        except ImportError:
            raise ImportError("ProgressBar draws with tqdm: pip install "
                              "'odyssey-training[train]' (or tqdm)") from None

        class _Bar(tqdm):
            monitor_interval = 0

        _TQDM = _Bar
    return _TQDM
