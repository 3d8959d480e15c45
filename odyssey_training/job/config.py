"""The main job's configuration: defaults, then a TOML file, then command-line flags.

A configuration is a nested dict of plain values, checked strictly: an unknown
key, a value of the wrong type or out of range is a :class:`ConfigError` naming
where it came from, the key, the value and what was expected.  The whole schema,
with the defaults (``odyssey-train --print-config`` prints it)::

    seed = 0                    # model init, data split and shuffling
    epochs = 40
    batch_size = 32

    [data]
    source = "digits"           # the embedded UCI digits, or a directory of MNIST-format IDX files
    val_fraction = 0.2          # digits: the share held out, per class; IDX: t10k validates

    [model]
    name = "mlp"                # a model of the registry (odyssey_training.job.models)
    hidden = [256]              # the model's own options

    [loss]
    label_smoothing = 0.1

    [optimizer]
    name = "AdamW"              # any standard optimizer, or the path of a spec .toml
    lr = 0.002                  # lr and weight_decay: these tuned values for AdamW, else
    weight_decay = 0.05         #   the optimizer's own defaults; other keys go to its constructor

    [schedule]
    name = "WarmupCosine"       # a scheduler of odyssey_training.schedulers, or "none"
    interval = "step"           # WarmupCosine: "step", others: "epoch"
    # warmup_steps, total_steps: WarmupCosine's, by default one epoch and the whole run;
    # other keys go to the scheduler's constructor

    [early_stopping]
    enabled = true
    monitor = "val_loss"
    patience = 10
    min_delta = 0.0

    [checkpoint]
    monitor = "val_loss"        # the best checkpoint's metric (mode from the name, as Keras)
    save_top_k = 1

Relative paths in a file are relative to that file, on the command line to the
working directory; the resolved configuration holds absolute paths.
"""

from __future__ import annotations

import copy
import difflib
import math
import tomllib
from numbers import Real
from pathlib import Path
from typing import Any, Callable, Mapping

__all__ = ["ConfigError", "DEFAULTS", "TUNED", "resolve", "load_toml", "dumps_toml",
           "set_path", "absolute_paths", "is_spec_path", "int_list", "Check", "Options"]


class ConfigError(ValueError):
    """A configuration key or value the job cannot use (the CLI exits with code 2)."""


#: a value check: ``check(where, value)`` returns the value (normalized) or raises ConfigError
Check = Callable[[str, Any], Any]
#: a model's own ``[model]`` keys: name -> (check, default)
Options = Mapping[str, tuple[Check, Any]]


