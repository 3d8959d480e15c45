"""Rebuild ``odyssey_training/job/data/digits.npz`` (the main job's embedded data)
from scikit-learn's copy of the UCI 8x8 handwritten digits.

    python tools/make_digits_npz.py            # writes the file in the package
    python tools/make_digits_npz.py OUT.npz    # writes OUT.npz instead

The source is ``sklearn/datasets/data/digits.csv.gz``: 1,797 rows of 64 pixel
counts (0..16, row-major 8x8) followed by the label (0..9).  The result holds two
uint8 arrays, ``images`` (1797, 8, 8) and ``labels`` (1797,), in row order, saved
with ``np.savez_compressed`` (no pickled objects: it loads with
``allow_pickle=False``).  The arrays are reproducible bit for bit; the zip
container's timestamps are not.  Attribution and license: the README.md next to
the file.
"""

from __future__ import annotations

import gzip
import os
import sys
from importlib import resources
from pathlib import Path

import numpy as np

TARGET = Path(__file__).resolve().parents[1] / "odyssey_training" / "job" / "data" / "digits.npz"


def read_sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """``(images (1797, 8, 8) uint8, labels (1797,) uint8)`` from scikit-learn's CSV."""
    source = resources.files("sklearn.datasets") / "data" / "digits.csv.gz"
    with source.open("rb") as raw, gzip.open(raw, "rt", encoding="ascii") as text:
        table = np.loadtxt(text, delimiter=",", dtype=np.int64)
    if table.shape != (1797, 65) or table[:, :64].min() < 0 or table[:, :64].max() > 16 \
            or not set(np.unique(table[:, 64])) <= set(range(10)):
        raise ValueError(f"{source}: not the 1797 x (64 pixels + label) digits table")
    images = table[:, :64].astype(np.uint8).reshape(-1, 8, 8)
    labels = table[:, 64].astype(np.uint8)
    return images, labels


def write(path: Path) -> None:
    images, labels = read_sklearn_digits()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez_compressed(f, images=images, labels=labels)
    os.replace(tmp, path)
    print(f"wrote {path} ({path.stat().st_size} bytes): images {images.shape} {images.dtype}, "
          f"labels {labels.shape} {labels.dtype}")


if __name__ == "__main__":
    write(Path(sys.argv[1]) if len(sys.argv) > 1 else TARGET)
