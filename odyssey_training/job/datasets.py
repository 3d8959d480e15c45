"""The main job's data: the embedded UCI digits, or MNIST-format IDX files.

Both end as float32 images ``(N, H, W)`` and int64 labels, split into training
and validation sets and scaled the same way:

* **digits** (``source = "digits"``, the default): the 1,797 8x8 images shipped in
  ``data/digits.npz`` (see ``data/README.md`` for attribution and license).  The
  validation set is a stratified, seeded share ``val_fraction`` of each class
  (:func:`stratified_split`).
* **IDX** (``source = DIR``): ``train-*`` files train, ``t10k-*`` files validate
  (:func:`odyssey_training.data.load_mnist`).

Scaling: pixels are divided by their range (16 for the digits, the integer type's
maximum for IDX files, e.g. 255), then standardized with one mean and standard
deviation over all pixels of the *training* images (a single pair: per-pixel
statistics blow up the border pixels, which are almost always blank).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from .config import ConfigError

__all__ = ["Dataset", "load_dataset", "load_digits", "stratified_split", "DIGITS_FILE"]

DIGITS_FILE = "data/digits.npz"


@dataclass(frozen=True)
class Dataset:
    """Training and validation arrays, ready for the model."""

    name: str                      # "digits" or the IDX directory
    x_train: np.ndarray            # (N, H, W) float32, standardized
    y_train: np.ndarray            # (N,) int64
    x_val: np.ndarray
    y_val: np.ndarray
    num_classes: int
    #: how the raw pixels p were scaled: (p / scale - mean) / std
    scaling: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        return (f"{self.name}: {len(self.y_train)} training / {len(self.y_val)} validation "
                f"images of {'x'.join(map(str, self.x_train.shape[1:]))}, "
                f"{self.num_classes} classes")


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The embedded digits: ``images`` (1797, 8, 8) uint8 in 0..16 and ``labels`` (1797,)
    uint8 in 0..9 (read with ``allow_pickle=False``)."""
    source = resources.files("odyssey_training.job").joinpath(DIGITS_FILE)
    with source.open("rb") as f, np.load(f, allow_pickle=False) as archive:
        return archive["images"], archive["labels"]


def stratified_split(labels: np.ndarray, fraction: float, seed: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """``(train_index, val_index)``, both sorted: for each class ``c`` (ascending), the
    first ``round(fraction * n_c)`` of ``np.random.default_rng(seed)``'s permutation of
    that class's indices validate, the rest train.  Every class keeps at least one
    training sample."""
    rng = np.random.default_rng(seed)
    val = []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        take = min(int(round(fraction * len(members))), len(members) - 1)
        val.append(members[:take])
    val_index = np.sort(np.concatenate(val))
    keep = np.ones(len(labels), bool)
    keep[val_index] = False
    return np.flatnonzero(keep), val_index


def _scale(train: np.ndarray, val: np.ndarray, scale: float
           ) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    x_train = train.astype(np.float32) / np.float32(scale)
    x_val = val.astype(np.float32) / np.float32(scale)
    mean = np.float32(x_train.mean(dtype=np.float64))
    std = np.float32(x_train.std(dtype=np.float64)) or np.float32(1.0)
    for x in (x_train, x_val):
        x -= mean
        x /= std
    return x_train, x_val, {"scale": float(scale), "mean": float(mean), "std": float(std)}


def _digits(val_fraction: float, seed: int) -> Dataset:
    images, labels = load_digits()
    train, val = stratified_split(labels, val_fraction, seed)
    if len(val) == 0:
        raise ConfigError(f"[data] val_fraction {val_fraction} leaves no validation images")
    x_train, x_val, scaling = _scale(images[train], images[val], 16.0)
    y = labels.astype(np.int64)
    return Dataset("digits", x_train, y[train], x_val, y[val], 10, scaling)


def _idx(directory: Path) -> Dataset:
    from ..data import load_mnist
    try:
        (x_train, y_train), (x_val, y_val) = load_mnist(directory)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--data {directory}: {exc}") from None
    if x_train.shape[1:] != x_val.shape[1:]:
        raise ConfigError(f"--data {directory}: training images are {x_train.shape[1:]} but "
                          f"validation images are {x_val.shape[1:]}")
    if x_train.dtype.kind not in "iu":
        raise ConfigError(f"--data {directory}: images must hold integer pixels, got "
                          f"{x_train.dtype}")
    if len(y_train) == 0 or len(y_val) == 0:
        raise ConfigError(f"--data {directory}: the training and the validation files must "
                          "each hold at least one image")
    low = min(int(y_train.min()), int(y_val.min()))
    if low < 0:
        raise ConfigError(f"--data {directory}: labels must be >= 0, found {low}")
    num_classes = max(int(y_train.max()), int(y_val.max())) + 1
    x_train, x_val, scaling = _scale(x_train, x_val, float(np.iinfo(x_train.dtype).max))
    return Dataset(str(directory), x_train, y_train.astype(np.int64), x_val,
                   y_val.astype(np.int64), max(num_classes, 2), scaling)


def load_dataset(source: str, val_fraction: float, seed: int) -> Dataset:
    """The data named by ``[data] source``: ``"digits"`` or a directory of IDX files."""
    if source == "digits":
        return _digits(val_fraction, seed)
    directory = Path(source)
    if not directory.is_dir():
        raise ConfigError(f"--data {source}: not a directory (expected MNIST-format IDX "
                          "files, or 'digits' for the embedded data)")
    return _idx(directory)
