"""The on-disk kernel cache: one flat directory of content-addressed files.

An entry is ``<key>.o`` (object code; other small facts, such as the SIMD width
probe of :mod:`odyssey_codegen.target`, use ``.facts``, and the tuner's wisdom,
JSON text that is parsed and validated, never executed, ``.wisdom``): an 8-byte magic, the SHA-256 of the payload, then the
payload (an object file).  Writes go to a temp file in the same directory and
are published with :func:`os.replace`, so readers see a whole entry or none and
two processes filling the cache at once are safe (both write identical bytes).
A corrupt or truncated entry reads as missing and is rebuilt by the caller.
Nothing read from the cache is ever executed by Python (no pickle): it is
object code for the JIT linker.

Location: ``$ODYSSEY_CACHE_DIR``, else ``$XDG_CACHE_HOME/odyssey-training``,
else ``~/.cache/odyssey-training``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

__all__ = ["cache_dir", "read", "write", "info", "clear", "MAGIC"]

MAGIC = b"ODYKRN1\n"
_DIGEST = 32


def cache_dir() -> Path:
    explicit = os.environ.get("ODYSSEY_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "odyssey-training"


def _path(key: str, suffix: str) -> Path:
    if not key or not all(c in "0123456789abcdef" for c in key):
        raise ValueError(f"cache keys are lowercase hex digests, got {key!r}")
    if suffix not in (".o", ".facts", ".wisdom"):
        raise ValueError(f"unknown cache entry suffix {suffix!r}")
    return cache_dir() / f"{key}{suffix}"


def read(key: str, suffix: str = ".o") -> bytes | None:
    """The payload stored under ``key``, or None when absent or corrupt."""
    try:
        blob = _path(key, suffix).read_bytes()
    except OSError:
        return None
    head, digest, payload = blob[:len(MAGIC)], blob[len(MAGIC):len(MAGIC) + _DIGEST], \
        blob[len(MAGIC) + _DIGEST:]
    if head != MAGIC or hashlib.sha256(payload).digest() != digest or not payload:
        return None
    return payload


def write(key: str, payload: bytes, suffix: str = ".o") -> None:
    """Store ``payload`` under ``key`` atomically (temp file + os.replace)."""
    path = _path(key, suffix)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{key[:16]}.", suffix=f".{os.getpid()}.tmp",
                               dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(MAGIC + hashlib.sha256(payload).digest() + payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def info() -> dict[str, object]:
    """Location, number of entries and their total size in bytes."""
    root = cache_dir()
    entries = sorted(root.glob("*.o")) if root.is_dir() else []
    return {"path": str(root), "entries": len(entries),
            "bytes": sum(p.stat().st_size for p in entries)}


def clear() -> int:
    """Delete every entry (and stray temp files); returns how many entries went."""
    root = cache_dir()
    if not root.is_dir():
        return 0
    removed = 0
    for p in [p for pattern in ("*.o", "*.facts", "*.wisdom", ".*.tmp")
              for p in root.glob(pattern)]:
        try:
            p.unlink()
            removed += p.suffix == ".o"
        except FileNotFoundError:
            pass
    return removed
