"""Torch models in the main job and in checkpoints: ``odyssey-train --model
lenet5`` (and its message without torch), LeNet-5's 32x32 inputs, and exact
resume of a TorchModel with buffers (BatchNorm) and dropout through a checkpoint."""

from __future__ import annotations

import copy
import subprocess
import sys

import numpy as np
import pytest

from .helpers import torch

from odyssey_training.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint  # noqa: E402
from odyssey_training.data import ArrayLoader  # noqa: E402
from odyssey_training.interop import torch as ot_torch  # noqa: E402
from odyssey_training.interop.torch import TorchModel  # noqa: E402
from odyssey_training.job.lenet import LeNet5, to_32x32  # noqa: E402
from odyssey_training.loops import BasicTrainingLoop  # noqa: E402
from odyssey_training.losses import CrossEntropyLoss  # noqa: E402
from odyssey_training.optimizers import AdamW  # noqa: E402
from tests.job.helpers import run_cli  # noqa: E402
from tests.job.test_resume import assert_same_run, crash_at  # noqa: E402

ARGS = ("--model", "lenet5", "--epochs", "2", "--batch-size", "128", "--quiet")


def test_lenet5_is_lenet5():
    net = LeNet5()
    assert sum(p.numel() for p in net.parameters()) == 61_706
    assert net(torch.zeros(2, 1, 32, 32)).shape == (2, 10)


def test_images_become_32x32():
    digits = np.arange(2 * 8 * 8, dtype=np.float32).reshape(2, 8, 8)
    up = to_32x32(digits)
    assert up.shape == (2, 1, 32, 32) and up.dtype == np.float32 and up.flags.c_contiguous
    np.testing.assert_array_equal(up[:, 0, ::4, ::4], digits)          # nearest neighbour x4
    np.testing.assert_array_equal(up[:, 0, 3::4, 1::4], digits)
    mnist = np.random.default_rng(0).random((3, 28, 28)).astype(np.float32)
    padded = to_32x32(mnist)
    np.testing.assert_array_equal(padded[:, 0, 2:30, 2:30], mnist)
    assert np.all(padded[:, 0, :2] == mnist.min()) and np.all(padded[:, 0, :, 30:] == mnist.min())
    with pytest.raises(ValueError, match="up to 32x32"):
        to_32x32(np.zeros((1, 33, 33), np.float32))


@pytest.fixture(scope="module")
def lenet_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("lenet") / "whole"
    code, out, err = run_cli(*ARGS, "--run-dir", str(run_dir))
    assert code == 0, err
    return run_dir, out


def test_odyssey_train_model_lenet5(lenet_run):
    run_dir, out = lenet_run
    assert "LeNet-5 (PyTorch via TorchModel, 61,706 parameters" in out
    accuracy = float(out.split("val accuracy")[1].split()[0])
    assert accuracy > 0.6                  # two epochs of LeNet-5 on the digits
    saved = read_checkpoint(run_dir / "checkpoints" / "last.safetensors")
    assert list(saved["params"]) == [n for n, _ in LeNet5().named_parameters()]


def test_lenet5_run_resumes_exactly(lenet_run, tmp_path, no_plots):
    run_dir = tmp_path / "run"
    code, _, err = run_cli(*ARGS, "--run-dir", str(run_dir), callbacks=[crash_at(1, 3)])
    assert code == 1 and "crash at epoch 1, batch 3" in err
    code, out, err = run_cli("--resume", str(run_dir), "--quiet")
    assert code == 0, err
    assert_same_run(lenet_run[0], run_dir)


def test_without_torch_lenet5_says_what_to_install(tmp_path):
    code = ("import sys; sys.modules['torch'] = None\n"
            "from odyssey_training.job.cli import main\n"
            f"sys.exit(main(['--model', 'lenet5', '--run-dir', {str(tmp_path / 'r')!r}]))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 1
    assert "--model lenet5 needs PyTorch" in result.stderr
    assert "odyssey-training[torch]" in result.stderr


def _net(seed):
    torch.manual_seed(seed)
    nn = torch.nn
    return nn.Sequential(nn.Linear(6, 16, bias=False), nn.BatchNorm1d(16), nn.ReLU(),
                         nn.Dropout(0.2), nn.Linear(16, 3))


def _setup(seed, api="numpy"):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((96, 6)).astype(np.float32)
    y = rng.integers(0, 3, 96)
    model = TorchModel(_net(seed))
    opt = (AdamW(model.parameters(), lr=1e-2) if api == "numpy"
           else ot_torch.AdamW(model.module.parameters(), lr=1e-2))
    loop = BasicTrainingLoop(model, opt, loss=CrossEntropyLoss(), seed=0)
    return model, opt, loop, ArrayLoader(x, y, batch_size=16, seed=1)


@pytest.mark.parametrize("api", ["numpy", "torch"])
def test_a_torch_model_resumes_bit_for_bit_with_buffers_and_dropout(tmp_path, api):
    from odyssey_training.callbacks import LambdaCallback
    path = tmp_path / "mid.safetensors"
    model, opt, loop, data = _setup(seed=3, api=api)
    count = []

    def save_mid_epoch(batch, logs):            # after the 8th batch: epoch 1 of 6-batch epochs
        count.append(batch)
        if len(count) == 8:
            save_checkpoint(path, model=model, optimizer=opt, loop=loop)
    loop.add_callback(LambdaCallback(on_train_batch_end=save_mid_epoch))
    loop.fit(data, epochs=3)
    whole = {k: v.detach().clone() for k, v in model.module.state_dict().items()}
    assert set(read_checkpoint(path)["buffers"]) == {
        "1.running_mean", "1.running_var", "1.num_batches_tracked"}

    model, opt, loop, data = _setup(seed=99, api=api)   # another init, another RNG state
    torch.manual_seed(12345)
    np.random.seed(54321)
    load_checkpoint(path, model=model, optimizer=opt, loop=loop)
    loop.fit(data, epochs=3)
    for name, tensor in model.module.state_dict().items():
        assert torch.equal(tensor, whole[name]), name


def test_buffers_that_do_not_fit_are_refused(tmp_path):
    model, _, _, _ = _setup(seed=3)
    without = tmp_path / "params-only.safetensors"
    save_checkpoint(without, params=model.parameters())
    other, _, _, _ = _setup(seed=4)
    other.module[1].register_buffer("extra", torch.zeros(2))
    other = TorchModel(other.module)
    with_extra = tmp_path / "extra.safetensors"
    save_checkpoint(with_extra, model=other)
    before = copy.deepcopy(model.module.state_dict())
    with pytest.raises(ValueError, match="holds no buffers"):
        load_checkpoint(without, model=model)
    with pytest.raises(ValueError, match=r"buffer names differ.*not in the model \['1.extra'\]"):
        load_checkpoint(with_extra, model=model)
    assert all(torch.equal(v, before[k]) for k, v in model.module.state_dict().items())
    load_checkpoint(without, params=model.parameters())     # parameters alone: fine


def test_the_rng_state_holds_torchs_generator():
    from odyssey_training.checkpoint import get_rng_state, set_rng_state
    torch.manual_seed(3)
    state = get_rng_state()
    first = torch.rand(3)
    torch.manual_seed(4)
    set_rng_state(state)
    assert torch.equal(torch.rand(3), first)
    bad = {**state, "torch": [1, 2, 3]}
    before = torch.get_rng_state()
    with pytest.raises(ValueError, match="invalid state"):
        set_rng_state(bad)
    assert torch.equal(torch.get_rng_state(), before)
