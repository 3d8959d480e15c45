"""IDX reader: files written here byte by byte from the format's description
(magic, big-endian dims, big-endian data), plain and gzipped; every kind of
damage is a ValueError naming the file."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from odyssey_training.data import find_mnist, load_mnist, read_idx

pytestmark = pytest.mark.nokernel

CODES = {np.uint8: (0x08, "B"), np.int8: (0x09, "b"), np.int16: (0x0B, "h"),
         np.int32: (0x0C, "i"), np.float32: (0x0D, "f"), np.float64: (0x0E, "d")}


def idx_bytes(values: np.ndarray) -> bytes:
    """IDX encoding with struct (independent of the reader's NumPy byte-order path)."""
    code, fmt = CODES[values.dtype.type]
    head = bytes([0, 0, code, values.ndim]) + struct.pack(f">{values.ndim}I", *values.shape)
    return head + struct.pack(f">{values.size}{fmt}", *values.ravel().tolist())


def write(path, values: np.ndarray, compress: bool = False):
    data = idx_bytes(values)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@pytest.mark.parametrize("dtype", list(CODES))
@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4), (0, 2)])
def test_round_trip(tmp_path, dtype, compress, shape):
    rng = np.random.default_rng(0)
    if np.dtype(dtype).kind == "f":
        values = (rng.standard_normal(shape) * 1e3).astype(dtype)
    else:
        info = np.iinfo(dtype)
        values = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    got = read_idx(write(tmp_path / "a", values, compress))
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative and got.shape == shape
    assert got.flags.c_contiguous and got.flags.writeable
    np.testing.assert_array_equal(got, values)


def test_gzip_is_detected_by_content_not_name(tmp_path):
    values = np.arange(6, dtype=np.int32).reshape(2, 3)
    np.testing.assert_array_equal(read_idx(write(tmp_path / "plain.gz", values)), values)
    np.testing.assert_array_equal(read_idx(write(tmp_path / "packed", values, True)), values)


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("damage, match", [
    (lambda b: b[:-1], r"\(3 bytes of data\) but the file has 2"),
    (lambda b: b + b"\0", r"\(3 bytes of data\) but the file has (4|more)"),
    (lambda b: b"\1" + b[1:], "not an IDX file"),
    (lambda b: b[:2] + b"\x0A" + b[3:], "unknown IDX element type 0x0A"),
    (lambda b: b[:3] + b"\0" + b[4:], "declares 0 dimensions"),
    (lambda b: b[:3] + b"\2" + b[4:6], "truncated IDX header"),
    (lambda b: b"", "an empty file"),
])
def test_damaged_files_are_refused(tmp_path, compress, damage, match):
    data = damage(idx_bytes(np.array([1, 2, 3], np.uint8)))
    path = tmp_path / "bad"
    path.write_bytes(gzip.compress(data) if compress else data)
    with pytest.raises(ValueError, match=match) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_lying_header_is_refused_without_allocating_it(tmp_path):
    head = bytes([0, 0, 0x0E, 3]) + struct.pack(">3I", 2**31, 2**31, 2**31)
    for compress in (False, True):
        path = tmp_path / f"huge{compress}"
        path.write_bytes(gzip.compress(head + b"\0" * 64) if compress else head + b"\0" * 64)
        with pytest.raises(ValueError, match="but the file has"):
            read_idx(path)


def test_corrupt_gzip_stream(tmp_path):
    packed = gzip.compress(idx_bytes(np.arange(100, dtype=np.uint8)))
    (tmp_path / "cut").write_bytes(packed[:-12])
    with pytest.raises(ValueError, match="not a valid gzip-compressed IDX file"):
        read_idx(tmp_path / "cut")
    broken = bytearray(packed)
    broken[20] ^= 0xFF
    (tmp_path / "flip").write_bytes(bytes(broken))
    with pytest.raises(ValueError, match="cut|flip"):
        read_idx(tmp_path / "flip")


def write_mnist(directory, n_train=5, n_test=3, spelling="-", compress=False):
    rng = np.random.default_rng(1)
    arrays = {"train-images": rng.integers(0, 256, (n_train, 4, 4), dtype=np.uint8),
              "train-labels": rng.integers(0, 10, n_train, dtype=np.uint8),
              "t10k-images": rng.integers(0, 256, (n_test, 4, 4), dtype=np.uint8),
              "t10k-labels": rng.integers(0, 10, n_test, dtype=np.uint8)}
    for stem, values in arrays.items():
        name = f"{stem}{spelling}idx{values.ndim}-ubyte" + (".gz" if compress else "")
        write(directory / name, values, compress)
    return arrays


@pytest.mark.parametrize("spelling, compress", [("-", False), ("-", True), (".", False)])
def test_load_mnist(tmp_path, spelling, compress):
    arrays = write_mnist(tmp_path, spelling=spelling, compress=compress)
    (x_train, y_train), (x_test, y_test) = load_mnist(tmp_path)
    for got, stem in ((x_train, "train-images"), (y_train, "train-labels"),
                      (x_test, "t10k-images"), (y_test, "t10k-labels")):
        np.testing.assert_array_equal(got, arrays[stem])
    assert set(find_mnist(tmp_path)) == {"train_images", "train_labels", "test_images",
                                         "test_labels"}


def test_missing_and_inconsistent_mnist(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a directory"):
        find_mnist(tmp_path / "nope")
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        load_mnist(tmp_path)
    write(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(4, np.uint8))
    with pytest.raises(ValueError, match="3 test images but 4 test labels"):
        load_mnist(tmp_path)
    write(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="1-D integer array"):
        load_mnist(tmp_path)
    write(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(3, np.uint8))
    write(tmp_path / "train-images-idx3-ubyte", np.zeros((5, 16), np.uint8))
    with pytest.raises(ValueError, match=r"3 dimensions.*\(5, 16\)"):
        load_mnist(tmp_path)
