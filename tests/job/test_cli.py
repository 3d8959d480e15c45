"""``odyssey-train`` end to end: the run directory (checkpoints that load, the CSV,
TensorBoard events read back by TensorBoard's reader, PNGs, resolved config,
summary), the report, flags and TOML configs, IDX data, user specs, exit codes."""

import csv
import json
import tomllib
from pathlib import Path

import numpy as np
import pytest

from odyssey_training.checkpoint import load_checkpoint, read_checkpoint
from odyssey_training.job.mlp import MLP
from tests.job.helpers import SHORT, run_cli, write_mnist

ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("job") / "run"
    code, out, err = run_cli(*SHORT, "--run-dir", str(run_dir))
    assert code == 0, err
    return run_dir, out, err


def test_run_directory_layout(short_run):
    run_dir, _, _ = short_run
    names = sorted(p.name for p in run_dir.iterdir())
    assert names == ["checkpoints", "config.toml", "confusion_matrix.png", "curves.png",
                     "metrics.csv", "report.txt", "summary.json", "tensorboard"]
    for png in ("curves.png", "confusion_matrix.png"):
        assert (run_dir / png).read_bytes()[:8] == PNG
    checkpoints = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert len(checkpoints) == 2 and "last.safetensors" in checkpoints


def test_report_and_summary(short_run):
    run_dir, out, _ = short_run
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (run_dir / "report.txt").read_text() == out
    for line in ("best epoch", "val accuracy", "val F1 (macro)", "time per epoch",
                 "run directory", "best checkpoint", "TensorBoard", "confusion matrix"):
        assert line in out
    assert f"val accuracy    {summary['val_accuracy']:.4f}" in out
    assert summary["epochs"] == summary["epochs_run"] == summary["epochs_this_process"] == 3
    assert summary["model"].startswith("MLP 64-32-10")
    assert summary["optimizer"] == "AdamW (lr 0.002, weight_decay 0.05)"
    assert summary["resumed_from_epoch"] is None
    assert summary["scaling"]["scale"] == 16.0 and summary["scaling"]["std"] > 0
    # the reported numbers are the best checkpoint's, equal to that epoch's logged values
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    best = rows[summary["best_epoch"]]
    assert float(best["val_loss"]) == pytest.approx(summary["val_loss"], rel=1e-6)
    assert float(best["val_accuracy"]) == pytest.approx(summary["val_accuracy"], abs=1e-12)
    assert float(best["val_f1"]) == pytest.approx(summary["val_f1"], abs=1e-12)
    assert summary["best_value"] == min(float(r["val_loss"]) for r in rows)


def test_checkpoints_load_into_the_model(short_run):
    run_dir, _, _ = short_run
    summary = json.loads((run_dir / "summary.json").read_text())
    best = Path(summary["files"]["best checkpoint"])
    assert best.parent == run_dir / "checkpoints"
    model = MLP([64, 32, 10], seed=99)
    load_checkpoint(best, model=model)
    state = read_checkpoint(best)
    for p in model.parameters():
        np.testing.assert_array_equal(p.data, state["params"][p.name])
    last = read_checkpoint(run_dir / "checkpoints" / "last.safetensors")
    assert last["loop"]["epoch"] == 3 and last["optimizer"]["state"]
    assert state["loop"]["epoch"] == summary["best_epoch"] + 1


def test_csv_and_tensorboard_logs(short_run):
    run_dir, _, _ = short_run
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    for key in ("loss", "accuracy", "f1", "lr", "val_loss", "val_accuracy", "val_f1",
                "samples_per_sec", "time/forward"):
        assert all(np.isfinite(float(r[key])) for r in rows), key
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    acc = accumulator.EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    acc.Reload()
    events = acc.Scalars("epoch/val_accuracy")
    assert [e.value for e in events] == pytest.approx([float(r["val_accuracy"]) for r in rows])


def test_resolved_config_reruns_the_same_run(short_run, tmp_path, no_plots):
    run_dir, _, _ = short_run
    config = tomllib.loads((run_dir / "config.toml").read_text())
    assert config["epochs"] == 3 and config["model"] == {"name": "mlp", "hidden": [32]}
    code, _, err = run_cli("--config", str(run_dir / "config.toml"), "--quiet",
                           "--run-dir", str(tmp_path / "again"))
    assert code == 0, err
    first = read_checkpoint(run_dir / "checkpoints" / "last.safetensors")["params"]
    again = read_checkpoint(tmp_path / "again" / "checkpoints" / "last.safetensors")["params"]
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])


def test_toml_config_with_flags_on_top(tmp_path, no_plots):
    config = tmp_path / "run.toml"
    config.write_text('epochs = 5\nbatch_size = 64\n[model]\nhidden = [16, 16]\n'
                      '[optimizer]\nname = "SGD"\nlr = 0.05\nmomentum = 0.9\nnesterov = true\n'
                      '[schedule]\nname = "StepLR"\nstep_size = 1\ngamma = 0.5\n')
    code, out, err = run_cli("--config", str(config), "--epochs", "2", "--quiet",
                             "--run-dir", str(tmp_path / "run"))
    assert code == 0, err
    resolved = tomllib.loads((tmp_path / "run" / "config.toml").read_text())
    assert resolved["epochs"] == 2 and resolved["batch_size"] == 64
    assert resolved["optimizer"] == {"name": "SGD", "lr": 0.05, "momentum": 0.9,
                                     "nesterov": True}
    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))
    assert [float(r["lr"]) for r in rows] == [0.05, 0.025]       # StepLR per epoch
    assert "MLP 64-16-16-10" in out and "SGD (lr 0.05" in out and "StepLR" in out


