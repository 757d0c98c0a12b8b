"""Private files and folders: the server's data is readable by its own user only.

``kakehashi serve`` sets the process umask to 077, and everything the server creates is
also given an explicit mode (folders 0700, files 0600), so that a different umask (tests,
a library creating files) or an older installation never leaves data world-readable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

DIR_MODE = 0o700
FILE_MODE = 0o600
UMASK = 0o077


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) if needed and set it to 0700."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.chmod(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty if it does not exist; set it to 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    os.close(fd)
    os.chmod(path, FILE_MODE)
    return path


def open_private(path: Path, mode: str = "wb") -> IO[Any]:
    """``open(path, mode)`` for writing, the file created (or truncated) with mode 0600."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC)
    fd = os.open(path, flags, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    return os.fdopen(fd, mode)


def sqlite_path(url: str) -> Path | None:
    """The database file of a ``sqlite:///`` URL (None for other databases or memory)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return None
    rest = url[len(prefix) :].split("?", 1)[0]
    return None if not rest or rest == ":memory:" else Path(rest)


def secure_sqlite(url: str) -> None:
    """Create the SQLite file 0600 before SQLite does (its WAL and SHM files take the
    database file's mode) and set existing database, WAL, SHM and journal files to 0600."""
    path = sqlite_path(url)
    if path is None:
        return
    private_file(path)
    for suffix in ("-wal", "-shm", "-journal"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.chmod(side, FILE_MODE)


def secure_tree(root: Path) -> None:
    """Set every folder under ``root`` (included) to 0700 and every file to 0600; links
    (to places outside the data folder, perhaps) are left alone."""
    private_dir(root)
    for folder, dirs, files in os.walk(root):  # symlinks are not followed or changed
        for name in dirs:
            target = Path(folder) / name
            if not target.is_symlink():
                os.chmod(target, DIR_MODE)
        for name in files:
            target = Path(folder) / name
            if not target.is_symlink():
                os.chmod(target, FILE_MODE)
