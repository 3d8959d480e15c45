"""A small NumPy model for the examples: what a user writes to train with the loops.

``MLP`` follows the Model protocol (``parameters()``, ``forward(inputs, training)``,
``backward(grad_outputs)``, which accumulates into each ``Parameter.grad``);
``blobs`` makes a labelled toy dataset (Gaussian clusters, one per class).
"""

from __future__ import annotations

import numpy as np

import odyssey_training as ot


class MLP:
    """x -> relu(x W1 + b1) W2 + b2."""

    def __init__(self, n_in: int, hidden: int, n_out: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.w1 = ot.Parameter((rng.standard_normal((n_in, hidden)) * np.sqrt(2 / n_in))
                               .astype(np.float32), name="w1")
        self.b1 = ot.Parameter(np.zeros(hidden, np.float32), name="b1")
        self.w2 = ot.Parameter((rng.standard_normal((hidden, n_out)) * np.sqrt(2 / hidden))
                               .astype(np.float32), name="w2")
        self.b2 = ot.Parameter(np.zeros(n_out, np.float32), name="b2")

    def parameters(self) -> list[ot.Parameter]:
        return [self.w1, self.b1, self.w2, self.b2]

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        self.x = x
        self.h = np.maximum(x @ self.w1.data + self.b1.data, 0)
        return self.h @ self.w2.data + self.b2.data

    def backward(self, grad_out: np.ndarray) -> None:
        dh = (grad_out @ self.w2.data.T) * (self.h > 0)
        for p, g in ((self.w2, self.h.T @ grad_out), (self.b2, grad_out.sum(0)),
                     (self.w1, self.x.T @ dh), (self.b1, dh.sum(0))):
            g = g.astype(np.float32)
            p.grad = g if p.grad is None else p.grad + g


def blobs(n: int, classes: int = 4, dims: int = 16, seed: int = 0):
    """``n`` points in ``classes`` Gaussian clusters: ``(x float32 (n, dims), y int64 (n,))``."""
    rng = np.random.default_rng(seed)
    centers = 0.6 * rng.standard_normal((classes, dims))
    y = rng.integers(0, classes, n)
    x = (centers[y] + rng.standard_normal((n, dims))).astype(np.float32)
    return x, y
