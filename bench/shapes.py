"""Parameter shapes of the benchmark models, written out layer by layer.

Each model is a list of ``(name, shape)`` in the order the model's
``named_parameters()`` yields them; the totals are asserted at import so a
typo cannot silently change what the benchmark measures.

* LeNet-5 (the classic 5-layer net on 1x32x32 inputs): 10 tensors, 61,706 values.
* GPT-2 small (Hugging Face ``GPT2LMHeadModel``, tied lm_head): 148 tensors,
  124,439,808 values.
* ResNet-50 (torchvision ``resnet50``, v1.5: the stride sits on the 3x3 conv;
  conv weights, BatchNorm weight/bias, fc): 161 tensors, 25,557,032 values.
* ``big``: one tensor of 10,000,000 values.
"""

from __future__ import annotations

import math

__all__ = ["Shape", "MODELS", "lenet5", "gpt2_small", "resnet50", "big", "numel", "tiny"]

Shape = tuple[int, ...]


def numel(shapes: list[tuple[str, Shape]]) -> int:
    """Total number of values in a model's parameters."""
    return sum(math.prod(s) for _, s in shapes)


def lenet5() -> list[tuple[str, Shape]]:
    layers = [("conv1", (6, 1, 5, 5)), ("conv2", (16, 6, 5, 5)), ("fc1", (120, 400)),
              ("fc2", (84, 120)), ("fc3", (10, 84))]
    return [item for name, w in layers
            for item in ((f"{name}.weight", w), (f"{name}.bias", (w[0],)))]


def gpt2_small(layers: int = 12, d: int = 768, vocab: int = 50257,
               ctx: int = 1024) -> list[tuple[str, Shape]]:
    out: list[tuple[str, Shape]] = [("wte.weight", (vocab, d)), ("wpe.weight", (ctx, d))]
    for i in range(layers):
        h = f"h.{i}"
        out += [(f"{h}.ln_1.weight", (d,)), (f"{h}.ln_1.bias", (d,)),
                (f"{h}.attn.c_attn.weight", (d, 3 * d)), (f"{h}.attn.c_attn.bias", (3 * d,)),
                (f"{h}.attn.c_proj.weight", (d, d)), (f"{h}.attn.c_proj.bias", (d,)),
                (f"{h}.ln_2.weight", (d,)), (f"{h}.ln_2.bias", (d,)),
                (f"{h}.mlp.c_fc.weight", (d, 4 * d)), (f"{h}.mlp.c_fc.bias", (4 * d,)),
                (f"{h}.mlp.c_proj.weight", (4 * d, d)), (f"{h}.mlp.c_proj.bias", (d,))]
    return out + [("ln_f.weight", (d,)), ("ln_f.bias", (d,))]


def _bn(name: str, c: int) -> list[tuple[str, Shape]]:
    return [(f"{name}.weight", (c,)), (f"{name}.bias", (c,))]


def resnet50() -> list[tuple[str, Shape]]:
    out = [("conv1.weight", (64, 3, 7, 7))] + _bn("bn1", 64)
    inplanes = 64
    for layer, (planes, blocks) in enumerate([(64, 3), (128, 4), (256, 6), (512, 3)], 1):
        for b in range(blocks):
            pre = f"layer{layer}.{b}"
            out += [(f"{pre}.conv1.weight", (planes, inplanes, 1, 1))] + _bn(f"{pre}.bn1", planes)
            out += [(f"{pre}.conv2.weight", (planes, planes, 3, 3))] + _bn(f"{pre}.bn2", planes)
            out += [(f"{pre}.conv3.weight", (4 * planes, planes, 1, 1))]
            out += _bn(f"{pre}.bn3", 4 * planes)
            if b == 0:  # the first block of every stage projects the shortcut
                out += [(f"{pre}.downsample.0.weight", (4 * planes, inplanes, 1, 1))]
                out += _bn(f"{pre}.downsample.1", 4 * planes)
            inplanes = 4 * planes
    return out + [("fc.weight", (1000, 2048)), ("fc.bias", (1000,))]


def big() -> list[tuple[str, Shape]]:
    return [("big", (10_000_000,))]


def tiny() -> list[tuple[str, Shape]]:
    """A few small tensors, for the bench's own tests."""
    return [("w", (7, 5)), ("b", (7,)), ("v", (300,))]


MODELS = {"lenet": lenet5, "gpt2": gpt2_small, "resnet50": resnet50, "big": big, "tiny": tiny}

_EXPECTED = {"lenet": (10, 61_706), "gpt2": (148, 124_439_808),
             "resnet50": (161, 25_557_032), "big": (1, 10_000_000)}
for _name, (_count, _total) in _EXPECTED.items():
    _shapes = MODELS[_name]()
    assert len(_shapes) == _count and numel(_shapes) == _total, (
        f"{_name}: {len(_shapes)} tensors / {numel(_shapes):,} values, "
        f"expected {_count} / {_total:,}")
