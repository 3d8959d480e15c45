"""LeNet-5 in PyTorch for the main job (``--model lenet5``), trained by the
library's loop and optimizers through :class:`~odyssey_training.interop.torch.TorchModel`.

The network is LeCun et al. (1998)'s, as PyTorch's own tutorial writes it:
conv 5x5 (6) - ReLU - max-pool 2 - conv 5x5 (16) - ReLU - max-pool 2 - fc 120 -
ReLU - fc 84 - ReLU - fc classes; 61,706 parameters for 10 classes.  It takes
1x32x32 images: 8x8 digits are upsampled 4x (nearest neighbour), 28x28 MNIST
images padded by 2 with their background value, as the paper padded MNIST.
This module imports torch; :mod:`.models` imports it only when lenet5 is built.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from ..interop.torch import TorchModel

__all__ = ["LeNet5", "build_lenet5", "to_32x32", "SIDE"]

#: LeNet-5's input side
SIDE = 32


class LeNet5(nn.Module):
    """LeNet-5 for ``in_channels`` x 32 x 32 images and ``num_classes`` outputs (logits)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.max_pool2d(nn.functional.relu(self.conv1(x)), 2)
        x = nn.functional.max_pool2d(nn.functional.relu(self.conv2(x)), 2)
        x = nn.functional.relu(self.fc1(x.flatten(1)))
        x = nn.functional.relu(self.fc2(x))
        return self.fc3(x)


def to_32x32(x: np.ndarray) -> np.ndarray:
    """``(N, H, W)`` images as ``(N, 1, 32, 32)`` float32: upsampled by an integer
    factor when H and W divide 32 (nearest neighbour), else centred and padded
    with the images' background (their smallest value)."""
    n, h, w = x.shape
    if SIDE % h == 0 and SIDE % w == 0:
        out = np.repeat(np.repeat(x, SIDE // h, axis=1), SIDE // w, axis=2)
    elif h <= SIDE and w <= SIDE:
        top, left = (SIDE - h) // 2, (SIDE - w) // 2
        out = np.pad(x, ((0, 0), (top, SIDE - h - top), (left, SIDE - w - left)),
                     constant_values=x.min() if x.size else 0)
    else:
        raise ValueError(f"lenet5 takes images up to {SIDE}x{SIDE}, got {h}x{w}")
    return np.ascontiguousarray(out.reshape(n, 1, SIDE, SIDE), dtype=np.float32)


def build_lenet5(options: Mapping[str, Any], input_shape: tuple[int, ...], num_classes: int,
                 seed: int) -> TorchModel:
    """A LeNet-5 with torch's default initialisation drawn from ``seed`` (the global
    torch generator is left as it was), as a TorchModel."""
    if len(input_shape) != 2:
        raise ValueError(f"lenet5 takes single-channel images (H, W), got {input_shape}")
    to_32x32(np.zeros((0, *input_shape), np.float32))        # the size check
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = LeNet5(num_classes)
    return TorchModel(module)
