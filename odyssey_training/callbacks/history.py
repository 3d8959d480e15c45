"""``History``: every epoch's logs, as Keras's ``History``."""

from __future__ import annotations

from typing import Any

from .base import Callback

__all__ = ["History"]


class History(Callback):
    """``history[key]`` is the per-epoch list of log ``key`` (``loss``, ``acc``,
    ``lr``, ``val_loss``, ...); ``epoch`` lists the epochs recorded.  A key that
    appears only in some epochs (``val_*`` with ``validate_every > 1``) has one
    entry per epoch in which it was logged, as in Keras.  ``fit`` returns it."""

    def __init__(self) -> None:
        self.history: dict[str, list[Any]] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def state_dict(self) -> dict[str, Any]:
        return {"history": {k: list(v) for k, v in self.history.items()},
                "epoch": list(self.epoch)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        history, epochs = (state.get("history"), state.get("epoch")) if isinstance(
            state, dict) else (None, None)
        if not isinstance(history, dict) or not isinstance(epochs, list):
            raise ValueError("a History state is {'history': {key: [...]}, 'epoch': [...]}")
        self.history = {str(k): list(v) for k, v in history.items()}
        self.epoch = [int(e) for e in epochs]

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={sorted(self.history)})"
