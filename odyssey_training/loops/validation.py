"""``ValidationLoop``: the basic loop with validation required."""

from __future__ import annotations

from typing import Iterable

from ..callbacks.history import History
from .basic import BasicTrainingLoop

__all__ = ["ValidationLoop"]


class ValidationLoop(BasicTrainingLoop):
    """:class:`BasicTrainingLoop` whose ``fit`` takes validation data as a required
    argument: every ``validate_every``-th epoch ends with ``val_*`` logs, which
    EarlyStopping, ModelCheckpoint and ReduceLROnPlateau usually monitor."""

    def fit(self, train_data: Iterable, val_data: Iterable, epochs: int = 10,  # type: ignore[override]
            max_steps: int | None = None, validate_every: int = 1,
            initial_epoch: int = 0) -> History:
        if val_data is None:
            raise ValueError("ValidationLoop.fit needs val_data (use BasicTrainingLoop to "
                             "train without validation)")
        return super().fit(train_data, val_data, epochs=epochs, max_steps=max_steps,
                           validate_every=validate_every, initial_epoch=initial_epoch)
