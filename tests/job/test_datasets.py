"""The embedded digits (equal to scikit-learn's copy), the seeded stratified split,
the scaling, and MNIST-format IDX directories."""

import zipfile
from importlib import resources

import numpy as np
import pytest

from odyssey_training.job.config import ConfigError
from odyssey_training.job.datasets import load_dataset, load_digits, stratified_split
from tests.job.helpers import write_mnist

pytestmark = pytest.mark.nokernel


def test_embedded_digits_equal_sklearns_copy():
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    ref = sklearn_datasets.load_digits()
    images, labels = load_digits()
    assert images.shape == (1797, 8, 8) and images.dtype == np.uint8
    assert labels.shape == (1797,) and labels.dtype == np.uint8
    np.testing.assert_array_equal(images.reshape(1797, 64), ref.data)
    np.testing.assert_array_equal(labels, ref.target)
    np.testing.assert_array_equal(images, ref.images)


def test_embedded_file_holds_plain_arrays_with_attribution():
    folder = resources.files("odyssey_training.job") / "data"
    with (folder / "digits.npz").open("rb") as f, zipfile.ZipFile(f) as archive:
        assert sorted(archive.namelist()) == ["images.npy", "labels.npy"]
    readme = (folder / "README.md").read_text(encoding="utf-8")
    for needed in ("Alpaydin", "Kaynak", "CC BY 4.0", "UCI", "tools/make_digits_npz.py"):
        assert needed in readme


def test_split_is_stratified_seeded_and_disjoint():
    _, labels = load_digits()
    train, val = stratified_split(labels, 0.2, seed=3)
    again_train, again_val = stratified_split(labels, 0.2, seed=3)
    np.testing.assert_array_equal(train, again_train)
    np.testing.assert_array_equal(val, again_val)
    assert not np.array_equal(val, stratified_split(labels, 0.2, seed=4)[1])
    assert np.intersect1d(train, val).size == 0
    np.testing.assert_array_equal(np.union1d(train, val), np.arange(len(labels)))
    for c in range(10):
        n_c = int((labels == c).sum())
        assert int((labels[val] == c).sum()) == round(0.2 * n_c)


def test_split_keeps_a_training_sample_per_class():
    labels = np.array([0, 0, 1, 1, 1])
    train, val = stratified_split(labels, 0.99, seed=0)
    assert set(labels[train]) == {0, 1} and len(val) == 3


def test_digits_scaled_with_training_statistics():
    data = load_dataset("digits", 0.2, seed=0)
    images, labels = load_digits()
    train, val = stratified_split(labels, 0.2, seed=0)
    raw_train = images[train].astype(np.float64) / 16
    mean, std = raw_train.mean(), raw_train.std()
    np.testing.assert_allclose(data.x_train, (raw_train - mean) / std, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(data.x_val, (images[val] / 16 - mean) / std, rtol=1e-5,
                               atol=1e-5)
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    np.testing.assert_array_equal(data.y_val, labels[val])
    assert data.num_classes == 10 and data.scaling["scale"] == 16.0
    assert "1438 training / 359 validation" in data.describe()


def test_idx_directory_trains_on_train_and_validates_on_t10k(tmp_path):
    write_mnist(tmp_path, n_train=30, n_test=12, side=5, classes=4)
    data = load_dataset(str(tmp_path), 0.2, seed=0)
    assert data.x_train.shape == (30, 5, 5) and data.x_val.shape == (12, 5, 5)
    assert data.num_classes == 4 and data.scaling["scale"] == 255.0
    assert abs(float(data.x_train.mean())) < 1e-5 and abs(float(data.x_train.std()) - 1) < 1e-4


def test_bad_data_directories_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="not a directory"):
        load_dataset(str(tmp_path / "missing"), 0.2, 0)
    with pytest.raises(ConfigError, match="train-images-idx3-ubyte"):
        load_dataset(str(tmp_path), 0.2, 0)
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"\0\0\x08\x01\0\0\0\x09abc")
    with pytest.raises(ConfigError, match="t10k-labels"):
        load_dataset(str(tmp_path), 0.2, 0)
