"""``BackupAndRestore``: resume a run after a crash from its last backup (Keras 3's
``keras.callbacks.BackupAndRestore``)."""

from __future__ import annotations

import os
from typing import Any

from .base import Callback
from .monitor import check_int

__all__ = ["BackupAndRestore"]


class BackupAndRestore(Callback):
    """Back the whole run up to ``backup_dir/latest.safetensors`` and continue from
    it when training starts again.

    * ``on_train_begin``: when the backup file exists, restore the model, the
      optimizer, the scheduler and the loop's full state from it
      (``load_checkpoint(path, model=, optimizer=, scheduler=, loop=)``); the
      ``fit`` that is starting then continues exactly where the backup was taken
      (mid-epoch included), and its result is bit for bit that of a run never
      interrupted.  A backup that does not load is an error, never ignored.
    * after every epoch (``save_freq="epoch"``) or every ``save_freq`` training
      batches (counted as ``ModelCheckpoint`` counts them), write the backup with
      ``save_checkpoint``: one file replaced atomically, so the previous backup
      stays whole until the new one is complete.
    * ``on_train_end`` (a run that ended normally, early stopping included), with
      ``delete_checkpoint``: delete the backup (and ``backup_dir`` when that leaves
      it empty).  A run that raised keeps it.

    Wherever it is in the list, the loop calls it before the other callbacks at
    ``on_train_begin`` (they begin on the restored run) and after them (and after
    ``History``) at every other hook, so a backup holds their state after the batch
    or epoch it was taken at (``writes_checkpoints``).  Only ``loop.is_global_zero``
    writes or deletes the backup; every process restores from it.

    Args:
        backup_dir: directory for the backup, used by nothing else.
        save_freq: ``"epoch"`` or an int number of batches.
        delete_checkpoint: delete the backup at the end of a successful run.
    """

    file_name = "latest.safetensors"
    writes_checkpoints = True

    def __init__(self, backup_dir: str | os.PathLike, save_freq: str | int = "epoch",
                 delete_checkpoint: bool = True) -> None:
        if not isinstance(backup_dir, (str, os.PathLike)):
            raise TypeError(f"BackupAndRestore: backup_dir must be a path, got {backup_dir!r}")
        if not os.fspath(backup_dir):
            raise ValueError("Empty `backup_dir` argument passed")
        if save_freq != "epoch":
            if isinstance(save_freq, str):
                raise ValueError(f"Invalid value for argument `save_freq`. Received: "
                                 f"save_freq={save_freq!r}. Expected either 'epoch' or an "
                                 "integer value.")
            save_freq = check_int("BackupAndRestore", "save_freq", save_freq, low=1)
        if not isinstance(delete_checkpoint, bool):
            raise TypeError(f"BackupAndRestore: delete_checkpoint must be a bool, got "
                            f"{delete_checkpoint!r}")
        self.backup_dir = os.fspath(backup_dir)
        self.path = os.path.join(self.backup_dir, self.file_name)
        self.save_freq, self.delete_checkpoint = save_freq, delete_checkpoint
        self._batches_since_save = 0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if os.path.exists(self.path):
            from ..checkpoint import load_checkpoint
            loop = self.loop
            load_checkpoint(self.path, model=loop.model, optimizer=loop.optimizer,
                            scheduler=loop.scheduler, loop=loop)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.save_freq == "epoch":
            return
        self._batches_since_save += 1
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.save_freq == "epoch":
            self._save()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if not (self.delete_checkpoint and getattr(self.loop, "is_global_zero", True)):
            return
        try:
            os.remove(self.path)
        except FileNotFoundError:
            pass
        try:
            os.rmdir(self.backup_dir)       # only when nothing else is in it
        except OSError:
            pass

    def _save(self) -> None:
        if not getattr(self.loop, "is_global_zero", True):
            return
        from ..checkpoint import save_checkpoint
        os.makedirs(self.backup_dir, exist_ok=True)
        loop = self.loop
        save_checkpoint(self.path, model=loop.model, optimizer=loop.optimizer,
                        scheduler=loop.scheduler, loop=loop)

    # ---- state a resumed run needs --------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"batches_since_save": self._batches_since_save}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict):
            raise ValueError(f"BackupAndRestore state must be a dict, got "
                             f"{type(state).__name__}")
        self._batches_since_save = check_int("BackupAndRestore state", "batches_since_save",
                                             state.get("batches_since_save"))
