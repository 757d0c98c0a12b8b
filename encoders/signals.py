"""A body's support signals: mapped columns of its export -> one sealed ciphertext per record.

The signals map (TOML, written by the body) says which body it is and which column of the
export feeds each signal code of the project's catalogue, with optional value
conversion::

    body = "母子保健"

    [signals.kenshin_mijushin]        # a code of the catalogue, allowed for this body
    column = "健診受診状況"
    values = { "未受診" = true, "受診済" = false }   # cell text -> value (optional)

    [signals.last_checkup]
    column = "最終受診日"              # dates: Gregorian or 和暦 (令和5年4月1日, R5.4.1 …)

A blank cell means "no value" (the signal is absent for that record) unless ``blank``
gives a value. Each cell is validated against the catalogue: a bad value is a row-level
error in the validation report (file, row, column) and nothing is written.

:class:`SignalsJob` is what ``encode_file`` drives: ``prepare`` reads the mapped columns
once (values kept in memory by row number), ``add`` seals each encoded row's values under
its ref, and ``close`` renames the signals file into place. Every encoded record gets a
ciphertext of the same size, with or without signals.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from encoders.errors import InputError
from encoders.normalise.dates import normalise_date
from encoders.normalise.issues import NormalisationError
from encoders.pipeline import RowIssue
from encoders.readers import header_key, open_table
from linkage.signals import (
    SEAL_FORMAT,
    Catalogue,
    SealContext,
    SignalSpec,
    SignalValue,
    seal_signals,
)

_FAR_FUTURE = date(9999, 12, 31)  # signal dates may lie ahead (e.g. an appointment)


@dataclass(frozen=True)
class MappedSignal:
    """One signal of the map: its catalogue spec, the export column and conversions."""

    spec: SignalSpec
    column: str
    values: dict[str, SignalValue]
    blank: SignalValue | None = None

    def convert(self, cell: str) -> SignalValue | None:
        """A cell -> its typed value (None for blank); ValueError with a clear reason."""
        text = cell.strip()
        if not text:
            return self.blank
        if text in self.values:
            return self.values[text]
        if self.spec.value_type == "date":
            return _as_date(self.spec, text)
        if self.spec.value_type == "yearmonth":
            return _as_yearmonth(self.spec, text)
        return self.spec.parse_value(text)


def _as_date(spec: SignalSpec, text: str) -> str:
    try:
        return spec.parse_value(text)  # type: ignore[return-value]
    except ValueError:
        pass
    try:
        ymd = normalise_date(text, today=_FAR_FUTURE, column=spec.code)
    except NormalisationError as exc:
        raise ValueError(f"{spec.code}: not a date ({exc.reason})") from None
    return f"{ymd[:4]}-{ymd[4:6]}-{ymd[6:]}"


def _as_yearmonth(spec: SignalSpec, text: str) -> str:
    try:
        return spec.parse_value(text)  # type: ignore[return-value]
    except ValueError:
        pass
    # 和暦 year-month: add a first day in the form's own style and use the date rule.
    candidates = [text]
    if text.endswith("月"):
        candidates.append(text + "1日")
    else:
        separators = [c for c in text if c in "./-"]
        candidates.append(text + (separators[-1] if separators else ".") + "1")
    for candidate in candidates:
        try:
            ymd = normalise_date(candidate, today=_FAR_FUTURE, column=spec.code)
        except NormalisationError:
            continue
        return f"{ymd[:4]}-{ymd[4:6]}"
    raise ValueError(f"{spec.code}: not a year-month (e.g. 2023-04, 令和5年4月)")


def _typed(spec: SignalSpec, raw: object, where: str) -> SignalValue:
    """A value written in the map (TOML bool, int or string) -> the signal's typed value."""
    try:
        if isinstance(raw, bool | int) and not isinstance(raw, str):
            return spec.check_typed(raw)
        if isinstance(raw, str):
            return spec.parse_value(raw)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    raise ValueError(f"{where}: a value must be true/false, a number or a string")


@dataclass(frozen=True)
class SignalMap:
    """A body's signals map, checked against the catalogue."""

    body: str
    signals: tuple[MappedSignal, ...]

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(m.spec.code for m in self.signals)


