"""Input checks the normalisers do not make: garbled text, control bytes, empty records,
non-kana readings, duplicate record ids, and whole-file verdicts.

Three levels, each with reasons that never contain a cell's value:

* :func:`check_columns` — per row, on a chunk's canonical columns, before normalisation
  (it runs in the encoder's worker processes, inside ``pipeline.normalise_chunk``):

  - a control character (NUL byte, ...) in a field: **error** (the cell is blanked, so the
    column-joined normalisers, which use NUL as their separator, never see it);
  - garbled text (文字化け, mojibake) in a name, reading or address: **error** — see
    :func:`looks_garbled`;
  - an Excel error value (``#N/A``, ``#REF!``, ...) in a field: **error**;
  - no name and no reading at all: **error** (nothing to link on);
  - a reading (フリガナ) with no kana, or with kanji in it: **warning**;
  - a blank address in an export that has an address column: **warning**.

  It also counts, per chunk, what the file-level verdict needs (:class:`FileStats`).

* :class:`RowScreen` — per row, on the raw cells, in the main process, before a row is
  sent to be encoded: a record id already seen on an earlier row (**error**, naming that
  row: the first row keeps the id) and the reader's cell defects (Excel merged cells,
  formulas without a cached value; see ``encoders.readers.Table.defects``).

* :func:`file_verdict` — once, after the last row: a file whose rows are largely garbled,
  or whose readings are mostly not kana, was read with the wrong encoding (or is the wrong
  column), and fails as a whole with the file, the column, the share and a hint.
"""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from encoders.errors import InputError

Issue = tuple[int, str, str, str]
"""``(position in the chunk, canonical column, severity, reason)``."""

NAME_KEYS = ("full_name", "surname", "given_name")
KANA_KEYS = ("full_kana", "surname_kana", "given_kana")
TEXT_KEYS = (*NAME_KEYS, *KANA_KEYS, "address", "former_surname", "alias", "roman_name")

CONTROL = "control character (e.g. a NUL byte) in the field; the export is damaged"
GARBLED = "garbled text (文字化け): {how}; check the file's encoding (--encoding)"
EXCEL_ERROR = "Excel error value (e.g. #N/A, #REF!) instead of a value; fix the formula"
NO_NAME = "no name and no reading (氏名, フリガナ are both empty)"
NO_KANA = "reading (フリガナ) has no kana"
KANJI_IN_READING = "reading (フリガナ) contains kanji"
BLANK_ADDRESS = "address is blank"
DUPLICATE_ID = "record id also on row {first}; the first row keeps it, this row is not encoded"

#: A file fails when more than this share of its rows hold garbled text …
GARBLED_FILE_SHARE = 0.10
#: … or when more than this share of its non-empty readings are not kana.
NOT_KANA_FILE_SHARE = 0.5

_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_EXCEL_ERRORS = frozenset(
    {"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA"}
)
_EXCEL_ERROR_RE = re.compile(r"#(?:NULL!|DIV/0!|VALUE!|REF!|NAME\?|NUM!|N/A|GETTING_DATA)", re.I)
_KANA_RE = re.compile("[\u3041-\u3096\u30a1-\u30fa\u30fd\u30fe\u31f0-\u31ff\uff66-\uff9d]")
# Anything a reading is not made of (kana, long-vowel and voicing marks, separators):
# genuine readings never match, so the column scan finds no value to look at.
_READING_SUSPECT = re.compile(
    "[^\n\\s\u3041-\u3096\u3099-\u30ff\u31f0-\u31ff\uff61-\uff9f\u30fb\uff65()（）.,、。=＝'-]"
)
_KANJI_RE = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f々〆]")


def _mojibake_leads() -> str:
    """Kanji that CP932 makes of a UTF-8 lead byte E3–E9 and a continuation byte."""
    chars = set()
    for lead in range(0xE3, 0xEA):
        for trail in range(0x80, 0xC0):
            with contextlib.suppress(UnicodeDecodeError):
                chars.add(bytes([lead, trail]).decode("cp932"))
    return "".join(sorted(chars))


