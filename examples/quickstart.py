"""Quickstart: fit a small softmax-regression model with a generated optimizer.

Run: python examples/quickstart.py
The gradients are computed by hand with NumPy; the update runs in a native
kernel compiled from specs/optimizers/adamw.toml (cached after the first run).
"""

import numpy as np

import odyssey_training as ot
from odyssey_training.optimizers import AdamW

rng = np.random.default_rng(0)
n, d, classes = 2048, 20, 4
x = rng.standard_normal((n, d)).astype(np.float32)
true_w = rng.standard_normal((d, classes)).astype(np.float32)
y = np.argmax(x @ true_w + 0.3 * rng.standard_normal((n, classes)), axis=1)

w = ot.Parameter(np.zeros((d, classes), np.float32), name="w")
b = ot.Parameter(np.zeros(classes, np.float32), name="b")
opt = AdamW([w, b], lr=0.05, weight_decay=1e-3)


def loss_and_grads() -> float:
    logits = x @ w.data + b.data
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    loss = float(-np.log(probs[np.arange(n), y] + 1e-12).mean())
    probs[np.arange(n), y] -= 1.0
    w.grad = (x.T @ probs / n).astype(np.float32)
    b.grad = probs.mean(axis=0).astype(np.float32)
    return loss


for epoch in range(1, 101):
    loss = loss_and_grads()
    opt.step()
    if epoch == 1 or epoch % 20 == 0:
        accuracy = float(np.mean(np.argmax(x @ w.data + b.data, axis=1) == y))
        print(f"step {epoch:3d}  loss {loss:.4f}  accuracy {accuracy:.3f}")
