"""Exact resume of BasicTrainingLoop through a checkpoint file: 2N batches in one
process equal N batches + save + process death + load in a new process + the
rest, bit for bit (parameters, optimizer state, every log), also when the save
falls mid-epoch and mid-accumulation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from odyssey_training.checkpoint import read_checkpoint

ROOT = Path(__file__).resolve().parents[2]


def job(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "tests.loops.resume_job", *map(str, args)],
                   cwd=ROOT, check=True, timeout=120)


@pytest.mark.parametrize("accum, after", [(1, 7), (1, 10), (2, 7), (2, 13)])
def test_killed_and_resumed_in_a_new_process_is_bit_exact(tmp_path, accum, after):
    straight, ckpt, resumed = (tmp_path / n for n in ("straight.st", "ckpt.st", "resumed.st"))
    job("straight", straight, accum)
    job("first", ckpt, accum, after)
    state = read_checkpoint(ckpt)["loop"]
    per_epoch = 5                 # batches; a step every `accum` and at the epoch's last
    epochs, rest = divmod(after, per_epoch)
    steps = epochs * -(-per_epoch // accum) + rest // accum
    assert (state["global_step"], state["micro_step"]) == (steps, rest % accum)
    job("resume", resumed, accum, ckpt)

    want, got = read_checkpoint(straight), read_checkpoint(resumed)
    for name, arr in want["params"].items():
        np.testing.assert_array_equal(got["params"][name], arr, err_msg=name)
    for index, entry in want["optimizer"]["state"].items():
        for key, value in entry.items():
            np.testing.assert_array_equal(got["optimizer"]["state"][index][key], value)
    assert got["scheduler"] == want["scheduler"]
    assert json.loads(got["extra"]["history"]) == json.loads(want["extra"]["history"])
