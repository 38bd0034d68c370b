"""The SQLite file itself: the one-process lock, and what each way of failing to open it means."""

from __future__ import annotations

import errno
import fcntl
import os
import sqlite3
from pathlib import Path

from .base import StoreError


def lock_file(path: Path) -> int:
    """Take `<file>.lock` for this process's life; refuse if another process (or store) holds it."""
    lock_path = f"{path}.lock"
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except PermissionError:
        # A read-only directory with the lock file already there: a read-only descriptor locks too,
        # and SQLite then says clearly that the database is read-only.
        fd = _open_existing(lock_path)
    except OSError as exc:
        raise StoreError(f"cannot create the lock file {lock_path}: {exc.strerror}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise StoreError(
                f"cannot lock {lock_path} ({exc.strerror}); keep the database on a local file system"
            ) from exc
        raise StoreError(
            f"the database {path} is in use by another bot process (it holds {lock_path}); one SQLite "
            "file serves one process: stop the other one, or point DATABASE_URL at PostgreSQL "
            "(postgresql://…) to run several"
        ) from exc
    return fd


def _open_existing(lock_path: str) -> int:
    try:
        return os.open(lock_path, os.O_RDONLY)
    except OSError as exc:
        raise StoreError(
            f"cannot create the lock file {lock_path} ({exc.strerror}); give the bot write access to "
            "the database's directory"
        ) from exc


def unlock_file(fd: int | None) -> None:
    if fd is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def explain(path: str, exc: sqlite3.DatabaseError) -> str:
    text = str(exc)
    if "readonly" in text or "read-only" in text:
        return f"the database {path} is read-only; give the bot write access to the file and its directory"
    if "not a database" in text or "malformed" in text:
        return f"the database {path} is corrupt or not a SQLite file ({text}); restore it from a backup"
    if "unable to open" in text:
        return f"cannot open the database {path} ({text}); check the path and permissions"
    return f"the database {path} cannot be used: {text}"
