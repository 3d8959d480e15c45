"""``CSVLogger``: one CSV row per epoch, as Keras 3's ``CSVLogger``."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..checkpoint.atomic import atomic_write_text
from .base import Callback

__all__ = ["CSVLogger"]

#: what a column holds in an epoch whose logs lack its key (Keras's marker)
MISSING = "NA"


class CSVLogger(Callback):
    """Write ``epoch`` and the epoch's logs, one row per epoch, to ``filename``.

    Columns are ``epoch`` (counted from 0, as Keras) and then the log keys in sorted
    order.  Numbers are written at full precision (``repr``), a key absent from an
    epoch's logs is ``NA``.  Each row is flushed to disk when the epoch ends (the file
    is opened, appended to and closed), so a crash loses no finished epoch.

    **Keys that appear later** (``val_*`` when ``validate_every > 1``, a key a callback
    adds from some epoch on): the file is rewritten once, atomically, with the wider
    header, earlier rows getting ``NA`` in the new column.  Keras instead creates a
    ``val_<key>`` column for every key up front when the first epoch has none; both give
    ``NA`` where validation did not run, this one without columns that stay empty.

    **Appending.**  A run that starts at epoch 0 truncates the file, unless
    ``append=True``: then rows go to the end of an existing file, under its header
    (Keras).  A run that starts at a later epoch ``e`` *continues* a run, whatever
    ``append`` says: resumed from a checkpoint or a backup (``load_checkpoint(...,
    loop=loop)``, ``BackupAndRestore``), or given ``initial_epoch=e`` (which Keras
    documents as the way to resume).  The file then keeps its rows of epochs before
    ``e``, drops rows of epoch ``e`` and later (written by the interrupted run after
    the state it was restored to), and gets the new rows: every epoch appears once, in
    order.  This is Keras's ``append=True`` made automatic for the case it exists for,
    without the duplicated epochs a plain append would leave after a restore from an
    older backup.

    Only the process with ``loop.is_global_zero`` writes.

    Args:
        filename: the CSV file (its directory is created if missing).
        separator: the one-character field delimiter.
        append: append to an existing file instead of truncating it.
    """

    def __init__(self, filename: str | os.PathLike, separator: str = ",",
                 append: bool = False) -> None:
        if not isinstance(filename, (str, os.PathLike)):
            raise TypeError(f"filename must be a path, got {type(filename).__name__}")
        if not isinstance(separator, str) or len(separator) != 1 or separator in "\r\n\"":
            raise ValueError(f"separator must be one character (not a quote or newline), "
                             f"got {separator!r}")
        if not isinstance(append, bool):
            raise TypeError(f"append must be a bool, got {append!r}")
        self.filename = Path(filename)
        self.separator = separator
        self.append = append
        self._keys: list[str] | None = None   # columns after "epoch" of the file being written

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._keys = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.loop is not None and not self.loop.is_global_zero:
            return
        logs = logs or {}
        if self._keys is None:
            self._start(epoch, logs)
        elif any(k not in self._keys for k in logs):
            header, rows = self._read()
            self._rewrite(header[1:] if header else [], sorted(set(self._keys) | set(logs)),
                          rows)
        row = [str(epoch)] + [_format(logs.get(k, MISSING)) for k in self._keys]
        with open(self.filename, "a", newline="", encoding="utf-8") as f:
            csv.writer(f, delimiter=self.separator, lineterminator="\n").writerow(row)

    # ---- the file ---------------------------------------------------------------
    def _start(self, epoch: int, logs: dict[str, Any]) -> None:
        """First row of this fit (epoch ``epoch``): truncate, or continue the file."""
        resumed = epoch > 0
        header, rows = self._read() if (self.append or resumed) else (None, [])
        if header is None:                      # a new file (or truncating an old one)
            self._rewrite([], sorted(logs), [])
            return
        keys = header[1:]
        kept = [r for r in rows if not (resumed and _epoch_of(r) >= epoch)]
        widen = any(k not in keys for k in logs)
        if widen or len(kept) != len(rows):
            self._rewrite(keys, sorted(set(keys) | set(logs)) if widen else keys, kept)
        else:
            self._keys = keys

    def _read(self) -> tuple[list[str] | None, list[list[str]]]:
        """The existing file's header and rows (None when it is missing or empty)."""
        try:
            text = self.filename.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None, []
        lines = list(csv.reader(io.StringIO(text, newline=""), delimiter=self.separator))
        if not lines:
            return None, []
        if not lines[0] or lines[0][0] != "epoch":
            raise ValueError(f"{self.filename} does not start with an 'epoch' column "
                             f"(header {lines[0]!r}); it is not a CSVLogger file to append to")
        return lines[0], lines[1:]

    def _rewrite(self, old_keys: list[str], keys: list[str], rows: list[list[str]]) -> None:
        """Replace the file, atomically, with ``rows`` (laid out as ``epoch`` +
        ``old_keys``) under the header ``epoch`` + ``keys``."""
        where = {k: i + 1 for i, k in enumerate(old_keys)}
        out = io.StringIO()
        writer = csv.writer(out, delimiter=self.separator, lineterminator="\n")
        writer.writerow(["epoch", *keys])
        for row in rows:
            writer.writerow([row[0] if row else MISSING] + [
                row[where[k]] if k in where and where[k] < len(row) else MISSING
                for k in keys])
        self.filename.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.filename, out.getvalue())
        self._keys = list(keys)


def _epoch_of(row: list[str]) -> float:
    """A row's epoch number (rows whose epoch does not parse are kept: -inf)."""
    try:
        return int(row[0])
    except (IndexError, ValueError):
        return float("-inf")


def _format(value: Any) -> str:
    """A log value as CSV text: numbers at full precision, sequences as ``[a, b]``."""
    if isinstance(value, str):
        return value
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, (list, tuple, np.ndarray)):
        return "[" + ", ".join(_format(v) for v in value) + "]"
    return str(value)
