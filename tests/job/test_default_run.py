"""The main job's promise: on the embedded digits the default MLP reaches at least 97%
validation accuracy.  A 15-epoch run per seed here (a few seconds); the full default
run, exactly as README's first command starts it, in the slow test."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.job.helpers import run_cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_short_default_run_reaches_97_percent(tmp_path, seed, no_plots):
    code, _, err = run_cli("--epochs", "15", "--seed", str(seed), "--quiet",
                           "--run-dir", str(tmp_path / "run"))
    assert code == 0, err
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["val_accuracy"] >= 0.97, summary
    assert summary["val_f1"] >= 0.97, summary


@pytest.mark.slow
def test_odyssey_train_with_no_arguments(tmp_path):
    """``python -m odyssey_training`` in an empty folder with a cold kernel cache."""
    env = {**os.environ, "ODYSSEY_CACHE_DIR": str(tmp_path / "cache"),
           "PYTHONPATH": str(ROOT)}
    (tmp_path / "work").mkdir()
    done = subprocess.run([sys.executable, "-m", "odyssey_training"], cwd=tmp_path / "work",
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    accuracy = float(re.search(r"val accuracy\s+([0-9.]+)", done.stdout).group(1))
    assert accuracy >= 0.97, done.stdout
    run_dir = tmp_path / "work" / "runs" / "run-001"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["epochs"] == 40 and summary["val_accuracy"] == pytest.approx(accuracy,
                                                                               abs=5e-5)
    assert done.stderr == ""          # no warnings, and the bar is silent off a terminal
