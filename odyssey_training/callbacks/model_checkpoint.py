"""``ModelCheckpoint``: save checkpoints during training (Keras 3's
``keras.callbacks.ModelCheckpoint``) with Lightning's ``save_top_k``,
``save_last`` and ``every_n_epochs``."""

from __future__ import annotations

import math
import os
import string
from typing import Any

from .monitor import MonitorCallback, check_int, say

__all__ = ["ModelCheckpoint"]

EXTENSION = ".safetensors"


class ModelCheckpoint(MonitorCallback):
    """Write a checkpoint at the end of every epoch (or every ``save_freq`` batches).

    Each file is a full checkpoint, ``save_checkpoint(path, model=, optimizer=,
    scheduler=, loop=)`` (the weights alone with ``save_weights_only``), written
    atomically by :mod:`odyssey_training.checkpoint`: a crash mid-write leaves the
    previous file whole.  Only the process with ``loop.is_global_zero`` writes or
    deletes files; every process keeps the same record.

    Args:
        filepath: a ``.safetensors`` path; a template filled from the logs with
            ``str.format``: ``{epoch}`` is the 1-based epoch (``epoch + 1``, as Keras),
            ``{batch}`` the 1-based batch of a ``save_freq=int`` save, any other field
            a log key (``"ckpt-{epoch:02d}-{val_loss:.4f}.safetensors"``).  A field not
            in the logs is a KeyError listing the keys there are.
        monitor, mode: the quantity that ranks checkpoints (``save_best_only``,
            ``save_top_k``); see :class:`MonitorCallback`.
        verbose: 1 prints each decision, with Keras's messages.
        save_best_only: write only when ``monitor`` improves on the best so far
            (``initial_value_threshold`` is the starting best).
        save_weights_only: the checkpoint holds the model's parameters only.
        save_freq: ``"epoch"``, or an int: save after every that many training
            batches, counted across epochs as Keras does (one per batch, the count
            restarting at each save).
        save_top_k: keep the k best monitored files and delete worse ones
            (Lightning); -1 (the default) keeps every file written, as Keras does;
            0 writes none (only ``last``).  A NaN score ranks worst.  A save to a path
            already kept replaces that file (Keras), except that with ``save_top_k > 0``
            only a better score replaces it.
        save_last: at every save, also write ``last.safetensors`` (the class
            attribute ``last_name``) in the directory of ``filepath``: always the
            latest state, for ``--resume``-style restarts.
        every_n_epochs: with ``save_freq="epoch"``, save after every n-th epoch.
        async_save: take each checkpoint's state at once (arrays copied) but write the
            file, and delete evicted ones, on a thread of its own
            (:class:`~odyssey_training.checkpoint.BackgroundWriter`), so training does
            not wait for the disk; ``on_train_end`` waits for the writes.  A write error
            is raised by the next save or at the end of training.  A save first waits
            for the previous one's writes, so a killed process loses at most the last.

    The record of kept files and their scores, the best value and the batch count
    are in ``state_dict()``, so a resumed run goes on ranking and deleting files
    where the interrupted one stopped.
    """

    last_name = "last" + EXTENSION
    writes_checkpoints = True

    def __init__(self, filepath: str | os.PathLike, monitor: str = "val_loss",
                 verbose: int = 0, save_best_only: bool = False,
                 save_weights_only: bool = False, mode: str = "auto",
                 save_freq: str | int = "epoch", initial_value_threshold: float | None = None,
                 *, save_top_k: int = -1, save_last: bool = False,
                 every_n_epochs: int = 1, async_save: bool = False) -> None:
        super().__init__(monitor, mode, baseline=initial_value_threshold)
        owner = "ModelCheckpoint"
        self.filepath = _check_template(filepath)
        for name, flag in (("save_best_only", save_best_only),
                           ("save_weights_only", save_weights_only), ("save_last", save_last),
                           ("async_save", async_save)):
            if not isinstance(flag, bool):
                raise TypeError(f"{owner}: {name} must be a bool, got {flag!r}")
        if save_freq != "epoch":
            if isinstance(save_freq, str):
                raise ValueError(f"Unrecognized save_freq: {save_freq!r}. Expected save_freq "
                                 "are 'epoch' or integer values")
            save_freq = check_int(owner, "save_freq", save_freq, low=1)
        self.verbose = check_int(owner, "verbose", verbose)
        self.save_top_k = check_int(owner, "save_top_k", save_top_k, low=-1)
        self.every_n_epochs = check_int(owner, "every_n_epochs", every_n_epochs, low=1)
        if save_freq != "epoch" and self.every_n_epochs != 1:
            raise ValueError(f"{owner}: every_n_epochs applies to save_freq='epoch'; with "
                             f"save_freq={save_freq} leave it at 1")
        ranked = save_best_only or self.save_top_k > 0
        if ranked and save_freq != "epoch" and monitor.startswith("val_"):
            raise ValueError(f"{owner}: with save_freq={save_freq} checkpoints are ranked on "
                             f"batch logs (batch, size, loss), which hold no {monitor!r}")
        fields = _fields(self.filepath)
        if (self.save_top_k > 1) and not fields:
            raise ValueError(f"{owner}: save_top_k={self.save_top_k} keeps several files, but "
                             f"filepath {self.filepath!r} has no {{field}} to tell them apart")
        self.last_path: str | None = None
        if save_last:
            directory = os.path.dirname(self.filepath)
            if _fields(directory):
                raise ValueError(f"{owner}: save_last writes {self.last_name} next to the "
                                 f"checkpoints, so the directory of {self.filepath!r} must "
                                 "not be a template")
            self.last_path = os.path.join(directory, self.last_name)
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.save_freq, self.save_last = save_freq, save_last
        self.kept: list[tuple[str, float | None]] = []   # monitored files on disk, oldest first
        self._writer = None
        if async_save:
            from ..checkpoint import BackgroundWriter
            self._writer = BackgroundWriter()
        self._batches_since_save = 0
        self._current_epoch = 0

    @property
    def state_key(self) -> str:
        return f"ModelCheckpoint[{self.filepath}]"

    # ---- when ---------------------------------------------------------------
    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._current_epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.save_freq == "epoch":
            return
        self._batches_since_save += 1
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save(self._current_epoch, batch, logs or {})

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.save_freq == "epoch" and (epoch + 1) % self.every_n_epochs == 0:
            self._save(epoch, None, logs or {})

    # ---- what ---------------------------------------------------------------
    def _save(self, epoch: int, batch: int | None, logs: dict[str, Any]) -> None:
        if self._writer is not None:
            self._writer.wait()     # the last save's writes overlap one epoch, no more
        path = self._format(epoch, batch, logs)
        ranked = self.save_best_only or self.save_top_k > 0
        current = self.get_monitor_value(logs) if ranked else _optional(logs.get(self.monitor))
        written = None      # the ranked file just written: the last file is a link to it
        if self._should_save(epoch, path, current):
            # the record is updated first, so the file holds a state that lists itself
            previous = (self.best, list(self.kept))
            if self.save_best_only:
                self.best = current
            self.kept = [(p, s) for p, s in self.kept if p != path] + [(path, _score(current))]
            evicted = self._evict()
            try:
                self._write(path)
                written = path
            except BaseException:
                self.best, self.kept = previous     # the record names only whole files
                raise
            if self.verbose > 0:
                say(self.loop, f"\nEpoch {epoch + 1}: finished saving model to {path}")
            for old in evicted:
                self._remove(old)
        if self.last_path is not None:
            if written is None:
                self._write(self.last_path)
            else:
                self._link(written, self.last_path)

    def _should_save(self, epoch: int, path: str, current: float | None) -> bool:
        """Keras's ``_should_save_model`` (``save_best_only``), then Lightning's top-k
        admission: fewer than k kept, or better than the worst kept (than the file it
        would replace, when the path is already kept)."""
        if self.save_top_k == 0:
            return False
        if self.save_best_only:
            if current is None:          # a val_ monitor in an epoch without validation
                return False
            best_str = "None" if self.best is None else f"{self.best:.5f}"
            if not self._is_improvement(current, self.best):
                if self.verbose > 0:
                    say(self.loop, f"\nEpoch {epoch + 1}: {self.monitor} did not improve "
                                   f"from {best_str}")
                return False
            message = (f"\nEpoch {epoch + 1}: {self.monitor} improved from {best_str} to "
                       f"{current:.5f}, saving model to {path}")
        else:
            message = f"\nEpoch {epoch + 1}: saving model to {path}"
        if self.save_top_k > 0:
            if current is None:
                return False
            # a kept file at this very path is replaced only by a better one
            same = [s for p, s in self.kept if p == path]
            pool = same or [s for _, s in self.kept]
            full = bool(same) or len(self.kept) >= self.save_top_k
            if full and self._rank(current) >= max(self._rank(s) for s in pool):
                return False
        if self.verbose > 0:
            say(self.loop, message)
        return True

    def _rank(self, score: float | None) -> float:
        """Smaller is better; a NaN or missing score is worst."""
        if score is None or math.isnan(score):
            return math.inf
        return score if self.lower_is_better else -score

    def _evict(self) -> list[str]:
        """Drop the worst kept files beyond ``save_top_k`` (the oldest among ties)."""
        evicted = []
        while 0 < self.save_top_k < len(self.kept):
            worst = max(range(len(self.kept)), key=lambda i: (self._rank(self.kept[i][1]), -i))
            evicted.append(self.kept.pop(worst)[0])
        return evicted

    def _format(self, epoch: int, batch: int | None, logs: dict[str, Any]) -> str:
        fields = {**logs, "epoch": epoch + 1}
        if batch is not None:
            fields["batch"] = batch + 1
        try:
            path = self.filepath.format(**fields)
        except KeyError as exc:
            raise KeyError(f"ModelCheckpoint filepath {self.filepath!r} names {exc.args[0]!r}, "
                           f"which is not in the logs; available: "
                           f"{', '.join(sorted(fields))}") from None
        except (TypeError, ValueError) as exc:
            raise ValueError(f"ModelCheckpoint filepath {self.filepath!r} does not format "
                             f"with the logs: {exc}") from None
        if path == self.last_path:
            raise ValueError(f"ModelCheckpoint: filepath {path!r} is the save_last file; "
                             "choose another name")
        if os.path.isdir(path):
            raise IsADirectoryError(f"ModelCheckpoint: {path!r} is an existing directory; "
                                    "filepath must name a file")
        return path

    # ---- files (written by one process only) ----------------------------------
    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._writer is not None:
            self._writer.wait()

    def on_exception(self, exception: BaseException) -> None:
        """Finish the writes in flight: they hold states taken before the failure (a
        write error here is not allowed to hide the exception that ends training)."""
        if self._writer is not None:
            try:
                self._writer.wait()
            except Exception:
                pass

    def _write(self, path: str) -> None:
        if not getattr(self.loop, "is_global_zero", True):
            return
        from ..checkpoint import checkpoint_payload, write_payload
        loop = self.loop
        if self.save_weights_only:
            parts = {"model": loop.model}
        else:
            # a loop of the user's own (hooks driven by hand) need not have a state
            resumable = callable(getattr(loop, "state_dict", None))
            parts = {"model": loop.model, "optimizer": loop.optimizer,
                     "scheduler": loop.scheduler, "loop": loop if resumable else None}
        payload = checkpoint_payload(**parts, private=self._writer is not None)
        self._file_operation(path, write_payload, path, *payload)

    def _link(self, source: str, path: str) -> None:
        """``path`` becomes the same file as ``source`` (which holds this very state)."""
        from ..checkpoint import atomic_link
        self._file_operation(path, atomic_link, source, path)

    def _remove(self, path: str) -> None:
        self._file_operation(None, _remove_file, path)

    def _file_operation(self, creates: str | None, operation: Any, *args: Any) -> None:
        """``operation(*args)`` on rank 0 only: now, or queued on the background writer
        (in order); the directory of the file it ``creates`` is made first."""
        if not getattr(self.loop, "is_global_zero", True):
            return
        directory = os.path.dirname(creates) if creates is not None else ""
        if directory:
            os.makedirs(directory, exist_ok=True)
        if self._writer is None:
            operation(*args)
        else:
            self._writer.submit(operation, *args)

    # ---- state a resumed run needs --------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "batches_since_save": self._batches_since_save,
                "kept": [[p, s] for p, s in self.kept]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        owner = "ModelCheckpoint state"
        if not isinstance(state, dict):
            raise ValueError(f"{owner} must be a dict, got {type(state).__name__}")
        best = self._load_best(state)
        count = check_int(owner, "batches_since_save", state.get("batches_since_save"))
        kept = state.get("kept")
        if not isinstance(kept, list) or not all(
                isinstance(e, (list, tuple)) and len(e) == 2 and isinstance(e[0], str)
                and (e[1] is None or (isinstance(e[1], (int, float))
                                      and not isinstance(e[1], bool))) for e in kept):
            raise ValueError(f"{owner}: kept must be a list of [path, score or None]")
        self.best, self._batches_since_save = best, count
        self.kept = [(p, None if s is None else float(s)) for p, s in kept]


def _check_template(filepath: Any) -> str:
    if not isinstance(filepath, (str, os.PathLike)):
        raise TypeError(f"ModelCheckpoint: filepath must be a path, got {filepath!r}")
    filepath = os.fspath(filepath)
    if not filepath.endswith(EXTENSION):
        raise ValueError(f"ModelCheckpoint: filepath must end in {EXTENSION!r} (one "
                         f"safetensors checkpoint per file), got {filepath!r}")
    _fields(filepath)
    return filepath


def _fields(template: str) -> list[str]:
    """The field names of a ``str.format`` template: plain log keys only."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template)
                 if name is not None]
    except ValueError as exc:
        raise ValueError(f"ModelCheckpoint: filepath {template!r} is not a valid template: "
                         f"{exc}") from None
    for name in names:
        if not name.isidentifier():
            raise ValueError(f"ModelCheckpoint: filepath field {{{name}}} must be a log key "
                             "such as {epoch} or {val_loss:.4f}")
    return names


def _optional(value: Any) -> float | None:
    return None if value is None else float(value)


def _score(value: float | None) -> float | None:
    """The score kept in the record: NaN as None (both rank worst)."""
    return None if value is None or math.isnan(value) else value


def _remove_file(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
