"""BackupAndRestore: a run that crashed (an exception from a callback, or a
SIGKILLed process) and is started again with the same backup directory ends with
parameters, optimizer state and history bit-identical to a run never interrupted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from odyssey_training.callbacks import BackupAndRestore
from odyssey_training.checkpoint import load_checkpoint, read_checkpoint

from .backup_run import Crash, fit, make_loop, result

ROOT = Path(__file__).resolve().parents[2]
BATCHES = 6                     # per epoch in backup_run


_WHOLE: dict[bool, dict] = {}


def whole(plateau=False):
    """The uninterrupted run's result (computed once per recipe)."""
    if plateau not in _WHOLE:
        _WHOLE[plateau] = result(fit(make_loop(plateau=plateau)))
    return _WHOLE[plateau]


def assert_same(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)


def crash_then_resume(tmp_path, save_freq, at, plateau=False):
    backup = tmp_path / "backup"
    with pytest.raises(RuntimeError, match="crash"):
        fit(make_loop(backup, save_freq, crash=Crash(at), plateau=plateau))
    assert (backup / "latest.safetensors").exists()
    # a new model, optimizer, scheduler, loader and loop: only the backup carries over
    loop = fit(make_loop(backup, save_freq, plateau=plateau))
    assert not backup.exists()                      # deleted after a successful run
    return loop


def test_the_recipes_are_worth_resuming():
    # both runs stop early (EarlyStopping at epoch 4 of 8, best weights restored);
    # the lr moves with StepLR in one and with ReduceLROnPlateau in the other
    for plateau in (False, True):
        assert len(whole(plateau)["history/loss"]) == 5
    assert list(whole(True)["history/lr"]) == [0.05] * 4 + [0.025]
    assert whole(False)["lr"] < 0.05 * 0.7


@pytest.mark.parametrize("plateau", [False, True])
@pytest.mark.parametrize("at", [BATCHES * 1, BATCHES * 3 + 3, BATCHES * 4 + 5])
def test_epoch_backups_resume_bit_identical(tmp_path, at, plateau):
    assert_same(result(crash_then_resume(tmp_path, "epoch", at, plateau)), whole(plateau))


@pytest.mark.parametrize("save_freq, at, plateau", [
    (3, 4, False),              # the backup holds half an accumulation (micro_step 1)
    (3, 13, True),              # the last backup fell on the last batch of an epoch
    (5, 2 * BATCHES + 1, False),
    (4, 21, True)])
def test_mid_epoch_backups_resume_bit_identical(tmp_path, save_freq, at, plateau):
    assert_same(result(crash_then_resume(tmp_path, save_freq, at, plateau)), whole(plateau))


def test_same_loop_object_fits_again_as_keras(tmp_path):
    backup = tmp_path / "b"
    crash = Crash(BATCHES * 2 + 2)
    loop = make_loop(backup, 4, crash=crash)
    with pytest.raises(RuntimeError):
        fit(loop)
    crash.at = -1
    assert_same(result(fit(loop)), whole())


@pytest.mark.parametrize("save_freq, kills", [("4", (7, 2 * BATCHES + 4)),
                                               ("epoch", (2 * BATCHES + 1,))])
def test_a_sigkilled_process_resumes_bit_identical(tmp_path, save_freq, kills):
    backup, out = tmp_path / "backup", tmp_path / "out.npz"
    command = [sys.executable, "-m", "tests.callbacks.backup_run", str(backup), str(out),
               save_freq]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for kill_at in kills:                           # killed (once or twice), then to the end
        done = subprocess.run(command + [str(kill_at)], cwd=ROOT, env=env,
                              capture_output=True, timeout=300)
        assert done.returncode == -9, done.stderr.decode()
        assert (backup / "latest.safetensors").exists() and not out.exists()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    with np.load(out) as got:
        assert_same(dict(got), whole())
    assert not backup.exists()


def test_the_previous_backup_survives_a_failed_write(tmp_path, monkeypatch):
    backup = tmp_path / "backup"
    loop = make_loop(backup, "epoch", crash=Crash(BATCHES + 2), delete_checkpoint=False)
    with pytest.raises(RuntimeError):
        fit(loop)
    before = (backup / "latest.safetensors").read_bytes()
    import safetensors.numpy

    def torn(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.numpy, "save_file", torn)
    with pytest.raises(OSError, match="disk full"):
        fit(make_loop(backup, "epoch", delete_checkpoint=False))
    assert (backup / "latest.safetensors").read_bytes() == before
    assert os.listdir(backup) == ["latest.safetensors"]
    assert read_checkpoint(backup / "latest.safetensors")["loop"]["epoch"] == 1


def test_delete_checkpoint_false_keeps_the_last_epochs_backup(tmp_path):
    backup = tmp_path / "keep"
    first = fit(make_loop(backup, "epoch", delete_checkpoint=False))
    assert_same(result(first), whole())
    other = make_loop()
    load_checkpoint(backup / "latest.safetensors", model=other.model,
                    optimizer=other.optimizer, scheduler=other.scheduler, loop=other)
    assert other.resume_point() == (5, 0) and other.global_step == first.global_step
    assert other.history.history == first.history.history


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="Empty `backup_dir`"):
        BackupAndRestore("")
    with pytest.raises(ValueError, match="save_freq"):
        BackupAndRestore(tmp_path, save_freq="batch")
    with pytest.raises(ValueError, match="save_freq must be >= 1"):
        BackupAndRestore(tmp_path, save_freq=0)
    with pytest.raises(TypeError, match="delete_checkpoint"):
        BackupAndRestore(tmp_path, delete_checkpoint="yes")
    with pytest.raises(TypeError, match="backup_dir"):
        BackupAndRestore(None)
