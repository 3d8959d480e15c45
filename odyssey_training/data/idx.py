"""Read MNIST-format IDX files (plain or gzip-compressed), strictly.

The IDX format (LeCun et al., the MNIST database) is a 4-byte magic number --
two zero bytes, an element-type code and the number of dimensions -- then one
big-endian uint32 per dimension, then the elements, big-endian, in C order:

=====  ========  =====  ========
code   type      code   type
=====  ========  =====  ========
0x08   uint8     0x0C   int32
0x09   int8      0x0D   float32
0x0B   int16     0x0E   float64
=====  ========  =====  ========

A file whose size does not match its header, an unknown type code or a
corrupt gzip stream is a ValueError naming the file; nothing is ever
unpickled.  Arrays come back in native byte order.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

__all__ = ["IDX_TYPES", "read_idx", "find_mnist", "load_mnist", "MNIST_FILES"]

IDX_TYPES: dict[int, np.dtype] = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8),
                                  0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
                                  0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}

MNIST_FILES = {"train_images": ("train-images", 3), "train_labels": ("train-labels", 1),
               "test_images": ("t10k-images", 3), "test_labels": ("t10k-labels", 1)}

_CHUNK = 1 << 20


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The array stored in the IDX file ``path`` (gzip-compressed or not: the
    gzip magic bytes decide, not the suffix).

    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "labels-idx1-ubyte"
    >>> _ = f.write_bytes(bytes([0, 0, 0x08, 1, 0, 0, 0, 3, 7, 2, 1]))
    >>> read_idx(f)
    array([7, 2, 1], dtype=uint8)
    """
    path = Path(path)
    with open(path, "rb") as raw:
        compressed = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        try:
            if compressed:
                with gzip.GzipFile(fileobj=raw) as stream:
                    return _parse(path, stream, size=None)
            return _parse(path, raw, size=os.fstat(raw.fileno()).st_size)
        except (EOFError, zlib.error, gzip.BadGzipFile) as err:
            raise ValueError(f"{path}: not a valid gzip-compressed IDX file ({err})") from err


def _parse(path: Path, stream: BinaryIO, size: int | None) -> np.ndarray:
    magic = stream.read(4)
    if len(magic) < 4 or magic[:2] != b"\0\0":
        raise ValueError(f"{path}: not an IDX file (the magic number must start with two "
                         f"zero bytes, got {magic.hex() or 'an empty file'})")
    dtype = IDX_TYPES.get(magic[2])
    if dtype is None:
        known = ", ".join(f"0x{k:02X}" for k in IDX_TYPES)
        raise ValueError(f"{path}: unknown IDX element type 0x{magic[2]:02X} (known: {known})")
    ndim = magic[3]
    if ndim == 0:
        raise ValueError(f"{path}: the IDX header declares 0 dimensions")
    dims_raw = stream.read(4 * ndim)
    if len(dims_raw) < 4 * ndim:
        raise ValueError(f"{path}: truncated IDX header ({ndim} dimensions declared)")
    shape = tuple(int(d) for d in np.frombuffer(dims_raw, dtype=">u4"))
    expected = int(np.prod(shape, dtype=object)) * dtype.itemsize
    header = 4 + 4 * ndim
    if size is not None and size - header != expected:
        raise ValueError(f"{path}: the header declares shape {shape} of {dtype.name} "
                         f"({expected} bytes of data) but the file has {size - header}")
    data = bytearray()
    while len(data) <= expected:       # read one byte past the end to detect extra data
        chunk = stream.read(min(_CHUNK, expected + 1 - len(data)))
        if not chunk:
            break
        data += chunk
    if len(data) != expected:
        found = "more" if len(data) > expected else str(len(data))
        raise ValueError(f"{path}: the header declares shape {shape} of {dtype.name} "
                         f"({expected} bytes of data) but the file has {found}")
    return np.frombuffer(data, dtype=dtype).astype(dtype.newbyteorder("=")).reshape(shape)


def find_mnist(directory: str | os.PathLike) -> dict[str, Path]:
    """Paths of the four MNIST files in ``directory``: keys ``train_images``,
    ``train_labels``, ``test_images``, ``test_labels``.

    Each is found under its usual name, ``train-images-idx3-ubyte``,
    ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
    ``t10k-labels-idx1-ubyte`` (or with ``.`` before ``idx``, as some mirrors
    spell them), optionally with ``.gz``.  A missing file is a
    FileNotFoundError listing the names looked for (Fashion-MNIST uses the same
    names)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory} is not a directory")
    found, missing = {}, []
    for key, (stem, ndim) in MNIST_FILES.items():
        names = [f"{stem}{sep}idx{ndim}-ubyte{gz}" for gz in ("", ".gz") for sep in "-."]
        hits = [directory / n for n in names if (directory / n).is_file()]
        if hits:
            found[key] = hits[0]
        else:
            missing.append(names[0])
    if missing:
        raise FileNotFoundError(f"{directory}: no MNIST file {', '.join(missing)} "
                                "(optionally .gz, or with '.' before 'idx')")
    return found


def load_mnist(directory: str | os.PathLike
               ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``(x_train, y_train), (x_test, y_test)`` from the MNIST files in ``directory``
    (as ``keras.datasets.mnist.load_data``): images (N, rows, cols) and labels (N,)
    as stored (uint8 for MNIST).  Counts and ranks are checked."""
    paths = find_mnist(directory)
    arrays = {key: read_idx(path) for key, path in paths.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3:
            raise ValueError(f"{paths[f'{split}_images']}: images must have 3 dimensions "
                             f"(N, rows, cols), got shape {images.shape}")
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            raise ValueError(f"{paths[f'{split}_labels']}: labels must be a 1-D integer "
                             f"array, got shape {labels.shape} of {labels.dtype}")
        if len(images) != len(labels):
            raise ValueError(f"{directory}: {len(images)} {split} images but {len(labels)} "
                             f"{split} labels")
    return ((arrays["train_images"], arrays["train_labels"]),
            (arrays["test_images"], arrays["test_labels"]))
