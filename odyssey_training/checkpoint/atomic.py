"""Atomic file replacement: write a temporary file next to the target, flush
and fsync it, ``os.replace`` it over the target, fsync the directory.

Readers see the old file or the new one, never a mix: a process killed at any
point (even SIGKILL) leaves the previous file intact.  A killed writer can
leave its temporary file behind (``.NAME.HOST.PID.TOKEN.tmp``); the next write
to the same target removes those whose process is gone.

>>> import tempfile, pathlib
>>> target = pathlib.Path(tempfile.mkdtemp()) / "log.csv"
>>> atomic_write_text(target, "epoch,loss\\n0,1.5\\n")
>>> with atomic_open(target, "a") as f:    # "a": the old content, then the new
...     _ = f.write("1,1.2\\n")
>>> target.read_text()
'epoch,loss\\n0,1.5\\n1,1.2\\n'
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
from pathlib import Path
from typing import IO, Any, Callable, Iterator

__all__ = ["atomic_path", "atomic_open", "atomic_write_bytes", "atomic_write_text",
           "atomic_link", "fsync_directory"]


def fsync_directory(directory: str | os.PathLike) -> None:
    """Make a rename inside ``directory`` durable (a no-op where directories
    cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _prefix(target: Path) -> str:
    return f".{target.name}.{socket.gethostname()}."


def _remove_stale_temps(target: Path) -> None:
    """Delete temporary files of ``target`` left by dead processes on this host."""
    if os.name != "posix":
        return
    prefix = _prefix(target)
    with os.scandir(target.parent) as entries:     # (pathlib's glob compiles a pattern)
        stale = [Path(e.path) for e in entries
                 if e.name.startswith(prefix) and e.name.endswith(".tmp")]
    for entry in stale:
        pid = entry.name[len(prefix):].split(".")[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                entry.unlink()
        except OSError:
            pass  # alive (someone else's process) or not ours to judge


def _check_target(target: Path) -> None:
    if target.is_dir():
        raise IsADirectoryError(f"{target} is a directory; expected a file path")
    if not target.parent.is_dir():
        raise FileNotFoundError(f"directory {target.parent} does not exist (for {target})")
    _remove_stale_temps(target)


def _new_temp(target: Path, make: Callable[[Path], Any]) -> Path:
    """A temporary name next to ``target`` that ``make(name)`` creates (it raises
    FileExistsError when the name is taken: another name is tried)."""
    while True:
        temp = target.parent / f"{_prefix(target)}{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            make(temp)
            return temp
        except FileExistsError:
            continue


def _publish(temp: Path, target: Path) -> None:
    """Rename the complete ``temp`` over ``target`` and make the rename durable (on an
    error ``temp`` is deleted and ``target`` untouched)."""
    try:
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    fsync_directory(target.parent)


def _create(path: Path) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a new, empty temporary file next to ``path`` for the caller to fill
    (by name); on a normal exit it is fsynced and renamed over ``path``, on an
    exception it is deleted and ``path`` is untouched."""
    target = Path(path)
    _check_target(target)
    temp = _new_temp(target, _create)
    try:
        yield temp
        fd = os.open(temp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _publish(temp, target)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs: Any) -> Iterator[IO]:
    """``open`` for writing, atomically: ``mode`` ``"w"``/``"wb"`` starts empty,
    ``"a"``/``"ab"`` starts with a copy of the current file (if any), so an
    append is all-or-nothing too.  ``kwargs`` go to :func:`open` (``encoding``,
    ``newline``)."""
    if mode not in ("w", "wb", "a", "ab"):
        raise ValueError(f"atomic_open: mode must be 'w', 'wb', 'a' or 'ab', got {mode!r}")
    with atomic_path(path) as temp:
        if mode.startswith("a") and os.path.exists(path):
            shutil.copyfile(path, temp)
        with open(temp, mode, **kwargs) as handle:
            yield handle
            handle.flush()


def atomic_link(source: str | os.PathLike, path: str | os.PathLike) -> None:
    """Make ``path`` another name of the complete file ``source``, atomically: a hard
    link under a temporary name, renamed over ``path``, then the directory fsynced
    (no data is copied or synced again; both names stay valid however either is
    later replaced or removed, since every write here makes a new file).  Where hard
    links are not supported the file is copied (:func:`atomic_path`)."""
    target = Path(path)
    if not os.path.isfile(source):
        raise FileNotFoundError(f"atomic_link: {source} is not a file")
    _check_target(target)
    try:
        temp = _new_temp(target, lambda name: os.link(source, name))
    except OSError:                           # no hard links here
        with atomic_path(target) as temp:
            shutil.copyfile(source, temp)
        return
    _publish(temp, target)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    """Replace ``path`` with ``text`` atomically."""
    with atomic_open(path, "w", encoding=encoding, newline="") as handle:
        handle.write(text)
