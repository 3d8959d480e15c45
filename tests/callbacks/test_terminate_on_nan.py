"""TerminateOnNaN (Keras 3): a NaN or infinite batch loss stops training."""

from __future__ import annotations

import pytest

from odyssey_training.callbacks import TerminateOnNaN

from .monitor_fakes import FakeLoop


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_stops_on_a_non_finite_loss(bad, capsys):
    cb, loop = TerminateOnNaN(), FakeLoop()
    cb.set_loop(loop)
    for batch, loss in enumerate([1.0, 0.5, 1e308]):
        cb.on_train_batch_end(batch, {"batch": batch, "size": 4, "loss": loss})
    assert not loop.stop_training and capsys.readouterr().out == ""
    cb.on_train_batch_end(3, {"batch": 3, "size": 4, "loss": bad})
    assert loop.stop_training
    assert capsys.readouterr().out == "Batch 3: Invalid loss, terminating training\n"


def test_raise_error_and_quiet_off_rank_zero(capsys):
    cb, loop = TerminateOnNaN(raise_error=True), FakeLoop()
    cb.set_loop(loop)
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 2"):
        cb.on_train_batch_end(2, {"loss": float("nan")})
    cb, loop = TerminateOnNaN(), FakeLoop()
    loop.is_global_zero = False
    cb.set_loop(loop)
    cb.on_train_batch_end(0, {"loss": float("nan")})
    assert loop.stop_training and capsys.readouterr().out == ""
    with pytest.raises(TypeError, match="raise_error"):
        TerminateOnNaN(raise_error="yes")