_LEADS = _mojibake_leads()
# UTF-8 read as CP932: such a kanji directly followed by half-width katakana (the next
# continuation byte), e.g. 繧｢ for ア. Genuine text practically never has this pair.
_UTF8_AS_CP932 = re.compile(f"[{_LEADS}][\uff61-\uff9f]")
# UTF-8 read as Latin-1 / Windows-1252: a lead byte shown as à–ÿ followed by a
# continuation byte shown as a C1 control, a Latin-1 symbol or a Windows-1252 symbol.
_UTF8_AS_LATIN = re.compile(
    "[\u00c0-\u00ff][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6"
    "\u02dc\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122]"
)
# Anything garbled text can contain: the cheap test a whole column is scanned with first.
_SUSPECT = re.compile(f"[\ufffd\u0080-\u00ff\u0152-\u0192\u02c6\u02dc\u2013-\u2122{_LEADS}]")
_JAPANESE = re.compile("[\u3040-\u30ff\u3400-\u9fff\uff66-\uff9f]")
REPLACED = "replacement characters (\ufffd): a converter could not read the bytes"
C1_CONTROLS = "control characters that Latin-1 makes of Japanese bytes"
_REVERSALS = (
    ("cp932", "utf-8", "UTF-8 text read as Shift_JIS (CP932)"),
    ("cp1252", "utf-8", "UTF-8 text read as Windows-1252"),
    ("latin-1", "cp932", "Shift_JIS (CP932) text read as Latin-1"),
    ("cp1252", "cp932", "Shift_JIS (CP932) text read as Windows-1252"),
)


def looks_garbled(value: str) -> str | None:
    """How ``value`` looks garbled (mojibake), or None when it looks like genuine text.

    Signs, strongest first: U+FFFD (a converter replaced bytes it could not read); a C1
    control character (bytes read as Latin-1); the UTF-8-read-as-CP932 pair (繧｢ …);
    UTF-8 read as Latin-1/Windows-1252 (ã‚¢ …); and a reversal test: encoding the text
    back with the wrong codec and decoding it with the right one gives Japanese text with
    at most a few unreadable bytes and no more ASCII than the text had (genuine Japanese
    decodes to replacement characters and stray ASCII instead). On 30 k genuine synthetic
    names, readings and addresses this found none; on the same values garbled in seven
    ways it finds 77–100 % of cells (tests/encoders/test_validate.py).
    """
    if _SUSPECT.search(value) is None:
        return None
    if "\ufffd" in value:
        return REPLACED
    if _UTF8_AS_CP932.search(value):
        return _REVERSALS[0][2]
    if any("\u0080" <= ch <= "\u009f" for ch in value):
        return C1_CONTROLS
    if _UTF8_AS_LATIN.search(value):
        return _REVERSALS[1][2]
    ascii_count = sum(ch.isascii() for ch in value)
    for back, true, how in _REVERSALS:
        raw = value.encode(back, errors="ignore")
        if raw.isascii():
            continue
        recovered = raw.decode(true, errors="replace")
        good = len(_JAPANESE.findall(recovered))
        bad = recovered.count("\ufffd")
        if (
            good
            and bad * 2 <= good
            and recovered != value
            and sum(ch.isascii() for ch in recovered) <= ascii_count
        ):
            return how
    return None


def reading_problem(value: str) -> str | None:
    """Why a non-empty reading is not kana (:data:`NO_KANA`, :data:`KANJI_IN_READING`)."""
    if not value.strip():
        return None
    if _KANA_RE.search(value) is None:
        return NO_KANA
    if _KANJI_RE.search(value) is not None:
        return KANJI_IN_READING
    return None


