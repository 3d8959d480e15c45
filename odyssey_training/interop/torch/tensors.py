"""Torch tensors as odyssey :class:`~odyssey_training.Parameter`\\ s: zero-copy
NumPy views of a CPU tensor's memory and of its current ``.grad``.

The kernels write through these views, so a tensor is checked once, when it is
wrapped (CPU, strided, contiguous, float32 or float64), and its address is
checked again every time ``data`` is read: a tensor whose memory was replaced
(``p.data = other``) is re-wrapped when its dtype and shape are unchanged, and
is an error otherwise (the optimizer state was built for the old ones).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ...parameter import Parameter

__all__ = ["TensorParameter", "check_tensor", "SUPPORTED_DTYPES"]

#: tensor dtypes the kernels update (bf16/f16 arrive with mixed precision)
SUPPORTED_DTYPES = (torch.float32, torch.float64)


def check_tensor(tensor: Any, what: str) -> torch.Tensor:
    """``tensor`` if the kernels can update it in place, else a TypeError or
    ValueError naming ``what`` (nothing is changed either way)."""
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{what} must be a torch.Tensor, got {type(tensor).__name__}")
    shown = f"{what} (shape {tuple(tensor.shape)}, {tensor.dtype}, {tensor.device})"
    if tensor.device.type != "cpu":
        raise ValueError(f"{shown} is not on the CPU: the odyssey kernels update CPU "
                         "tensors only (move the model with .cpu() before building the "
                         "optimizer)")
    if tensor.layout != torch.strided:
        raise ValueError(f"{shown} has layout {tensor.layout}; only dense (strided) "
                         "tensors are supported")
    if tensor.dtype not in SUPPORTED_DTYPES:
        raise TypeError(f"{shown} has an unsupported dtype; the kernels update "
                        "torch.float32 and torch.float64 tensors")
    if not tensor.is_contiguous():
        raise ValueError(f"{shown} is not contiguous (strides {tensor.stride()}); make it "
                         "contiguous before building the optimizer "
                         "(with torch.no_grad(): p.data = p.data.contiguous())")
    return tensor


def _numpy_view(tensor: torch.Tensor) -> np.ndarray:
    """The tensor's memory as an ndarray (no copy)."""
    return tensor.detach().numpy()


class TensorParameter(Parameter):
    """A torch tensor seen as a Parameter.

    ``data`` is a zero-copy ndarray view of the tensor (writes reach the
    tensor); ``grad`` reads as a zero-copy view of ``tensor.grad`` (None when
    it is None) and assigning an ndarray makes the tensor's ``.grad`` a view of
    that array (assigning None clears it).  ``tensor`` is the tensor itself.
    """

    __slots__ = ("tensor", "_view", "_ptr", "_dtype", "_shape")

    def __init__(self, tensor: torch.Tensor, name: str | None = None) -> None:
        self.name = name
        self.tensor = check_tensor(tensor, self.label)
        self._dtype, self._shape = tensor.dtype, tensor.shape
        self._wrap()

    @property
    def label(self) -> str:
        """How errors name this parameter."""
        return f"parameter {self.name!r}" if self.name else "parameter"

    def _wrap(self) -> None:
        self._view = _numpy_view(self.tensor)
        self._ptr = self.tensor.data_ptr()

    @property
    def data(self) -> np.ndarray:
        if self.tensor.data_ptr() != self._ptr:
            self._rewrap()
        return self._view

    @data.setter
    def data(self, value: Any) -> None:
        raise AttributeError(f"{self.label} is a torch tensor: update it in place "
                             "(np.copyto(p.data, ...)) instead of assigning p.data")

    def _rewrap(self) -> None:
        """The tensor's memory was replaced: wrap the new memory if it can stand in
        for the old (same dtype and shape, still a valid tensor), else raise."""
        t = self.tensor
        if t.dtype != self._dtype or t.shape != self._shape:
            raise ValueError(f"{self.label} changed from {self._dtype} {tuple(self._shape)} "
                             f"to {t.dtype} {tuple(t.shape)} after it was wrapped; build the "
                             "optimizer (and TorchModel) after moving or casting the model")
        check_tensor(t, self.label)
        self._wrap()

    @property
    def grad(self) -> np.ndarray | None:
        g = self.tensor.grad
        if g is None:
            return None
        try:
            view = g.numpy()
        except (TypeError, RuntimeError) as err:
            if not (g.requires_grad and g.layout == torch.strided):
                raise TypeError(f"the gradient of {self.label} cannot be used by the "
                                f"kernels: {err}") from None
            view = _numpy_view(g)           # a create_graph=True gradient
        if not view.flags.c_contiguous:
            raise ValueError(f"the gradient of {self.label} is not contiguous (strides "
                             f"{g.stride()}); the kernels read contiguous gradients")
        return view

    @grad.setter
    def grad(self, value: np.ndarray | None) -> None:
        t = self.tensor
        if value is None:
            t.grad = None
            return
        current = t.grad
        if (current is not None and isinstance(value, np.ndarray) and current.is_cpu
                and value.size and value.ctypes.data == current.data_ptr()
                and value.shape == tuple(current.shape) and value.dtype == self._view.dtype):
            return                      # p.grad += x: already the tensor's gradient
        if not isinstance(value, np.ndarray):
            raise TypeError(f"the gradient of {self.label} must be a numpy.ndarray or None, "
                            f"got {type(value).__name__}")
        if value.shape != tuple(t.shape) or value.dtype != self._view.dtype:
            raise ValueError(f"the gradient of {self.label} must have shape {tuple(t.shape)} "
                             f"and dtype {self._view.dtype}, got {value.shape} {value.dtype}")
        t.grad = torch.from_numpy(np.ascontiguousarray(value))

    def __repr__(self) -> str:
        label = f"{self.name!r}, " if self.name else ""
        return f"TensorParameter({label}shape={tuple(self._shape)}, dtype={self._dtype})"
