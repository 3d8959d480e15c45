"""The contenders of the torch interop benchmark: real torch training steps.

Every contender owns its model (or GPT-2-shaped parameters) and optimizer;
they differ only in the optimizer:

* ``ours``          -- ``odyssey_training.interop.torch.X`` (``num_threads`` = torch's)
* ``torch_fused``   -- ``torch.optim.X(..., fused=True)``
* ``torch_forloop`` -- ``torch.optim.X(..., foreach=False)``: torch's default on CPU
* ``torch_foreach`` -- ``torch.optim.X(..., foreach=True)``
* ``roofline``      -- ours running the same-traffic kernel (bench/roofline.py: the
  optimizer's loads and stores, no arithmetic), through the same torch interop

Five kinds of case (:func:`build`):

* ``gpt2`` step: the optimizer step alone on GPT-2-small-shaped torch parameters
  whose ``.grad`` are fixed N(0, 1e-3) tensors (shared by all contenders, never
  written); before each step an untimed pass over 8 MiB of other memory;
* ``lenet`` step: the optimizer step alone on a LeNet-5 whose gradients come
  from a real backward pass: before each timed step (untimed) ``zero_grad()``,
  forward, cross-entropy and backward on the next batch of digits, so every
  step gets new ``.grad`` tensors, as in training;
* ``lenet_sched`` step: as ``lenet``, with torch's ``CosineAnnealingLR`` stepped
  (untimed) before each forward pass, so every step brings a new lr, as a per-batch
  schedule (warmup, cosine, one-cycle) does;
* ``lenet_groups`` step: as ``lenet``, with the parameters in two groups as
  transformer recipes split them (weight decay on the weights, none on the biases);
* ``lenet`` e2e: the whole training step timed: ``zero_grad()``, forward, loss,
  backward, ``step()`` on the next batch of digits.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = ["OPTIMIZERS", "CONTENDERS", "Contender", "build", "decay_groups", "digits_batches",
           "BATCH"]

#: bench name -> (class name in torch.optim and interop.torch, constructor kwargs)
OPTIMIZERS = {"adamw": ("AdamW", {}), "adam": ("Adam", {}),
              "sgd_momentum": ("SGD", {"lr": 1e-3, "momentum": 0.9}),
              "adagrad": ("Adagrad", {})}
VARIANTS = {"torch_fused": {"fused": True}, "torch_forloop": {"foreach": False},
            "torch_foreach": {"foreach": True}}
CONTENDERS = ["ours", *VARIANTS]
#: LeNet-5 batch size (digits upsampled to 32x32)
BATCH = 64
SCRATCH_BYTES = 8 << 20
#: the cosine schedule's length in the lenet_sched case (longer than any run)
SCHEDULE_STEPS = 100_000


@dataclass
class Contender:
    name: str
    step: Callable[[], None]
    prepare: Callable[[], None] = lambda: None     # untimed, before each step
    keep: list = field(default_factory=list)


def _optimizer(contender: str, name: str, params: list, threads: int):
    import torch
    from odyssey_training import optimizers
    from odyssey_training.interop import torch as ot_torch
    from .roofline import roofline_class
    cls, kwargs = OPTIMIZERS[name]
    if contender == "ours":
        return getattr(ot_torch, cls)(params, num_threads=threads, **kwargs)
    if contender == "roofline":
        engine = roofline_class(getattr(optimizers, cls))
        return ot_torch.optimizer_class(engine)(params, num_threads=threads, **kwargs)
    return getattr(torch.optim, cls)(params, **kwargs, **VARIANTS[contender])


def digits_batches(seed: int = 0) -> list[tuple]:
    """The embedded digits as LeNet-5 batches (1x32x32 float32 tensors, int64
    labels) in a seeded order: every contender walks the same list."""
    import torch
    from odyssey_training.job.datasets import load_dataset
    from odyssey_training.job.lenet import to_32x32
    data = load_dataset("digits", 0.2, seed)
    x, y = torch.from_numpy(to_32x32(data.x_train)), torch.from_numpy(data.y_train)
    order = torch.from_numpy(np.random.default_rng(seed).permutation(len(y)))
    return [(x[order[i:i + BATCH]].contiguous(), y[order[i:i + BATCH]].contiguous())
            for i in range(0, len(y) - BATCH + 1, BATCH)]


def _gpt2_step(contender: str, name: str, threads: int, grads: list) -> Contender:
    import torch
    params = []
    for g in grads:
        p = torch.nn.Parameter(g * 20.0)        # cheap, deterministic, finite
        p.grad = g
        params.append(p)
    opt = _optimizer(contender, name, params, threads)
    scratch = np.zeros(SCRATCH_BYTES // 8)

    def prepare() -> None:
        scratch.__iadd__(1.0)                  # the rest of a training step leaves the cache
    return Contender(contender, opt.step, prepare, [opt, params])


def decay_groups(model) -> list[dict]:
    """Weight decay on the weights, none on the biases (each the group's own)."""
    named = list(model.named_parameters())
    return [{"params": [p for n, p in named if n.endswith("weight")], "weight_decay": 0.01},
            {"params": [p for n, p in named if not n.endswith("weight")], "weight_decay": 0.0}]


def _lenet(contender: str, name: str, threads: int, module, batches: list,
           whole_step: bool, scheduled: bool = False, grouped: bool = False) -> Contender:
    import torch
    model = copy.deepcopy(module)
    params = decay_groups(model) if grouped else list(model.parameters())
    opt = _optimizer(contender, name, params, threads)
    turn = itertools.cycle(batches)
    loss_fn = torch.nn.functional.cross_entropy
    # a per-batch schedule: after each step the loop moves the lr (untimed)
    scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=SCHEDULE_STEPS)
                 if scheduled else None)
    prepared = itertools.count()

    def forward_backward() -> None:
        if scheduler is not None and next(prepared):      # not before the first step
            scheduler.step()
        x, y = next(turn)
        opt.zero_grad()
        loss_fn(model(x), y).backward()

    if whole_step:
        def step() -> None:
            forward_backward()
            opt.step()
        return Contender(contender, step, keep=[model, opt])
    return Contender(contender, opt.step, forward_backward, [model, opt])


def build(kind: str, contender: str, name: str, threads: int, **inputs) -> Contender:
    """A warmed-up contender: ``kind`` is ``"gpt2"`` (``grads=``), ``"lenet"``,
    ``"lenet_sched"`` (the lr moved by a scheduler before every step),
    ``"lenet_groups"`` (decay and no-decay parameter groups) or
    ``"lenet_e2e"`` (``module=``, ``batches=``)."""
    if kind == "gpt2":
        c = _gpt2_step(contender, name, threads, inputs["grads"])
    else:
        c = _lenet(contender, name, threads, inputs["module"], inputs["batches"],
                   whole_step=kind == "lenet_e2e", scheduled=kind == "lenet_sched",
                   grouped=kind == "lenet_groups")
    for _ in range(3):
        c.prepare()
        c.step()
    return c
