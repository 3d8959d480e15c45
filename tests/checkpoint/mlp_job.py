"""A small NumPy training run for the exact-resume test, without a loop class:
a 2-layer MLP with dropout (``np.random``) and input jitter (``random``),
softmax cross-entropy, an ArrayLoader, an optimizer with two param groups and
a per-step scheduler.  Its own state (step, loader position, RNG states) goes
into the checkpoint as the ``loop`` part.

``python -m tests.checkpoint.mlp_job KIND CHECKPOINT STEPS OUT`` loads
CHECKPOINT in a new process, trains STEPS more steps and saves everything to OUT.
"""

from __future__ import annotations

import random
import sys

import numpy as np

import odyssey_training as ot
from odyssey_training.checkpoint import (get_rng_state, load_checkpoint, save_checkpoint,
                                         set_rng_state)
from odyssey_training.data import ArrayLoader
from odyssey_training.losses import CrossEntropyLoss
from odyssey_training.optimizers import SGD, AdamW
from odyssey_training.schedulers import WarmupCosine

SAMPLES, FEATURES, HIDDEN, CLASSES, BATCH = 70, 8, 16, 3, 16   # 5 batches, the last of 6


class MLP:
    """relu(x W1 + b1) -> dropout(0.2) -> W2 + b2, forward/backward by hand."""

    def __init__(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        shapes = {"w1": (FEATURES, HIDDEN), "b1": (HIDDEN,), "w2": (HIDDEN, CLASSES),
                  "b2": (CLASSES,)}
        self.p = {name: ot.Parameter((rng.standard_normal(shape) * 0.3).astype(np.float32),
                                     name=name) for name, shape in shapes.items()}

    def parameters(self) -> list[ot.Parameter]:
        return list(self.p.values())

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        p = self.p
        pre = x @ p["w1"].data + p["b1"].data
        keep = (np.random.random(pre.shape) >= 0.2) / np.float32(0.8) if training else 1
        self.cache = (x, pre, keep, np.maximum(pre, 0) * keep)
        return self.cache[3] @ p["w2"].data + p["b2"].data

    def backward(self, grad_out: np.ndarray) -> None:
        x, pre, keep, hidden = self.cache
        grad_hidden = (grad_out @ self.p["w2"].data.T) * keep * (pre > 0)
        grads = {"w2": hidden.T @ grad_out, "b2": grad_out.sum(0),
                 "w1": x.T @ grad_hidden, "b1": grad_hidden.sum(0)}
        for name, g in grads.items():
            g = np.ascontiguousarray(g, dtype=np.float32)
            p = self.p[name]
            p.grad = g if p.grad is None else p.grad + g


class Run:
    """Everything a training run holds; ``state_dict`` is its own (loop) state."""

    def __init__(self, kind: str) -> None:
        np.random.seed(1)
        random.seed(2)
        data = np.random.default_rng(0)
        x = data.standard_normal((SAMPLES, FEATURES)).astype(np.float32)
        y = (x[:, :3].sum(1) > 0).astype(np.int64) + (x[:, 3] > 0.5)
        self.model = MLP(seed=3)
        self.loader = ArrayLoader(x, y, batch_size=BATCH, seed=5)
        p = self.model.p
        groups = [{"params": [p["w1"], p["w2"]], "weight_decay": 1e-2},
                  {"params": [p["b1"], p["b2"]], "weight_decay": 0.0}]
        self.optimizer = (AdamW(groups, lr=3e-2) if kind == "adam" else
                          SGD(groups, lr=0.1, momentum=0.9, nesterov=True))
        self.scheduler = WarmupCosine(self.optimizer, warmup_steps=3, total_steps=40)
        self.loss = CrossEntropyLoss(label_smoothing=0.05)
        self.step = 0
        self.batches = None

    def next_batch(self):
        for _ in range(2):
            if self.batches is None:
                self.batches = iter(self.loader)
            try:
                return next(self.batches)
            except StopIteration:
                self.batches = None
        raise RuntimeError("empty loader")

    def train(self, steps: int) -> None:
        for _ in range(steps):
            xb, yb = self.next_batch()
            xb = xb + np.float32(random.gauss(0.0, 0.01))
            _, grad = self.loss(self.model.forward(xb), yb)
            self.model.backward(grad)
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad()
            self.step += 1

    def state_dict(self) -> dict:
        return {"step": self.step, "loader": self.loader.state_dict(), "rng": get_rng_state()}

    def load_state_dict(self, state: dict) -> None:
        self.loader.load_state_dict(state["loader"])
        set_rng_state(state["rng"])
        self.step = state["step"]
        self.batches = None

    def save(self, path) -> None:
        save_checkpoint(path, model=self.model, optimizer=self.optimizer,
                        scheduler=self.scheduler, loop=self, extra={"step": self.step})

    def load(self, path) -> dict:
        return load_checkpoint(path, model=self.model, optimizer=self.optimizer,
                               scheduler=self.scheduler, loop=self)


def main(argv: list[str]) -> None:
    kind, checkpoint, steps, out = argv
    run = Run(kind)
    run.load(checkpoint)
    run.train(int(steps))
    run.save(out)


if __name__ == "__main__":
    main(sys.argv[1:])
