"""Data-parallel training over MPI: the same script on every rank.

Run (the ``distributed`` extra: ``pip install -e ".[distributed]"``):

    mpiexec -n 2 python examples/train_distributed.py
    python examples/train_distributed.py            # one process: the same numbers

A two-layer NumPy MLP on synthetic 4-class data, AdamW, accuracy, validation and a
checkpoint of the best epoch written by rank 0.  Each rank takes its slice of every
global batch of 64, so the run equals one process with batch 64 (to float rounding).
"""

import sys
import tempfile
from pathlib import Path

import numpy as np

import odyssey_training as ot
from odyssey_training.callbacks import ModelCheckpoint
from odyssey_training.data import ArrayLoader
from odyssey_training.distributed import DistributedTrainingLoop
from odyssey_training.losses import CrossEntropyLoss
from odyssey_training.metrics import Accuracy
from odyssey_training.optimizers import AdamW


class MLP:
    """x -> relu(x W1 + b1) W2 + b2, gradients accumulated into Parameter.grad."""

    def __init__(self, d: int, hidden: int, classes: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.w1 = ot.Parameter((rng.standard_normal((d, hidden)) / np.sqrt(d)).astype(np.float32))
        self.b1 = ot.Parameter(np.zeros(hidden, np.float32))
        self.w2 = ot.Parameter((rng.standard_normal((hidden, classes)) / np.sqrt(hidden))
                               .astype(np.float32))
        self.b2 = ot.Parameter(np.zeros(classes, np.float32))

    def parameters(self):
        return [self.w1, self.b1, self.w2, self.b2]

    def forward(self, x, training=True):
        self.x, self.h = x, np.maximum(x @ self.w1.data + self.b1.data, 0)
        return self.h @ self.w2.data + self.b2.data

    def backward(self, g):
        dh = (g @ self.w2.data.T) * (self.h > 0)
        for p, grad in ((self.w2, self.h.T @ g), (self.b2, g.sum(0)),
                        (self.w1, self.x.T @ dh), (self.b1, dh.sum(0))):
            grad = grad.astype(np.float32)
            p.grad = grad if p.grad is None else p.grad + grad


rng = np.random.default_rng(0)
x = rng.standard_normal((2400, 16)).astype(np.float32)
y = np.argmax(x @ rng.standard_normal((16, 4)) + 0.5 * rng.standard_normal((2400, 4)), axis=1)

model = MLP(16, 64, 4)                               # the same model on every rank
opt = AdamW(model.parameters(), lr=3e-3)
out = Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="odyssey-ddp-"))
loop = DistributedTrainingLoop(model, opt, loss=CrossEntropyLoss(),
                               metrics={"acc": Accuracy(num_classes=4)},
                               callbacks=[ModelCheckpoint(str(out / "best.safetensors"),
                                                          monitor="val_acc",
                                                          save_best_only=True)])
shard = {"rank": loop.rank, "world_size": loop.world_size}
train = ArrayLoader(x[:2000], y[:2000], batch_size=64 // loop.world_size, seed=1, **shard)
val = ArrayLoader(x[2000:], y[2000:], batch_size=200 // loop.world_size, shuffle=False, **shard)
history = loop.fit(train, val, epochs=5)
if loop.is_global_zero:
    for epoch, (acc, val_acc) in enumerate(zip(history.history["acc"],
                                               history.history["val_acc"])):
        print(f"epoch {epoch + 1}  acc {acc:.4f}  val_acc {val_acc:.4f}")
    print(f"{loop.world_size} rank(s); best checkpoint: {out / 'best.safetensors'}")
