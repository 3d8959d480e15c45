"""``ArrayLoader``: seeded, resumable mini-batches over in-memory arrays."""

from __future__ import annotations

from typing import Any, Iterator, Mapping

import numpy as np

__all__ = ["ArrayLoader", "epoch_order"]


def epoch_order(num_samples: int, seed: int, epoch: int) -> np.ndarray:
    """Epoch ``epoch``'s sample order: ``np.random.default_rng((seed, epoch)).permutation(n)``.

    It depends on ``(seed, epoch)`` only, never on what ran before, so any epoch
    can be redrawn after a restart."""
    return np.random.default_rng((seed, epoch)).permutation(num_samples)


def _int(owner: str, name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{owner}: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _array(owner: str, name: str, value: object) -> np.ndarray:
    arr = value if isinstance(value, np.ndarray) else np.asarray(value)
    if arr.ndim == 0:
        raise ValueError(f"{owner}: {name} must have a first (sample) dimension, got a scalar")
    if arr.dtype == object:
        raise TypeError(f"{owner}: {name} has dtype object; pass numeric arrays")
    return arr


class ArrayLoader:
    """Mini-batches ``(inputs, targets)`` of ``x`` and ``y`` (split along the first axis).

    * **Epochs.** Iterating yields one epoch's batches; each new iteration
      continues where the last stopped, so after a complete epoch it starts the
      next one (``for xb, yb in loader`` once per epoch, as a torch DataLoader).
    * **Order.** Epoch ``e`` visits the samples in :func:`epoch_order` ``(n, seed, e)``
      when ``shuffle`` (else in order): reproducible and independent of history.
    * **Size.** ``len(loader)`` batches per epoch: ``ceil(n / G)``, or ``n // G``
      with ``drop_last`` (the short last batch is dropped), for the global batch
      ``G = batch_size * world_size``.
    * **Resume.** ``state_dict()`` holds the epoch and the batches already
      yielded in it (plain ints, plus the configuration it is valid for);
      ``load_state_dict`` makes a loader yield exactly the rest of that epoch,
      or the next epoch when the saved one was complete.  A batch counts as
      yielded the moment it is handed out.
    * **Ranks.** With ``world_size`` N every rank passes the same arguments with
      its own ``rank`` and the per-rank ``batch_size`` B: at each step the ranks'
      batches together are the global batch of N*B samples that one process with
      ``batch_size=N*B`` draws, rank r taking the r-th slice (a short last batch is
      split as evenly as ``np.array_split`` does, so a rank's slice may be smaller
      or even empty: use ``drop_last=True`` for equal batches).  ``len`` is the
      same on every rank.

    Batches are C-contiguous: copies (``np.take``) when shuffling, read-only
    views of ``x`` and ``y`` otherwise.  One iteration at a time: starting a new
    one, or loading a state, ends the previous iterator (it raises RuntimeError).

    >>> import numpy as np
    >>> loader = ArrayLoader(np.arange(10), np.arange(10) * 10, batch_size=4, seed=1)
    >>> len(loader), [xb.tolist() for xb, _ in loader]
    (3, [[8, 4, 7, 0], [1, 2, 5, 9], [6, 3]])
    >>> state = loader.state_dict()
    >>> state["epoch"], state["position"]
    (1, 0)
    """

    def __init__(self, x: Any, y: Any, batch_size: int, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False, *, rank: int = 0, world_size: int = 1) -> None:
        name = type(self).__name__
        self.x = _array(name, "x", x)
        self.y = _array(name, "y", y)
        if self.x.shape[0] != self.y.shape[0]:
            raise ValueError(f"{name}: x has {self.x.shape[0]} samples but y has "
                             f"{self.y.shape[0]}; the first dimensions must match")
        self.batch_size = _int(name, "batch_size", batch_size, 1)
        self.seed = _int(name, "seed", seed, 0)
        for flag, value in (("shuffle", shuffle), ("drop_last", drop_last)):
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{name}: {flag} must be True or False, got {value!r}")
        self.shuffle, self.drop_last = bool(shuffle), bool(drop_last)
        self.world_size = _int(name, "world_size", world_size, 1)
        self.rank = _int(name, "rank", rank, 0)
        if self.rank >= self.world_size:
            raise ValueError(f"{name}: rank {rank} is not below world_size {world_size}")
        self.num_samples = int(self.x.shape[0])
        self.global_batch_size = self.batch_size * self.world_size
        full, rest = divmod(self.num_samples, self.global_batch_size)
        self._steps = full if self.drop_last or not rest else full + 1
        if self._steps == 0:
            what = "no samples" if not self.num_samples else (
                f"{self.num_samples} samples, fewer than one global batch of "
                f"{self.global_batch_size}, and drop_last=True")
            raise ValueError(f"{name}: an epoch would have no batches ({what})")
        self._epoch = 0
        self._position = 0
        self._order: tuple[int, np.ndarray] | None = None
        self._token: object = None

    def __len__(self) -> int:
        return self._steps

    @property
    def epoch(self) -> int:
        """The epoch the next batch comes from (0-based)."""
        return self._epoch

    @property
    def position(self) -> int:
        """Batches of the current epoch already yielded."""
        return self._position

    def set_epoch(self, epoch: int) -> None:
        """Start epoch ``epoch`` from its first batch on the next iteration."""
        self._epoch = _int(type(self).__name__, "epoch", epoch, 0)
        self._position = 0
        self._token = None

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        token = self._token = object()
        return self._batches(token)

    def _batches(self, token: object) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        epoch = self._epoch
        for step in range(self._position, self._steps):
            if self._token is not token:
                raise RuntimeError(f"{type(self).__name__}: this iterator was ended by a new "
                                   "iteration or a load_state_dict/set_epoch; iterate anew")
            batch = self._batch(epoch, step)
            if step + 1 == self._steps:
                self._epoch, self._position = epoch + 1, 0
            else:
                self._position = step + 1
            yield batch

    def _batch(self, epoch: int, step: int) -> tuple[np.ndarray, np.ndarray]:
        start = step * self.global_batch_size
        size = min(self.global_batch_size, self.num_samples - start)
        share, extra = divmod(size, self.world_size)
        lo = start + self.rank * share + min(self.rank, extra)
        hi = lo + share + (self.rank < extra)
        if not self.shuffle:
            return _view(self.x[lo:hi]), _view(self.y[lo:hi])
        if self._order is None or self._order[0] != epoch:
            self._order = (epoch, epoch_order(self.num_samples, self.seed, epoch))
        index = self._order[1][lo:hi]
        return np.take(self.x, index, axis=0), np.take(self.y, index, axis=0)

    def state_dict(self) -> dict[str, Any]:
        """``{"epoch", "position"}`` and the configuration they are valid for
        (``num_samples``, ``global_batch_size``, ``shuffle``, ``seed``,
        ``drop_last``); JSON-able and the same on every rank."""
        return {"epoch": self._epoch, "position": self._position,
                "num_samples": self.num_samples, "global_batch_size": self.global_batch_size,
                "shuffle": self.shuffle, "seed": self.seed, "drop_last": self.drop_last}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Resume from a :meth:`state_dict`: the next iteration yields the rest of
        the saved epoch.  The configuration keys, when present, must match this
        loader's (another batch size or seed would make the position meaningless);
        nothing changes on an error."""
        name = type(self).__name__
        if not isinstance(state_dict, Mapping) or not {"epoch", "position"} <= set(state_dict):
            raise ValueError(f"{name}.load_state_dict: expected a dict with 'epoch' and "
                             f"'position', got {state_dict!r}")
        mine = self.state_dict()
        for key, value in state_dict.items():
            if key not in mine:
                raise ValueError(f"{name}.load_state_dict: unknown key {key!r}")
            if key not in ("epoch", "position") and value != mine[key]:
                raise ValueError(f"{name}.load_state_dict: the state is for {key}={value!r}, "
                                 f"this loader has {key}={mine[key]!r}")
        epoch = _int(name, "epoch", state_dict["epoch"], 0)
        position = _int(name, "position", state_dict["position"], 0)
        if position >= self._steps:
            raise ValueError(f"{name}.load_state_dict: position {position} is past the "
                             f"{self._steps} batches of an epoch")
        self._epoch, self._position, self._token = epoch, position, None

    def __repr__(self) -> str:
        ranks = f", rank={self.rank}, world_size={self.world_size}" if self.world_size > 1 else ""
        return (f"{type(self).__name__}(num_samples={self.num_samples}, "
                f"batch_size={self.batch_size}, shuffle={self.shuffle}, seed={self.seed}, "
                f"drop_last={self.drop_last}{ranks})")


def _view(arr: np.ndarray) -> np.ndarray:
    """A read-only C-contiguous view (of a copy when ``arr`` is not contiguous)."""
    out = np.ascontiguousarray(arr).view()
    out.flags.writeable = False
    return out
