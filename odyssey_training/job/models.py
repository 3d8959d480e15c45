"""The models the main job can train, by name (``[model] name`` / ``--model``).

A registry entry says which ``[model]`` keys the model takes (with their checks
and defaults), how it wants its inputs laid out and how to build it: the NumPy
MLP, and LeNet-5 in PyTorch (``lenet5``, through ``interop.torch.TorchModel``;
torch is imported only when it is built, and its absence is a clear error).
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


def _torch_module(name: str) -> Any:
    """``odyssey_training.job.<name>``, which imports torch: an ImportError naming the
    extra when torch is not installed."""
    import importlib.util
    import os
    import sys
    if importlib.util.find_spec("torch") is None:
        raise ImportError(f"--model {name} needs PyTorch, which is not installed: pip install "
                          "'odyssey-training[torch]' (or the mlp model runs without it)")
    if "torch" not in sys.modules:
        # torch's OpenMP workers spin-wait between ops by default: on a machine with few or
        # busy cores that makes a LeNet step 20x slower (docs/performance.md); the variable
        # only counts before torch starts its threads
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from . import lenet
    return lenet


def _build_lenet5(options: Mapping[str, Any], input_shape: tuple[int, ...], num_classes: int,
                  seed: int) -> Any:
    try:
        return _torch_module("lenet5").build_lenet5(options, input_shape, num_classes, seed)
    except ValueError as exc:           # images larger than 32x32, or not single-channel
        raise ConfigError(f"[model] name = 'lenet5': {exc}") from None


def _lenet_inputs(x: np.ndarray) -> np.ndarray:
    return _torch_module("lenet5").to_32x32(x)


def _describe_lenet(model: Any) -> str:
    count = sum(p.data.size for p in model.parameters())
    return f"LeNet-5 (PyTorch via TorchModel, {count:,} parameters, float32, 32x32 inputs)"


MODELS: dict[str, ModelEntry] = {
    "mlp": ModelEntry(build=_build_mlp, options={"hidden": (int_list, [256])}, inputs=_flat,
                      describe=lambda m: f"MLP {'-'.join(map(str, m.sizes))} (NumPy, float32)"),
    "lenet5": ModelEntry(build=_build_lenet5, options={}, inputs=_lenet_inputs,
                         describe=_describe_lenet),
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
