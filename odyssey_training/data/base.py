"""What the training loops need from a data source.

Any iterable of ``(inputs, targets)`` batches works for a plain ``fit``; a
:class:`Loader` also reports its batches per epoch and saves its position, so a
checkpointed run resumes on exactly the batches it had not yet seen.
"""

from __future__ import annotations

from typing import Any, Iterator, Protocol, runtime_checkable

__all__ = ["Loader"]


@runtime_checkable
class Loader(Protocol):
    """A resumable, epoch-based source of ``(inputs, targets)`` batches.

    * ``iter(loader)`` yields the rest of the current epoch; once an epoch's last
      batch has been yielded the next iteration starts the next epoch;
    * ``len(loader)`` is the number of batches in a full epoch;
    * ``state_dict()`` is a JSON-able dict of the position (epoch and batches
      already yielded); ``load_state_dict(sd)`` restores it.
    """

    def __iter__(self) -> Iterator[tuple[Any, Any]]: ...

    def __len__(self) -> int: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state_dict: dict[str, Any]) -> None: ...