def load_signal_map(path: str | Path, catalogue: Catalogue) -> SignalMap:
    """Read a signals map; InputError naming the file and the code for anything wrong."""
    path = Path(path)
    name = path.name
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError as exc:
        raise InputError(name, None, None, "signals map file not found") from exc
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(name, None, None, f"not a valid UTF-8 TOML file: {exc}") from exc
    unknown = sorted(set(data) - {"body", "signals"})
    if unknown:
        raise InputError(name, None, None, f"unknown top-level key(s) {unknown}")
    body = data.get("body")
    if not isinstance(body, str) or not body.strip():
        raise InputError(name, None, None, 'say which body this is: body = "母子保健"')
    body = body.strip()
    table = data.get("signals")
    if not isinstance(table, dict) or not table:
        raise InputError(name, None, None, "no [signals.CODE] tables")
    mapped: list[MappedSignal] = []
    columns: dict[str, str] = {}
    for code, entry in table.items():
        where = f"[signals.{code}]"
        spec = catalogue.spec(code)
        if spec is None:
            raise InputError(
                name,
                None,
                None,
                f"{where}: signal {code!r} is not in the catalogue (version {catalogue.version})",
            )
        if spec.body != body:
            raise InputError(
                name, None, None, f"{where}: signal {code!r} may be sent by {spec.body} only"
            )
        if not isinstance(entry, dict):
            raise InputError(name, None, None, f"{where}: expected a table with column = ...")
        extra = sorted(set(entry) - {"column", "values", "blank"})
        if extra:
            raise InputError(name, None, None, f"{where}: unknown key(s) {extra}")
        column = entry.get("column")
        if not isinstance(column, str) or not column.strip():
            raise InputError(name, None, None, f'{where}: column = "見出し" is required')
        if header_key(column) in columns:
            raise InputError(
                name,
                None,
                None,
                f"{where}: column {column!r} already feeds {columns[header_key(column)]}",
            )
        columns[header_key(column)] = code
        raw_values = entry.get("values", {})
        if not isinstance(raw_values, dict):
            raise InputError(name, None, None, f"{where}: values must be a table")
        try:
            values = {
                str(k).strip(): _typed(spec, v, f"{where} values.{k}")
                for k, v in raw_values.items()
            }
            blank = _typed(spec, entry["blank"], f"{where} blank") if "blank" in entry else None
        except ValueError as exc:
            raise InputError(name, None, None, str(exc)) from None
        mapped.append(MappedSignal(spec, column.strip(), values, blank))
    return SignalMap(body=body, signals=tuple(mapped))


def read_signal_values(
    signal_map: SignalMap, input_path: Path, *, encoding: str | None, sheet: str | None
) -> tuple[dict[int, dict[str, SignalValue]], list[RowIssue]]:
    """The mapped columns' typed values by row number (rows with a value only), and a
    row-level issue (severity error: file row, column header, reason) for each bad cell."""
    values: dict[int, dict[str, SignalValue]] = {}
    issues: list[RowIssue] = []
    with open_table(input_path, encoding=encoding, sheet=sheet) as table:
        position = {header_key(h): i for i, h in enumerate(table.headers)}
        index: list[tuple[MappedSignal, int]] = []
        for m in signal_map.signals:
            i = position.get(header_key(m.column))
            if i is None:
                raise InputError(
                    input_path.name,
                    None,
                    m.column,
                    f"column for signal {m.spec.code} not found; headers are: "
                    + ", ".join(table.headers),
                )
            index.append((m, i))
        for number, cells in table:
            found: dict[str, SignalValue] = {}
            for m, i in index:
                try:
                    value = m.convert(cells[i])
                except ValueError as exc:
                    issues.append(RowIssue(number, table.headers[i], "error", str(exc)))
                    continue
                if value is not None:
                    found[m.spec.code] = value
            if found:
                values[number] = found
    return values, issues


class SignalsJob:
    """Seal one export's signals into ``<export>.signals.json`` next to its encodings."""

    def __init__(
        self,
        signal_map: SignalMap,
        *,
        project_id: str,
        catalogue: Catalogue,
        public_key: Any,
        key_fingerprint: str,
        output: str | Path,
    ) -> None:
        self.map = signal_map
        self.context = SealContext(
            project_id=project_id,
            body=signal_map.body,
            catalogue=catalogue,
            codes=signal_map.codes,
            key_fingerprint=key_fingerprint,
        )
        self.public_key = public_key
        self.output = Path(output)
        self._values: dict[int, dict[str, SignalValue]] = {}
        self._handle: Any = None
        self._tmp: Path | None = None
        self._first = True
        self.records = 0
        self.with_signals = 0

    # -- pass 1: read and validate the mapped columns ------------------------------------
    def prepare(
        self, input_path: Path, *, encoding: str | None, sheet: str | None
    ) -> list[RowIssue]:
        """Read the mapped columns; return row-level issues (severity error) for bad cells."""
        self._values, issues = read_signal_values(
            self.map, input_path, encoding=encoding, sheet=sheet
        )
        return issues

    # -- pass 2: seal under the refs the encoder gives ------------------------------------
    def _open(self) -> None:
        self.output.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.output.name}.", dir=self.output.parent)
        self._tmp = Path(tmp)
        self._handle = os.fdopen(fd, "w", encoding="utf-8")
        header = {
            "format": SEAL_FORMAT,
            "project_id": self.context.project_id,
            "body": self.context.body,
            "catalogue_version": self.context.catalogue.version,
            "key_fingerprint": self.context.key_fingerprint,
            "codes": list(self.context.codes),
            "ciphertext_size": self.context.ciphertext_size,
        }
        text = json.dumps(header, ensure_ascii=False)
        self._handle.write(text[:-1] + ', "rows": [\n')

    def add(self, rows: list[int], refs: list[str]) -> None:
        """Seal the values of encoded rows ``rows`` (row numbers) under ``refs``."""
        if self._handle is None:
            self._open()
        parts = []
        for number, ref in zip(rows, refs, strict=True):
            values = self._values.pop(number, {})
            self.with_signals += bool(values)
            blob = seal_signals(self.public_key, self.context, ref, values)
            parts.append(json.dumps([ref, base64.b64encode(blob).decode()]))
        if parts:
            self._handle.write(("" if self._first else ",\n") + ",\n".join(parts))
            self._first = False
        self.records += len(refs)

    def close(self) -> None:
        if self._handle is None:
            self._open()
        self._handle.write("\n]}\n")
        self._handle.close()
        assert self._tmp is not None
        os.replace(self._tmp, self.output)
        self._values.clear()

    def abort(self) -> None:
        if self._handle is not None:
            self._handle.close()
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
        self._values.clear()
