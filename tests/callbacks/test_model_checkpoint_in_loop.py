"""ModelCheckpoint through a real BasicTrainingLoop: the files kept match Keras's and
Lightning's rules on the logged values, and a run resumed from one of its files
(``last.safetensors``, or a mid-epoch checkpoint) ends bit-identical to the run never
interrupted, with top-k bookkeeping continued."""

from __future__ import annotations

import os

import numpy as np
import pytest

from odyssey_training.callbacks import ModelCheckpoint
from odyssey_training.checkpoint import load_checkpoint

from .backup_run import Crash, fit, make_loop, result
from .keras_reference import checkpoint_files

TEMPLATE = "e{epoch:02d}-{val_loss:.4f}.safetensors"


def with_checkpoints(folder, crash=None, template=TEMPLATE, **kwargs):
    loop = make_loop(crash=crash, plateau=True)
    loop.add_callback(ModelCheckpoint(str(folder / template), **kwargs))
    return loop


def assert_same(got, want):
    assert got.keys() == want.keys()
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)


def test_kept_files_follow_the_rules_on_the_logged_values(tmp_path):
    loop = fit(with_checkpoints(tmp_path, save_top_k=2, save_last=True))
    values = loop.history.history["val_loss"]
    expected = checkpoint_files(values, template=TEMPLATE, mode="min", save_top_k=2,
                                save_last=True)
    assert set(os.listdir(tmp_path)) == expected[-1] and len(expected[-1]) == 3
    # the last file holds the state at the end of the last epoch, History included
    other = make_loop(plateau=True)
    other.add_callback(ModelCheckpoint(str(tmp_path / TEMPLATE), save_top_k=2, save_last=True))
    load_checkpoint(tmp_path / "last.safetensors", model=other.model,
                    optimizer=other.optimizer, loop=other)
    assert other.history.history == loop.history.history
    assert other.callbacks.callbacks[-1].kept == loop.callbacks.callbacks[-1].kept


@pytest.mark.parametrize("crash_at", [2 * 6 + 1, 3 * 6 + 4])
def test_resume_from_last_continues_the_run_and_its_top_k(tmp_path, crash_at):
    whole_dir, part_dir = tmp_path / "whole", tmp_path / "part"
    whole = fit(with_checkpoints(whole_dir, save_top_k=1, save_last=True))
    with pytest.raises(RuntimeError, match="crash"):
        fit(with_checkpoints(part_dir, crash=Crash(crash_at), save_top_k=1, save_last=True))
    resumed = with_checkpoints(part_dir, save_top_k=1, save_last=True)
    load_checkpoint(part_dir / "last.safetensors", model=resumed.model,
                    optimizer=resumed.optimizer, scheduler=resumed.scheduler, loop=resumed)
    fit(resumed)
    assert_same(result(resumed), result(whole))
    assert sorted(os.listdir(part_dir)) == sorted(os.listdir(whole_dir))


def test_resume_from_a_mid_epoch_checkpoint(tmp_path):
    whole = result(fit(make_loop(plateau=True)))
    loop = with_checkpoints(tmp_path, crash=Crash(16), template="e{epoch}-b{batch}.safetensors",
                            save_freq=5)
    with pytest.raises(RuntimeError, match="crash"):
        fit(loop)
    # saves after global batches 4, 9 and 14: epoch 3 batch 3 is e3-b3 (1-based)
    assert sorted(os.listdir(tmp_path)) == ["e1-b5.safetensors", "e2-b4.safetensors",
                                            "e3-b3.safetensors"]
    resumed = make_loop(plateau=True)
    load_checkpoint(tmp_path / "e3-b3.safetensors", model=resumed.model,
                    optimizer=resumed.optimizer, loop=resumed)
    assert resumed.resume_point() == (2, 3)
    assert_same(result(fit(resumed)), whole)
