"""``Parameter``: an ndarray the optimizers update in place, with its gradient."""

from __future__ import annotations

import numpy as np

__all__ = ["Parameter", "check_array", "FLOAT_DTYPES"]

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_array(arr: object, what: str, writable: bool) -> np.ndarray:
    """``arr`` if it is a C-contiguous float32/float64 ndarray (writable when asked),
    else a TypeError/ValueError naming ``what``."""
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{what} must be a numpy.ndarray, got {type(arr).__name__}")
    if arr.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{what} has dtype {arr.dtype}; supported: float32, float64")
    if not arr.flags.c_contiguous:
        raise ValueError(f"{what} is not C-contiguous (pass np.ascontiguousarray(...) "
                         "and keep updating that array)")
    if writable and not arr.flags.writeable:
        raise ValueError(f"{what} is read-only; optimizers update parameters in place")
    return arr


class Parameter:
    """A trainable array and its gradient.

    ``data`` is updated in place by optimizers; ``grad`` is None (skipped by
    ``step``) or an array of the same shape and dtype.
    """

    __slots__ = ("data", "grad", "name")

    def __init__(self, data: np.ndarray, grad: np.ndarray | None = None,
                 name: str | None = None) -> None:
        self.data = check_array(data, f"Parameter {name or ''}".rstrip() + " data", writable=True)
        self.grad = grad
        self.name = name

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def zero_grad(self, set_to_none: bool = True) -> None:
        if set_to_none or self.grad is None:
            self.grad = None
        else:
            self.grad.fill(0)

    def __repr__(self) -> str:
        label = f"{self.name!r}, " if self.name else ""
        return f"Parameter({label}shape={self.data.shape}, dtype={self.data.dtype})"
