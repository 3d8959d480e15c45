"""Shared pieces of the torch interop tests: a small MLP trained on fixed data,
torch.optim twins of our optimizers, and a Lion written from the paper."""

from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from odyssey_training.interop import torch as ot_torch  # noqa: E402

from ..optimizers.reference import CASES, case_id, draw_hyper, numpy_uniform  # noqa: E402

#: (optimizer name, flag/hyper case) for every case of the optimizer tests' table
ALL_CASES = [(name, case) for name, cases in CASES.items() for case in cases]
ALL_IDS = [case_id(name, case) for name, case in ALL_CASES]


class ReferenceLion(torch.optim.Optimizer):
    """Lion as Algorithm 2 of Chen et al. (2023) writes it, in torch ops:
    c = β1·m + (1-β1)·g;  θ ← θ - lr·(sign(c) + λ·θ);  m ← β2·m + (1-β2)·g."""

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0):
        super().__init__(params, {"lr": lr, "betas": betas, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["exp_avg"] = torch.zeros_like(p)
                m, g = state["exp_avg"], p.grad
                c = m * beta1 + g * (1 - beta1)
                p.mul_(1 - group["lr"] * group["weight_decay"])
                p.add_(torch.sign(c), alpha=-group["lr"])
                m.mul_(beta2).add_(g, alpha=1 - beta2)


def torch_class(name: str):
    """torch.optim's optimizer of that name (the paper's Lion for Lion)."""
    return ReferenceLion if name == "Lion" else getattr(torch.optim, name)


def torch_kwargs(name: str, hyper: dict) -> dict:
    """torch's single-tensor path (foreach=False) where torch has the choice."""
    return dict(hyper) if name == "Lion" else {**hyper, "foreach": False}


def mlp(seed: int, dtype=torch.float32) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 16),
                               torch.nn.Tanh(), torch.nn.Linear(16, 3)).to(dtype)


def groups(model: torch.nn.Module, lr: float, factor: float = 0.5) -> list[dict]:
    """Two param groups: the first layer, and the rest at ``factor`` times the lr."""
    params = list(model.parameters())
    return [{"params": params[:2]}, {"params": params[2:], "lr": lr * factor}]


class Data:
    """A learnable task: inputs and the labels a fixed random teacher network gives
    them, served in mini-batches in a fixed order."""

    def __init__(self, seed: int, dtype=torch.float32, n: int = 512, batch: int = 32):
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((n, 6))
        teacher = rng.standard_normal((6, 3))
        self.x = torch.from_numpy(x).to(dtype)
        self.y = torch.from_numpy(np.argmax(np.tanh(x @ teacher) + 0.3 * rng.standard_normal(
            (n, 3)), axis=1))
        self.batch = batch

    def __getitem__(self, step: int):
        n = len(self.y)
        start = (step * self.batch) % n
        return self.x[start:start + self.batch], self.y[start:start + self.batch]


def loss_of(model, data, step):
    x, y = data[step]
    return torch.nn.functional.cross_entropy(model(x), y)


def train_step(model, opt, data, step, scheduler=None, sign=1.0):
    """One step on ``sign`` x the loss (-1 for ``maximize=True``: the maximized
    objective is then the negative loss, and training still converges)."""
    opt.zero_grad()
    (sign * loss_of(model, data, step)).backward()
    opt.step()
    if scheduler is not None:
        scheduler.step()


def mlp_hyper(name: str, case: dict, rng: np.random.Generator) -> dict:
    """The case's hyperparameters (tests/optimizers/reference.py draws them) with
    the step size drawn where 200 steps of the MLP are still descending.  A
    normalising optimizer (Adam, RMSprop, Lion: steps of about lr whatever the
    gradient) that reaches the noise floor at a constant lr oscillates
    chaotically: any rounding difference then grows exponentially, two correct
    implementations end up apart, and the test would compare noise (so would
    lr >= 0.05, momentum near 1, Adam with little momentum, or RMSprop's alpha
    near 0.5, where the centered variance is a difference of near-equal numbers)."""
    hyper = draw_hyper(name, case, numpy_uniform(rng))
    uniform = numpy_uniform(rng)
    hyper["lr"] = uniform(5e-4, 5e-3, True)
    if "betas" in hyper:
        hyper["betas"] = (uniform(0.5, 0.95, False), uniform(0.9, 0.999, False))
    if "alpha" in hyper:
        hyper["alpha"] = uniform(0.9, 0.999, False)
    if "momentum" in hyper:
        hyper["momentum"] = uniform(0.05, 0.9, False)
    return hyper


class Twins:
    """The same model, data and hyperparameters under ours and torch's optimizer."""

    def __init__(self, name: str, case: dict, seed: int, dtype=torch.float32):
        rng = np.random.default_rng(seed)
        self.name = name
        self.hyper = mlp_hyper(name, case, rng)
        self.data = Data(seed, dtype)
        self.ours_model = mlp(seed, dtype)
        self.torch_model = copy.deepcopy(self.ours_model)
        lr = self.hyper["lr"]
        self.ours = getattr(ot_torch, name)(groups(self.ours_model, lr), **self.hyper)
        self.torch = torch_class(name)(groups(self.torch_model, lr),
                                       **torch_kwargs(name, self.hyper))

    @property
    def sign(self) -> float:
        return -1.0 if self.hyper.get("maximize") else 1.0

    def step(self, step: int) -> None:
        train_step(self.ours_model, self.ours, self.data, step, sign=self.sign)
        train_step(self.torch_model, self.torch, self.data, step, sign=self.sign)

    def pairs(self):
        return list(zip(self.ours_model.parameters(), self.torch_model.parameters()))


def assert_params_close(pairs, rtol: float, atol: float, what: str = "") -> None:
    for i, (a, b) in enumerate(pairs):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=rtol,
                                   atol=atol, err_msg=f"{what}: parameter {i}")