@dataclass
class FileStats:
    """Counts the file-level verdict needs, summed over chunks.

    ``garbled`` / ``not_kana`` map a canonical column to the rows (or readings) found;
    ``garbled_how`` counts the kinds of garbling; ``readings`` counts non-empty readings
    per kana column.
    """

    rows: int = 0
    garbled_rows: int = 0
    garbled: Counter[str] = field(default_factory=Counter)
    garbled_how: Counter[str] = field(default_factory=Counter)
    readings: Counter[str] = field(default_factory=Counter)
    not_kana: Counter[str] = field(default_factory=Counter)

    def add(self, other: FileStats) -> None:
        self.rows += other.rows
        self.garbled_rows += other.garbled_rows
        self.garbled.update(other.garbled)
        self.garbled_how.update(other.garbled_how)
        self.readings.update(other.readings)
        self.not_kana.update(other.not_kana)


@dataclass
class CheckedColumns:
    """The result of :func:`check_columns`: cleaned columns, issues, counts."""

    columns: dict[str, list[str]]
    issues: list[Issue]
    stats: FileStats


def _rows_matching(values: Sequence[str], joined: str, pattern: re.Pattern[str]) -> list[int]:
    """Positions of the values (joined by ``\\n`` into ``joined``) where ``pattern`` matches."""
    found = [m.start() for m in pattern.finditer(joined)]
    if not found:
        return []
    ends = np.cumsum(np.fromiter(map(len, values), dtype=np.int64, count=len(values)) + 1)
    return np.unique(np.searchsorted(ends, found, side="right")).tolist()


def check_columns(columns: Mapping[str, Sequence[str]], n: int) -> CheckedColumns:
    """Check ``n`` records given as canonical columns (see the module docstring).

    Columns are expected as a reader gives them through ``ColumnPlan.columns``
    (surrounding whitespace stripped). Each check scans a whole column joined into one
    string (C speed) and looks at single values only where that scan found something, so
    a clean chunk costs a few passes over its text.
    """
    cleaned: dict[str, list[str]] = {}
    issues: list[Issue] = []
    stats = FileStats(rows=n)
    garbled_rows: set[int] = set()
    for key, column in columns.items():
        values = column if isinstance(column, list) else list(column)
        joined = "\n".join(values)  # \n is not one of the control characters looked for
        damaged = _rows_matching(values, joined, _CONTROL_RE)
        excel = _rows_matching(values, joined, _EXCEL_ERROR_RE) if "#" in joined else []
        if damaged or excel:
            values = list(values)
            for i in damaged:
                values[i] = ""
                issues.append((i, key, "error", CONTROL))
            for i in excel:
                if values[i].strip().upper() in _EXCEL_ERRORS:
                    values[i] = ""
                    issues.append((i, key, "error", EXCEL_ERROR))
        if key in TEXT_KEYS:
            # A reading holds kana only, so one scan for anything else finds both the
            # garbled readings and the readings that are not kana.
            scan = _READING_SUSPECT if key in KANA_KEYS else _SUSPECT
            suspects = _rows_matching(values, joined, scan)
            for i in suspects:
                how = looks_garbled(values[i])
                if how is not None:
                    issues.append((i, key, "error", GARBLED.format(how=how)))
                    stats.garbled[key] += 1
                    stats.garbled_how[how] += 1
                    garbled_rows.add(i)
            if key in KANA_KEYS:
                stats.readings[key] += n - values.count("")
                for i in suspects:
                    problem = reading_problem(values[i])
                    if problem is not None:
                        stats.not_kana[key] += 1
                        if i not in garbled_rows:
                            issues.append((i, key, "warning", problem))
        cleaned[key] = values
    stats.garbled_rows = len(garbled_rows)
    name_keys = [k for k in (*NAME_KEYS, *KANA_KEYS) if k in cleaned]
    if all("" in cleaned[k] for k in name_keys):
        for i in range(n):
            if not any(cleaned[k][i].strip() for k in name_keys):
                issues.append((i, name_keys[0] if name_keys else "full_name", "error", NO_NAME))
    address = cleaned.get("address")
    if address is not None and "" in address:
        issues += [(i, "address", "warning", BLANK_ADDRESS) for i, v in enumerate(address) if not v]
    return CheckedColumns(cleaned, issues, stats)


