"""The models the main job can train, by name (``[model] name`` / ``--model``).

A registry entry says which ``[model]`` keys the model takes (with their checks
and defaults), how it wants its inputs laid out and how to build it.  The NumPy
MLP is the only one today; a torch model (``interop.torch.TorchModel``) or any
other Model-protocol object registers the same way, without changes to the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any, Callable, Mapping

import numpy as np

from .config import ConfigError, Options, int_list
from .mlp import MLP

__all__ = ["ModelEntry", "MODELS", "model_options", "build_model"]


@dataclass(frozen=True)
class ModelEntry:
    """One trainable model of the job."""

    #: ``build(options, input_shape, num_classes, seed) -> Model`` (input_shape: one sample's)
    build: Callable[[Mapping[str, Any], tuple[int, ...], int, int], Any]
    #: the model's own ``[model]`` keys: name -> (check, default)
    options: Options
    #: ``inputs(x)``: the job's (N, H, W) float32 images in the layout the model takes
    inputs: Callable[[np.ndarray], np.ndarray]
    #: one line for the report
    describe: Callable[[Any], str]


def _flat(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1)


def _build_mlp(options: Mapping[str, Any], input_shape: tuple[int, ...], num_classes: int,
               seed: int) -> MLP:
    return MLP([prod(input_shape), *options["hidden"], num_classes], seed=seed)


MODELS: dict[str, ModelEntry] = {
    "mlp": ModelEntry(build=_build_mlp, options={"hidden": (int_list, [256])}, inputs=_flat,
                      describe=lambda m: f"MLP {'-'.join(map(str, m.sizes))} (NumPy, float32)"),
}


def model_options(name: str) -> Options:
    """The ``[model]`` keys of model ``name`` (a ConfigError naming the known models)."""
    entry = MODELS.get(name)
    if entry is None:
        raise ConfigError(f"[model] name: unknown model {name!r} (known: {', '.join(MODELS)})")
    return entry.options


def build_model(options: Mapping[str, Any], input_shape: tuple[int, ...], num_classes: int,
                seed: int) -> tuple[Any, ModelEntry]:
    """The model of ``options["name"]`` and its registry entry."""
    entry = MODELS[options["name"]]
    own = {k: v for k, v in options.items() if k != "name"}
    return entry.build(own, input_shape, num_classes, seed), entry
