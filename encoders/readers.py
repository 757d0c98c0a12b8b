"""Streaming readers for department exports: CSV (UTF-8, UTF-8 with BOM, CP932) and .xlsx.

``open_table(path)`` returns a :class:`Table`: its header row is read (and the first data
row peeked at) when it opens, so an empty, header-only or unreadable file fails at once;
the data rows are then streamed one at a time, so a file of a million rows never sits in
memory whole. Each row comes as ``(row_number, cells)``: ``row_number`` is the 1-based
line (CSV, the line where the record starts) or sheet row (xlsx) a person sees in an
editor or in Excel, and ``cells`` is a ``list[str]`` of exactly ``len(table.headers)``
values, cell text as written (not stripped).

Encodings (CSV): a UTF-8 byte-order mark means ``utf-8-sig``; otherwise the first MiB is
decoded strictly as UTF-8, then as CP932. A Shift_JIS export is always decoded as CP932
(Microsoft's Shift_JIS, what Windows and Japanese line-of-business systems write: it adds
NEC/IBM extension characters such as ① and 髙 that plain Shift_JIS lacks), also when
``encoding="shift_jis"`` or ``"sjis"`` is forced. UTF-16 is refused with advice.

Wave dash and friends: Shift_JIS byte pairs decode to different code points under JIS and
under CP932 mappings, and UTF-8 files written on macOS and on Windows differ in the same
way. After decoding, every cell (and header) is folded to the **CP932 (Windows) form**:
〜 U+301C → ～ U+FF5E, − U+2212 → － U+FF0D, ‖ U+2016 → ∥ U+2225, — U+2014 → ― U+2015,
¢ → ￠, £ → ￡, ¬ → ￢. NFKC later maps ～ and － to ASCII ``~`` and ``-``, which the
address normaliser folds further.

Blank lines and rows whose cells are all blank are skipped. Header names are compared by
:func:`header_key` (surrounding whitespace stripped, NFKC, case-folded); ``Table.headers``
keeps the names as written (surrounding whitespace stripped) for messages.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import re
import unicodedata
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Literal

from encoders.errors import InputError

Row = tuple[int, list[str]]
TableFormat = Literal["csv", "xlsx"]

_PREFIX_BYTES = 1 << 20  # how much of a CSV encoding detection looks at
_CHUNK_BYTES = 1 << 16
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_XLSX_SUFFIXES = {".xlsx", ".xlsm"}
_XLS_ADVICE = (
    "this is an old Excel 97-2003 .xls workbook (or a password-protected one), which "
    "cannot be read; open it in Excel and save it as .xlsx or as CSV (UTF-8), "
    "without a password"
)

_FOLD_PAIRS = {
    "\u301c": "\uff5e",  # WAVE DASH → FULLWIDTH TILDE
    "\u2212": "\uff0d",  # MINUS SIGN → FULLWIDTH HYPHEN-MINUS
    "\u2016": "\u2225",  # DOUBLE VERTICAL LINE → PARALLEL TO
    "\u2014": "\u2015",  # EM DASH → HORIZONTAL BAR
    "\u00a2": "\uffe0",  # CENT SIGN → FULLWIDTH CENT SIGN
    "\u00a3": "\uffe1",  # POUND SIGN → FULLWIDTH POUND SIGN
    "\u00ac": "\uffe2",  # NOT SIGN → FULLWIDTH NOT SIGN
}
_FOLD_TABLE = str.maketrans(_FOLD_PAIRS)
_FOLD_RE = re.compile("[" + "".join(_FOLD_PAIRS) + "]")


def fold_cp932_variants(text: str) -> str:
    """Fold the JIS-vs-CP932 look-alike pairs (〜/～, −/－, ...) to their CP932 forms."""
    if _FOLD_RE.search(text) is None:
        return text
    return text.translate(_FOLD_TABLE)


def header_key(name: str) -> str:
    """The form in which header names are compared: stripped, NFKC, case-folded."""
    return unicodedata.normalize("NFKC", name.strip()).strip().casefold()


def canonical_codec(name: str, *, file: str = "") -> str:
    """The Python codec used for a user-given encoding name (Shift_JIS → cp932).

    Raises:
        InputError: the name is unknown, or the encoding is not ASCII-compatible (UTF-16,
            UTF-32), which line-by-line streaming cannot read.
    """
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        raise InputError(
            file, None, None, f"unknown encoding {name!r}; use utf-8, utf-8-sig or cp932"
        ) from None
    if codec == "shift_jis":
        return "cp932"
    probe = '\n\r,"\tA0'
    try:
        ascii_compatible = probe.encode("ascii").decode(codec) == probe
    except (UnicodeError, LookupError, TypeError):
        ascii_compatible = False
    if not ascii_compatible:
        raise InputError(
            file,
            None,
            None,
            f"encoding {name!r} is not supported; save the file as CSV (UTF-8) or CSV (Shift_JIS)",
        )
    return codec


class Table:
    """An open department export: its header row, then its data rows, streamed.

    Attributes:
        path: the file.
        file: the label used in error messages (the file name).
        format: ``"csv"`` or ``"xlsx"``.
        encoding: the codec a CSV was decoded with (``utf-8-sig``, ``utf-8``, ``cp932``,
            or a forced one); ``"xlsx"`` for a workbook.
        headers: the header names as written (surrounding whitespace stripped).
        header_keys: ``header_key`` of each header, for matching; same length.
        header_row: the row number of the header row.
        sheet: the worksheet read (xlsx), else None.
        defects: ``{row number: [(cell index, reason), ...]}`` — cells whose shown value
            is not in the file (xlsx: merged cells, formulas without a cached value); the
            encoder rejects those rows (``encoders.validate.RowScreen``). Empty for CSV.

    Iterating yields ``(row_number, cells)`` with ``len(cells) == len(headers)``; a table
    can be iterated once.
    """

    path: Path
    file: str
    format: TableFormat
    encoding: str
    headers: list[str]
    header_keys: list[str]
    header_row: int
    sheet: str | None
    defects: dict[int, list[tuple[int, str]]]

    def __init__(self, path: Path, fmt: TableFormat, encoding: str, sheet: str | None) -> None:
        self.path = path
        self.file = path.name
        self.format = fmt
        self.encoding = encoding
        self.sheet = sheet
        self.headers = []
        self.header_keys = []
        self.header_row = 0
        self.defects = {}
        self._rows: Iterator[tuple[int, list[str]]] = iter(())
        self._first: Row | None = None
        self._iterated = False

    # -- opening ----------------------------------------------------------------------------
    def _start(self, raw_rows: Iterator[tuple[int, list[str]]]) -> None:
        """Read the header row and peek the first data row from ``raw_rows``."""
        self._rows = raw_rows
        for row_no, cells in raw_rows:
            if _is_blank(cells):
                continue
            self._set_header(row_no, cells)
            break
        else:
            raise InputError(self.file, None, None, "the file is empty (no header row)")
        for row_no, cells in raw_rows:
            shaped = self._shape(row_no, cells)
            if shaped is not None:
                self._first = (row_no, shaped)
                return
        raise InputError(
            self.file,
            None,
            None,
            f"the file has a header row (row {self.header_row}) but no data rows",
        )

    def _set_header(self, row_no: int, cells: list[str]) -> None:
        names = [c.strip() for c in cells]
        while names and not names[-1]:
            names.pop()
        keys = [header_key(n) for n in names]
        seen: dict[str, int] = {}
        for i, (name, key) in enumerate(zip(names, keys, strict=True)):
            if not key:
                raise InputError(
                    self.file,
                    row_no,
                    None,
                    f"header cell {i + 1} is empty; every column needs a name",
                )
            if key in seen:
                first = seen[key]
                raise InputError(
                    self.file,
                    row_no,
                    name,
                    f"duplicate header name: columns {first + 1} ({names[first]}) and "
                    f"{i + 1} ({name}) have the same name; rename or remove one",
                )
            seen[key] = i
        self.headers = names
        self.header_keys = keys
        self.header_row = row_no

    def _shape(self, row_no: int, cells: list[str]) -> list[str] | None:
        """Cells fitted to the header width; None for a blank row.

        Extra trailing empty cells are dropped. A CSV row with another number of fields
        is refused; an xlsx row is padded (Excel does not store trailing empty cells).
        """
        if _is_blank(cells):
            return None
        width = len(self.headers)
        if len(cells) > width:
            extra = [i for i in range(width, len(cells)) if cells[i].strip()]
            if extra and self.format == "csv":
                raise InputError(
                    self.file,
                    row_no,
                    None,
                    f"row {row_no} has {len(cells)} fields, header has {width}",
                )
            if extra:
                raise InputError(
                    self.file,
                    row_no,
                    None,
                    f"row {row_no} has a value in column {extra[0] + 1}, which has no header",
                )
            del cells[width:]
        elif len(cells) < width:
            if self.format == "csv":
                raise InputError(
                    self.file,
                    row_no,
                    None,
                    f"row {row_no} has {len(cells)} fields, header has {width}",
                )
            cells.extend([""] * (width - len(cells)))
        return cells

    # -- iteration --------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Row]:
        if self._iterated:
            raise RuntimeError("a Table streams its rows and can be iterated only once")
        self._iterated = True
        return self._iter_rows()

    def _iter_rows(self) -> Iterator[Row]:
        if self._first is not None:
            first, self._first = self._first, None
            yield first
        for row_no, cells in self._rows:
            shaped = self._shape(row_no, cells)
            if shaped is not None:
                yield row_no, shaped

    def close(self) -> None:
        """Release the file (safe to call more than once)."""

    def __enter__(self) -> Table:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _is_blank(cells: list[str]) -> bool:
    return not "".join(cells).strip()


# -- CSV ------------------------------------------------------------------------------------
class _CsvTable(Table):
    """A CSV/TSV export decoded line by line (every supported codec keeps ``\\n`` a byte)."""

    def __init__(
        self, path: Path, raw: BinaryIO, encoding: str, delimiter: str, *, forced: bool
    ) -> None:
        super().__init__(path, "csv", encoding, None)
        self._raw = raw
        self._codec = "utf-8" if encoding == "utf-8-sig" else encoding
        self._delimiter = delimiter
        self._line_no = 0
        self._record_start = 1
        self._forced = forced

    def _lines(self) -> Iterator[str]:
        codec = self._codec
        for raw_line in self._raw:
            self._line_no += 1
            try:
                text = raw_line.decode(codec)
            except UnicodeDecodeError as e:
                raise self._decode_error(raw_line, e) from None
            yield fold_cp932_variants(text)

    def _records(self) -> Iterator[tuple[int, list[str]]]:
        reader = csv.reader(self._lines(), delimiter=self._delimiter, strict=False)
        while True:
            self._record_start = self._line_no + 1
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                raise InputError(
                    self.file, self._record_start, None, f"not valid CSV: {e}"
                ) from None
            if fields:
                yield self._record_start, fields

    def _decode_error(self, raw_line: bytes, e: UnicodeDecodeError) -> InputError:
        row = self._line_no
        column: str | None = None
        if row == self._record_start and self.headers:
            try:
                before = raw_line[: e.start].decode(self._codec)
                index = len(next(csv.reader([before], delimiter=self._delimiter))) - 1
                if 0 <= index < len(self.headers):
                    column = self.headers[index]
            except (UnicodeDecodeError, csv.Error, StopIteration):
                column = None
        other = "utf-8" if self._codec == "cp932" else "cp932"
        try:
            raw_line.decode(other)
            fits = True
        except UnicodeDecodeError:
            fits = False
        if self._forced:
            hint = f" (the line is valid {other}: try --encoding {other})" if fits else ""
        else:
            hint = f" (detected from the start of the file; try --encoding {other})"

        return InputError(
            self.file,
            row,
            column,
            f"undecodable bytes at row {row}: byte 0x{raw_line[e.start]:02X} is not valid "
            f"{self.encoding}{hint}",
        )

    def close(self) -> None:
        self._raw.close()


def _detect_encoding(head: bytes, raw: BinaryIO, file: str) -> str:
    """Detect a CSV's encoding from up to its first MiB: utf-8-sig, utf-8 or cp932.

    ``head`` is the first chunk already read from ``raw``; further chunks are read from
    ``raw`` and decoded incrementally, so detection holds one chunk at a time. The caller
    seeks ``raw`` back afterwards.

    Raises:
        InputError: UTF-16/32 byte-order mark, or neither UTF-8 nor CP932 decodes the prefix
            (the error names the row where the better of the two failed).
    """
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InputError(
            file,
            None,
            None,
            "the file is UTF-16 text (Excel's 'Unicode text'); save it as CSV (UTF-8) instead",
        )
    candidates = {c: codecs.getincrementaldecoder(c)("strict") for c in ("utf-8", "cp932")}
    failed_at: dict[str, tuple[int, int]] = {}  # codec -> (byte offset, row)
    chunk, offset, newlines = head, 0, 0
    while True:
        at_eof = not chunk
        for codec, decoder in list(candidates.items()):
            try:
                decoder.decode(chunk, final=at_eof)
            except UnicodeDecodeError as e:
                start = max(0, min(e.start, len(chunk)))
                failed_at[codec] = (offset + start, newlines + chunk.count(b"\n", 0, start) + 1)
                del candidates[codec]
        offset += len(chunk)
        newlines += chunk.count(b"\n")
        if at_eof or not candidates or offset >= _PREFIX_BYTES:
            break
        chunk = raw.read(_CHUNK_BYTES)
    for codec in ("utf-8", "cp932"):
        if codec in candidates:
            return codec
    row = max(failed_at.values())[1]
    raise InputError(
        file,
        row,
        None,
        f"undecodable bytes at row {row}: the file is neither UTF-8 nor Shift_JIS (CP932); "
        "save it as CSV (UTF-8) or name its encoding with --encoding",
    )


def _open_csv(path: Path, raw: BinaryIO, encoding: str | None) -> Table:
    head = raw.read(_CHUNK_BYTES)
    has_bom = head.startswith(codecs.BOM_UTF8)
    if encoding is None:
        detected = _detect_encoding(head, raw, path.name)
    else:
        detected = canonical_codec(encoding, file=path.name)
        if detected == "utf-8-sig" or (detected == "utf-8" and has_bom):
            detected = "utf-8-sig" if has_bom else "utf-8"
    raw.seek(len(codecs.BOM_UTF8) if detected == "utf-8-sig" and has_bom else 0)
    first_line = head.split(b"\n", 1)[0]
    delimiter = "\t" if b"\t" in first_line and b"," not in first_line else ","
    if path.suffix.lower() == ".tsv":
        delimiter = "\t"
    table = _CsvTable(path, raw, detected, delimiter, forced=encoding is not None)
    table._start(table._records())
    return table


# -- xlsx -----------------------------------------------------------------------------------
def _cell_text(value: object) -> str:
    """An Excel cell value as text: dates as YYYY-MM-DD, whole numbers without ``.0``."""
    if value is None:
        return ""
    if isinstance(value, str):
        return fold_cp932_variants(value)
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, Decimal):
        return str(int(value)) if value == value.to_integral_value() else str(value)
    return str(value)


_SHEET_MARKS = re.compile(rb"<(?:\w+:)?(?:f|mergeCell)[\s>/]")
_CELL_REF = re.compile(r"([A-Z]+)(\d+)")
MERGED = "merged cell ({ref}): Excel keeps the value in the first cell only; unmerge and fill in"
UNCACHED = "formula without a saved value; open the file in Excel, recalculate and save"


def _cell_index(ref: str) -> tuple[int, int]:
    """(1-based row, 0-based column) of an A1 reference."""
    match = _CELL_REF.fullmatch(ref.replace("$", "").upper())
    if match is None:
        raise ET.ParseError(f"bad cell reference {ref!r}")
    column = 0
    for ch in match.group(1):
        column = column * 26 + ord(ch) - 64
    return int(match.group(2)), column - 1


def sheet_defects(path: Path, sheet_path: str) -> dict[int, list[tuple[int, str]]]:
    """Merged cells and formulas without a cached value in a worksheet, by row.

    openpyxl's streaming reader shows both as empty cells. A first pass over the raw
    sheet XML looks for ``<f`` and ``<mergeCell`` at all (exports written by a system
    have neither, and pay only that pass); only a sheet that has them is parsed.
    """
    with zipfile.ZipFile(path) as archive, archive.open(sheet_path.lstrip("/")) as raw:
        tail = b""
        while chunk := raw.read(_CHUNK_BYTES):
            if _SHEET_MARKS.search(tail + chunk):
                break
            tail = chunk[-32:]
        else:
            return {}
    found: dict[int, list[tuple[int, str]]] = {}
    with zipfile.ZipFile(path) as archive, archive.open(sheet_path.lstrip("/")) as raw:
        for _, element in ET.iterparse(raw, events=("end",)):
            tag = element.tag.rpartition("}")[2]
            if tag == "c":
                parts = {child.tag.rpartition("}")[2]: child for child in element}
                value = parts.get("v")
                if "f" in parts and (value is None or not (value.text or "")):
                    row, column = _cell_index(element.get("r", ""))
                    found.setdefault(row, []).append((column, UNCACHED))
                element.clear()
            elif tag == "row":
                element.clear()
            elif tag == "mergeCell":
                ref = element.get("ref", "")
                first, _, last = ref.partition(":")
                top, left = _cell_index(first)
                bottom, right = _cell_index(last or first)
                for row in range(top, bottom + 1):
                    for column in range(left, right + 1):
                        found.setdefault(row, []).append((column, MERGED.format(ref=ref)))
    return found


class _XlsxTable(Table):
    def __init__(self, path: Path, sheet: str | None) -> None:
        import openpyxl
        from openpyxl.utils.exceptions import InvalidFileException

        try:
            self._wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError) as e:
            raise InputError(
                path.name, None, None, f"not a readable .xlsx workbook ({type(e).__name__})"
            ) from None
        names = list(self._wb.sheetnames)
        if sheet is None:
            if not names:
                self._wb.close()
                raise InputError(path.name, None, None, "the workbook has no worksheets")
            chosen = names[0]
        elif sheet in names:
            chosen = sheet
        else:
            self._wb.close()
            raise InputError(
                path.name,
                None,
                None,
                f"no worksheet named {sheet!r}; the workbook has: {', '.join(names)}",
            )
        super().__init__(path, "xlsx", "xlsx", chosen)
        self._ws = self._wb[chosen]
        sheet_path = getattr(self._ws, "_worksheet_path", None)
        if sheet_path:
            try:
                self.defects = sheet_defects(path, sheet_path)
            except (zipfile.BadZipFile, KeyError, ET.ParseError, OSError) as e:
                self._wb.close()
                raise InputError(
                    path.name, None, None, f"not a readable .xlsx workbook ({type(e).__name__})"
                ) from None

    def _records(self) -> Iterator[tuple[int, list[str]]]:
        ws = self._ws
        if hasattr(ws, "reset_dimensions"):
            # Some writers store a wrong <dimension>; without it every row is read whole.
            ws.reset_dimensions()
        rows: Iterable[tuple[object, ...]] = ws.iter_rows(min_row=1, values_only=True)
        for row_no, values in enumerate(rows, start=1):
            yield row_no, [_cell_text(v) for v in values]

    def close(self) -> None:
        self._wb.close()


# -- entry point ----------------------------------------------------------------------------
def open_table(path: str | Path, *, encoding: str | None = None, sheet: str | None = None) -> Table:
    """Open a department export for streaming (use as a context manager).

    Args:
        path: a ``.csv``/``.tsv``/``.txt`` text export or an ``.xlsx`` workbook (the format
            is taken from the file's first bytes, then its suffix).
        encoding: force a CSV's encoding (``utf-8``, ``utf-8-sig``, ``cp932``; ``shift_jis``
            and ``sjis`` mean cp932); None detects it.
        sheet: the worksheet of a workbook to read; None reads the first.

    Returns:
        An open :class:`Table` whose header row has been read.

    Raises:
        InputError: file not found or unreadable, .xls workbook, unknown or undecodable
            encoding, empty file, header-only file, duplicate or empty header names, and
            (while iterating) rows with the wrong number of fields or undecodable bytes.
    """
    p = Path(path)
    label = p.name or str(p)
    try:
        raw = p.open("rb")
    except FileNotFoundError:
        raise InputError(label, None, None, f"file not found: {p}") from None
    except IsADirectoryError:
        raise InputError(label, None, None, f"{p} is a folder, not a file") from None
    except OSError as e:
        raise InputError(label, None, None, f"cannot open the file: {e.strerror}") from None
    try:
        magic = raw.read(8)
        raw.seek(0)
        suffix = p.suffix.lower()
        if magic.startswith(_OLE_MAGIC) or suffix == ".xls":
            raise InputError(label, None, None, _XLS_ADVICE)
        if magic.startswith(_ZIP_MAGIC) or suffix in _XLSX_SUFFIXES:
            raw.close()
            xlsx = _XlsxTable(p, sheet)
            try:
                xlsx._start(xlsx._records())
            except BaseException:
                xlsx.close()
                raise
            return xlsx
        return _open_csv(p, raw, encoding)
    except BaseException:
        raw.close()
        raise
