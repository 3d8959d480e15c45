r"""``EMAWeights``: an exponential moving average of the model's parameters.

After optimizer step :math:`t` (``loop.global_step``, counted from 1), every
``update_every``-th step, each average :math:`\bar\theta` moves towards its
parameter :math:`\theta`:

.. math::

    s &= t - \text{update\_after\_step} - 1 \\
    d_t &= \begin{cases}
        0 & s \le 0 \\
        \max(\text{min\_decay}, \min(\text{decay}, 1 - (1 + s/\gamma)^{-p}))
            & \text{use\_warmup} \\
        \text{decay} & \text{otherwise}
    \end{cases} \\
    \bar\theta &\leftarrow d_t\,\bar\theta + (1 - d_t)\,\theta
        = \operatorname{lerp}(\bar\theta, \theta, 1 - d_t)

(:math:`\gamma` = ``warmup_gamma``, :math:`p` = ``warmup_power``): timm's
``ModelEmaV3`` decay, so the first update copies the parameters (as Keras's
optimizer EMA and torch's ``AveragedModel`` also do) and the warmup lets the
average follow the fast early changes.  The update runs as the generated kernel
``specs/kernels/ema.toml`` over every parameter in one native call.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Iterator

import numpy as np

from .base import Callback

__all__ = ["EMAWeights"]


class EMAWeights(Callback):
    """Keep an exponential moving average of the parameters (math in the module doc).

    * **Validation** measures the averages: they are swapped into the model's
      parameter arrays at ``on_validation_begin`` and the training weights back at
      ``on_validation_end`` (contents copied, the arrays keep their identity, so the
      optimizer's pointers stay valid).
    * **Saving** (Lightning's EMA callback does the same): the model's parameters in a
      checkpoint are the training weights, which an exact resume needs; the averages
      are this callback's ``state_dict()`` (``{"averages": [ndarray, ...]}``), which the
      loop's state carries, so ``ModelCheckpoint``/``BackupAndRestore`` save them and a
      resumed run continues the average exactly.  Save outside validation (the
      checkpoint callbacks do: epoch and batch ends).  To save the averaged model as
      the model, use ``with ema.swapped(): save_checkpoint(path, model=model)``.
    * **At the end** (``apply_at_end=True``, as Keras's optimizer EMA finalizes), the
      averages are copied into the model, so the model after ``fit`` is the one the
      validation logs measured.  ``apply()`` does it at any time.

    Args:
        decay: weight of the old average, in [0, 1].
        min_decay: lower bound of the warmed-up decay, in [0, decay].
        update_after_step: the average copies the parameters until step
            ``update_after_step + 1``.
        use_warmup: ramp the decay up as ``1 - (1 + s/warmup_gamma)**-warmup_power``.
        warmup_gamma, warmup_power: the ramp's shape (> 0).
        update_every: update after every N-th optimizer step.
        apply_at_end: copy the averages into the model at the end of training.
    """

    def __init__(self, decay: float = 0.999, *, min_decay: float = 0.0,
                 update_after_step: int = 0, use_warmup: bool = False,
                 warmup_gamma: float = 1.0, warmup_power: float = 2 / 3,
                 update_every: int = 1, apply_at_end: bool = True) -> None:
        decay = _real("decay", decay)
        min_decay = _real("min_decay", min_decay)
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"decay must be in [0, 1], got {decay}")
        if not 0.0 <= min_decay <= decay:
            raise ValueError(f"min_decay must be in [0, decay={decay}], got {min_decay}")
        for name, value in (("warmup_gamma", warmup_gamma), ("warmup_power", warmup_power)):
            if not _real(name, value) > 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        for name, value, low in (("update_after_step", update_after_step, 0),
                                 ("update_every", update_every, 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                    or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        for name, value in (("use_warmup", use_warmup), ("apply_at_end", apply_at_end)):
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be a bool, got {value!r}")
        self.decay, self.min_decay = decay, min_decay
        self.update_after_step, self.update_every = int(update_after_step), int(update_every)
        self.use_warmup, self.apply_at_end = use_warmup, apply_at_end
        self.warmup_gamma, self.warmup_power = float(warmup_gamma), float(warmup_power)
        self._averages: list[np.ndarray] | None = None
        self._params: list[np.ndarray] = []     # the model's parameter arrays
        self._backup: list[np.ndarray] | None = None   # training weights while swapped
        self._swapped = False
        self._seen_step = 0
        self._kernel: Any = None

    # ---- the average --------------------------------------------------------
    def decay_at(self, step: int) -> float:
        """The decay :math:`d_t` of the update after optimizer step ``step``."""
        s = step - self.update_after_step - 1
        if s <= 0:
            return 0.0
        if not self.use_warmup:
            return self.decay
        ramp = 1.0 - (1.0 + s / self.warmup_gamma) ** -self.warmup_power
        return max(self.min_decay, min(self.decay, ramp))

    @property
    def averages(self) -> list[np.ndarray] | None:
        """The averages, one array per model parameter (None before training)."""
        return self._averages

    def update(self, step: int) -> None:
        """Move the averages towards the parameters with the decay of ``step``."""
        self._require_averages()
        decay = self.decay_at(step)
        if decay == 0.0:
            for avg, p in zip(self._averages, self._params):
                np.copyto(avg, p)
            return
        if self._kernel is None:
            from ..elementwise import ElementwiseKernel
            self._kernel = ElementwiseKernel("ema")
        self._kernel(self._averages, self._params, decay=decay)

    def apply(self) -> None:
        """Copy the averages into the model's parameters (in place)."""
        self._require_averages()
        if self._swapped:
            raise RuntimeError("apply() inside swapped(): the training weights would come "
                               "back on exit")
        for p, avg in zip(self._params, self._averages):
            np.copyto(p, avg)

    @contextlib.contextmanager
    def swapped(self) -> Iterator[None]:
        """Inside, the model's parameters hold the averages; on exit, the training
        weights again."""
        self._swap_in()
        try:
            yield
        finally:
            self._swap_out()

    def _swap_in(self) -> None:
        self._require_averages()
        if self._swapped:
            raise RuntimeError("the averages are already swapped into the model")
        if self._backup is None:
            self._backup = [np.empty_like(p) for p in self._params]
        for p, avg, keep in zip(self._params, self._averages, self._backup):
            np.copyto(keep, p)
            np.copyto(p, avg)
        self._swapped = True

    def _swap_out(self) -> None:
        if self._swapped:
            for p, keep in zip(self._params, self._backup):
                np.copyto(p, keep)
            self._swapped = False

    def _require_averages(self) -> None:
        if self._averages is None or not self._params:
            raise RuntimeError("EMAWeights has no averages yet (training has not begun)")

    # ---- hooks --------------------------------------------------------------
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        params = self.loop.model.parameters()
        for p in params:
            if p.data.dtype not in (np.float32, np.float64):
                raise ValueError(f"EMAWeights averages float32/float64 parameters; "
                                 f"{p.name or 'a parameter'} is {p.data.dtype}")
        self._params = [p.data for p in params]
        self._backup, self._swapped = None, False
        if self._averages is None:
            self._averages = [np.array(p, order="C", copy=True) for p in self._params]
        else:
            _check_fits(self._averages, self._params)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._seen_step = self.loop.global_step

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        step = self.loop.global_step
        if step != self._seen_step:
            self._seen_step = step
            if step % self.update_every == 0:
                self.update(step)

    def on_validation_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._swap_in()

    def on_validation_end(self, logs: dict[str, Any] | None = None) -> None:
        self._swap_out()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._swap_out()
        if self.apply_at_end:
            self.apply()

    # ---- state --------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """``{"averages": [copies of the averages] or None}``."""
        return {"averages": None if self._averages is None
                else [a.copy() for a in self._averages]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (checked against the model when the callback is
        already in a loop, else at the start of training)."""
        if not isinstance(state, dict) or "averages" not in state:
            raise ValueError("an EMAWeights state is {'averages': [ndarray, ...] or None}")
        loaded = state["averages"]
        if loaded is None:
            self._averages = None
            return
        if not isinstance(loaded, (list, tuple)):
            raise ValueError(f"EMAWeights averages must be a list of arrays, got "
                             f"{type(loaded).__name__}")
        arrays = [np.asarray(a) for a in loaded]
        if self.loop is not None and getattr(self.loop, "model", None) is not None:
            _check_fits(arrays, [p.data for p in self.loop.model.parameters()])
        if self._averages is not None and len(self._averages) == len(arrays) and all(
                a.shape == b.shape and a.dtype == b.dtype for a, b in zip(self._averages, arrays)):
            for avg, a in zip(self._averages, arrays):   # in place: keeps the kernel's table
                np.copyto(avg, a)
        else:
            self._averages = [np.array(a, order="C", copy=True) for a in arrays]


def _check_fits(averages: list[np.ndarray], params: list[np.ndarray]) -> None:
    if len(averages) != len(params):
        raise ValueError(f"EMAWeights holds {len(averages)} averages, the model has "
                         f"{len(params)} parameters")
    for i, (a, p) in enumerate(zip(averages, params)):
        if a.shape != p.shape or a.dtype != p.dtype:
            raise ValueError(f"EMAWeights average {i} is {a.shape} {a.dtype}, its parameter "
                             f"{p.shape} {p.dtype}")


def _real(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)
