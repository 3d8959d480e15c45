"""``odyssey-train --resume RUN_DIR`` continues an interrupted run exactly: the final
weights, optimizer state and logs equal those of a run never interrupted, whether
the run died by an exception (in this process) or by SIGKILL (a subprocess)."""

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from odyssey_training.callbacks import LambdaCallback
from odyssey_training.checkpoint import read_checkpoint
from tests.job.helpers import run_cli

ROOT = Path(__file__).resolve().parents[2]
ARGS = ("--epochs", "4", "--hidden", "24", "--batch-size", "64", "--patience", "1",
        "--quiet")
#: columns that measure time, which differs between runs
TIMED = ("samples_per_sec", "batches_per_sec")


class Crash(Exception):
    pass


def crash_at(epoch: int, batch: int):
    state = {}

    def begin(e, logs):
        state["epoch"] = e

    def after_batch(b, logs):
        if state["epoch"] == epoch and b == batch:
            raise Crash(f"crash at epoch {epoch}, batch {batch}")
    return LambdaCallback(on_epoch_begin=begin, on_train_batch_end=after_batch)


def final_state(run_dir: Path) -> dict:
    return read_checkpoint(run_dir / "checkpoints" / "last.safetensors")


def assert_same_run(a: Path, b: Path) -> None:
    sa, sb = final_state(a), final_state(b)
    assert sorted(sa["params"]) == sorted(sb["params"])
    for key in sa["params"]:
        np.testing.assert_array_equal(sa["params"][key], sb["params"][key], err_msg=key)
    for index, buffers in sa["optimizer"]["state"].items():
        for name, value in buffers.items():
            np.testing.assert_array_equal(value, sb["optimizer"]["state"][index][name])
    assert sa["scheduler"] == sb["scheduler"]

    def rows(run):
        with open(run / "metrics.csv") as f:
            return [{k: v for k, v in r.items() if k not in TIMED and not k.startswith("time/")}
                    for r in csv.DictReader(f)]
    assert rows(a) == rows(b)
    assert sorted(p.name for p in (a / "checkpoints").iterdir()) == \
        sorted(p.name for p in (b / "checkpoints").iterdir())


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("resume") / "whole"
    code, _, err = run_cli(*ARGS, "--run-dir", str(run_dir))
    assert code == 0, err
    return run_dir


def test_resume_after_an_exception_mid_epoch(uninterrupted, tmp_path, no_plots):
    run_dir = tmp_path / "run"
    code, _, err = run_cli(*ARGS, "--run-dir", str(run_dir), callbacks=[crash_at(2, 5)])
    assert code == 1
    assert "crash at epoch 2, batch 5" in err and f"--resume {run_dir}" in err
    assert read_checkpoint(run_dir / "checkpoints" / "last.safetensors")["loop"]["epoch"] == 2
    assert not (run_dir / "summary.json").exists()
    code, out, err = run_cli("--resume", str(run_dir), "--quiet")
    assert code == 0, err
    assert "resumed at epoch 3" in out
    assert_same_run(uninterrupted, run_dir)


def test_resume_before_the_first_checkpoint_starts_over(uninterrupted, tmp_path, no_plots):
    run_dir = tmp_path / "run"
    code, _, _ = run_cli(*ARGS, "--run-dir", str(run_dir), callbacks=[crash_at(0, 3)])
    assert code == 1 and not (run_dir / "checkpoints").exists()
    code, out, err = run_cli("--resume", str(run_dir))
    assert code == 0, err
    assert "no checkpoint yet; starting the run over" in err
    assert_same_run(uninterrupted, run_dir)


KILLER = """
import os, signal, sys
from odyssey_training.callbacks import LambdaCallback
from odyssey_training.job.cli import main

def die(epoch, logs):
    if epoch == int(os.environ["KILL_AT_EPOCH"]):
        os.kill(os.getpid(), signal.SIGKILL)

sys.exit(main(sys.argv[1:], callbacks=[LambdaCallback(on_epoch_begin=die)]))
"""


@pytest.mark.slow
def test_resume_after_sigkill_in_a_subprocess(uninterrupted, tmp_path):
    run_dir = tmp_path / "run"
    env = {**os.environ, "KILL_AT_EPOCH": "3", "PYTHONPATH": str(ROOT)}
    killed = subprocess.run([sys.executable, "-c", KILLER, *ARGS, "--run-dir", str(run_dir)],
                            env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    # checkpoints are written before the next epoch begins: the last one is epoch 3's
    saved = read_checkpoint(run_dir / "checkpoints" / "last.safetensors")["loop"]["epoch"]
    assert saved == 3
    resumed = subprocess.run([sys.executable, "-m", "odyssey_training", "--resume",
                              str(run_dir)], env=env, capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed at epoch {saved + 1}" in resumed.stdout
    assert_same_run(uninterrupted, run_dir)