def test_user_spec_optimizer(tmp_path, no_plots):
    spec = ROOT / "examples" / "adabelief.toml"
    code, out, err = run_cli("--optimizer", str(spec), "--lr", "0.001", "--epochs", "1",
                             "--hidden", "8", "--quiet", "--run-dir", str(tmp_path / "run"))
    assert code == 0, err
    assert "AdaBelief (lr 0.001" in out


def test_idx_data(tmp_path, no_plots):
    write_mnist(tmp_path / "mnist", n_train=90, n_test=30, side=6, classes=3)
    code, out, err = run_cli("--data", str(tmp_path / "mnist"), "--epochs", "8", "--lr", "0.01",
                             "--batch-size", "16", "--hidden", "16", "--quiet",
                             "--run-dir", str(tmp_path / "run"))
    assert code == 0, err
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert "90 training / 30 validation images of 6x6, 3 classes" in summary["data"]
    assert summary["model"].startswith("MLP 36-16-3")
    assert summary["val_accuracy"] >= 0.9          # row c lit for class c: separable


def test_print_config(tmp_path):
    code, out, _ = run_cli("--print-config", "--lr", "0.01", "--hidden", "64,32",
                           "--run-dir", str(tmp_path / "unused"))
    assert code == 0
    config = tomllib.loads(out)
    assert config["optimizer"]["lr"] == 0.01 and config["model"]["hidden"] == [64, 32]
    assert not (tmp_path / "unused").exists()


@pytest.mark.parametrize("argv, message", [
    (["--epochs", "0"], "--epochs: epochs must be an integer >= 1, got 0"),
    (["--lr", "-1"], "--lr: [optimizer] lr must be a finite number > 0.0, got -1.0"),
    (["--optimizer", "Adamm"], "unknown optimizer 'Adamm' (standard: Adagrad, Adam, AdamW"),
    (["--optimizer", "nowhere/spec.toml"], "no spec file"),
    (["--schedule", "Cosine"], "unknown scheduler 'Cosine'"),
    (["--schedule", "StepLR"], "[schedule] StepLR: "),
    (["--model", "resnet"], "unknown model 'resnet' (known: mlp, lenet5)"),
    (["--data", "/nonexistent/dir"], "--data /nonexistent/dir: not a directory"),
    (["--weight-decay", "nan"], "weight_decay must be a finite number"),
])
def test_bad_values_exit_2_with_the_message(tmp_path, argv, message):
    code, out, err = run_cli(*argv, "--run-dir", str(tmp_path / "run"))
    assert code == 2
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_bad_config_files_exit_2(tmp_path):
    config = tmp_path / "run.toml"
    for text, message in [('epoch = 3\n', "unknown key 'epoch'; did you mean 'epochs'?"),
                          ('[optimizer]\nlr = "fast"\n', "lr must be a finite number"),
                          ('[optimizer]\nbetas = [0.9]\n', "[optimizer] "),
                          ('[early_stopping]\nmonitor = "val_acc"\n', "'val_acc' is not logged"),
                          ('[schedule]\nname = "ReduceLROnPlateau"\ninterval = "step"\n',
                           "ReduceLROnPlateau scheduler steps on epoch logs"),
                          ('[schedule]\nname = "none"\nwarmup_steps = 3\n', "takes no other keys"),
                          ('epochs = \n', "not valid TOML")]:
        config.write_text(text)
        code, _, err = run_cli("--config", str(config), "--run-dir", str(tmp_path / "run"))
        assert (code, "Traceback" in err) == (2, False), err
        assert message in err, err
    code, _, err = run_cli("--config", str(tmp_path / "none.toml"))
    assert code == 2 and "no such file" in err


def test_argparse_errors_exit_2(tmp_path):
    for argv in (["--epochs", "many"], ["--hidden", "64,x"], ["--no-such-flag"]):
        code, _, err = run_cli(*argv)
        assert code == 2 and "usage: odyssey-train" in err


def test_run_directories_are_not_overwritten(short_run, tmp_path):
    run_dir, _, _ = short_run
    code, _, err = run_cli(*SHORT, "--run-dir", str(run_dir))
    assert code == 2 and "exists and is not an empty directory" in err
    code, _, err = run_cli("--resume", str(run_dir))
    assert code == 2 and "the run has finished" in err
    code, _, err = run_cli("--resume", str(tmp_path))
    assert code == 2 and "not a run directory" in err
    code, _, err = run_cli("--resume", str(run_dir), "--epochs", "9")
    assert code == 2 and "drop --epochs" in err


def test_default_run_directories_count_up(tmp_path, monkeypatch, no_plots):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "run-007").mkdir(parents=True)
    code, out, err = run_cli("--epochs", "1", "--hidden", "8", "--quiet")
    assert code == 0, err
    assert (tmp_path / "runs" / "run-008" / "summary.json").exists()
    assert "run directory   runs/run-008" in out


def test_a_missing_extra_is_reported_before_training(tmp_path, monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "tensorboardX" else real(name, *a))
    code, _, err = run_cli(*SHORT, "--run-dir", str(tmp_path / "run"))
    assert code == 1 and "needs the 'train' extra" in err and "missing: tensorboardX" in err
    assert "Traceback" not in err and not (tmp_path / "run").exists()


def test_a_damaged_last_checkpoint_is_refused(tmp_path, no_plots):
    run_dir = tmp_path / "run"
    code, _, _ = run_cli("--epochs", "1", "--hidden", "8", "--quiet", "--run-dir", str(run_dir))
    assert code == 0
    (run_dir / "summary.json").unlink()           # as if the run had not finished
    last = run_dir / "checkpoints" / "last.safetensors"
    last.write_bytes(last.read_bytes()[:100])
    code, _, err = run_cli("--resume", str(run_dir))
    assert code == 2 and "last.safetensors does not load" in err and "Traceback" not in err
