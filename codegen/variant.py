"""Kernel variants: how a kernel is shaped, never what it computes.

A :class:`Variant` fixes the choices the tuner (:mod:`odyssey_codegen.tune`)
measures on the machine at hand:

* ``width`` -- lanes per vector (128/256/512-bit registers; 1 = the scalar loop);
* ``unroll`` -- vectors per main-loop iteration (the norm pass: interleaved
  streams of the row, each with its own accumulator);
* ``prefetch`` -- how far ahead (bytes) the main loop prefetches every array it
  reads, 0 = none;
* ``division`` -- ``"exact"``: every ``/`` is a division; ``"reciprocal"``: a
  division by a per-step value (``sqrt(v) / sqrt(bc2)``) becomes a multiplication
  by its reciprocal, computed once per row in float64 (one rounding more: results
  move by at most ~1 ulp of the compute dtype);
* ``streaming`` -- non-temporal stores in the main loop (after a scalar peel to
  vector alignment; rows whose arrays are misaligned to each other use plain
  stores);
* ``chunk`` -- elements per pointer-table row: how the runtime cuts tensors into
  the rows that threads take.

Every variant of a kernel agrees with every other to rounding
(``tests/codegen/test_variants.py``); the default (:func:`default_variant`) is
the shape the kernels had before tuning existed, and what ``ODYSSEY_TUNE=0``
always runs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

__all__ = ["Variant", "default_variant", "DIVISIONS", "CHUNKS", "DEFAULT_CHUNK", "unroll_for",
           "SUMSQ_STREAMS"]

DIVISIONS = ("exact", "reciprocal")
#: row lengths the runtime may cut tensors into (multiples of 64 keep rows line-aligned)
CHUNKS = (1 << 14, 1 << 16, 1 << 18)
DEFAULT_CHUNK = 1 << 16
#: interleaved streams of the norm pass's default variant
SUMSQ_STREAMS = 4
CACHE_LINE = 64


def unroll_for(width: int, itemsize: int) -> int:
    """Vectors per main-loop iteration by default: one cache line of each array, at most 4."""
    return max(1, min(4, CACHE_LINE // (width * itemsize)))


@dataclass(frozen=True)
class Variant:
    width: int
    unroll: int
    prefetch: int
    division: str = "exact"
    streaming: bool = False
    chunk: int = DEFAULT_CHUNK

    def __post_init__(self) -> None:
        for name in ("width", "unroll", "chunk"):
            value = getattr(self, name)
            if type(value) is not int or value < 1 or value & (value - 1):
                raise ValueError(f"variant {name} must be a power of two >= 1, got {value!r}")
        if self.unroll > 16:
            raise ValueError(f"variant unroll must be at most 16, got {self.unroll}")
        if type(self.prefetch) is not int or not 0 <= self.prefetch <= 4096 or self.prefetch % 64:
            raise ValueError(f"variant prefetch must be a multiple of 64 from 0 to 4096 bytes, "
                             f"got {self.prefetch!r}")
        if self.division not in DIVISIONS:
            raise ValueError(f"variant division must be one of {DIVISIONS}, got {self.division!r}")
        if type(self.streaming) is not bool:
            raise ValueError(f"variant streaming must be a bool, got {self.streaming!r}")
        if self.chunk < 64:
            raise ValueError(f"variant chunk must be at least 64 elements, got {self.chunk}")

    def tag(self) -> str:
        """Compact text, part of the kernel's cache key: ``w16u1p512-exact-plain-c65536``."""
        return (f"w{self.width}u{self.unroll}p{self.prefetch}-{self.division}-"
                f"{'nt' if self.streaming else 'plain'}-c{self.chunk}")

    def describe(self, itemsize: int) -> str:
        """For people: ``512-bit x 1, prefetch 512 B, exact division, plain stores, rows of 65536``."""
        bits = self.width * itemsize * 8
        return (f"{bits}-bit x {self.unroll}, prefetch "
                f"{f'{self.prefetch} B' if self.prefetch else 'none'}, {self.division} division, "
                f"{'streaming' if self.streaming else 'plain'} stores, rows of {self.chunk}")

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: object) -> "Variant":
        """A variant from :meth:`to_dict`'s output; ValueError on anything else."""
        names = [f.name for f in fields(cls)]
        if not isinstance(data, dict) or sorted(data) != sorted(names):
            raise ValueError(f"a variant is a mapping with exactly the keys {names}, got {data!r}")
        return cls(**data)


def default_variant(width: int, itemsize: int, prefetch: int) -> Variant:
    """The untuned shape: one cache line per main-loop iteration, the target's
    prefetch distance, exact division, plain stores, rows of 64K elements."""
    return Variant(width, unroll_for(width, itemsize) if width > 1 else 1, prefetch)
