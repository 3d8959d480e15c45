"""``mpiexec -n 2 odyssey-train``: the main job on two ranks is the one-process job
(every logged value), written once by rank 0; a setup error stops both ranks."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .launch import ROOT, TIMEOUT, mpiexec

pytestmark = pytest.mark.slow
SHORT = ("--epochs", "2", "--hidden", "32", "--quiet")
COLUMNS = ("loss", "accuracy", "f1", "lr", "val_loss", "val_accuracy", "val_f1")


def odyssey_train(ranks: int | None, *args: str) -> subprocess.CompletedProcess:
    train = str(Path(sys.executable).parent / "odyssey-train")
    command = [train, *args] if ranks is None else [mpiexec(), "-n", str(ranks), train, *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT,
                          env={**os.environ, "ODYSSEY_NUM_THREADS": "1"})


def logged(run_dir: Path) -> dict[str, list[float]]:
    with open(run_dir / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {key: [float(row[key]) for row in rows] for key in COLUMNS}


def test_two_ranks_run_the_one_process_job(tmp_path):
    mpiexec()
    one, two = tmp_path / "one", tmp_path / "two"
    single = odyssey_train(None, *SHORT, "--run-dir", str(one))
    assert single.returncode == 0, single.stderr
    double = odyssey_train(2, *SHORT, "--run-dir", str(two))
    assert double.returncode == 0, double.stderr
    assert double.stdout.count("val accuracy") == 1          # rank 0 reports, once
    want, got = logged(one), logged(two)
    for key in COLUMNS:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-6, err_msg=key)
    assert (two / "summary.json").exists() and (two / "checkpoints" / "last.safetensors").exists()


def test_a_setup_error_stops_every_rank(tmp_path):
    mpiexec()
    result = odyssey_train(2, *SHORT, "--batch-size", "33", "--run-dir", str(tmp_path / "r"))
    assert result.returncode == 2
    assert "batch_size 33 is the global batch; it must be a multiple of the 2 ranks" \
        in result.stderr
