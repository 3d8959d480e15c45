"""One training recipe for the BackupAndRestore tests, run in-process or as a
script in a subprocess (``python -m tests.callbacks.backup_run BACKUP_DIR OUT.npz
SAVE_FREQ [KILL_AT]``) that SIGKILLs itself before global batch ``KILL_AT``.

Shuffled ArrayLoader, Adam with a per-step StepLR, gradient accumulation over
2 batches, an Accuracy metric, EarlyStopping and ReduceLROnPlateau: every kind of
state a resume must bring back."""

from __future__ import annotations

import os
import signal
import sys

import numpy as np

from odyssey_training.callbacks import (BackupAndRestore, Callback, EarlyStopping,
                                        ReduceLROnPlateau)
from odyssey_training.data import ArrayLoader
from odyssey_training.loops import BasicTrainingLoop
from odyssey_training.metrics import Accuracy
from odyssey_training.optimizers import Adam
from odyssey_training.schedulers import StepLR

from ..loops.toy import TinyMLP, batches, blobs, softmax_xent

EPOCHS = 8
X, Y = blobs(88)                # 6 batches of 16 per epoch, the last one short
XV, YV = blobs(40, seed=2)


class Crash(Callback):
    """Before global batch ``at`` (0-based, counted over the whole run): raise, or
    SIGKILL this process."""

    def __init__(self, at: int, how: str = "raise") -> None:
        self.at, self.how = at, how

    def on_train_batch_begin(self, batch, logs=None):
        if self.loop.epoch * len(self.loop.train_data) + batch == self.at:
            if self.how == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError(f"crash before global batch {self.at}")


def make_loop(backup_dir=None, save_freq="epoch", crash=None, delete_checkpoint=True,
              plateau=False):
    """``plateau``: the lr is driven by the ReduceLROnPlateau callback, else by a
    per-step StepLR (both write ``group["lr"]``, so a run has one of them)."""
    model = TinyMLP(seed=4)
    opt = Adam(model.parameters(), lr=0.05)
    callbacks = []
    if backup_dir is not None:
        callbacks.append(BackupAndRestore(backup_dir, save_freq=save_freq,
                                          delete_checkpoint=delete_checkpoint))
    callbacks.append(EarlyStopping(monitor="val_loss", patience=1, min_delta=0.07,
                                   restore_best_weights=True))
    if plateau:
        callbacks.append(ReduceLROnPlateau(factor=0.5, patience=1, min_delta=0.1))
    if crash is not None:
        callbacks.append(crash)
    return BasicTrainingLoop(model, opt, loss=softmax_xent, callbacks=callbacks,
                             scheduler=None if plateau else StepLR(opt, step_size=7, gamma=0.7),
                             scheduler_interval="step", metrics={"acc": Accuracy(num_classes=3)},
                             grad_accum_steps=2, seed=11)


def fit(loop):
    loop.fit(ArrayLoader(X, Y, batch_size=16, seed=5), batches(XV, YV, 20), epochs=EPOCHS)
    return loop


def result(loop) -> dict[str, np.ndarray]:
    out = {f"param{i}": p.data for i, p in enumerate(loop.model.parameters())}
    for key, values in loop.history.history.items():
        out[f"history/{key}"] = np.asarray(values, dtype=np.float64)
    out["global_step"] = np.asarray(loop.global_step)
    out["lr"] = np.asarray(loop.optimizer.param_groups[0]["lr"])
    return out


if __name__ == "__main__":
    backup_dir, out = sys.argv[1], sys.argv[2]
    save_freq = sys.argv[3] if sys.argv[3] == "epoch" else int(sys.argv[3])
    kill = Crash(int(sys.argv[4]), how="kill") if len(sys.argv) > 4 else None
    np.savez(out, **result(fit(make_loop(backup_dir, save_freq, crash=kill))))
