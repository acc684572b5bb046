"""Reading a configuration file (a recipe, ``connections.yaml``, a ``${file:}`` secret) so that
no file can hang or exhaust the daemon: only regular files are opened for reading (a FIFO
would block until someone writes, ``/dev/zero`` never ends), and only up to a size limit.

The checks run on the file the path resolves to, so a symlink to a device is refused too.
Messages name the reason, never the content.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

MAX_CONFIG_BYTES = 512 * 1024  # a recipe or connections file; real ones are a few KiB
MAX_SECRET_BYTES = 64 * 1024  # a ${file:} secret: a key, a token, a certificate
_CHUNK_BYTES = 64 * 1024


class UnreadableFile(Exception):
    """The file cannot be used; the message says why in a few words (no content)."""


def read_regular_text(path: Path, max_bytes: int = MAX_CONFIG_BYTES) -> str:
    """The UTF-8 text of ``path``; raises :class:`UnreadableFile` for anything that is not a
    regular file of at most ``max_bytes``, or not UTF-8."""
    _check_kind(_stat(path), max_bytes)  # before opening: opening a device can have effects
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise UnreadableFile(exc.strerror or exc.__class__.__name__) from None
    try:
        _check_kind(os.fstat(fd), max_bytes)  # the file may have been swapped meanwhile
        data = _read_at_most(fd, max_bytes)
    finally:
        os.close(fd)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UnreadableFile("not UTF-8 text") from None


def _stat(path: Path) -> os.stat_result:
    try:
        return os.stat(path)
    except OSError as exc:
        raise UnreadableFile(exc.strerror or exc.__class__.__name__) from None


def _check_kind(info: os.stat_result, max_bytes: int) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise UnreadableFile(f"not a regular file ({_kind(info.st_mode)}); only regular "
                             "files are read")
    if info.st_size > max_bytes:
        raise UnreadableFile(f"larger than the {_size(max_bytes)} limit ({_size(info.st_size)})")


def _read_at_most(fd: int, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while True:
        try:
            chunk = os.read(fd, _CHUNK_BYTES)
        except OSError as exc:
            raise UnreadableFile(exc.strerror or exc.__class__.__name__) from None
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > max_bytes:  # it grew after the size check
            raise UnreadableFile(f"larger than the {_size(max_bytes)} limit")
        chunks.append(chunk)


def _kind(mode: int) -> str:
    kinds = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISSOCK, "a socket"))
    return next((name for check, name in kinds if check(mode)), "not a plain file")


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 1024:.0f} KiB" if n_bytes < 1024 * 1024 else \
        f"{n_bytes / 1024 / 1024:.1f} MiB"
