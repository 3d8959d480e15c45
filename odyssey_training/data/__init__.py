"""Data for the training loops: :class:`ArrayLoader` (seeded, resumable
mini-batches over arrays, sharded by rank) and readers for MNIST-format IDX
files (:mod:`odyssey_training.data.idx`)."""

from .base import Loader
from .idx import find_mnist, load_mnist, read_idx
from .loader import ArrayLoader, epoch_order

__all__ = ["Loader", "ArrayLoader", "epoch_order", "read_idx", "find_mnist", "load_mnist"]
