"""``TorchModel``: an ``nn.Module`` behind the training loops' Model protocol.

* ``parameters()``: one :class:`~.tensors.TensorParameter` per module parameter,
  named as ``module.named_parameters()`` names it (a ``torch.compile``'d module
  is named as its original module): zero-copy views, so any odyssey optimizer
  updates the module in place and ``.grad`` reads the tensors' gradients.
* ``forward(inputs, training)``: puts the module in train or eval mode, runs it
  on the inputs (ndarrays become tensors sharing their memory; under
  ``torch.no_grad()`` when not training) and returns the outputs as zero-copy
  ndarray views, so the loops' losses and metrics take them as they are.
* ``backward(grad_outputs)``: back-propagates ``grad_outputs`` from the last
  training forward through autograd; gradients accumulate into the tensors'
  ``.grad`` as torch does (what ``Parameter.grad`` then reads).
* ``buffers()``: the module's persistent buffers (BatchNorm running statistics,
  ...) as zero-copy views, by ``state_dict`` name: the protocol's optional
  non-trainable state, which checkpoints save and restore in place.
* ``loss``: with ``loss_fn`` (a torch loss such as ``nn.CrossEntropyLoss()``), a
  loop loss ``(outputs, targets) -> (value, grad_outputs)`` computed by torch.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from .tensors import TensorParameter

__all__ = ["TorchModel"]


class TorchModel:
    """Adapt ``module`` to the Model protocol (``parameters``, ``forward``,
    ``backward``, ``buffers``); ``loss_fn(output_tensor, target_tensor) ->
    scalar tensor`` makes :meth:`loss` available.  Every parameter and buffer
    must be a CPU tensor; parameters must also be contiguous float32/float64."""

    def __init__(self, module: torch.nn.Module,
                 loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None
                 ) -> None:
        if not isinstance(module, torch.nn.Module):
            raise TypeError(f"TorchModel needs a torch.nn.Module, got {type(module).__name__}")
        if loss_fn is not None and not callable(loss_fn):
            raise TypeError(f"loss_fn must be callable (outputs, targets) -> loss tensor, "
                            f"got {type(loss_fn).__name__}")
        self.module = module
        self.loss_fn = loss_fn
        named = getattr(module, "_orig_mod", module)     # torch.compile keeps it here
        self._params = [TensorParameter(t, name) for name, t in named.named_parameters()]
        own = {id(p.tensor) for p in self._params}
        self._buffers: dict[str, torch.Tensor] = {}
        for name, t in named.state_dict(keep_vars=True).items():
            if isinstance(t, torch.Tensor) and id(t) not in own:
                if t.device.type != "cpu" or t.layout != torch.strided:
                    raise ValueError(f"buffer {name!r} ({t.device}, {t.layout}) must be a "
                                     "dense CPU tensor")
                self._buffers[name] = t
        self._outputs: Any = None

    # ---- the Model protocol -----------------------------------------------------
    def parameters(self) -> list[TensorParameter]:
        """The module's parameters as zero-copy Parameters, by name."""
        return list(self._params)

    def buffers(self) -> dict[str, np.ndarray]:
        """The module's persistent buffers as zero-copy ndarray views, by name;
        writing into them (``np.copyto``) writes the module's buffers."""
        return {name: t.detach().numpy() for name, t in self._buffers.items()}

    def forward(self, inputs: Any, training: bool = True) -> Any:
        """The module's outputs on ``inputs`` (an ndarray or tensor, or a tuple of
        them as positional arguments), as ndarray views."""
        module = self.module
        if module.training != training:
            module.train(training)
        args = tuple(map(_tensor, inputs)) if isinstance(inputs, (tuple, list)) else (
            _tensor(inputs),)
        if training:
            outputs = module(*args)
            self._outputs = outputs
        else:
            self._outputs = None
            with torch.no_grad():
                outputs = module(*args)
        return _views(outputs)

    def backward(self, grad_outputs: Any) -> None:
        """Back-propagate ``grad_outputs`` (d loss / d outputs of the last training
        forward) into the parameters' ``.grad`` (accumulating, as autograd does)."""
        outputs = self._outputs
        if outputs is None:
            raise RuntimeError("TorchModel.backward() needs a forward(inputs, training=True) "
                               "first (and runs once per forward)")
        self._outputs = None
        if isinstance(outputs, torch.Tensor):
            torch.autograd.backward(outputs, _like(grad_outputs, outputs))
        else:
            grads = [_like(g, o) for g, o in zip(grad_outputs, outputs, strict=True)]
            torch.autograd.backward(list(outputs), grads)

    # ---- a torch loss for the loops ------------------------------------------------
    def loss(self, outputs: Any, targets: Any) -> tuple[float, np.ndarray]:
        """``loss_fn`` on the outputs as the loops call a loss: the mean loss as a
        float and its gradient with respect to ``outputs`` (an ndarray)."""
        if self.loss_fn is None:
            raise TypeError("TorchModel.loss needs TorchModel(module, loss_fn=...)")
        leaf = _tensor(np.asarray(outputs)).detach().requires_grad_(True)
        with torch.enable_grad():
            value = self.loss_fn(leaf, _tensor(targets))
            (grad,) = torch.autograd.grad(value, leaf)
        return float(value.detach()), grad.numpy()

    def __repr__(self) -> str:
        return f"TorchModel({type(self.module).__name__}, {len(self._params)} parameters)"


def _tensor(x: Any) -> Any:
    """An ndarray as a tensor sharing its memory (a read-only one is copied)."""
    if isinstance(x, np.ndarray):
        return torch.from_numpy(x if x.flags.writeable else x.copy())
    return x


def _views(outputs: Any) -> Any:
    if isinstance(outputs, torch.Tensor):
        return outputs.detach().numpy()
    if isinstance(outputs, (tuple, list)):
        return tuple(_views(o) for o in outputs)
    raise TypeError(f"TorchModel: the module returned {type(outputs).__name__}; expected "
                    "a tensor or a tuple of tensors")


def _like(grad: Any, output: torch.Tensor) -> torch.Tensor:
    """``grad`` as a tensor of ``output``'s dtype and shape."""
    g = torch.as_tensor(grad)
    if g.dtype != output.dtype:
        g = g.to(output.dtype)
    if g.shape != output.shape:
        raise ValueError(f"TorchModel.backward: grad_outputs has shape {tuple(g.shape)}, the "
                         f"outputs {tuple(output.shape)}")
    return g