def file_verdict(
    stats: FileStats, *, file: str, header_of: Mapping[str, str], encoding: str
) -> InputError | None:
    """The error a whole file fails with, or None (see the module docstring)."""
    other = "cp932" if encoding.startswith("utf") else "utf-8"
    hint = (
        f"the file was read as {encoding}; if it is not, name its encoding with "
        f"--encoding {other}, or open it in Excel and save it again as CSV (UTF-8)"
    )
    if stats.rows and stats.garbled_rows / stats.rows > GARBLED_FILE_SHARE:
        key = stats.garbled.most_common(1)[0][0]
        how = stats.garbled_how.most_common(1)[0][0]
        true = next((t for _, t, h in _REVERSALS if h == how), None)
        if true is not None and (encoding.startswith("utf") == true.startswith("utf")):
            # Read right, yet garbled: the text was garbled before the file was saved.
            hint = (
                f"the file was read as {encoding}, which is right, so the text was garbled "
                "before the file was saved (e.g. a UTF-8 CSV opened in Excel and saved "
                "again); export it again from the system and do not re-save it"
            )
        return InputError(
            file,
            None,
            header_of.get(key, key),
            f"{stats.garbled_rows} of {stats.rows} rows ({stats.garbled_rows / stats.rows:.1%}) "
            f"hold garbled text (文字化け; most often: {how}); no encodings written; {hint}",
        )
    for key in KANA_KEYS:
        total = stats.readings[key]
        bad = stats.not_kana[key]
        if total and bad / total > NOT_KANA_FILE_SHARE:
            return InputError(
                file,
                None,
                header_of.get(key, key),
                f"{bad} of {total} readings ({bad / total:.1%}) are not kana: this is not a "
                f"reading (フリガナ) column, or the text is garbled; no encodings written; "
                f"map the right column with --column {key}=HEADER; {hint}",
            )
    return None


class RowScreen:
    """Row checks made on the raw cells before a row is encoded (main process).

    Args:
        id_column: index of the record-id cell in a row, or None.
        defects: ``{row number: [(cell index, reason), ...]}`` from the reader
            (``Table.defects``): each makes its row an error.
        headers: the export's headers, for the column of a reader defect.

    :meth:`screen` gives the row's issues as ``(row, header or key, severity, reason)``;
    a row with any is not encoded.
    """

    def __init__(
        self,
        id_column: int | None,
        defects: Mapping[int, Sequence[tuple[int, str]]],
        index_key: Mapping[int, str],
    ) -> None:
        self._id_column = id_column
        self._defects = defects
        self._index_key = index_key
        self._seen: dict[str, int] = {}

    def screen(self, row: int, cells: Sequence[str]) -> list[tuple[int, str, str, str]]:
        found: list[tuple[int, str, str, str]] = []
        for index, reason in self._defects.get(row, ()):
            key = self._index_key.get(index)
            if key is not None:  # a defect in a column the encoder reads
                found.append((row, key, "error", reason))
        if self._id_column is not None:
            record_id = cells[self._id_column].strip()
            if record_id:
                first = self._seen.setdefault(record_id, row)
                if first != row:
                    found.append((row, "record_id", "error", DUPLICATE_ID.format(first=first)))
        return found

    def passing(
        self, rows: Iterable[tuple[int, list[str]]], found: list[tuple[int, str, str, str]]
    ) -> Iterator[tuple[int, list[str]]]:
        """The rows :meth:`screen` passes; the others' issues are appended to ``found``.

        Without reader defects (every CSV) only the record id is looked at, inline: this
        runs once per row of the export in the main process.
        """
        column = self._id_column
        if self._defects or column is None:
            for row, cells in rows:
                issues = self.screen(row, cells)
                if issues:
                    found.extend(issues)
                else:
                    yield row, cells
            return
        seen = self._seen
        for row, cells in rows:
            record_id = cells[column].strip()
            if record_id:
                first = seen.setdefault(record_id, row)
                if first != row:
                    found.append((row, "record_id", "error", DUPLICATE_ID.format(first=first)))
                    continue
            yield row, cells
