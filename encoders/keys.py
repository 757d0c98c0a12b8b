"""The keys file: ref -> the body's own record id. It never leaves the body.

A UTF-8 CSV with header ``ref,record_id``. With the mapping downloaded from the server
(``ref,token``) it lets the body answer a coordinator's question about a token.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path


class KeysFileError(ValueError):
    """The keys or mapping file is missing or malformed."""


class KeysWriter:
    """Stream ``ref,record_id`` rows to a temporary file, renamed into place on close."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent or ".")
        os.fchmod(fd, 0o600)
        self._tmp = Path(tmp)
        self._handle = os.fdopen(fd, "w", encoding="utf-8", newline="")
        self._writer = csv.writer(self._handle)
        self._writer.writerow(["ref", "record_id"])

    def write(self, rows: Iterable[tuple[str, str]]) -> None:
        self._writer.writerows(rows)

    def close(self) -> None:
        self._handle.close()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        try:
            self._handle.close()  # may fail to flush (disk full); the file is closed anyway
        finally:
            self._tmp.unlink(missing_ok=True)


def _read_pairs(path: Path, first: str, second: str) -> Iterator[tuple[str, str]]:
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except FileNotFoundError as exc:
        raise KeysFileError(f"{path}: file not found") from exc
    with handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:2]] != [first, second]:
            raise KeysFileError(f"{path}: expected a CSV with header {first},{second}")
        for number, row in enumerate(reader, start=2):
            if len(row) < 2:
                raise KeysFileError(f"{path}, row {number}: expected 2 fields, found {len(row)}")
            yield row[0], row[1]


def read_keys(path: str | Path) -> dict[str, str]:
    """ref -> record_id from a keys file."""
    return dict(_read_pairs(Path(path), "ref", "record_id"))


def read_mapping(path: str | Path) -> dict[str, str]:
    """token -> [refs] is what a body needs; this returns ref -> token from a mapping file."""
    return dict(_read_pairs(Path(path), "ref", "token"))
