"""A BasicTrainingLoop run for the exact-resume test: the checkpoint package's
dropout MLP (``np.random``), AdamW in two param groups, WarmupCosine per step,
metrics, an ArrayLoader and validation.

``python -m tests.loops.resume_job straight OUT ACCUM``: train uninterrupted, save to OUT.
``python -m tests.loops.resume_job first OUT ACCUM B``: save a checkpoint to OUT after
training batch B, then die (``os._exit``) as a killed process would.
``python -m tests.loops.resume_job resume OUT ACCUM CKPT``: load CKPT in this new
process, ``fit`` again (it continues where the checkpoint was taken), save to OUT.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

from odyssey_training.callbacks import Callback
from odyssey_training.checkpoint import load_checkpoint, save_checkpoint
from odyssey_training.data import ArrayLoader
from odyssey_training.loops import BasicTrainingLoop
from odyssey_training.losses import CrossEntropyLoss
from odyssey_training.metrics import Accuracy, F1Score
from odyssey_training.optimizers import AdamW
from odyssey_training.schedulers import WarmupCosine

from ..checkpoint.mlp_job import BATCH, CLASSES, FEATURES, MLP, SAMPLES

EPOCHS = 4


class SaveAndDie(Callback):
    def __init__(self, path: str, after: int) -> None:
        self.path, self.after, self.seen = path, after, 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.after:
            loop = self.loop
            save_checkpoint(self.path, model=loop.model, optimizer=loop.optimizer,
                            scheduler=loop.scheduler, loop=loop)
            os._exit(0)


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((SAMPLES, FEATURES)).astype(np.float32)
    y = ((x[:, :3].sum(1) > 0).astype(np.int64) + (x[:, 3] > 0.5)) % CLASSES
    return x, y


def build(accum: int, callbacks=()):
    np.random.seed(1)                    # the dropout masks come from np.random
    model = MLP(seed=0)
    p = model.p
    opt = AdamW([{"params": [p["w1"], p["w2"]]},
                 {"params": [p["b1"], p["b2"]], "weight_decay": 0.0}], lr=0.02)
    x, y = data()
    train = ArrayLoader(x, y, batch_size=BATCH, seed=5)
    val = ArrayLoader(x, y, batch_size=32, shuffle=False)
    sched = WarmupCosine(opt, warmup_steps=3, total_steps=EPOCHS * len(train) // accum + 1)
    loop = BasicTrainingLoop(model, opt, loss=CrossEntropyLoss(), scheduler=sched,
                             scheduler_interval="step", grad_accum_steps=accum,
                             metrics={"acc": Accuracy(num_classes=3),
                                      "f1": F1Score(num_classes=3, average="macro")},
                             callbacks=list(callbacks))
    return loop, train, val


def main(argv: list[str]) -> None:
    mode, out, accum = argv[0], argv[1], int(argv[2])
    if mode == "first":
        loop, train, val = build(accum, [SaveAndDie(out, int(argv[3]))])
        loop.fit(train, val, epochs=EPOCHS)
        raise SystemExit("the run ended before the checkpoint was taken")
    loop, train, val = build(accum)
    if mode == "resume":
        load_checkpoint(argv[3], model=loop.model, optimizer=loop.optimizer,
                        scheduler=loop.scheduler, loop=loop)
    history = loop.fit(train, val, epochs=EPOCHS)
    save_checkpoint(out, model=loop.model, optimizer=loop.optimizer, scheduler=loop.scheduler,
                    extra={"history": json.dumps(history.history)})


if __name__ == "__main__":
    main(sys.argv[1:])
