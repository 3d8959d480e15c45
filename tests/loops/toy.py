"""A small NumPy model and a softmax cross-entropy written out for the loop tests
(independent of odyssey_training.losses, so the loop is tested on its own)."""

from __future__ import annotations

import numpy as np

import odyssey_training as ot


class TinyMLP:
    """x -> relu(x W1 + b1) W2 + b2, gradients accumulated into Parameter.grad."""

    def __init__(self, n_in: int = 4, hidden: int = 8, n_out: int = 3, seed: int = 0,
                 dtype=np.float64) -> None:
        rng = np.random.default_rng(seed)
        self.w1 = ot.Parameter((rng.standard_normal((n_in, hidden)) / np.sqrt(n_in)).astype(dtype), name="w1")
        self.b1 = ot.Parameter(np.zeros(hidden, dtype), name="b1")
        self.w2 = ot.Parameter((rng.standard_normal((hidden, n_out)) / np.sqrt(hidden)).astype(dtype), name="w2")
        self.b2 = ot.Parameter(np.zeros(n_out, dtype), name="b2")
        self.forward_calls = {True: 0, False: 0}

    def parameters(self):
        return [self.w1, self.b1, self.w2, self.b2]

    def forward(self, x, training=True):
        self.forward_calls[training] += 1
        self.x = x
        self.h = np.maximum(x @ self.w1.data + self.b1.data, 0)
        return self.h @ self.w2.data + self.b2.data

    def backward(self, grad_out):
        grads = {
            self.w2: self.h.T @ grad_out,
            self.b2: grad_out.sum(0),
        }
        dh = (grad_out @ self.w2.data.T) * (self.h > 0)
        grads[self.w1] = self.x.T @ dh
        grads[self.b1] = dh.sum(0)
        for p, g in grads.items():
            g = np.ascontiguousarray(g, dtype=p.data.dtype)
            p.grad = g if p.grad is None else p.grad + g


def softmax_xent(logits, labels):
    """Mean softmax cross-entropy and its gradient (log-sum-exp)."""
    z = logits - logits.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    n = len(labels)
    value = float(-logp[np.arange(n), labels].mean())
    grad = np.exp(logp)
    grad[np.arange(n), labels] -= 1
    return value, grad / n


def blobs(n: int = 96, seed: int = 1, dtype=np.float64):
    """Three separable Gaussian blobs in 4-D."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centers = np.array([[2, 0, 0, 0], [0, 2, 0, 0], [0, 0, 2, 0]], dtype)
    x = (centers[y] + 0.5 * rng.standard_normal((n, 4))).astype(dtype)
    return x, y


def batches(x, y, size):
    """A plain list of batches (no shuffling, no state)."""
    return [(x[i:i + size], y[i:i + size]) for i in range(0, len(x), size)]
