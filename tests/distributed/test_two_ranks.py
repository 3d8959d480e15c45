"""Two ranks with per-rank batch B train exactly as one process with batch 2B (to
float32 rounding), with and without ZeRO-1: parameters, every epoch log (the
merged metrics), the checkpoint taken mid-epoch and mid-accumulation, which
resumes on two ranks and on one.  Each run is ``mpiexec -n 2`` of
``tests/distributed/job.py``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from odyssey_training.checkpoint import load_checkpoint, read_checkpoint

from .job import BATCH, EPOCHS, SAVE_AFTER, build
from .launch import mpiexec, run

pytestmark = pytest.mark.slow
RTOL, ATOL = 2e-5, 2e-6        # float32 parameters after 4 epochs of AdamW


def reference(stop_after: int | None = None):
    """The one-process run (batch 2B); with ``stop_after``, its state after that many
    batches (what the checkpoint must hold)."""
    from odyssey_training.callbacks import Callback

    grabbed = {}

    class Grab(Callback):
        writes_checkpoints = True
        seen = 0

        def on_train_batch_end(self, batch, logs=None):
            self.seen += 1
            if self.seen == stop_after:
                loop = self.loop
                grabbed["optimizer"] = loop.optimizer.state_dict()
                grabbed["loop"] = loop.state_dict()
                grabbed["params"] = [p.data.copy() for p in loop.model.parameters()]

    loop, train, val = build(0, 1, 2 * BATCH, callbacks=[Grab()] if stop_after else [])
    loop.fit(train, val, epochs=EPOCHS)
    return loop, grabbed


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    mpiexec()
    out = tmp_path_factory.mktemp("two-ranks")
    for mode in ("plain", "zero"):
        run(2, "train", out, mode, mode)
        run(2, "resume", out, f"{mode}-resumed-2", mode, out / f"{mode}.ckpt")
        run(1, "resume", out, f"{mode}-resumed-1", mode, out / f"{mode}.ckpt")
    return out


def outputs(out, name):
    arrays = np.load(out / f"{name}.npz")
    return [arrays[f"arr_{i}"] for i in range(len(arrays.files))], \
        json.loads((out / f"{name}.json").read_text())


def assert_params_close(got, want):
    for g, w in zip(got, want):
        assert g.dtype == w.data.dtype
        np.testing.assert_allclose(g, w.data, rtol=RTOL, atol=ATOL)


def assert_logs_equal(got, want):
    assert set(got) == set(want)
    for key, values in want.items():
        np.testing.assert_allclose(got[key], values, rtol=1e-6, atol=1e-7, err_msg=key)


@pytest.mark.parametrize("mode", ["plain", "zero"])
def test_two_ranks_equal_one_process_with_twice_the_batch(runs, mode):
    want, _ = reference()
    params, result = outputs(runs, mode)
    assert_params_close(params, want.model.parameters())
    assert result["bitwise_equal_on_all_ranks"]
    assert_logs_equal(result["history"], want.history.history)
    # counts are exact: accuracy is a ratio of the merged counts of both ranks
    assert result["history"]["acc"] == want.history.history["acc"]


@pytest.mark.parametrize("mode", ["plain", "zero"])
def test_the_checkpoint_holds_the_one_process_state(runs, mode):
    _, grabbed = reference(stop_after=SAVE_AFTER)
    saved = read_checkpoint(runs / f"{mode}.ckpt")
    loop = saved["loop"]
    assert (loop["epoch"], loop["batches_done"], loop["micro_step"]) == (1, 3, 1)
    want = grabbed["loop"]
    for got_g, want_g in zip(loop["grads"], want["grads"]):
        np.testing.assert_allclose(got_g, want_g, rtol=RTOL, atol=ATOL)
    np.testing.assert_equal(loop["epoch_state"]["metrics"], want["epoch_state"]["metrics"])
    got_loss, want_loss = loop["epoch_state"]["loss"], want["epoch_state"]["loss"]
    np.testing.assert_allclose(got_loss["total"], want_loss["total"], rtol=1e-6)
    assert got_loss["count"] == want_loss["count"]
    assert loop["data"] == want["data"]
    opt, want_opt = saved["optimizer"], grabbed["optimizer"]
    assert sorted(opt["state"]) == sorted(want_opt["state"])
    for index, entry in want_opt["state"].items():
        assert opt["state"][index]["step"] == entry["step"]
        for key in ("exp_avg", "exp_avg_sq"):
            np.testing.assert_allclose(opt["state"][index][key], entry[key], rtol=1e-4,
                                       atol=1e-7, err_msg=f"{index} {key}")
    assert [g["lr"] for g in opt["param_groups"]] == [g["lr"] for g in want_opt["param_groups"]]


@pytest.mark.parametrize("mode", ["plain", "zero"])
@pytest.mark.parametrize("ranks", [2, 1])
def test_a_two_rank_checkpoint_resumes_on_two_ranks_and_on_one(runs, mode, ranks):
    want, _ = reference()
    params, result = outputs(runs, f"{mode}-resumed-{ranks}")
    assert_params_close(params, want.model.parameters())
    assert result["bitwise_equal_on_all_ranks"]
    assert_logs_equal(result["history"], want.history.history)


@pytest.mark.parametrize("mode", ["plain", "zero"])
def test_a_two_rank_checkpoint_resumes_in_a_basic_loop(runs, mode):
    want, _ = reference()
    loop, train, val = build(0, 1, 2 * BATCH)
    load_checkpoint(runs / f"{mode}.ckpt", model=loop.model, optimizer=loop.optimizer,
                    scheduler=loop.scheduler, loop=loop)
    loop.fit(train, val, epochs=EPOCHS)
    for got, w in zip(loop.model.parameters(), want.model.parameters()):
        np.testing.assert_allclose(got.data, w.data, rtol=RTOL, atol=ATOL)
    assert_logs_equal(loop.history.history, want.history.history)


def test_zero_keeps_half_the_optimizer_state_per_rank(runs):
    plain = outputs(runs, "plain")[1]["state_elements"]
    zero = outputs(runs, "zero")[1]["state_elements"]
    total = plain[0]                      # AdamW: exp_avg + exp_avg_sq of every element
    assert plain == [total, total]
    assert sum(zero) == total and max(zero) - min(zero) <= 2 * 2   # even shards per dtype
