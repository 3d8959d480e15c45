"""The job's configuration: defaults, layering, strict checks with clear messages,
paths, and TOML written back so that it reads to the same configuration."""

import tomllib

import pytest

from odyssey_training.job.config import (DEFAULTS, ConfigError, dumps_toml, load_toml,
                                         resolve)
from odyssey_training.job.models import model_options

pytestmark = pytest.mark.nokernel


def resolved(*layers):
    return resolve([(f"layer{i}", layer) for i, layer in enumerate(layers)], model_options)


def test_defaults():
    config = resolved()
    assert config["seed"] == 0 and config["epochs"] == 40 and config["batch_size"] == 32
    assert config["model"] == {"name": "mlp", "hidden": [256]}
    assert config["optimizer"] == {"name": "AdamW", "lr": 2e-3, "weight_decay": 5e-2}
    assert config["schedule"] == {"name": "WarmupCosine"}
    assert config["data"] == {"source": "digits", "val_fraction": 0.2}
    assert config["loss"] == {"label_smoothing": 0.1}
    assert config["early_stopping"]["monitor"] == "val_loss"
    assert DEFAULTS["optimizer"] == {"name": "AdamW"}     # tuned values are AdamW's only


def test_later_layers_win_key_by_key():
    config = resolved({"epochs": 5, "optimizer": {"lr": 0.01, "betas": [0.9, 0.99]}},
                      {"epochs": 7, "optimizer": {"weight_decay": 0.0}})
    assert config["epochs"] == 7
    assert config["optimizer"] == {"name": "AdamW", "lr": 0.01, "betas": [0.9, 0.99],
                                   "weight_decay": 0.0}


def test_another_optimizer_keeps_its_own_defaults():
    config = resolved({"optimizer": {"name": "SGD", "momentum": 0.9}})
    assert config["optimizer"] == {"name": "SGD", "momentum": 0.9}
    config = resolved({"optimizer": {"lr": 0.1}}, {"optimizer": {"name": "SGD"}})
    assert config["optimizer"] == {"name": "SGD", "lr": 0.1}
    config = resolved({"optimizer": {"name": "adamw", "lr": 0.01}})
    assert config["optimizer"] == {"name": "adamw", "lr": 0.01, "weight_decay": 5e-2}


@pytest.mark.parametrize("layer, message", [
    ({"epoch": 3}, r"layer0: unknown key 'epoch'; did you mean 'epochs'\?"),
    ({"optimiser": {}}, r"unknown key 'optimiser'; did you mean 'optimizer'"),
    ({"model": {"hiden": [3]}}, r"\[model\]: unknown key 'hiden'; did you mean 'hidden'"),
    ({"data": {"path": "x"}}, r"\[data\]: unknown key 'path'"),
    ({"epochs": 0}, r"epochs must be an integer >= 1, got 0"),
    ({"epochs": 2.5}, r"epochs must be an integer >= 1, got 2.5"),
    ({"seed": True}, r"seed must be an integer >= 0, got True"),
    ({"batch_size": "32"}, r"batch_size must be an integer >= 1, got '32'"),
    ({"optimizer": {"lr": "fast"}}, r"\[optimizer\] lr must be a finite number > 0"),
    ({"optimizer": {"lr": 0}}, r"\[optimizer\] lr must be a finite number > 0"),
    ({"optimizer": {"weight_decay": -1.0}}, r"weight_decay must be a finite number >= 0"),
    ({"optimizer": {"betas": {"a": 1}}}, r"\[optimizer\] betas must be a number, string"),
    ({"model": {"hidden": []}}, r"hidden must be a non-empty list of integers >= 1"),
    ({"model": {"hidden": [64, 0]}}, r"hidden must be a non-empty list"),
    ({"model": {"name": "resnet"}}, r"unknown model 'resnet' \(known: mlp, lenet5\)"),
    ({"loss": {"label_smoothing": 1.5}}, r"label_smoothing must be a finite number >= 0.0 "
                                          r"and <= 1.0"),
    ({"data": {"val_fraction": 0.0}}, r"val_fraction must be a finite number > 0.0"),
    ({"data": 3}, r"\[data\] must be a table"),
    ({"schedule": {"interval": "batch"}}, r"interval must be one of 'step', 'epoch'"),
    ({"early_stopping": {"enabled": "yes"}}, r"enabled must be true or false"),
    ({"checkpoint": {"save_top_k": 0}}, r"save_top_k must be an integer >= 1"),
])
def test_bad_keys_and_values_are_named(layer, message):
    with pytest.raises(ConfigError, match=message):
        resolved(layer)


def test_toml_written_reads_back_equal(tmp_path):
    config = resolved({"optimizer": {"name": "Adam", "betas": [0.9, 0.95], "eps": 1e-7,
                                     "amsgrad": True},
                       "schedule": {"name": "StepLR", "step_size": 3, "gamma": 0.5},
                       "data": {"source": 'C:\\odd "dir"\n\u00e9'}})
    text = dumps_toml(config)
    assert tomllib.loads(text) == config
    path = tmp_path / "run.toml"
    path.write_text(text, encoding="utf-8")
    assert resolve([(str(path), tomllib.loads(text))], model_options) == config


def test_relative_paths_are_relative_to_the_file(tmp_path):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "run.toml"
    path.write_text('[data]\nsource = "../mnist"\n[optimizer]\nname = "specs/my.toml"\n')
    raw = load_toml(path)
    assert raw["data"]["source"] == str((tmp_path / "mnist").resolve())
    assert raw["optimizer"]["name"] == str((tmp_path / "sub" / "specs" / "my.toml").resolve())
    path.write_text('[data]\nsource = "digits"\n[optimizer]\nname = "AdamW"\n')
    assert load_toml(path) == {"data": {"source": "digits"}, "optimizer": {"name": "AdamW"}}


def test_unreadable_files_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_toml(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("epochs = = 3\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_toml(bad)
