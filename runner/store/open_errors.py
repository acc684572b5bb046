"""Why the state store cannot be opened, in one line an operator can act on.

The daemon logs it as ``daemon.cannot_start`` and exits 2 (a configuration or environment
problem: restarting will not help), instead of a driver's traceback. The line names the
store (a SQLite file, or PostgreSQL's host, port, database and user; never a password) and
the cause: refused, unknown host, timeout, missing role or database, refused password,
read-only or full file system.
"""

from __future__ import annotations

import errno
import socket
from urllib.parse import urlsplit

from runner.store.engine import normalize_url, sqlite_file

_DRIVER_CAUSES = (
    ("does not exist", None),  # role or database: the server's words are the clearest
    ("password authentication failed", "the password was refused"),
    ("no pg_hba.conf entry", "the server's pg_hba.conf refuses this host or user"),
    ("readonly database", "the database file is read-only"),
    ("database or disk is full", "the disk is full"),
    ("unable to open database file", "the file cannot be created or opened (a missing, "
                                     "read-only or full folder?)"),
    ("disk i/o error", "a disk I/O error"),
)


def store_description(url: str) -> str:
    """``SQLite file state/x.db`` or ``PostgreSQL db 'test' at 127.0.0.1:5432 as 'app'``."""
    try:
        database = sqlite_file(url)
    except ValueError:
        return "the state store (unsupported URL)"
    if database is not None:
        return f"SQLite file {database}"
    parts = urlsplit(normalize_url(url))
    where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
    name = parts.path.lstrip("/") or "(default)"
    user = f" as {parts.username!r}" if parts.username else ""
    return f"PostgreSQL database {name!r} at {where}{user}"


def open_failure(exc: BaseException, url: str) -> str:
    """One line: which store could not be opened, and why."""
    return f"cannot open the state store ({store_description(url)}): {_cause(exc)}"


def _cause(exc: BaseException) -> str:
    chain = _chain(exc)
    for error in chain:
        found = _os_cause(error)
        if found:
            return found
    text = " ".join(str(e).splitlines()[0] if str(e) else "" for e in chain).lower()
    for marker, meaning in _DRIVER_CAUSES:
        if marker in text:
            return meaning or _last_words(chain, with_class=False)
    if any(isinstance(e, TimeoutError) for e in chain):
        return "no answer in time (a firewall, or the server is down)"
    return _last_words(chain)


def _chain(exc: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in found:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def _os_cause(error: BaseException) -> str | None:
    if isinstance(error, socket.gaierror):
        return "the host name does not resolve"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused (is the server running, and on this port?)"
    if not isinstance(error, OSError) or error.errno is None:
        return None
    where = f": {error.filename}" if error.filename else ""
    meanings = {errno.EROFS: "read-only file system", errno.ENOSPC: "no space left on the disk",
                errno.EACCES: "permission denied", errno.EPERM: "not permitted",
                errno.ENOENT: "no such file or folder", errno.ETIMEDOUT: "timed out",
                errno.EHOSTUNREACH: "host unreachable", errno.ENETUNREACH: "network unreachable"}
    meaning = meanings.get(error.errno, error.strerror or error.__class__.__name__)
    return f"{meaning}{where}"


def _last_words(chain: list[BaseException], with_class: bool = True) -> str:
    """The innermost error's first line (drivers put the server's message there)."""
    innermost = chain[-1]
    first = str(innermost).splitlines()[0][:300] if str(innermost) else ""
    if not first:
        return innermost.__class__.__name__
    return f"{innermost.__class__.__name__}: {first}" if with_class else first
