"""Running the main job in-process for the tests, and tiny MNIST-format IDX files."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np

from odyssey_training.job.cli import main
from tests.data.test_idx import idx_bytes

#: a short run of the default job (a few seconds)
SHORT = ("--epochs", "3", "--hidden", "32", "--quiet")


def run_cli(*argv: str, callbacks=()) -> tuple[int, str, str]:
    """``(exit code, stdout, stderr)`` of ``odyssey-train argv`` run in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv), callbacks=callbacks)
        except SystemExit as exc:           # argparse's own errors
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def write_mnist(directory: Path, n_train: int = 60, n_test: int = 20, side: int = 6,
                classes: int = 3, seed: int = 0) -> None:
    """Four IDX files of a learnable toy problem: class c lights up row c of the image."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    for stem, n in (("train", n_train), ("t10k", n_test)):
        labels = (np.arange(n) % classes).astype(np.uint8)
        images = rng.integers(0, 60, (n, side, side)).astype(np.uint8)
        images[np.arange(n), labels, :] = 250
        (directory / f"{stem}-images-idx3-ubyte").write_bytes(idx_bytes(images))
        (directory / f"{stem}-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
