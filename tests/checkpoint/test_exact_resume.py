"""Exact resume without a loop: 2N steps in one process equal N steps, save,
load in a NEW process, N more steps -- parameters, optimizer, scheduler, data
position and RNG states bit for bit -- also when the save falls mid-epoch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from odyssey_training.checkpoint import read_checkpoint

from .helpers import assert_same
from .mlp_job import Run

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("kind", ["adam", "sgd"])
@pytest.mark.parametrize("steps", [7, 10])        # 5 batches an epoch: mid-epoch, epoch end
def test_resume_in_a_new_process_is_bit_exact(tmp_path, kind, steps):
    straight = Run(kind)
    straight.train(2 * steps)
    straight.save(tmp_path / "straight.safetensors")

    first = Run(kind)
    first.train(steps)
    first.save(tmp_path / "half.safetensors")
    assert first.loader.position == steps % len(first.loader)
    subprocess.run([sys.executable, "-m", "tests.checkpoint.mlp_job", kind,
                    str(tmp_path / "half.safetensors"), str(steps),
                    str(tmp_path / "resumed.safetensors")], cwd=ROOT, check=True, timeout=120)

    want = read_checkpoint(tmp_path / "straight.safetensors")
    got = read_checkpoint(tmp_path / "resumed.safetensors")
    # torch's generator is in the RNG state only where torch is imported (this test
    # session may have imported it, the NumPy run in the subprocess does not)
    for state in (want, got):
        state["loop"]["rng"].pop("torch", None)
    assert_same(got, want)
    assert got["extra"] == {"step": 2 * steps}


def test_the_comparison_sees_a_lost_random_state(tmp_path):
    """Control: the same resume with NumPy's RNG disturbed after the load differs,
    so the bit-for-bit test above really depends on every restored state."""
    straight = Run("adam")
    straight.train(14)
    half = Run("adam")
    half.train(7)
    half.save(tmp_path / "half.safetensors")
    resumed = Run("adam")
    resumed.load(tmp_path / "half.safetensors")
    np.random.random()                       # one draw too many: dropout masks shift
    resumed.train(7)
    assert not all(np.array_equal(a.data, b.data) for a, b in
                   zip(straight.model.parameters(), resumed.model.parameters()))
