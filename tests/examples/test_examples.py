"""Every example script runs (in a scratch directory, with few epochs) and does
what it says: the ports of the original library's README examples, the
quickstart and the user-spec example."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.numpy import load_file

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def run(name: str, cwd: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, str(EXAMPLES / name), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_basic_training_loop(tmp_path):
    out = run("basic_training_loop.py", tmp_path, "--epochs", "8")
    assert "epochs run: 8" in out
    tensors = load_file(tmp_path / "checkpoints" / "best_model.safetensors")
    assert {"params/w1", "params/b1", "params/w2", "params/b2"} <= set(tensors)


def test_custom_training_loop_learns(tmp_path):
    out = run("custom_training_loop.py", tmp_path, "--epochs", "5")
    accuracies = [float(line.split()[-1]) for line in out.splitlines()
                  if line.startswith("Accuracy:")]
    assert len(accuracies) == 5 and accuracies[-1] > accuracies[0] and accuracies[-1] > 0.8


def test_pattern1(tmp_path):
    out = run("pattern1_basic_with_validation.py", tmp_path, "--epochs", "5")
    assert "stopped after 5 epochs" in out and (tmp_path / "best_model.safetensors").exists()


def test_pattern2(tmp_path):
    out = run("pattern2_custom_loop_standard_components.py", tmp_path, "--epochs", "21")
    first, last = out.splitlines()[0], out.splitlines()[-1]
    assert first.startswith("epoch 0:") and last.startswith("epoch 20:")
    assert float(last.split()[3]) > float(first.split()[3])
    assert last.endswith("lr 0.00e+00")               # the cosine reached eta_min=0


def test_composing_callbacks(tmp_path):
    pytest.importorskip("tensorboardX")
    out = run("composing_callbacks.py", tmp_path, "--epochs", "4")
    assert "by hand: 4 epochs" in out and "loop: 4 epochs" in out
    for tag in ("by-hand", "loop"):
        rows = (tmp_path / f"training-{tag}.log").read_text().splitlines()
        assert rows[0].startswith("epoch,") and len(rows) == 5
        assert list((tmp_path / "logs" / tag).glob("events.out.tfevents.*"))
        assert len(list((tmp_path / "checkpoints").glob(f"{tag}-epoch*.safetensors"))) == 1


@pytest.mark.parametrize("name", ["quickstart.py", "train_user_spec.py"])
def test_other_examples_run(tmp_path, name):
    done = subprocess.run([sys.executable, str(EXAMPLES / name)], cwd=ROOT,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr


def test_lenet5_in_torch_through_the_loop(tmp_path):
    pytest.importorskip("torch")
    out = run("lenet5_torch.py", tmp_path, "--epochs", "2")
    accuracies = [float(line.split()[-1]) for line in out.splitlines()
                  if line.startswith("epoch")]
    assert len(accuracies) == 2 and accuracies[-1] > 0.7
    reloaded = ast.literal_eval(out.split("reloaded:")[1].strip())   # the saved model again
    assert abs(reloaded["acc"] - accuracies[-1]) < 5e-4
    assert not (tmp_path / "lenet5.safetensors").exists()


def test_the_torch_optimizer_drop_in(tmp_path):
    pytest.importorskip("torch")
    out = run("torch_optimizer_dropin.py", tmp_path)
    accuracy = float(out.splitlines()[-2].split()[-1])
    assert accuracy > 0.9
    assert out.splitlines()[-1] == "torch.optim.AdamW resumed at step 200"
