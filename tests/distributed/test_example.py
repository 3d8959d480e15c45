"""examples/train_distributed.py prints the same epochs on 2 ranks as in one process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .launch import ROOT, TIMEOUT, mpiexec

pytestmark = pytest.mark.slow


def test_the_example_on_two_ranks_prints_what_one_process_prints(tmp_path):
    command = [sys.executable, "examples/train_distributed.py"]
    env = {**os.environ, "ODYSSEY_NUM_THREADS": "1"}
    one = subprocess.run(command + [str(tmp_path / "one")], cwd=ROOT, env=env, text=True,
                         capture_output=True, timeout=TIMEOUT)
    two = subprocess.run([mpiexec(), "-n", "2", *command, str(tmp_path / "two")], cwd=ROOT,
                         env=env, text=True, capture_output=True, timeout=TIMEOUT)
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
    epochs = [line for line in one.stdout.splitlines() if line.startswith("epoch")]
    assert len(epochs) == 5
    assert [line for line in two.stdout.splitlines() if line.startswith("epoch")] == epochs
    assert "2 rank(s)" in two.stdout and (tmp_path / "two" / "best.safetensors").exists()
