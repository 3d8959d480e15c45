"""The main job's reference model: a NumPy multi-layer perceptron.

``MLP(sizes)`` is ``Linear(sizes[0], sizes[1]) - ReLU - ... - Linear(sizes[-2], sizes[-1])``
with torch's layout and arithmetic: layer ``i`` holds ``fc{i}.weight`` of shape
``(out, in)`` and ``fc{i}.bias`` of shape ``(out,)``, and computes

.. math::

    z_i = a_{i-1} W_i^\\top + b_i, \\qquad a_i = \\max(z_i, 0) \\ (\\text{not after the last layer})

Backward, from :math:`g = \\partial L / \\partial z_i` (starting with the loss's
gradient of the outputs):

.. math::

    \\partial L/\\partial W_i \\mathrel{+}= g^\\top a_{i-1}, \\qquad
    \\partial L/\\partial b_i \\mathrel{+}= \\textstyle\\sum_n g_n, \\qquad
    \\partial L/\\partial z_{i-1} = (g W_i) \\odot [z_{i-1} > 0]

Weights start from He (Kaiming) normal init, :math:`W \\sim \\mathcal N(0, 2/\\text{in})`,
drawn from ``np.random.default_rng(seed)``; biases start at 0.  Everything is
float32 by default.  Gradients accumulate into ``Parameter.grad`` as the Model
protocol asks: a gradient that is ``None`` (after ``zero_grad()``) is written into
a buffer the model owns (no new array per step), one that is set is added to.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..parameter import Parameter

__all__ = ["MLP"]


class MLP:
    """Linear-ReLU-...-Linear over ``sizes`` (inputs, hidden..., outputs)."""

    def __init__(self, sizes: Sequence[int], seed: int = 0, dtype: type = np.float32) -> None:
        sizes = list(sizes)
        if len(sizes) < 2 or any(isinstance(s, bool) or not isinstance(s, (int, np.integer))
                                 or s < 1 for s in sizes):
            raise ValueError(f"MLP sizes must be two or more positive ints (inputs, hidden..., "
                             f"outputs), got {sizes!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"MLP seed must be an int >= 0, got {seed!r}")
        self.sizes = [int(s) for s in sizes]
        self.dtype = np.dtype(dtype)
        rng = np.random.default_rng(int(seed))
        self.weights: list[Parameter] = []
        self.biases: list[Parameter] = []
        for i, (n_in, n_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:]), start=1):
            w = rng.standard_normal((n_out, n_in)) * np.sqrt(2.0 / n_in)
            self.weights.append(Parameter(w.astype(self.dtype), name=f"fc{i}.weight"))
            self.biases.append(Parameter(np.zeros(n_out, self.dtype), name=f"fc{i}.bias"))
        self._params = [p for pair in zip(self.weights, self.biases) for p in pair]
        self._grad_buffers = [np.empty_like(p.data) for p in self._params]
        self._activations: list[np.ndarray] | None = None

    def parameters(self) -> list[Parameter]:
        """``[fc1.weight, fc1.bias, fc2.weight, ...]`` (the same objects every call)."""
        return self._params

    def __repr__(self) -> str:
        return f"MLP({'-'.join(map(str, self.sizes))}, dtype={self.dtype.name})"

    def forward(self, inputs: np.ndarray, training: bool = True) -> np.ndarray:
        """Logits of shape ``(N, sizes[-1])`` for ``inputs`` of shape ``(N, sizes[0])``.
        ``training=True`` keeps the activations for :meth:`backward`."""
        x = np.asarray(inputs, dtype=self.dtype)
        if x.ndim != 2 or x.shape[1] != self.sizes[0]:
            raise ValueError(f"MLP expects inputs of shape (N, {self.sizes[0]}), got "
                             f"{np.shape(inputs)}")
        activations = [x]
        a = x
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            z = a @ w.data.T
            z += b.data
            if i < last:
                np.maximum(z, 0, out=z)
                activations.append(z)
            a = z
        self._activations = activations if training else None
        return a

    def backward(self, grad_outputs: np.ndarray) -> None:
        """Accumulate the parameters' gradients of the last training ``forward`` from
        ``grad_outputs`` (dL/dlogits, shape ``(N, sizes[-1])``)."""
        activations = self._activations
        if activations is None:
            raise RuntimeError("MLP.backward needs a forward(inputs, training=True) first")
        g = np.asarray(grad_outputs, dtype=self.dtype)
        expected = (activations[0].shape[0], self.sizes[-1])
        if g.shape != expected:
            raise ValueError(f"MLP.backward expects grad_outputs of shape {expected}, got "
                             f"{g.shape}")
        for i in range(len(self.weights) - 1, -1, -1):
            a_prev = activations[i]
            w, b = self.weights[i], self.biases[i]
            self._accumulate(2 * i, w, g.T, a_prev)
            self._accumulate(2 * i + 1, b, g, None)
            if i:
                g = g @ w.data
                g[a_prev <= 0] = 0          # ReLU: z > 0 exactly where its output is > 0
        self._activations = None

    def _accumulate(self, index: int, p: Parameter, left: np.ndarray,
                    right: np.ndarray | None) -> None:
        """``p.grad += left @ right`` (or the column sums of ``left`` for a bias),
        computed straight into the model's buffer when ``p.grad`` is None."""
        if p.grad is None:
            out = self._grad_buffers[index]
            p.grad = np.matmul(left, right, out=out) if right is not None \
                else np.sum(left, axis=0, out=out)
        else:
            p.grad += left @ right if right is not None else left.sum(axis=0)
