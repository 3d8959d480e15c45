"""Checking and normalizing what ``update(preds, targets)`` receives.

Accepted (anything ``numpy.asarray`` takes: lists, arrays, CPU torch tensors):

* ``preds`` ``(N, C)`` float scores (logits or probabilities; float16 is widened
  to float32), with ``C == num_classes``        -> kind ``"scores"``;
* ``preds`` ``(N,)`` integer (or bool) labels    -> kind ``"labels"``;
* ``preds`` ``(N,)`` float scores of the positive class, thresholded by the
  metric's ``threshold``; needs ``num_classes == 2`` -> kind ``"binary"``;
* ``targets`` ``(N,)`` integer (or bool) labels in ``[0, C)``.

Labels reach the kernels as int32 or int64 (other integer types are widened, a
copy of ``N`` values); non-contiguous arrays are copied.  Everything else is a
``TypeError`` (wrong kind of data) or ``ValueError`` (wrong shape or value)
raised before any state changes.  Range and NaN checks happen in the kernels.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["prepare", "check_num_classes", "check_threshold", "check_nan_policy",
           "NAN_POLICIES", "MAX_CLASSES"]

NAN_POLICIES = ("raise", "max")
#: class numbers travel as int32 lanes inside the kernels
MAX_CLASSES = 2**31 - 1
_LABEL_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))
_SCORE_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_num_classes(num_classes: object) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise TypeError(f"num_classes must be an int, got {num_classes!r}")
    if not 1 <= int(num_classes) <= MAX_CLASSES:
        raise ValueError(f"num_classes must be in [1, {MAX_CLASSES}], got {num_classes}")
    return int(num_classes)


def check_threshold(threshold: object) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating,
                                                                  np.integer)):
        raise TypeError(f"threshold must be a number, got {threshold!r}")
    if math.isnan(float(threshold)):
        raise ValueError("threshold must not be NaN")
    return float(threshold)


def check_nan_policy(nan_policy: object) -> str:
    if nan_policy not in NAN_POLICIES:
        raise ValueError(f"nan_policy must be one of {NAN_POLICIES}, got {nan_policy!r}")
    return str(nan_policy)


def _labels(arr: np.ndarray, what: str) -> np.ndarray:
    if arr.dtype in _LABEL_DTYPES:
        return arr if arr.flags.c_contiguous else np.ascontiguousarray(arr)
    if arr.dtype.kind in "iub":
        if arr.dtype == np.uint64 and arr.size and arr.max() > np.iinfo(np.int64).max:
            raise ValueError(f"{what} has labels beyond the int64 range")
        return np.ascontiguousarray(arr, dtype=np.int64)
    raise TypeError(f"{what} must hold integer class labels, got dtype {arr.dtype}")


def _scores(arr: np.ndarray, what: str) -> np.ndarray:
    if arr.dtype in _SCORE_DTYPES:
        return arr if arr.flags.c_contiguous else np.ascontiguousarray(arr)
    if arr.dtype == np.float16:
        return np.ascontiguousarray(arr, dtype=np.float32)
    raise TypeError(f"{what} must hold float scores (float16/32/64), got dtype {arr.dtype}")


def prepare(preds: object, targets: object, num_classes: int) -> tuple[str, np.ndarray,
                                                                      np.ndarray]:
    """``(kind, preds, targets)`` ready for a kernel; see the module docstring."""
    preds = preds if isinstance(preds, np.ndarray) else np.asarray(preds)
    targets = targets if isinstance(targets, np.ndarray) else np.asarray(targets)
    if targets.ndim != 1:
        raise ValueError(f"targets must be 1-D (N,) class labels, got shape {targets.shape}")
    targets = _labels(targets, "targets")
    if preds.ndim not in (1, 2):
        raise ValueError(f"preds must be (N, C) scores or (N,) labels/scores, got shape "
                         f"{preds.shape}")
    if preds.shape[:1] != targets.shape:
        raise ValueError(f"preds has {preds.shape[0] if preds.ndim else 'no'} rows but "
                         f"targets has {targets.shape[0]} (preds shape {preds.shape})")
    if preds.ndim == 2:
        if preds.shape[1] != num_classes:
            raise ValueError(f"preds has {preds.shape[1]} columns but num_classes is "
                             f"{num_classes} (expected shape (N, {num_classes}))")
        return "scores", _scores(preds, "(N, C) preds"), targets
    if preds.dtype.kind in "iub":
        return "labels", _labels(preds, "(N,) preds"), targets
    if preds.dtype.kind == "f":
        if num_classes != 2:
            raise ValueError(f"(N,) float preds are binary scores and need num_classes=2 "
                             f"(got {num_classes}); pass (N, C) scores or integer labels")
        return "binary", _scores(preds, "(N,) preds"), targets
    raise TypeError(f"preds must hold float scores or integer labels, got dtype {preds.dtype}")