def _int(minimum: int) -> Check:
    def check(where: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigError(f"{where} must be an integer >= {minimum}, got {value!r}")
        return value
    return check


def _number(minimum: float, maximum: float = math.inf, above: bool = False) -> Check:
    def check(where: str, value: Any) -> float:
        ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
        if not ok or value < minimum or value > maximum or (above and value == minimum):
            low = f"> {minimum}" if above else f">= {minimum}"
            high = f" and <= {maximum}" if maximum != math.inf else ""
            raise ConfigError(f"{where} must be a finite number {low}{high}, got {value!r}")
        return float(value)
    return check


def _string(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where} must be a non-empty string, got {value!r}")
    return value


def _bool(where: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    return value


def int_list(where: str, value: Any) -> list[int]:
    if not isinstance(value, list) or not value or any(
            isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value):
        raise ConfigError(f"{where} must be a non-empty list of integers >= 1, got {value!r}")
    return list(value)


def _choice(*options: str) -> Check:
    def check(where: str, value: Any) -> str:
        if value not in options:
            raise ConfigError(f"{where} must be one of {', '.join(map(repr, options))}, "
                              f"got {value!r}")
        return value
    return check


def _plain(where: str, value: Any) -> Any:
    """A constructor argument passed through: a number, string, bool or list of them."""
    if isinstance(value, list):
        return [_plain(f"{where}[{i}]", v) for i, v in enumerate(value)]
    if isinstance(value, (bool, int, str)) or (isinstance(value, float) and math.isfinite(value)):
        return value
    raise ConfigError(f"{where} must be a number, string, boolean or list of them, "
                      f"got {value!r}")


#: key -> (check, default); None as a default means "derived" (see the module doc)
SCHEMA: dict[str, Any] = {
    "seed": (_int(0), 0),
    "epochs": (_int(1), 40),
    "batch_size": (_int(1), 32),
    "data": {"source": (_string, "digits"),
             "val_fraction": (_number(0.0, 1.0, above=True), 0.2)},
    "model": {"name": (_string, "mlp")},          # + the model's own options (models.py)
    "loss": {"label_smoothing": (_number(0.0, 1.0), 0.1)},
    "optimizer": {"name": (_string, "AdamW"), "lr": (_number(0.0, above=True), None),
                  "weight_decay": (_number(0.0), None)},
    "schedule": {"name": (_string, "WarmupCosine"),
                 "interval": (_choice("step", "epoch"), None),
                 "warmup_steps": (_int(0), None), "total_steps": (_int(1), None)},
    "early_stopping": {"enabled": (_bool, True), "monitor": (_string, "val_loss"),
                       "patience": (_int(0), 10), "min_delta": (_number(0.0), 0.0)},
    "checkpoint": {"monitor": (_string, "val_loss"), "save_top_k": (_int(1), 1)},
}
#: sections whose other keys are passed to a constructor (checked by it)
OPEN_SECTIONS = ("optimizer", "schedule")
#: the tuned defaults of the default optimizer (other optimizers keep their own)
TUNED = {"adamw": {"lr": 2e-3, "weight_decay": 5e-2}}


def is_spec_path(name: str) -> bool:
    """Whether an optimizer name is the path of a spec file rather than a class name."""
    return name.endswith(".toml") or "/" in name or "\\" in name


#: keys that may hold paths, and how to tell (made absolute against the file or the
#: working directory)
PATH_KEYS: dict[tuple[str, str], Callable[[str], bool]] = {
    ("data", "source"): lambda value: value != "digits",
    ("optimizer", "name"): is_spec_path,
}

DEFAULTS: dict[str, Any] = {
    key: ({k: d for k, (_, d) in spec.items() if d is not None} if isinstance(spec, dict)
          else spec[1]) for key, spec in SCHEMA.items()}


def _unknown(where: str, key: str, known: list[str]) -> ConfigError:
    near = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean {near[0]!r}?" if near else ""
    return ConfigError(f"{where}: unknown key {key!r}{hint} (known: {', '.join(known)})")


def check(config: Mapping[str, Any], origin: str, model_options: Options) -> dict[str, Any]:
    """The checked (normalized) copy of a partial ``config`` from ``origin`` (a file
    name or "command line"); ``model_options`` are the chosen model's own keys."""
    if not isinstance(config, Mapping):
        raise ConfigError(f"{origin}: a configuration is a table, got {config!r}")
    out: dict[str, Any] = {}
    for key, value in config.items():
        spec = SCHEMA.get(key)
        if spec is None:
            raise _unknown(origin, key, list(SCHEMA))
        if not isinstance(spec, dict):
            out[key] = spec[0](f"{origin}: {key}", value)
            continue
        if not isinstance(value, Mapping):
            raise ConfigError(f"{origin}: [{key}] must be a table, got {value!r}")
        fields = {k: c for k, (c, _) in spec.items()}
        if key == "model":
            fields.update({k: c for k, (c, _) in model_options.items()})
        section = {}
        for name, item in value.items():
            where = f"{origin}: [{key}] {name}"
            if name in fields:
                section[name] = fields[name](where, item)
            elif key in OPEN_SECTIONS:
                section[name] = _plain(where, item)
            else:
                raise _unknown(f"{origin}: [{key}]", name, list(fields))
        out[key] = section
    return out


def resolve(layers: list[tuple[str, Mapping[str, Any]]],
            model_options: Callable[[str], Options]) -> dict[str, Any]:
    """The full configuration: :data:`DEFAULTS`, the chosen model's defaults, then each
    ``(origin, partial config)`` layer in turn (later layers win, key by key), each
    checked; then the tuned defaults of :data:`TUNED` for keys still unset.
    ``model_options(name)`` gives a model's own keys (a ConfigError for an unknown
    model)."""
    name = DEFAULTS["model"]["name"]
    for origin, layer in layers:
        section = layer.get("model") if isinstance(layer, Mapping) else None
        chosen = section.get("name") if isinstance(section, Mapping) else None
        if chosen is not None:
            name = _string(f"{origin}: [model] name", chosen)
    options = model_options(name)
    config = copy.deepcopy(DEFAULTS)
    config["model"].update({k: copy.deepcopy(d) for k, (_, d) in options.items()})
    config["model"]["name"] = name
    for origin, layer in layers:
        for key, value in check(layer, origin, options).items():
            if isinstance(value, dict):
                config[key].update(value)
            else:
                config[key] = value
    optimizer = config["optimizer"]
    for key, value in TUNED.get(optimizer["name"].lower(), {}).items():
        optimizer.setdefault(key, value)
    return config


def set_path(config: dict[str, Any], dotted: str, value: Any) -> None:
    """``config[a][b] = value`` for ``dotted = "a.b"`` (sections created as needed)."""
    *sections, key = dotted.split(".")
    target = config
    for section in sections:
        target = target.setdefault(section, {})
    target[key] = value


def absolute_paths(config: dict[str, Any], base: Path) -> dict[str, Any]:
    """Relative data and spec paths of ``config`` made absolute against ``base``."""
    for (section, key), is_path in PATH_KEYS.items():
        table = config.get(section)
        value = table.get(key) if isinstance(table, dict) else None
        if isinstance(value, str) and value and is_path(value):
            config[section][key] = str((base / Path(value).expanduser()).resolve())
    return config


def load_toml(path: str | Path) -> dict[str, Any]:
    """The raw table of the TOML file ``path`` (a ConfigError if it does not parse),
    its relative paths made absolute against the file's folder."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"--config {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--config {path}: cannot read it ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return absolute_paths(raw, path.resolve().parent)


# ---- writing ----------------------------------------------------------------
def dumps_toml(config: Mapping[str, Any]) -> str:
    """``config`` (plain scalars, lists and one level of tables) as TOML text that
    ``tomllib`` reads back to an equal dict."""
    lines = [f"{k} = {_value(v)}" for k, v in config.items() if not isinstance(v, Mapping)]
    for key, table in config.items():
        if isinstance(table, Mapping):
            lines += ["", f"[{key}]"] + [f"{_key(k)} = {_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def _key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() and key.isascii() \
        else _value(key)


def _value(value: Any) -> str:
    import json
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(f"cannot write the non-finite number {value!r}")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)        # JSON's escapes are valid in TOML basic strings
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise ConfigError(f"cannot write {value!r} to TOML")
