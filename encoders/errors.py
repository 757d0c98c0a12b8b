"""Errors about a department's input files (exports, mapping files).

An :class:`InputError` says which file, which row and which column is wrong and why, in one
line a clerk can act on, e.g. ``jumin.csv, row 12, column 生年月日: ...``. Messages name
files, row numbers and column headers only, never a cell's content, so they can be printed
or logged without revealing personal data.
"""

from __future__ import annotations


class InputError(Exception):
    """A department input file cannot be read as given.

    Attributes:
        file: the file's name as the user knows it (e.g. ``jumin.csv``).
        row: 1-based row number as a person sees it in Excel or an editor (the header is
            row 1 when it is the first line), or None when the problem is not one row's.
        column: the column header as written in the file (or the missing column's name),
            or None.
        reason: what is wrong and, where possible, what to do about it.
    """

    def __init__(self, file: str, row: int | None, column: str | None, reason: str) -> None:
        self.file = file
        self.row = row
        self.column = column
        self.reason = reason
        super().__init__(str(self))

    def __str__(self) -> str:
        place = [self.file or "<input>"]
        if self.row is not None:
            place.append(f"row {self.row}")
        if self.column is not None:
            place.append(f"column {self.column}")
        return f"{', '.join(place)}: {self.reason}"

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.file, self.row, self.column, self.reason))


class OutputError(Exception):
    """An output cannot be written (disk full, ...); nothing partial was left behind.

    Attributes:
        place: the folder or file that could not be written.
        reason: what happened and what to do.
    """

    def __init__(self, place: str, reason: str) -> None:
        self.place = place
        self.reason = reason
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.place}: {self.reason}"

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.place, self.reason))
